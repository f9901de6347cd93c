"""The real clients, run against the gateway."""

from __future__ import annotations

from pathlib import Path


def readme_table() -> str:
    """The README's table of clients, which each client suite keeps true."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return readme[readme.index("## Clients, run for real"):readme.index("## Anthropic both ways")]
