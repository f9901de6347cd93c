# The two commands of the README: `make serve` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

SAM_VENV := .venv-sam
SAM      := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam

.PHONY: serve test lint sam-check lambda-runtime clients bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.local: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.local

serve: $(VENV)/.local
	$(BIN)/apex serve $(ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy

# The SAM CLI lives in its own environment: it pins a boto3 that aioboto3 cannot share.
$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli

sam-check: $(SAM_VENV)/bin/sam
	$(SAM) validate --lint --region us-east-1
	$(SAM) build --region us-east-1

# The dashboard's browser test drives Debian's Chromium (no browser download: the network is closed).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

# The real clients the suite drives against the gateway (tests/clients/), from the npm registry.
CLIENTS := .clients
NODE_CLIENTS := @anthropic-ai/claude-code @openai/codex ai @ai-sdk/openai @ai-sdk/anthropic openai @anthropic-ai/sdk zod
$(CLIENTS)/.installed: Makefile
	npm install --silent --no-audit --no-fund --prefix $(CLIENTS) $(NODE_CLIENTS)
	touch $@

# The Python clients get environments of their own, made by uv (pip took over ten minutes to resolve them
# together, uv seconds): the newest of each, and pydantic-ai apart, on the last anthropic SDK it runs with
# (from 1.17 a message param is a Union, which pydantic-ai 2.38 calls as a class).
PYTHON_CLIENTS := openai anthropic langchain-openai langchain-anthropic instructor llm litellm openai-agents
PYDANTIC_AI := 'pydantic-ai-slim[openai,anthropic]' 'anthropic<1.17'
$(CLIENTS)/%/.installed: Makefile | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv venv --quiet --allow-existing --python $(PYTHON) $(CLIENTS)/$*
	$(BIN)/uv pip install --quiet --python $(CLIENTS)/$*/bin/python $(if $(filter pydantic-ai,$*),$(PYDANTIC_AI),$(PYTHON_CLIENTS))
	touch $@

clients: $(CLIENTS)/.installed $(CLIENTS)/python/.installed $(CLIENTS)/pydantic-ai/.installed

test: $(VENV)/.dev $(SAM_VENV)/bin/sam $(CHROMIUM) lint sam-check lambda-runtime clients
	$(BIN)/pytest -n 2

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py --rounds 3 --duration 8
	$(BIN)/python bench/coldstart.py

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam $(CLIENTS)

# `sam build` (BuildMethod: makefile): functions get only our code, compiled to bytecode; the layer
# gets the dependencies listed in pyproject.toml, as wheels for Amazon Linux 2023 (glibc 2.34).
# The runtime's Python compiles the bytecode: python3.12 if it runs here (pyenv's is found too),
# else this machine's python3, whose bytecode Lambda ignores (a slower cold start).
LAMBDA_PYTHON ?= $(firstword $(foreach p,$(shell command -v python3.12) $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12),$(if $(shell $(p) -c 'print(1)' 2>/dev/null),$(p))) python3)
LAMBDA_PIP := $(foreach p,manylinux2014 manylinux_2_17 manylinux_2_28 manylinux_2_34,--platform $(p)_x86_64) \
	--implementation cp --python-version 3.12 --only-binary=:all:

# Lambda's python3.12 runtime, for running functions here as Lambda runs them (the suite,
# `apex invoke --build`, bench/coldstart.py): python/ stands for /var/lang, a Python 3.12 with nothing
# installed (a bare virtual environment), and runtime/ for /var/runtime, the runtime interface client.
LAMBDA_RUNTIME := .aws-sam/lambda-runtime
$(LAMBDA_RUNTIME)/runtime/awslambdaric:
	rm -rf $(LAMBDA_RUNTIME)
	$(LAMBDA_PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), "Lambda functions run on Python 3.12: install one (pyenv install 3.12)"'
	$(LAMBDA_PYTHON) -m venv --without-pip $(LAMBDA_RUNTIME)/python
	$(LAMBDA_PYTHON) -m pip install --quiet --target $(LAMBDA_RUNTIME)/runtime awslambdaric

lambda-runtime: $(LAMBDA_RUNTIME)/runtime/awslambdaric

# The optimizer's local model (core/embedder/data, 8 MB) ships only with the functions that optimize.
OPTIMIZING := Chat Optimize

build-%Function:
	cp -rp core providers handlers $(ARTIFACTS_DIR)/
	$(if $(filter $*,$(OPTIMIZING)),,rm -rf $(ARTIFACTS_DIR)/core/embedder/data)
	if [ -f apex.toml ]; then cp apex.toml $(ARTIFACTS_DIR)/; fi
	find $(ARTIFACTS_DIR) -name __pycache__ -prune -exec rm -rf {} +
	$(LAMBDA_PYTHON) -m compileall -q --invalidation-mode unchecked-hash $(ARTIFACTS_DIR)

build-DependenciesLayer:
	$(LAMBDA_PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > $(ARTIFACTS_DIR)/requirements.txt
	$(LAMBDA_PYTHON) -m pip install --quiet --target $(ARTIFACTS_DIR)/python $(LAMBDA_PIP) -r $(ARTIFACTS_DIR)/requirements.txt
