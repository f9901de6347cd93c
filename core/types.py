"""Aliases and Protocols shared across the gateway; adapters implement them, core calls them."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

JSON = dict[str, Any]


class ChatAdapter(Protocol):
    """One upstream provider, spoken to in core's format (OpenAI chat completions).

    `body` is the client's request with gateway-only fields removed; it is shared across fallback
    attempts, so an adapter copies before it changes anything. Failures are raised as
    `core.errors.ProviderError`s; a stream raises before its first chunk if the route never answered,
    which is what lets fallback move on to the next route.
    """

    name: str

    async def chat(self, model: str, body: JSON) -> JSON: ...

    def chat_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]: ...

    async def aclose(self) -> None: ...
