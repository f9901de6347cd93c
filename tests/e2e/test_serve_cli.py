"""`apex serve` and `apex routes` as a user runs them: the console script, in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fakes.openai import FakeOpenAI
from tests.processes import APEX, ENV, Output


def write_config(tmp_path: Path, upstream: FakeOpenAI, keys: str = "") -> Path:
    path = tmp_path / "apex.toml"
    path.write_text(f"""
[providers.local]
kind = "openai"
base_url = "{upstream.base_url}"

[models."house"]
context_window = 4096
price = {{ input = 0.5, output = 1.5 }}
quality = 4
routes = [{{ provider = "local", model = "house-7b" }}]
{keys}
""")
    return path


@pytest.fixture
def serve(tmp_path: Path, upstream_a: FakeOpenAI) -> Iterator[tuple[subprocess.Popen[str], Output]]:
    config = write_config(tmp_path, upstream_a)
    process = subprocess.Popen([APEX, "serve", "--port", "0", "--config", str(config)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process, Output(process)
    process.terminate()
    process.wait(15)


def test_serve_prints_its_url_and_a_local_key_that_works(serve) -> None:
    process, output = serve
    url = output.until(r"on (http://\S+/v1)").group(1)
    output.until(r"embedded DynamoDB")
    key = output.until(r"local key: (\S+)").group(1)
    with OpenAI(base_url=url, api_key=key, max_retries=0, timeout=10) as client:
        reply = client.chat.completions.create(model="house", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "Hello from alpha."
        streamed = client.chat.completions.create(model="house", messages=[{"role": "user", "content": "hi"}],
                                                  stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed) == "Hello from alpha."
        assert [m.id for m in client.models.list()] == ["house"]
        # the optimizer's rules run in worker processes under apex serve
        optimized = client.post("/optimize", cast_to=object, body={"prompt": "Hello! So basically, could you "
                                                                          "please explain what a monad is?"})
        assert optimized["tokens_saved"] > 0
    # Codex's probe for the Responses WebSocket transport: a 426 at once, which it falls back from
    with pytest.raises(InvalidStatus) as refused:
        connect(url.replace("http://", "ws://") + "/responses", additional_headers={"Authorization": f"Bearer {key}"},
                open_timeout=5)
    assert refused.value.response.status_code == 426
    assert json.loads(refused.value.response.body)["error"]["code"] == "websocket_not_supported"
    process.terminate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught as the exit status.
    assert process.wait(15) in (0, -signal.SIGTERM)
    assert "Traceback" not in output.rest()


def test_invalid_config_stops_start_up_naming_file_key_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "apex.toml"
    path.write_text('[providers.x]\nkind = "grok"\n')
    result = subprocess.run([APEX, "serve", "--config", str(path)], env=ENV, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert str(path) in result.stderr and "providers.x.kind" in result.stderr and "grok" in result.stderr


def test_routes_prints_the_model_table(tmp_path: Path, upstream_a: FakeOpenAI) -> None:
    config = write_config(tmp_path, upstream_a)
    result = subprocess.run([APEX, "routes", "--config", str(config)], env=ENV, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0
    header, row = result.stdout.splitlines()
    assert header.split()[:3] == ["MODEL", "TYPE", "ROUTES"]
    assert row.split() == ["house", "chat", "local/house-7b", "0.5/1.5", "4", "4096"]


def test_the_banner_says_what_was_read_and_what_is_reachable(tmp_path: Path, upstream_a: FakeOpenAI) -> None:
    config = write_config(tmp_path, upstream_a)
    config.write_text(config.read_text() + '\n[providers.cloud]\nkind = "anthropic"\n'
                      'api_key_env = "APEX_TEST_UNSET_KEY"\n\n[providers.bare]\nkind = "openai"\n')
    process = subprocess.Popen([APEX, "serve", "--port", "0", "--config", str(config)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(process)
    try:
        assert output.until(r"Config: (\S+)").group(1) == str(config)
        assert output.until(r"Providers enabled: (.*)").group(1) == "bare, local"
        output.until(r"cloud: disabled \(set APEX_TEST_UNSET_KEY\)")
        output.until(r"Models reachable: 1 of 1")
        output.until(r"Dashboard: off \(set APEX_ADMIN_KEY")
        output.until(r"Warning: provider bare has no base_url")
    finally:
        process.terminate()
        process.wait(15)


def test_the_cli_says_its_version_and_ends_in_one_line_not_a_traceback(tmp_path: Path, upstream_a: FakeOpenAI) -> None:
    version = subprocess.run([APEX, "--version"], env=ENV, capture_output=True, text=True, timeout=30)
    assert version.returncode == 0 and version.stdout.startswith("apex ")
    import socket
    busy = socket.create_server(("127.0.0.1", 0))
    taken = subprocess.run([APEX, "serve", "--port", str(busy.getsockname()[1])], env=ENV, capture_output=True,
                           text=True, timeout=30)
    busy.close()
    assert taken.returncode == 1 and "Traceback" not in taken.stderr
    assert taken.stderr.strip().splitlines()[-1].startswith("apex: cannot listen on 127.0.0.1:")
    # `apex routes | head`: the reader leaves before the table is written
    config = write_config(tmp_path, upstream_a)
    config.write_text(config.read_text() + "".join(
        f'\n[models."m{i}"]\nroutes = [{{ provider = "local", model = "m{i}" }}]\n' for i in range(3000)))
    piped = subprocess.Popen([APEX, "routes", "--config", str(config)], env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert piped.stdout is not None and piped.stderr is not None
    piped.stdout.readline()
    piped.stdout.close()
    assert piped.wait(30) == 1 and "Traceback" not in piped.stderr.read()
