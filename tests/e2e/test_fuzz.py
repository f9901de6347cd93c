"""The gateway's OpenAPI document, and schemathesis run against the gateway through it (bounded, seeded):
no request it can make gets a 5xx, and every answer — errors included — has the status, content type
and schema the document gives it, which for errors is the endpoint's own format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, run_gateway, with_both_fakes

ADMIN_KEY = "admin-fuzz-0123456789"
ST = str(Path(sys.executable).parent / "st")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Which configured models each request names, so that generated requests reach the routes behind them.
MODELS = {"EmbeddingRequest": ["embed"], "ImageRequest": ["image"]}
CHAT_MODELS = ["gpt-x", "claude-x"]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_claude: FakeAnthropic, dynamo_url: str) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APEX_ADMIN_KEY", ADMIN_KEY)
        with run_gateway(with_both_fakes(upstream_a.base_url, upstream_claude.url), dynamo_url) as running:
            yield running


@pytest.fixture(scope="module")
def document(gateway: Running) -> dict:
    served = httpx.get(f"{gateway.url}/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    return served.json()


def test_the_document_names_every_endpoint_and_only_those(gateway: Running, document: dict) -> None:
    app = gateway.local.app
    while not hasattr(app, "routes"):      # inside the middleware
        app = app.app
    served = {(route.path, method) for route in app.routes if isinstance(route, Route)
              and route.path.startswith("/v1/") and not route.path.startswith("/v1/dashboard")
              for method in (route.methods or ()) if method != "HEAD"}
    documented = {(path.replace("{model_id}", "{model_id:path}"), method.upper())
                  for path, operations in document["paths"].items() if path.startswith("/v1/")
                  for method in operations}
    assert documented == served
    assert document["components"]["schemas"]["ChatRequest"]["properties"]["model"]["examples"] == \
        ["claude-x", "embed", "gpt-x", "image"]


def schemathesis(gateway: Running, document: dict, tmp_path: Path, key: str, *selection: str) -> None:
    """A bounded, seeded run over a copy of the document whose `model` fields name configured models."""
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        if name.endswith("Request") and "model" in schema["properties"]:
            schema["properties"]["model"] = {"type": "string", "enum": MODELS.get(name, CHAT_MODELS)}
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    run = subprocess.run(
        [ST, "run", str(path), "--url", gateway.url, "--checks", CHECKS, "--max-examples", "25", "--seed", "7",
         "--workers", "1", "--header", f"Authorization: Bearer {key}", "--generation-database", "none",
         "--no-color", "--report-dir", str(tmp_path / "report"), *selection],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)     # its caches stay out of the tree
    assert run.returncode == 0, run.stdout[-20_000:]
    assert "passed" in run.stdout and " failed" not in run.stdout


def test_fuzzing_the_api_finds_no_5xx_and_only_documented_answers(gateway: Running, document: dict,
                                                                  tmp_path: Path) -> None:
    schemathesis(gateway, document, tmp_path, TEST_KEY, "--exclude-path-regex", "admin")


def test_fuzzing_the_admin_api(gateway: Running, document: dict, tmp_path: Path) -> None:
    schemathesis(gateway, document, tmp_path, ADMIN_KEY, "--include-path-regex", "admin")
