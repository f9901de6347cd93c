"""Compaction on a chat route. Codex, on OpenAI's own provider, compacts a long conversation by
ending a request with a `compaction_trigger` item; OpenAI answers with a `compaction` item, opaque
(`encrypted_content`), that stands for the conversation from then on. A chat model has no such
thing, so the gateway asks it for a summary and answers with a `compaction` item that carries the
summary in the gateway's own encoding; sent back later, that item becomes the summary again (a
compaction item made by OpenAI cannot be read here, and is left out).
"""

from __future__ import annotations

import base64
import binascii

from core.types import JSON
from providers.responses.ids import new_id

PREFIX = "apex-summary-v1:"
SUMMARY_REQUEST = ("Summarize the conversation so far for whoever continues it: the task and its goal, "
                   "what has been done and decided, the files, commands and results that matter, and what is "
                   "left to do. Write only the summary.")
SUMMARY_HEADING = "A summary of the conversation so far:\n\n"


def compaction_item(summary: str) -> JSON:
    encoded = base64.urlsafe_b64encode(summary.encode()).decode()
    return {"id": new_id("cmp"), "type": "compaction", "encrypted_content": PREFIX + encoded}


def summary_of(item: JSON) -> str | None:
    """The summary a compaction item made here carries, or None for anyone else's."""
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content.startswith(PREFIX):
        return None
    try:
        return SUMMARY_HEADING + base64.urlsafe_b64decode(content.removeprefix(PREFIX)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
