"""How `apex keys` finds the gateway `apex serve` runs beside it: the server leaves its URL and its
embedded DynamoDB (with that run's access key) in a file only its user can read, and takes it away
when it stops."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HOME_VARIABLE = "APEX_HOME"     # default: ~/.apex


def state_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(HOME_VARIABLE) or Path.home() / ".apex") / "serve.json"


def publish(url: str, dynamodb: str, credentials: tuple[str, str]) -> Callable[[], None]:
    """Write this run's state; returns what removes it (only while it is still this run's)."""
    path = state_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = path.with_suffix(f".{os.getpid()}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"pid": os.getpid(), "url": url, "dynamodb": dynamodb, "credentials": list(credentials)}, out)
    os.replace(staged, path)

    def remove() -> None:
        state = _read(path)
        if state is not None and state.get("pid") == os.getpid():
            path.unlink(missing_ok=True)
    return remove


def running(environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    """The local gateway's state, if its process still runs."""
    state = _read(state_path(environ))
    if state is None or not isinstance(state.get("pid"), int):
        return None
    try:
        os.kill(state["pid"], 0)
    except ProcessLookupError:
        return None
    except PermissionError:      # alive, another user's: not ours to use
        return None
    return state


def _read(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None
