"""template.yaml as SAM turns it into CloudFormation, held to the code: streaming routes are streaming
integrations, every handler module is a function with a sample event, the tables match the code."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.openapi import document
from core.storage.tables import TABLES
from handlers.lambda_local import load_template

ROOT = Path(__file__).resolve().parents[1]
SAM_PYTHON = Path(os.environ.get("APEX_SAM_PYTHON", ROOT / ".venv-sam" / "bin" / "python"))
NOT_FUNCTIONS = {"__init__", "cli", "keys_cli", "serve", "wiring", "invoke", "runtime_api", "lambda_local",
                 "local_state"}


@pytest.fixture(scope="module")
def cloudformation() -> dict[str, Any]:
    assert SAM_PYTHON.exists(), f"{SAM_PYTHON} is missing: `make test` installs the SAM CLI there"
    out = subprocess.run([str(SAM_PYTHON), str(ROOT / "tests" / "tools" / "sam_translate.py"),
                          str(ROOT / "template.yaml")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def integrations(cloudformation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    paths = cloudformation["Resources"]["Api"]["Properties"]["Body"]["paths"]
    return {(path, method): spec["x-amazon-apigateway-integration"]
            for path, methods in paths.items() for method, spec in methods.items()}


def streaming_functions(template: dict[str, Any]) -> set[str]:
    return {name for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
            and "AWS_LAMBDA_EXEC_WRAPPER" in resource["Properties"].get("Environment", {}).get("Variables", {})}


def function_of(integration: dict[str, Any]) -> str:
    uri = json.dumps(integration["uri"])
    return uri.split("${")[2].split(".Arn")[0]


def test_streaming_routes_are_streaming_integrations(template, cloudformation) -> None:
    routes = integrations(cloudformation)
    streaming = streaming_functions(template)
    assert routes and streaming
    for (path, method), integration in routes.items():
        function = function_of(integration)
        uri = json.dumps(integration["uri"])
        if function in streaming:
            assert integration.get("responseTransferMode") == "STREAM", (path, method)
            assert "/2021-11-15/functions/" in uri and uri.endswith('/response-streaming-invocations"}'), uri
            assert integration["timeoutInMillis"] == 900000
        else:
            assert "responseTransferMode" not in integration, (path, method)
            assert uri.endswith('/invocations"}'), uri


def test_streaming_functions_start_the_streaming_runtime_and_have_a_streaming_url(template, cloudformation) -> None:
    wrapper = ROOT / "handlers" / "stream_runtime"
    assert wrapper.stat().st_mode & stat.S_IXUSR
    for name in streaming_functions(template):
        module = template["Resources"][name]["Properties"]["Handler"].split(".")[1]
        assert "streaming=True" in (ROOT / "handlers" / f"{module}.py").read_text()
        variables = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/var/task/handlers/stream_runtime"
        assert cloudformation["Resources"][f"{name}Url"]["Properties"]["InvokeMode"] == "RESPONSE_STREAM"


def test_every_handler_module_is_a_function_with_a_sample_event(template) -> None:
    functions = {props["Properties"]["Handler"].split(".")[1]: name
                 for name, props in template["Resources"].items() if props["Type"] == "AWS::Serverless::Function"}
    modules = {p.stem for p in (ROOT / "handlers").glob("*.py")} - NOT_FUNCTIONS
    assert modules == set(functions)
    for name in set(functions.values()) - streaming_functions(template):
        module = template["Resources"][name]["Properties"]["Handler"].split(".")[1]
        assert "streaming=False" in (ROOT / "handlers" / f"{module}.py").read_text()
    for module in modules:
        assert (ROOT / "events" / f"{module}.json").is_file(), module


def test_every_admin_route_is_an_event_of_the_admin_function(template) -> None:
    """A route the app serves that the deployed API does not route would answer 403 there, and only there."""
    events = {(event["Properties"]["Path"], event["Properties"]["Method"].lower())
              for event in template["Resources"]["AdminFunction"]["Properties"]["Events"].values()}
    served = {(path.removeprefix("/v1"), method) for path, operations in document()["paths"].items()
              if path.startswith("/v1/admin/") for method in operations}
    assert served and served <= events, served - events


def test_tables_match_the_code(template) -> None:
    resources = template["Resources"]
    for spec in TABLES:
        table = resources[f"{spec.logical.capitalize()}Table"]["Properties"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        assert keys.get("HASH") == spec.hash_key and keys.get("RANGE") == spec.range_key
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        indexes = {(index["IndexName"], index["KeySchema"][0]["AttributeName"])
                   for index in table.get("GlobalSecondaryIndexes", [])}
        assert indexes == set(spec.indexes)
        ttl = table.get("TimeToLiveSpecification", {}).get("AttributeName")
        assert ttl == spec.ttl_attribute
        env = template["Globals"]["Function"]["Environment"]["Variables"]
        assert env[spec.env] == {"Ref": f"{spec.logical.capitalize()}Table"}


def test_the_base_url_output_is_the_stage_url(template) -> None:
    value = template["Outputs"]["BaseUrl"]["Value"]["Fn::Sub"]
    assert value == "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v1"
    assert template["Resources"]["Api"]["Properties"]["StageName"] == "v1"


def test_no_secret_sits_in_the_template_and_permissions_name_what_they_allow(template) -> None:
    resources = template["Resources"]
    every_variable = [name for resource in resources.values()
                      for name in resource.get("Properties", {}).get("Environment", {}).get("Variables", {})]
    every_variable += list(template["Globals"]["Function"]["Environment"]["Variables"])
    assert "APEX_ADMIN_KEY" not in every_variable          # read from Secrets Manager or SSM at cold start
    assert not any(p.get("NoEcho") for p in template["Parameters"].values())   # no secret is a parameter
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        assert "Condition" in resource, name                # a policy exists only when the deployer names its target
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            text = json.dumps(statement["Resource"])
            assert "*" not in text, (name, text)            # a secret's ARN ends in its six random characters: ??????
    bedrock = resources["BedrockInvokePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
    assert bedrock == {"Ref": "BedrockModelArns"}


def test_every_function_may_have_its_concurrency_reserved(template) -> None:
    for name in (n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"):
        reserved = template["Resources"][name]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"]
        parameter = f"{name.removesuffix('Function')}ReservedConcurrency"
        assert reserved == [f"Reserves{name.removesuffix('Function')}", {"Ref": parameter}, {"Ref": "AWS::NoValue"}]
        assert template["Parameters"][parameter]["Default"] == ""


def test_health_is_a_route_of_the_deployed_api(cloudformation) -> None:
    assert ("/health", "get") in integrations(cloudformation)
