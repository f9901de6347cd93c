"""The gateway's console script as a user runs it, in a subprocess, with its output read as it comes."""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

APEX = str(Path(sys.executable).parent / "apex")
# A user's environment with no AWS, no gateway settings and no provider key (the built-in defaults'
# providers stay off); where `apex serve` leaves its state, this test process's own.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "APEX_")) and not k.endswith("_API_KEY")}
ENV["APEX_HOME"] = tempfile.mkdtemp(prefix="apex-home-")
atexit.register(shutil.rmtree, ENV["APEX_HOME"], ignore_errors=True)


class Output:
    """Lines of a process's stdout (or stderr), read on a thread so a test can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str], stderr: bool = False) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        stream = process.stderr if stderr else process.stdout
        assert stream is not None

        def read() -> None:
            for line in stream:
                self.lines.put(line)
            self.lines.put(None)      # end of output

        threading.Thread(target=read, daemon=True).start()

    def until(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        while (line := self.lines.get(timeout=timeout)) is not None:
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"output ended without {pattern!r}")

    def rest(self, timeout: float = 30) -> str:
        lines = []
        while (line := self.lines.get(timeout=timeout)) is not None:
            lines.append(line)
        return "".join(lines)


def rss_bytes(pid: int) -> int:
    """A process's resident memory, as the kernel counts it."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")
