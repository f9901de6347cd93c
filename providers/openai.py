"""The OpenAI-compatible adapter: OpenAI, Groq, Together, Fireworks, DeepSeek, Mistral, Gemini's and
DashScope's compatible modes, vLLM, Ollama — anything that speaks OpenAI's API, by `base_url`.

Core's format is this wire format, so requests and responses pass through untouched but for the
model name; only errors and stream framing need work.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import orjson

from core.config import ProviderConfig
from core.errors import ProviderError, ProviderFailed, UpstreamRejected
from core.sse import read_events
from core.types import COMPLETIONS, EMBEDDINGS, IMAGES, JSON, RESPONSES, NamedEvent
from providers.http import Answer, HttpClient, status_error

DEFAULT_BASE_URL = "https://api.openai.com/v1"
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
ITEM_PARAMS = frozenset({"input", "previous_response_id"})
_ERROR_BODY_LIMIT = 64 * 1024


def error_fields(content: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, param) from an OpenAI-style error body, tolerating anything else."""
    try:
        body = orjson.loads(content[:_ERROR_BODY_LIMIT])
    except orjson.JSONDecodeError:
        return content[:500].decode("utf-8", "replace").strip(), None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or ""), code if isinstance(code, str) else None, error.get("param")
    if isinstance(error, str):
        return error, None, None
    return str(body)[:500], None, None


class OpenAIAdapter:
    """Every OpenAI endpoint the gateway serves, by path under `base_url`; subclasses (Azure)
    declare only how URLs and credentials differ."""

    def __init__(self, name: str, config: ProviderConfig, key: str | None = None,
                 client: HttpClient | None = None) -> None:
        self.name = name
        self._base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        native = config.responses if config.responses is not None else self._base == DEFAULT_BASE_URL
        self.serves = frozenset({COMPLETIONS, EMBEDDINGS, IMAGES, *((RESPONSES,) if native else ())})
        self._client = client or HttpClient(name, config.timeout_s)
        self._headers = {"content-type": "application/json", "accept": "application/json",
                         **(self._credentials(key) if key else {}), **config.headers}
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}

    def _credentials(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}

    def _url(self, path: str, model: str) -> str:
        return f"{self._base}/{path}"

    def _error(self, answer: Answer) -> ProviderError:
        message, code, param = error_fields(answer.body)
        return status_error(self.name, answer.status, message, code, param, answer.headers)

    async def _post(self, path: str, model: str, body: JSON, expect: str,
                    error: Callable[[Answer], ProviderError] | None = None) -> JSON:
        """POST and parse; `expect` is a field every good answer has (`choices`, `data`)."""
        parsed = await self._client.post_json(self._url(path, model), {**body, "model": model}, self._headers,
                                              error or self._error)
        if expect not in parsed:
            raise ProviderFailed(f"{self.name}: answer has no {expect}", provider=self.name)
        return parsed

    async def _stream(self, path: str, model: str, body: JSON) -> AsyncGenerator[JSON, None]:
        payload = orjson.dumps({**body, "model": model, "stream": True})
        async with self._client.stream(self._url(path, model), payload, self._stream_headers) as answer:
            if answer.status != 200:
                raise self._error(Answer(answer.status, answer.headers, await answer.read()))
            async for event in read_events(answer.chunks()):
                if event.data == "[DONE]":
                    return
                yield _parse_chunk(self.name, event.data)
            raise ProviderFailed(f"{self.name}: stream ended before [DONE]", provider=self.name)

    async def chat(self, model: str, body: JSON) -> JSON:
        return await self._post("chat/completions", model, body, "choices")

    def chat_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]:
        return self._stream("chat/completions", model, body)

    async def completions(self, model: str, body: JSON) -> JSON:
        return await self._post("completions", model, body, "choices")

    def completions_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]:
        return self._stream("completions", model, body)

    async def responses(self, model: str, body: JSON, path: str = "responses") -> JSON:
        """A Responses request (or one of `responses/compact`, `responses/input_tokens`) as sent."""
        return await self._post(path, model, {k: v for k, v in body.items() if k != "stream"}, "object",
                                self._responses_error)

    def _responses_error(self, answer: Answer) -> ProviderError:
        """OpenAI answers 404 for an input item or previous response it does not have: the client's
        request is at fault (no other route would know them either), not the route."""
        message, code, param = error_fields(answer.body)
        if answer.status == 404 and param in ITEM_PARAMS:
            return UpstreamRejected(message, status=404, code=code or "not_found", param=param, provider=self.name)
        return self._error(answer)

    async def responses_stream(self, model: str, body: JSON) -> AsyncGenerator[NamedEvent, None]:
        """The upstream's Responses events, one by one, until its terminal one."""
        payload = orjson.dumps({**body, "model": model, "stream": True})
        async with self._client.stream(self._url("responses", model), payload, self._stream_headers) as answer:
            if answer.status != 200:
                raise self._responses_error(Answer(answer.status, answer.headers, await answer.read()))
            async for event in read_events(answer.chunks()):
                data = _parse_chunk(self.name, event.data)
                if data.get("type") == "error":
                    raise ProviderFailed(f"{self.name}: stream failed: {data.get('message')}", provider=self.name)
                kind = str(data.get("type") or event.event or "")
                yield kind, data
                if kind in TERMINAL_EVENTS:
                    return
            raise ProviderFailed(f"{self.name}: stream ended before the response did", provider=self.name)

    async def embeddings(self, model: str, body: JSON) -> JSON:
        return await self._post("embeddings", model, body, "data")

    async def images(self, model: str, body: JSON) -> JSON:
        return await self._post("images/generations", model, body, "data")

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_chunk(provider: str, data: str) -> JSON:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderFailed(f"{provider}: malformed stream event", provider=provider) from exc
    if not isinstance(chunk, dict):
        raise ProviderFailed(f"{provider}: malformed stream event", provider=provider)
    if "error" in chunk:
        message, _, _ = error_fields(data.encode())
        raise ProviderFailed(f"{provider}: stream failed: {message}", provider=provider)
    return chunk

