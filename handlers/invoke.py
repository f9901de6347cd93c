"""`apex invoke FUNCTION -e EVENT.json`: what `sam local invoke` does, without Docker.

It finds FUNCTION (a logical id) in template.yaml with its Handler and environment, and calls it
with the event as Lambda would: buffered functions through their Mangum handler, printing the
Lambda result; streaming functions (those with the exec wrapper) through the streaming runtime
against an emulated Runtime API, printing the prelude and then the body as it arrives.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.lambda_runtime import DELIMITER, Context, Invocation, RuntimeAPI, StreamingHandler, serve
from handlers.runtime_api import RuntimeAPIEmulator


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    environment: dict[str, str]
    streaming: bool


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


def find_function(template: dict[str, Any], logical_id: str) -> Function:
    resource = template.get("Resources", {}).get(logical_id)
    if not resource or resource.get("Type") != "AWS::Serverless::Function":
        functions = sorted(k for k, v in template.get("Resources", {}).items()
                           if v.get("Type") == "AWS::Serverless::Function")
        raise SystemExit(f"apex invoke: no function {logical_id!r} in the template (functions: {', '.join(functions)})")
    globals_ = template.get("Globals", {}).get("Function", {})
    properties = {**globals_, **resource.get("Properties", {})}
    variables = {**globals_.get("Environment", {}).get("Variables", {}),
                 **resource.get("Properties", {}).get("Environment", {}).get("Variables", {})}
    plain = {k: str(v) for k, v in variables.items() if not isinstance(v, dict)}   # Refs resolve only in AWS
    return Function(logical_id, properties["Handler"], plain, "AWS_LAMBDA_EXEC_WRAPPER" in variables)


def prepare_environment(function: Function, config: str | None) -> None:
    """The function's environment, and storage as `apex serve` chooses it (embedded unless told)."""
    from handlers.serve import AWS_CREDENTIAL_VARIABLES

    for name, value in function.environment.items():
        if name not in ("AWS_LAMBDA_EXEC_WRAPPER", "APEX_CONFIG"):
            os.environ.setdefault(name, value)
    if config:
        os.environ["APEX_CONFIG"] = config
    if not os.environ.get("APEX_DYNAMODB_ENDPOINT") and not any(os.environ.get(v) for v in AWS_CREDENTIAL_VARIABLES):
        from core.storage.embedded import CREDENTIALS, EmbeddedProcess

        embedded = EmbeddedProcess()
        os.environ["APEX_DYNAMODB_ENDPOINT"] = embedded.start()
        os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS
        import atexit

        atexit.register(embedded.stop)
    os.environ.setdefault("AWS_REGION", "us-east-1")


class StreamPrinter:
    """Prints a streamed response as it arrives: the prelude as one JSON line, then the body."""

    def __init__(self) -> None:
        self._head = b""
        self._past_prelude = False

    def __call__(self, data: bytes) -> None:
        if not self._past_prelude:
            self._head += data
            prelude, found, rest = self._head.partition(DELIMITER)
            if not found:
                return
            self._past_prelude = True
            print(json.dumps(json.loads(prelude)), flush=True)
            data = rest
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


async def invoke_streaming(handler: StreamingHandler, event: dict[str, Any]) -> int:
    emulator = RuntimeAPIEmulator([event], on_chunk=StreamPrinter())
    address = await emulator.start()
    try:
        await serve(handler, RuntimeAPI(address), invocations=1)
    finally:
        await emulator.stop()
    received = emulator.received[emulator.order[0]]
    if received.error is not None:
        print(json.dumps(received.error), file=sys.stderr)
        return 1
    if failure := received.stream_error:
        print(f"\nstream failed: {failure['type']}: {failure['body']['errorMessage']}", file=sys.stderr)
        return 1
    return 0


def run(logical_id: str, event_path: str, config: str | None, template: str = "template.yaml") -> int:
    function = find_function(load_template(Path(template)), logical_id)
    event = json.loads(Path(event_path).read_text())
    prepare_environment(function, config)
    module_name, _, attribute = function.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attribute)
    if function.streaming:
        if not isinstance(handler, StreamingHandler):
            raise SystemExit(f"apex invoke: {function.handler} has the exec wrapper but is not a StreamingHandler")
        return asyncio.run(invoke_streaming(handler, event))
    deadline = int(time.time() * 1000) + 900_000
    context = Context(Invocation("local-invoke", event, deadline, f"arn:aws:lambda:local:function:{logical_id}"))
    print(json.dumps(handler(event, context), indent=2))
    return 0
