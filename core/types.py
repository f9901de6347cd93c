"""Aliases and Protocols shared across the gateway; adapters and formats implement them, core calls them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.errors import GatewayError
    from core.streaming import StreamFormat

JSON = dict[str, Any]
NamedEvent = tuple[str, JSON]          # (SSE event name, its data)

# What an adapter serves beyond chat, declared in its `serves` (with the names of the inbound formats
# it speaks natively): an endpoint asks for the capability, never sniffs for a method.
COMPLETIONS, EMBEDDINGS, IMAGES, RESPONSES = "completions", "embeddings", "images", "responses"


class ChatAdapter(Protocol):
    """One upstream provider, spoken to in core's format (OpenAI chat completions).

    `body` is the client's request with gateway-only fields removed; it is shared across fallback
    attempts, so an adapter copies before it changes anything. Failures are raised as
    `core.errors.ProviderError`s; a stream raises before its first chunk if the route never answered,
    which is what lets fallback move on to the next route.
    """

    name: str
    serves: frozenset[str]

    async def chat(self, model: str, body: JSON) -> JSON: ...

    def chat_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]: ...

    async def aclose(self) -> None: ...


class CompletionsAdapter(ChatAdapter, Protocol):
    """An adapter whose upstream serves legacy `/completions` itself (for `type = "completion"` models)."""

    async def completions(self, model: str, body: JSON) -> JSON: ...

    def completions_stream(self, model: str, body: JSON) -> AsyncGenerator[JSON, None]: ...


class EmbeddingsAdapter(ChatAdapter, Protocol):
    async def embeddings(self, model: str, body: JSON) -> JSON: ...


class ImagesAdapter(ChatAdapter, Protocol):
    async def images(self, model: str, body: JSON) -> JSON: ...


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What of a client's request a native route passes upstream as it came: the format's own headers
    (`anthropic-version`, `anthropic-beta`) and query parameters (`beta=true`), nothing else."""

    headers: Mapping[str, str]
    query: str = ""


class NativeAdapter(ChatAdapter, Protocol):
    """An adapter that also speaks an inbound format natively (an Anthropic provider behind
    `/v1/messages`; it lists the format's name in `serves`): the request passes through
    untranslated, nothing is lost on the way."""

    async def native(self, model: str, body: JSON, forwarded: Forwarded) -> JSON: ...

    def native_stream(self, model: str, body: JSON, forwarded: Forwarded) -> AsyncGenerator[NamedEvent, None]: ...

    async def count_tokens(self, model: str, body: JSON, forwarded: Forwarded) -> JSON: ...


class ResponsesAdapter(ChatAdapter, Protocol):
    """An adapter whose upstream serves OpenAI's Responses API itself (it lists RESPONSES in `serves`):
    Responses requests pass to it as sent and its events stream back as they come."""

    async def responses(self, model: str, body: JSON, path: str = "responses") -> JSON: ...

    def responses_stream(self, model: str, body: JSON) -> AsyncGenerator[NamedEvent, None]: ...


class StreamTranslator(Protocol):
    def feed(self, chunk: JSON) -> list[NamedEvent]: ...

    def finish(self) -> list[NamedEvent]: ...


class InboundFormat(Protocol):
    """A wire format other than OpenAI's that clients may speak to the gateway (Anthropic Messages):
    translated to core's format and back by the same code that serves that format's providers; it
    also reads its own answers' usage (in core's terms) and writes its own streams."""

    name: str
    forwarded_headers: tuple[str, ...]   # request headers a native route passes upstream
    forwarded_query: tuple[str, ...]     # and query parameters

    def check(self, body: JSON, counting: bool = False) -> None: ...

    def to_core(self, body: JSON) -> JSON: ...     # for routing and checks; unknown content left out

    def require_translatable(self, body: JSON) -> None: ...   # before a route that translates: a 400 if lossy

    def from_core(self, completion: JSON) -> JSON: ...

    def stream_from_core(self, model: str, prompt_tokens: int) -> StreamTranslator: ...

    def usage_of(self, answer: JSON) -> JSON | None: ...

    def token_count(self, tokens: int) -> JSON: ...    # a count_tokens answer

    def stream(self) -> StreamFormat[NamedEvent]: ...

    def error_body(self, err: GatewayError) -> bytes: ...

    def openapi(self) -> tuple[JSON, JSON]: ...     # its schemas and paths in the gateway's document

    def model_list(self, models: list[JSON]) -> JSON: ...   # `GET /v1/models` (OpenAI model objects in)

    def model_view(self, model: JSON) -> JSON: ...


class ResponseStream(Protocol):
    """Core-format chunks in, a Responses event stream out (sequence numbers and all)."""

    response: JSON

    def start(self) -> list[NamedEvent]: ...

    def feed(self, chunk: JSON) -> list[NamedEvent]: ...

    def done(self) -> list[NamedEvent]: ...

    def completed(self) -> list[NamedEvent]: ...

    def failed(self, err: GatewayError) -> list[NamedEvent]: ...


class ResponsesTranslation(Protocol):
    """One Responses request's translation: the chat request that answers it (`chat`, with what the
    answer's headers say of it), and the chat answer made back into a response."""

    chat: JSON
    headers: dict[str, str]

    def skeleton(self, response_id: str, created_at: int) -> JSON: ...

    def from_chat(self, completion: JSON, response_id: str, created_at: int) -> JSON: ...

    def events(self, response: JSON) -> ResponseStream: ...


class ResponsesFormat(Protocol):
    """OpenAI's Responses API: input items, each request's translation to core's chat format, and what
    a route to an upstream that serves the API itself needs (the request, the usage, a failure)."""

    def input_items(self, body: JSON) -> list[JSON]: ...

    def translation(self, body: JSON, history: list[JSON], new_items: list[JSON]) -> ResponsesTranslation: ...

    def native_request(self, body: JSON, history: list[JSON]) -> JSON: ...

    def chat_usage(self, response_usage: JSON | None) -> JSON | None: ...

    def token_count(self, tokens: int) -> JSON: ...

    def failed(self, response: JSON, err: GatewayError) -> JSON: ...
