"""The real clients, run against the gateway."""

from __future__ import annotations

from pathlib import Path


def clients_table() -> str:
    """docs/clients.md's table of clients, which each client suite keeps true."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "clients.md").read_text()
    start = doc.index("| client | scenario |")
    return doc[start:doc.index("\n\n", start)]
