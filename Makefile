# The two commands of the README: `make serve` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: serve test lint bench clean

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

test: $(VENV)/.dev lint
	$(BIN)/pytest -n 2

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py --rounds 3 --duration 8
	$(BIN)/python bench/coldstart.py

clean:
	rm -rf $(VENV) .aws-sam

# `sam build` (BuildMethod: makefile): functions get only our code, compiled to bytecode by the
# runtime's own Python (SAM needs it on PATH, as for any python3.12 function); the layer gets the
# dependencies listed in pyproject.toml, as wheels for Amazon Linux 2023 (glibc 2.34).
LAMBDA_PYTHON ?= python3.12
LAMBDA_PIP := $(foreach p,manylinux2014 manylinux_2_17 manylinux_2_28 manylinux_2_34,--platform $(p)_x86_64) \
	--implementation cp --python-version 3.12 --only-binary=:all:

build-ChatFunction build-ModelsFunction:
	cp -r core providers handlers $(ARTIFACTS_DIR)/
	if [ -f apex.toml ]; then cp apex.toml $(ARTIFACTS_DIR)/; fi
	find $(ARTIFACTS_DIR) -name __pycache__ -prune -exec rm -rf {} +
	$(LAMBDA_PYTHON) -m compileall -q --invalidation-mode unchecked-hash $(ARTIFACTS_DIR)

build-DependenciesLayer:
	$(LAMBDA_PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > $(ARTIFACTS_DIR)/requirements.txt
	$(LAMBDA_PYTHON) -m pip install --quiet --target $(ARTIFACTS_DIR)/python $(LAMBDA_PIP) -r $(ARTIFACTS_DIR)/requirements.txt
