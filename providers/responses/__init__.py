"""OpenAI's Responses API as an inbound format, over any chat provider.

Input items become chat messages (`request`), the request's tools chat functions (`tools`), and a
chat answer a response with `output` items, buffered or as the Responses event sequence with
sequence numbers (`response`). `metadata` is kept on the response, never sent upstream;
`instructions` apply to their own request only, as OpenAI does with `previous_response_id`;
`reasoning.effort` becomes the chat request's `reasoning_effort` (a reasoning model's setting, and an
Anthropic model's thinking) and is echoed on the response.
"""

from __future__ import annotations

from core.types import JSON
from providers.responses.request import input_items, native_request, resolve_references, to_chat
from providers.responses.response import ResponseEvents, chat_usage, failed, from_chat, skeleton
from providers.responses.tools import Tools


class Translation:
    """One request's translation: its chat request, and its answer made back into a response."""

    def __init__(self, body: JSON, history: list[JSON], new_items: list[JSON]) -> None:
        self._body = body
        items = resolve_references([*history, *new_items], history)
        self.tools = Tools([(body.get("tools") or [], "tools")] + [
            (item["tools"], "input") for item in items if item["type"] == "additional_tools"])
        self.compacting = new_items[-1]["type"] == "compaction_trigger"
        dropped_items: list[str] = []
        self.chat = to_chat(body, items, self.tools, self.compacting, dropped_items)
        self.headers = {header: ", ".join(dict.fromkeys(kinds)) for header, kinds in (
            ("x-apex-dropped-tools", self.tools.dropped), ("x-apex-dropped-items", dropped_items)) if kinds}

    def skeleton(self, response_id: str, created_at: int) -> JSON:
        return skeleton(self._body, response_id, created_at)

    def from_chat(self, completion: JSON, response_id: str, created_at: int) -> JSON:
        return from_chat(self.skeleton(response_id, created_at), completion, self.tools, self.compacting)

    def events(self, response: JSON) -> ResponseEvents:
        return ResponseEvents(response, self.tools, self.compacting)


class ResponsesFormat:
    """What core's `/v1/responses` routes are handed: this package's translation, as one object."""

    input_items = staticmethod(input_items)
    native_request = staticmethod(native_request)
    chat_usage = staticmethod(chat_usage)
    failed = staticmethod(failed)

    @staticmethod
    def token_count(tokens: int) -> JSON:
        """What `/v1/responses/input_tokens` answers."""
        return {"object": "response.input_tokens", "input_tokens": tokens}

    @staticmethod
    def translation(body: JSON, history: list[JSON], new_items: list[JSON]) -> Translation:
        return Translation(body, history, new_items)
