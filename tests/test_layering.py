"""The rooms' doors: `core` speaks one format and imports neither `providers` nor `handlers`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Words of Anthropic's wire format: its event names and usage fields belong to its plug-in.
ANTHROPIC_WORDS = ("message_start", "message_delta", "content_block", "input_tokens", "output_tokens",
                   "cache_read_input_tokens", "AnthropicError", "partial_json")


def core_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "core").rglob("*.py") if "optimizer" not in p.parts)


def test_core_imports_neither_providers_nor_handlers() -> None:
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("providers", "handlers")), (path, name)


def test_core_knows_no_other_wire_formats_words() -> None:
    """As a word of its own: a path segment (`/v1/responses/input_tokens`, an OpenAI endpoint core
    serves) is not Anthropic's usage field, nor is an OpenTelemetry attribute's last part
    (`gen_ai.usage.input_tokens`, the GenAI conventions' name core's traces must use)."""
    for path in core_modules():
        text = path.read_text()
        found = [word for word in ANTHROPIC_WORDS if re.search(rf"(?<![A-Za-z_/.]){word}(?![A-Za-z_])", text)]
        assert not found, (path.relative_to(ROOT), found)
