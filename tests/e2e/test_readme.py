"""The README's code runs as written: every block that talks to the local gateway is taken from the
README and run against `apex serve` started as the quick start starts it — nothing set, no config —
with only the port changed to the one the test's gateway got."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import APEX, ENV, Output

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LOCAL = "http://127.0.0.1:8000"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def runnable() -> list[tuple[str, str]]:
    """(language, code) of each block that talks to the local gateway: Python that names its URL, and
    shell blocks made only of `curl` and `apex` commands."""
    blocks = []
    for language, code in BLOCK.findall(README.read_text()):
        commands = [line for line in code.splitlines() if line.strip() and not line.startswith(" ")]
        shell = language == "sh" and commands and all(c.startswith(("curl ", "apex ")) for c in commands)
        if shell or (language == "python" and LOCAL in code):
            blocks.append((language, code))
    return blocks


BLOCKS = runnable()


def test_the_readme_opens_with_its_two_commands_and_its_snippets_are_found() -> None:
    first = BLOCK.search(README.read_text())
    assert first is not None and [line.split()[:2] for line in first.group(2).splitlines()] == [
        ["make", "serve"], ["make", "test"]]
    assert sum(language == "python" for language, _ in BLOCKS) >= 3
    assert any(code.startswith("curl ") for _, code in BLOCKS) and any(code.startswith("apex ") for _, code in BLOCKS)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    where = tmp_path_factory.mktemp("fresh")
    env = {**ENV, "APEX_HOME": str(where / "home"), "PATH": f"{Path(APEX).parent}{os.pathsep}{ENV['PATH']}"}
    process = subprocess.Popen([APEX, "serve", "--port", "0"], cwd=where, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output = Output(process)
    url = output.until(r"on (http://\S+)/v1").group(1)
    output.until(r"Use the key sk-apex-demo")
    yield url, env
    process.terminate()
    process.wait(15)


@pytest.mark.parametrize(("language", "code"), BLOCKS, ids=[f"{i}-{lang}" for i, (lang, _) in enumerate(BLOCKS)])
def test_a_readme_block_runs_as_written(gateway: tuple[str, dict[str, str]], language: str, code: str,
                                        tmp_path: Path) -> None:
    url, env = gateway
    program = code.replace(LOCAL, url)
    command = [sys.executable, "-c", program] if language == "python" else ["bash", "-euo", "pipefail", "-c", program]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if LOCAL in code and "/embeddings" not in code:
        assert "[demo]" in result.stdout, result.stdout      # an answer came back, from the demo provider
