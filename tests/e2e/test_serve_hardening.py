"""`apex serve` in its own process, as deployed locally: what its logs say at their default level
(never a secret or a prompt), and its memory while a long stream crawls through it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.processes import APEX, ENV, Output, rss_bytes

PROVIDER_SECRET = "sk-upstream-SECRET-4242"
CLIENT_KEY = "sk-client-SECRET-5353"
WRONG_KEY = "sk-wrong-SECRET-6464"
PROMPT = "PROMPT-SECRET-7575 is what I whispered"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("local") as fake:
        yield fake


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, upstream: FakeOpenAI) -> Iterator[tuple[subprocess.Popen[str],
                                                                                             Output, str]]:
    config = Path(tmp_path_factory.mktemp("serve")) / "apex.toml"
    config.write_text(f"""
[providers.local]
kind = "openai"
base_url = "{upstream.base_url}"
api_key_env = "UPSTREAM_KEY"

[models."house"]
routes = [{{ provider = "local", model = "house-7b" }}]

[[keys]]
key = "{CLIENT_KEY}"
plan = "unlimited"
""")
    process = subprocess.Popen([APEX, "serve", "--port", "0", "--config", str(config)],
                               env={**ENV, "UPSTREAM_KEY": PROVIDER_SECRET},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(process)
    url = output.until(r"on (http://\S+)/v1").group(1)
    yield process, output, url
    if process.poll() is None:
        process.terminate()
        process.wait(15)


def post(url: str, body: dict | bytes, key: str = CLIENT_KEY) -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    return httpx.post(f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, timeout=10,
                      content=content, json=None if content is not None else body)


def stream_events(url: str, ask: dict) -> Iterator[str]:
    with httpx.stream("POST", f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                      json=ask, timeout=30) as response:
        yield from (line for line in response.iter_lines() if line.startswith("data: "))


def test_a_long_stream_to_a_slow_client_from_a_slow_upstream_keeps_memory_flat(serve, upstream) -> None:
    """10,000 chunks of 2 KB (20 MB) while the client stops reading and the upstream stalls midway:
    backpressure holds the stream in the sockets' buffers, never in the gateway."""
    process, _, url = serve
    # temperature 0: the response cache assembles the stream too (it gives up once it cannot fit).
    ask = {"model": "house", "messages": [{"role": "user", "content": "hi"}], "stream": True, "temperature": 0}
    words = [f"{i:05d}" + "x" * 2043 for i in range(10_000)]
    upstream.reply_text = " ".join(words[:150])          # 300 KB: enough to load what loads once (the tokenizer)
    assert sum(1 for _ in stream_events(url, {**ask, "messages": [{"role": "user", "content": "warm"}]})) == 153
    baseline = rss_bytes(process.pid)
    upstream.reply_text = " ".join(words)
    resume = upstream.hold_after(5_000)
    peak, events = baseline, 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                      json=ask, timeout=30) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            events += 1
            if events == 100 or events == 4_000:
                # A client that stops reading: 100 ms at a time, while memory is watched.
                for _ in range(10):
                    time.sleep(0.1)
                    peak = max(peak, rss_bytes(process.pid))
                if events == 4_000:
                    resume.set()        # the upstream stalled at 5,000 meanwhile; let it go on
            if events % 500 == 0:
                peak = max(peak, rss_bytes(process.pid))
    assert events == 10_000 + 3                      # role, 10,000 words, finish, [DONE]
    assert peak - baseline < 8 * MIB, f"grew {(peak - baseline) / MIB:.1f} MiB for a 20 MB stream"


def test_logs_hold_no_secret_and_no_prompt(serve, upstream) -> None:
    """Every path that logs, at the default level: served, streamed, upstream failures before and
    during a stream, bad input, a wrong key. Then every line the process wrote is searched."""
    process, output, url = serve
    ask = {"model": "house", "messages": [{"role": "user", "content": PROMPT}]}
    assert post(url, ask).status_code == 200
    assert upstream.last.headers["Authorization"] == f"Bearer {PROVIDER_SECRET}"   # the secret was in use
    with httpx.stream("POST", f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                      json={**ask, "stream": True}, timeout=10) as streamed:
        assert streamed.status_code == 200 and "[DONE]" in streamed.read().decode()
    upstream.fail_next(1, "500")
    assert post(url, ask).status_code == 502
    upstream.fail_next(1, "401")
    assert PROVIDER_SECRET not in post(url, ask).text
    upstream.fail_next(1, "drop_after", after_chunks=2)
    with httpx.stream("POST", f"{url}/v1/chat/completions", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                      json={**ask, "stream": True}, timeout=10) as broken:
        assert '"error"' in broken.read().decode()
    assert post(url, f'{{"model": "house", "messages": "{PROMPT}"'.encode()).status_code == 400
    assert post(url, ask, key=WRONG_KEY).status_code == 401
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    logs = output.rest()
    assert "502 provider_error" in logs and "stream broke after its first byte" in logs   # it did log
    for secret in (PROVIDER_SECRET, CLIENT_KEY, WRONG_KEY, "PROMPT-SECRET"):
        assert secret not in logs
