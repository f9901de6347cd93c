"""The OpenAI-compatible adapter: OpenAI, Groq, Together, Fireworks, DeepSeek, Mistral, Gemini's and
DashScope's compatible modes, vLLM, Ollama — anything that speaks OpenAI's API, by `base_url`.

Core's format is this wire format, so requests and responses pass through untouched but for the
model name; only errors and stream framing need work.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson

from core.config import ProviderConfig
from core.errors import ProviderError, ProviderFailed
from core.sse import read_events
from core.types import COMPLETIONS, EMBEDDINGS, IMAGES, JSON
from providers.http import Answer, HttpClient, status_error

DEFAULT_BASE_URL = "https://api.openai.com/v1"
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

    serves = frozenset({COMPLETIONS, EMBEDDINGS, IMAGES})

    def __init__(self, name: str, config: ProviderConfig, key: str | None = None,
                 client: HttpClient | None = None) -> None:
        self.name = name
        self._base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
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

    async def _post(self, path: str, model: str, body: JSON, expect: str) -> JSON:
        """POST and parse; `expect` is a field every good answer has (`choices`, `data`)."""
        parsed = await self._client.post_json(self._url(path, model), {**body, "model": model}, self._headers,
                                              self._error)
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

