"""What a Lambda function imports at cold start: its own routes and adapters, nothing it cannot use.

Measured by bench/coldstart.py; guarded here so a module-level import cannot quietly undo it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import json, sys; import {module}; "
         "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('core', 'providers', 'aiohttp', "
         "'aioboto3', 'tiktoken', 'numpy', 'opentelemetry')))))")
# Loaded on first use, by any function: the HTTP client, AWS SDKs, tokenizers, the optimizer.
NEVER = {"aiohttp", "aioboto3", "tiktoken", "numpy", "core.optimizer", "core.embedder", "core.routes.optimize",
         "opentelemetry", "core.tracing"}


def loaded_by(module: str, **extra: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APEX_", "OTEL_"))} | {"AWS_REGION": "us-east-1",
                                                                                         **extra}
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(("module", "own", "foreign"), [
    ("handlers.chat", "core.routes.chat",
     {"core.routes.admin", "core.routes.responses", "core.routes.messages", "providers.bedrock"}),
    ("handlers.messages", "core.routes.messages",
     {"core.routes.admin", "core.routes.responses", "providers.responses", "providers.bedrock"}),
    ("handlers.admin", "core.routes.admin",
     {"core.routes.chat", "core.routes.messages", "providers.anthropic.inbound"}),
])
def test_a_function_imports_its_own_routes_only(module: str, own: str, foreign: set[str]) -> None:
    loaded = loaded_by(module)
    assert own in loaded
    assert not loaded & (foreign | NEVER), sorted(loaded & (foreign | NEVER))


def test_tracing_is_loaded_only_when_an_endpoint_is_set_and_opentelemetry_not_at_start() -> None:
    loaded = loaded_by("handlers.chat", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert "core.tracing" in loaded and not any(m.startswith("opentelemetry") for m in loaded)
