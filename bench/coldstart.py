"""Cold start of each Lambda function, as a process started the way Lambda starts it: from the
`sam build` output (bytecode compiled by `sam build`, as deployed) on Python 3.12, buffered
functions through awslambdaric and streaming ones through their exec wrapper, against the Runtime
API emulator on loopback.

    make sam-check lambda-runtime && python bench/coldstart.py [--runs 5] [--function ChatFunction …]

For each function, with its sample event from events/ (a key stored in an embedded
DynamoDB, chat answered by bench/upstream.py on loopback), it reports the medians of: process start
→ init done (the first poll of the Runtime API), and process start → the first byte of the first
invocation's response reaching the Runtime API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from upstream import Upstream  # noqa: E402

from core.keys import create_key  # noqa: E402
from core.storage.dynamo import DynamoDB  # noqa: E402
from core.storage.embedded import CREDENTIALS, EmbeddedProcess  # noqa: E402
from core.storage.keys import DynamoKeyStore  # noqa: E402
from core.storage.tables import table_names  # noqa: E402
from handlers.lambda_local import find_function, from_build, function_for, function_names, load_template, start  # noqa: E402
from handlers.runtime_api import RuntimeAPIEmulator  # noqa: E402

EVENTS = ROOT / "events"
CONFIG = """
[providers.bench]
base_url = "{upstream}"

[models."gpt-4o-mini"]
context_window = 128000
routes = [{{ provider = "bench", model = "bench" }}]

[models."text-embedding-3-small"]
type = "embedding"
routes = [{{ provider = "bench", model = "bench" }}]

[models."dall-e-3"]
type = "image"
routes = [{{ provider = "bench", model = "bench" }}]
"""
ADMIN_KEY = "sk-admin-bench-" + "0" * 32
LOG = tempfile.TemporaryFile()  # noqa: SIM115 -- the functions' output, kept out of the table


def first_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's sample event: the one named after its handler module (events/chat.json for
    handlers.chat), its most ordinary request."""
    found: dict[str, dict[str, Any]] = {}
    for name in function_names(template):
        module = template["Resources"][name]["Properties"]["Handler"].split(".")[1]
        sample = json.loads((EVENTS / f"{module}.json").read_text())
        assert function_for(template, sample) == name, (name, module)
        found[name] = sample
    return found


def with_key(sample: dict[str, Any], key: str) -> dict[str, Any]:
    for headers in (sample.get("headers") or {}, sample.get("multiValueHeaders") or {}):
        for name in list(headers):
            if name.lower() in ("authorization", "x-api-key"):
                value = f"Bearer {key}" if name.lower() == "authorization" else key
                headers[name] = [value] if isinstance(headers[name], list) else value
    return sample


async def one_start(template: dict[str, Any], logical_id: str, sample: dict[str, Any],
                    overrides: dict[str, str]) -> tuple[float, float, int]:
    """(init ms, first byte ms, status) of one cold start."""
    function = find_function(template, logical_id)
    api = RuntimeAPIEmulator([sample])
    address = await api.start()
    began = time.monotonic()
    process = start(function, from_build(logical_id), address, overrides, stdout=LOG, stderr=LOG)
    try:
        received = api.received[api.order[0]]
        await asyncio.wait_for(received.done.wait(), 60)
        if not received.chunks:
            raise SystemExit(f"{logical_id} failed: {received.error}")
        head = received.raw.partition(b"\0" * 8)[0] if function.streaming else received.raw
        status = int(json.loads(head)["statusCode"])
        return (api.polls[0] - began) * 1000, (received.chunks[0][0] - began) * 1000, status
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait)
        await api.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--function", action="append", help="a logical id (default: every function)")
    args = parser.parse_args()
    template = load_template(ROOT / "template.yaml")
    samples = first_events(template)
    server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", 0)
    upstream = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    storage = EmbeddedProcess()
    endpoint = storage.start()
    db = DynamoDB(table_names({}), endpoint, "us-east-1", credentials=CREDENTIALS)
    key = (await create_key(DynamoKeyStore(db), plan="unlimited", name="coldstart"))[0]
    await db.aclose()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "apex.toml")
        config.write_text(CONFIG.format(upstream=upstream))
        overrides = {"APEX_CONFIG": str(config), "APEX_DYNAMODB_ENDPOINT": endpoint, "APEX_ADMIN_KEY": ADMIN_KEY,
                     "AWS_ACCESS_KEY_ID": CREDENTIALS[0], "AWS_SECRET_ACCESS_KEY": CREDENTIALS[1]}
        print("| function | kind | start → init done (median) | start → first response byte (median) | status |")
        print("| --- | --- | --- | --- | --- |")
        for logical_id in args.function or function_names(template):
            sample = with_key(samples[logical_id], ADMIN_KEY if logical_id == "AdminFunction" else key)
            runs = [await one_start(template, logical_id, sample, overrides) for _ in range(args.runs)]
            kind = "streaming" if find_function(template, logical_id).streaming else "buffered"
            print(f"| {logical_id} | {kind} | {statistics.median(r[0] for r in runs):.0f} ms "
                  f"| {statistics.median(r[1] for r in runs):.0f} ms | {runs[-1][2]} |", flush=True)
    storage.stop()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
