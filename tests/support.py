"""Running the real gateway in-process on a real port, for end-to-end tests with the official SDKs."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn

from core.config import Config, parse_config
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.tables import table_names
from handlers.serve import Local, bind, local_gateway

TEST_KEY = "sk-test-0123456789"
T = TypeVar("T")


def config(providers: dict[str, str | dict[str, Any]], models: dict[str, Any] | None = None, **extra: Any) -> Config:
    """A config with one static key whose providers are fakes: name → base_url of an OpenAI-compatible
    one, or name → its whole provider table."""
    data: dict[str, Any] = {
        "providers": {name: {"kind": "openai", "base_url": p, "timeout_s": 2} if isinstance(p, str) else p
                      for name, p in providers.items()},
        "models": models or {},
        "keys": [{"key": TEST_KEY, "plan": "unlimited"}],
        # Module-wide gateways see many scripted faults: no circuit opens unless a test asks for one.
        "gateway": {"breaker_failures": 1000},
    }
    for section, values in extra.items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    return parse_config(data, "<test>")


# A model of every type, on the two fakes `with_both_fakes` names "gpt" and "claude".
EVERY_TYPE = {
    "gpt-x": {"routes": [{"provider": "gpt", "model": "gpt-4o"}]},
    "claude-x": {"routes": [{"provider": "claude", "model": "claude-sonnet"}]},
    "embed": {"type": "embedding", "routes": [{"provider": "gpt", "model": "e5"}]},
    "image": {"type": "image", "routes": [{"provider": "gpt", "model": "dall-e"}]},
}


def with_both_fakes(openai_url: str, anthropic_url: str, providers: dict[str, Any] | None = None,
                    models: dict[str, Any] | None = None, **extra: Any) -> Config:
    """A config in front of an OpenAI-compatible fake ("gpt") and an Anthropic one ("claude"), with
    EVERY_TYPE and any other `providers` and `models`."""
    return config({"gpt": openai_url, "claude": {"kind": "anthropic", "base_url": anthropic_url, "timeout_s": 2},
                   **(providers or {})}, {**EVERY_TYPE, **(models or {})}, **extra)


@dataclass
class Running:
    url: str
    local: Local
    loop: asyncio.AbstractEventLoop

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the gateway's own event loop (where its storage client lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)


@contextlib.contextmanager
def run_gateway(cfg: Config, dynamo_url: str, db: DynamoDB | None = None,
                demo: bool | None = False) -> Iterator[Running]:
    """The gateway's app under uvicorn on 127.0.0.1, port chosen by the OS, storage on `dynamo_url`
    (through `db` when given); `demo` as `apex serve` takes it (None: on when no provider is usable)."""
    local = local_gateway(cfg, db or DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS), demo=demo)
    sock = bind("127.0.0.1", 0)   # already listening: no start-up polling
    server = uvicorn.Server(uvicorn.Config(local.app, lifespan="on", access_log=False, log_level="warning",
                                           proxy_headers=False,
                                           loop="asyncio", timeout_graceful_shutdown=1))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    try:
        yield Running(f"http://127.0.0.1:{sock.getsockname()[1]}", local, loop)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        loop.close()
