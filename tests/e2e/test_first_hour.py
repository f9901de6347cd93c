"""A new user's first steps, as processes: `apex serve` with nothing set answers in demo mode with the
key it prints, and `apex keys` reaches that gateway without --url, or says in one line what to do."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import AuthenticationError, OpenAI

from tests.processes import APEX, ENV, Output


def apex(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APEX, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A machine of its own: no config in the working directory, its own APEX_HOME."""
    return {**ENV, "APEX_HOME": str(tmp_path / "home")}


@pytest.fixture
def served(tmp_path: Path, home: dict[str, str]) -> Iterator[tuple[str, Output]]:
    process = subprocess.Popen([APEX, "serve", "--port", "0"], env=home, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output = Output(process)
    yield output.until(r"on (http://\S+/v1)").group(1), output
    process.terminate()
    assert process.wait(15) in (0, -15)
    assert "Traceback" not in output.rest()
    assert not (Path(home["APEX_HOME"]) / "serve.json").exists()    # gone with the server


def test_keys_without_a_gateway_say_what_to_do_in_one_line(home: dict[str, str]) -> None:
    result = apex("keys", "list", env=home)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no gateway to reach: start one with `make serve`" in result.stderr and "--url" in result.stderr


def test_a_missing_config_ends_in_one_line(tmp_path: Path, home: dict[str, str]) -> None:
    result = apex("serve", "--config", str(tmp_path / "nope.toml"), env=home)
    assert result.returncode == 2
    assert result.stderr.strip() == f"apex: invalid configuration: {tmp_path / 'nope.toml'}: No such file or directory"


def test_demo_mode_then_keys_made_used_listed_and_revoked_without_url(served, home: dict[str, str]) -> None:
    url, output = served
    output.until(r"Demo mode: .* Use the key sk-apex-demo")
    with OpenAI(base_url=url, api_key="sk-apex-demo", max_retries=0, timeout=10) as demo:
        reply = demo.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert (reply.choices[0].message.content or "").startswith("[demo]")

    created = apex("keys", "create", "--plan", "pro", "--name", "me", env=home)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk-apex-") and f"the gateway at {url.removesuffix('/v1')}" in created.stderr
    with OpenAI(base_url=url, api_key=key, max_retries=0, timeout=10) as mine:
        mine.chat.completions.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "Hi"}])

    deadline = time.monotonic() + 15          # the server writes usage within a second or so
    while True:
        listed = apex("keys", "list", env=home)
        assert listed.returncode == 0, listed.stderr
        header, *rows = listed.stdout.splitlines()
        row = next(r for r in rows if " me " in r)
        if "never" not in row or time.monotonic() > deadline:
            break
    assert header.split()[-2:] == ["created", "last_used"]
    assert row.split()[-4:-2][0] == time.strftime("%Y-%m-%d", time.gmtime()) and "never" not in row

    key_id = row.split()[0]
    revoked = apex("keys", "revoke", key_id, env=home)
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {key_id}"
    deadline = time.monotonic() + 15          # the gateway trusts a key it has seen for key_cache_ttl_s (10 s)
    with OpenAI(base_url=url, api_key=key, max_retries=0, timeout=10) as mine:
        while True:
            try:
                mine.models.list()
            except AuthenticationError:
                break
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.5)
