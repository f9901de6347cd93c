"""The gateway's one error tree, and its OpenAI wire rendering.

    GatewayError                 status, code, message, param; rendered per endpoint family
    ├── RequestError             the client can fix the request (4xx)
    │   └── ContextTooLong       400 context_length_exceeded, with the counts
    ├── AuthError                401 invalid_api_key
    ├── LimitError               429/402 from the key's plan (carries Retry-After)
    ├── StorageError             503: DynamoDB could not be reached; keys fail closed
    └── ProviderError            an upstream failed; `retryable` decides fallback
        ├── ProviderUnavailable  could not reach it (connect error, circuit open, no key)
        ├── ProviderRateLimited  upstream 429
        ├── ProviderTimeout      no answer within the provider's timeout
        ├── ProviderFailed       upstream 5xx, a malformed answer, or a broken stream
        └── UpstreamRejected     upstream 4xx about the request itself: not retried

Fallback branches on these classes, never on message text. Foreign exceptions are translated
once, at the adapter boundary, and chained (`raise ProviderTimeout(...) from exc`).
"""

from __future__ import annotations

from typing import Any

import orjson

# OpenAI's `error.type` for each status we produce.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayError(Exception):
    status = 500
    code = "internal_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.param = param
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return _OPENAI_TYPES.get(self.status, "api_error")


class RequestError(GatewayError):
    status = 400
    code = "invalid_request"


class ContextTooLong(RequestError):
    """A prompt over the model's context window (each format words it its own way: Claude Code
    compacts its conversation when Anthropic's wording comes back)."""

    code = "context_length_exceeded"

    def __init__(self, tokens: int, window: int) -> None:
        super().__init__(f"This model's maximum context length is {window} tokens. However, your messages "
                         f"resulted in {tokens} tokens.", param="messages")
        self.tokens, self.window = tokens, window


class AuthError(GatewayError):
    status = 401
    code = "invalid_api_key"


class LimitError(GatewayError):
    status = 429
    code = "rate_limit_exceeded"


class StorageError(GatewayError):
    status = 503
    code = "storage_unavailable"


class ProviderError(GatewayError):
    """An upstream failure; `provider` names the route that failed, for `_routing` and logs;
    `upstream_status` is the HTTP status the upstream answered, when it answered one (the gateway's
    own `status` is what the client gets: 502 for an upstream 500), for the usage record's attempts."""

    status = 502
    code = "provider_error"
    retryable = True

    def __init__(self, message: str, *, provider: str = "", upstream_status: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.provider = provider
        self.upstream_status = upstream_status


class ProviderUnavailable(ProviderError):
    status = 503
    code = "all_providers_unavailable"


class ProviderRateLimited(ProviderError):
    status = 429
    code = "provider_rate_limit"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, round(retry_after)))


class ProviderTimeout(ProviderError):
    code = "provider_error"


class ProviderFailed(ProviderError):
    code = "provider_error"


class UpstreamRejected(ProviderError):
    """The upstream refused the request itself (400, 413, 422): another route would too."""

    retryable = False

    def __init__(self, message: str, *, status: int, code: str | None, param: str | None = None,
                 provider: str = "") -> None:
        super().__init__(message, status=status, code=code or "upstream_rejected", param=param,
                         provider=provider, upstream_status=status)


def shown(value: object, limit: int = 64) -> str:
    """A client's value as an error message quotes it: cut to `limit` characters, so that a 10 KB model
    name is not echoed back (and logged) whole."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def openai_error(err: GatewayError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}


def openai_error_bytes(err: GatewayError) -> bytes:
    return orjson.dumps(openai_error(err))
