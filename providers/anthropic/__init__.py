"""The Anthropic adapter (`kind = "anthropic"`): Claude behind the OpenAI endpoints, translated both
ways, and behind `/v1/messages`, passed through natively. The provider's key goes upstream in
`x-api-key`, never the client's; `anthropic-version` and `anthropic-beta` from a `/v1/messages`
client are forwarded."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping

import orjson

from core.config import ProviderConfig
from core.errors import ProviderError, ProviderFailed
from core.sse import read_events
from core.types import JSON, Forwarded, NamedEvent
from providers.anthropic.stream import OpenAIChunks
from providers.anthropic.translate import answers_by_tool, request_to_anthropic, response_to_openai
from providers.http import Answer, HttpClient, status_error

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
FORWARDED = ("anthropic-version", "anthropic-beta")
FORWARDED_QUERY = ("beta",)        # `?beta=true`, as the SDK's beta namespace and Claude Code send it


def error_fields(content: bytes) -> tuple[str, str | None]:
    """(message, type) from Anthropic's `{"type": "error", "error": {"type", "message"}}`."""
    try:
        body = orjson.loads(content[:65536])
    except orjson.JSONDecodeError:
        return content[:500].decode("utf-8", "replace").strip(), None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or ""), error.get("type")
    return str(body)[:500], None


class AnthropicAdapter:
    serves = frozenset({"anthropic"})       # /v1/messages passes through untranslated

    def __init__(self, name: str, config: ProviderConfig, key: str | None = None,
                 client: HttpClient | None = None) -> None:
        self.name = name
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/v1")
        self._url = f"{base}/v1/messages"
        self._client = client or HttpClient(name, config.timeout_s)
        self._headers = {"content-type": "application/json", "anthropic-version": API_VERSION, **config.headers}
        if key:
            self._headers["x-api-key"] = key

    def _headers_with(self, forwarded: Forwarded) -> dict[str, str]:
        return {**self._headers, **{k: v for k, v in forwarded.headers.items() if k in FORWARDED}}

    def _url_with(self, forwarded: Forwarded, path: str = "") -> str:
        return f"{self._url}{path}?{forwarded.query}" if forwarded.query else f"{self._url}{path}"

    def _error(self, answer: Answer) -> ProviderError:
        message, kind = error_fields(answer.body)
        return status_error(self.name, answer.status, message, kind, None, answer.headers)

    async def _post(self, url: str, payload: JSON, headers: Mapping[str, str]) -> JSON:
        return await self._client.post_json(url, payload, headers, self._error)

    async def _events(self, payload: JSON, headers: Mapping[str, str],
                      url: str | None = None) -> AsyncGenerator[NamedEvent, None]:
        """The upstream's stream as (event, data) pairs; raises before the first if it never started."""
        async with self._client.stream(url or self._url, orjson.dumps(payload),
                                       {**headers, "accept": "text/event-stream"}) as answer:
            if answer.status != 200:
                raise self._error(Answer(answer.status, answer.headers, await answer.read()))
            async for event in read_events(answer.chunks()):
                try:
                    data = orjson.loads(event.data)
                except orjson.JSONDecodeError as exc:
                    raise ProviderFailed(f"{self.name}: malformed stream event", provider=self.name) from exc
                kind = event.event or data.get("type", "")
                if kind == "error":
                    error = data.get("error") or {}
                    raise ProviderFailed(f"{self.name}: stream failed: {error.get('type')}: {error.get('message')}",
                                         provider=self.name)
                yield kind, data
                if kind == "message_stop":
                    return
            raise ProviderFailed(f"{self.name}: stream ended before message_stop", provider=self.name)

    # -- behind the OpenAI endpoints: translated -------------------------------------------------
    async def chat(self, model: str, body: JSON) -> JSON:
        by_tool = answers_by_tool(model, body)
        message = await self._post(self._url, {**request_to_anthropic(body, by_tool), "model": model}, self._headers)
        return response_to_openai(message, int(time.time()), by_tool)

    async def chat_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        by_tool = answers_by_tool(model, body)
        chunks = OpenAIChunks(self.name, int(time.time()), include_usage, by_tool)
        payload = {**request_to_anthropic(body, by_tool), "model": model, "stream": True}
        events = self._events(payload, self._headers)
        try:
            async for kind, data in events:
                for chunk in chunks.feed(kind, data):
                    yield chunk
        finally:
            await events.aclose()

    # -- behind /v1/messages: native -------------------------------------------------------------
    async def native(self, model: str, body: JSON, forwarded: Forwarded) -> JSON:
        return await self._post(self._url_with(forwarded), {**body, "model": model}, self._headers_with(forwarded))

    def native_stream(self, model: str, body: JSON, forwarded: Forwarded) -> AsyncGenerator[NamedEvent, None]:
        return self._events({**body, "model": model, "stream": True}, self._headers_with(forwarded),
                            self._url_with(forwarded))

    async def count_tokens(self, model: str, body: JSON, forwarded: Forwarded) -> JSON:
        payload = {k: v for k, v in body.items() if k not in ("max_tokens", "stream", "stop_sequences",
                                                              "temperature", "top_p", "top_k", "metadata")}
        return await self._post(self._url_with(forwarded, "/count_tokens"), {**payload, "model": model},
                                self._headers_with(forwarded))

    async def aclose(self) -> None:
        await self._client.aclose()
