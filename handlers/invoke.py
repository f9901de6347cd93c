"""`apex invoke FUNCTION -e EVENT.json`: what `sam local invoke` does, without Docker.

FUNCTION, a logical id of template.yaml, is started as a process the way Lambda starts it
(handlers/lambda_local.py): from the `sam build` output with `--build`, else from the checkout. It
gets the event through a Runtime API on loopback. A buffered function's Lambda result is printed; a
streaming one's prelude as one JSON line, then its body as it arrives. The function's own output
goes to stderr, as Lambda's goes to its log. The exit status is 1 when the invocation failed: an init
error, an invocation error, a stream ended by error trailers, a process that died or timed out.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from core.keys import ApiKey, display_prefix, hash_key, key_id, presented_key
from core.lambda_runtime import DELIMITER
from handlers.lambda_local import (
    Code,
    Function,
    LocalLambdaError,
    find_function,
    from_build,
    from_source,
    load_template,
    start,
)
from handlers.runtime_api import RuntimeAPIEmulator

# How long the function may take, after its answer, to finish the invocation (its usage writes)
# and ask for the next one.
SETTLE_S = 10.0


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


def storage_environment(config: str | None, event: Any) -> dict[str, str]:
    """What the function is handed beyond the template's variables: the caller's APEX_ and AWS
    settings, the config named on the command line, and storage as `apex serve` chooses it. An
    embedded store (in this process's child, for the invocation's length) starts with the key the
    event presents in its keys table, as a deployed gateway's keys are: the sample events work."""
    from handlers.serve import AWS_CREDENTIAL_VARIABLES

    env = {k: v for k, v in os.environ.items() if k.startswith(("APEX_", "AWS_"))}
    if config:
        env["APEX_CONFIG"] = str(Path(config).resolve())
    if not env.get("APEX_DYNAMODB_ENDPOINT") and not any(env.get(v) for v in AWS_CREDENTIAL_VARIABLES):
        import atexit

        from core.storage.embedded import CREDENTIALS, EmbeddedProcess

        embedded = EmbeddedProcess()
        env["APEX_DYNAMODB_ENDPOINT"] = embedded.start()
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS
        atexit.register(embedded.stop)
        headers = event.get("headers") if isinstance(event, dict) else None
        if isinstance(headers, dict) and (key := presented_key({str(k).lower(): v for k, v in headers.items()})):
            asyncio.run(store_key(env["APEX_DYNAMODB_ENDPOINT"], key))
    return env


async def store_key(endpoint: str, key: str) -> None:
    """`key` in the keys table at `endpoint`, on the unlimited plan."""
    from core.storage.dynamo import DynamoDB
    from core.storage.embedded import CREDENTIALS
    from core.storage.keys import DynamoKeyStore
    from core.storage.tables import table_names

    db = DynamoDB(table_names({}), endpoint, "us-east-1", credentials=CREDENTIALS)
    try:
        digest = hash_key(key)
        await DynamoKeyStore(db).put_key(digest, ApiKey(key_id(digest), display_prefix(key), "unlimited",
                                                        name="apex invoke", created_at=int(time.time())))
    finally:
        await db.aclose()


async def invoke(function: Function, code: Code, event: Any, overrides: dict[str, str]) -> int:
    emulator = RuntimeAPIEmulator([event], on_chunk=StreamPrinter() if function.streaming else None)
    address = await emulator.start()
    process = start(function, code, address, overrides, stdout=sys.stderr.fileno())
    received = emulator.received[emulator.order[0]]
    exited = asyncio.ensure_future(asyncio.to_thread(process.wait))
    waits = [asyncio.ensure_future(received.done.wait()), asyncio.ensure_future(emulator.init_failed.wait()), exited]
    try:
        await asyncio.wait(waits, timeout=function.timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if (init := emulator.init_error) is not None:
            return failed(f"init error: {init.get('errorType')}: {init.get('errorMessage')}")
        if not received.done.is_set():
            return failed(f"the function exited with status {process.returncode} before answering"
                          if exited.done() else f"the function did not answer within its {function.timeout_s} s")
        waits.append(asyncio.ensure_future(emulator.polled(2)))   # its after-work done, it asks for more
        await asyncio.wait([waits[-1], exited], timeout=SETTLE_S, return_when=asyncio.FIRST_COMPLETED)
        return outcome(function, received)
    finally:
        for waiting in waits:
            waiting.cancel()
        if process.poll() is None:
            process.terminate()
        await asyncio.to_thread(process.wait)
        await emulator.stop()


def outcome(function: Function, received: Any) -> int:
    if received.error is not None:
        return failed(json.dumps(received.error))
    if function.streaming:
        if failure := received.stream_error:
            return failed(f"\nstream failed: {failure['type']}: {failure['body']['errorMessage']}")
        return 0
    print(json.dumps(json.loads(received.raw), indent=2))
    return 0


def failed(message: str) -> int:
    print(f"apex invoke: {message}", file=sys.stderr)
    return 1


def run(logical_id: str, event_path: str, config: str | None, template: str = "template.yaml",
        build: bool = False) -> int:
    try:
        function = find_function(load_template(Path(template)), logical_id)
        code = from_build(logical_id) if build else from_source()
    except LocalLambdaError as exc:
        return failed(str(exc))
    event = json.loads(Path(event_path).read_text())
    environment = storage_environment(config, event)
    if no_provider_usable(config):
        environment["APEX_DEMO"] = "1"
    return asyncio.run(invoke(function, code, event, environment))


def no_provider_usable(config: str | None) -> bool:
    """As under `apex serve`, the demo provider answers when no provider can: the sample events work
    on a machine with no provider key."""
    from core.config import load_config
    from core.secrets import provider_keys
    from providers import usable

    loaded = load_config(config)
    return not usable(loaded, provider_keys(loaded))
