"""Lambda on this machine: a function of template.yaml started as a process, the way the managed
`python3.12` runtime starts it, against a Runtime API on loopback (handlers/runtime_api.py).

Lambda's bootstrap runs the runtime interface client, `python -m awslambdaric <Handler>`, in
LAMBDA_TASK_ROOT; a function that names an AWS_LAMBDA_EXEC_WRAPPER has that wrapper run instead,
with the bootstrap's command line as its arguments. The code comes from the `sam build` output (a
function's directory is its /var/task, the layer's python/ its /opt/python, awslambdaric what
/var/runtime holds) and runs on a bare Python 3.12, as deployed; or, for a quick look, from the checkout
on this interpreter, whose environment has the dependencies.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".aws-sam" / "build"
# Lambda's python3.12 runtime here (`make lambda-runtime`): python/ as /var/lang, runtime/ as /var/runtime.
RUNTIME_DIR = ROOT / ".aws-sam" / "lambda-runtime"
RUNTIME = "python3.12"
PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::StackName": "apex", "AWS::URLSuffix": "amazonaws.com"}


class LocalLambdaError(Exception):
    """What keeps a function from starting here: said in words, for `apex invoke` to print."""


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    environment: dict[str, str]       # the template's variables, resolved as CloudFormation would
    memory_mb: int
    timeout_s: int

    @property
    def streaming(self) -> bool:
        return "AWS_LAMBDA_EXEC_WRAPPER" in self.environment


@dataclass(frozen=True)
class Code:
    """Where a function's code and interpreter are."""

    task_root: Path                   # /var/task
    python: str                       # /var/lang/bin/python3.12
    path: tuple[Path, ...] = ()       # /opt/python and /var/runtime: the layer, the runtime client


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml with CloudFormation's short-form tags (`!Ref`, `!Sub`, …) read as plain data."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", intrinsic)
    return dict(yaml.load(path.read_text(), Loader=Loader))   # a SafeLoader: no arbitrary objects


def function_names(template: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in template.get("Resources", {}).items() if v.get("Type") == "AWS::Serverless::Function")


def api_routes(template: dict[str, Any]) -> list[tuple[str, str, re.Pattern[str]]]:
    """(function, method, path pattern) of every API Gateway route in the template."""
    found = []
    for name in function_names(template):
        for spec in template["Resources"][name]["Properties"].get("Events", {}).values():
            if spec["Type"] == "Api":
                path = re.sub(r"\{\w+\}", "[^/]+", re.sub(r"\{\w+\+\}", ".+", spec["Properties"]["Path"]))
                found.append((name, spec["Properties"]["Method"].upper(), re.compile(path)))
    return found


def function_for(template: dict[str, Any], event: dict[str, Any]) -> str | None:
    """The function API Gateway routes a REST API event to, by its method and path; a Function URL
    event's by its path without the stage. None when no route, or more than one, matches."""
    context = event.get("requestContext") or {}
    method = event.get("httpMethod") or (context.get("http") or {}).get("method")
    path = event.get("path") or str(event.get("rawPath", "")).removeprefix("/v1")
    matches = {name for name, m, pattern in api_routes(template) if m == method and pattern.fullmatch(path)}
    return matches.pop() if len(matches) == 1 else None


def references(template: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, str]:
    """What `Ref` and `${…}` resolve to here: parameters (given, else their defaults), pseudo
    parameters, and each table by the name the embedded DynamoDB gives it."""
    from core.storage.tables import TABLES

    found = dict(PSEUDO)
    for name, spec in template.get("Parameters", {}).items():
        if name in parameters or "Default" in spec:
            found[name] = str(parameters.get(name, spec.get("Default")))
    found.update({f"{t.logical.capitalize()}Table": t.default for t in TABLES})
    return found


def resolve(value: Any, refs: Mapping[str, str]) -> str | None:
    """A `Ref`, `Fn::Sub` or plain value as a string; None for what only AWS can resolve."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return refs.get(value["Ref"])
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        text: str = value["Fn::Sub"]
        for name in [part.split("}", 1)[0] for part in text.split("${")[1:]]:
            if name not in refs:
                return None
            text = text.replace("${" + name + "}", refs[name])
        return text
    return None if isinstance(value, dict | list) else str(value)


def find_function(template: dict[str, Any], logical_id: str, parameters: Mapping[str, str] | None = None) -> Function:
    resource = template.get("Resources", {}).get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        raise LocalLambdaError(f"no function {logical_id!r} in the template "
                               f"(functions: {', '.join(function_names(template))})")
    globals_ = template.get("Globals", {}).get("Function", {})
    properties = {**globals_, **resource.get("Properties", {})}
    variables = {**globals_.get("Environment", {}).get("Variables", {}),
                 **resource.get("Properties", {}).get("Environment", {}).get("Variables", {})}
    refs = references(template, parameters or {})
    environment = {k: v for k, raw in variables.items() if (v := resolve(raw, refs))}
    return Function(logical_id, properties["Handler"], environment, int(properties.get("MemorySize", 128)),
                    int(properties.get("Timeout", 3)))


def from_build(logical_id: str, build: Path = BUILD, runtime_dir: Path = RUNTIME_DIR) -> Code:
    """The function as `sam build` left it, on the runtime's Python 3.12 with awslambdaric beside it."""
    task_root, layer = build / logical_id, build / "DependenciesLayer" / "python"
    if not task_root.is_dir() or not layer.is_dir():
        raise LocalLambdaError(f"{task_root} or {layer} is missing: run `sam build` (or `make sam-check`)")
    python, client = runtime_dir / "python" / "bin" / RUNTIME, runtime_dir / "runtime"
    if not python.exists() or not (client / "awslambdaric").is_dir():
        raise LocalLambdaError(f"the Python 3.12 runtime is missing from {runtime_dir}: run `make lambda-runtime`")
    return Code(task_root, str(python), (layer, client))


def from_source(root: Path = ROOT) -> Code:
    """The checkout itself, on this interpreter (its environment holds the layer's packages)."""
    return Code(root, sys.executable)


def command(function: Function, code: Code) -> list[str]:
    """Lambda's bootstrap: the runtime interface client, or the function's wrapper handed that very
    command line (the wrapper's path is the template's /var/task/…, here under the task root)."""
    bootstrap = [code.python, "-m", "awslambdaric", function.handler]
    if not function.streaming:
        return bootstrap
    wrapper = function.environment["AWS_LAMBDA_EXEC_WRAPPER"]
    return [str(code.task_root / wrapper.removeprefix("/var/task/")), *bootstrap]


def environment(function: Function, code: Code, runtime_api: str,
                overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables Lambda sets, the template's, then the caller's (storage, credentials, config)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(code.task_root), "LAMBDA_RUNTIME_DIR": str(code.path[-1]) if code.path else "",
        "AWS_LAMBDA_RUNTIME_API": runtime_api, "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{RUNTIME}", "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb), "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": PSEUDO["AWS::Region"], "AWS_DEFAULT_REGION": PSEUDO["AWS::Region"],
    }
    if code.path:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in code.path)
    env.update(function.environment)
    if function.streaming:     # the template's /var/task, here
        env["AWS_LAMBDA_EXEC_WRAPPER"] = command(function, code)[0]
    env.update(overrides or {})
    return env


def start(function: Function, code: Code, runtime_api: str, overrides: Mapping[str, str] | None = None,
          **popen: Any) -> subprocess.Popen[bytes]:
    """The function's process, started: it polls the Runtime API for its first event once its init is done."""
    return subprocess.Popen(command(function, code), cwd=code.task_root,
                            env=environment(function, code, runtime_api, overrides), **popen)
