"""Lambda events as HTTP requests, for buffered and streaming functions alike.

Mangum tells an API Gateway REST event from a Function URL one and turns either into an ASGI scope
and body. An event of no shape it knows (a console test event, another service's event, a
hand-made one) would make it raise, and the invocation fail with no answer; here it is answered
400 `invalid_event` in OpenAI's error format instead, and the process serves the next one.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, cast

from starlette.types import ASGIApp, Scope

from core.errors import RequestError, openai_error_bytes

log = logging.getLogger("apex.runtime")

BAD_EVENT = RequestError("This function answers API Gateway and Lambda Function URL HTTP events only",
                         code="invalid_event")


class BadEvent(Exception):
    """The event is not an HTTP request this function can read."""


class HttpEvent(NamedTuple):
    handler: Any         # Mangum's handler of this kind of event: it shapes the buffered result
    scope: Scope
    body: bytes


class Events:
    """Mangum's event inference, made once per function."""

    def __init__(self) -> None:
        from mangum import Mangum

        self._mangum = Mangum(cast(Any, None), lifespan="off")

    def read(self, event: Any, context: Any) -> HttpEvent:
        """The event as an HTTP request; BadEvent when it is none (a malformed field fails here too,
        since Mangum builds the scope and body from the event on each access)."""
        if not isinstance(event, dict):
            raise BadEvent(f"the event is a JSON {type(event).__name__}, not an object")
        try:
            handler = self._mangum.infer(event, context)
            return HttpEvent(handler, handler.scope, handler.body)
        except Exception as exc:     # Mangum reading a foreign event: any failure means "not HTTP"
            raise BadEvent(f"{type(exc).__name__}: {exc}") from None


def bad_event_result(reason: BadEvent) -> dict[str, Any]:
    """A buffered function's answer to an event it cannot read, in the proxy-integration shape both
    API Gateway and Function URLs relay."""
    log.warning("refused an event of no known shape: %s", reason)
    return {"statusCode": BAD_EVENT.status, "headers": {"content-type": "application/json"},
            "body": openai_error_bytes(BAD_EVENT).decode(), "isBase64Encoded": False}


class BufferedHandler:
    """A buffered function's `handler`: the app run on the event through Mangum's HTTP cycle, and its
    whole response returned at once (what the managed runtime can do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.events = Events()

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        from mangum.protocols import HTTPCycle

        try:
            request = self.events.read(event, context)
        except BadEvent as reason:
            return bad_event_result(reason)
        response = HTTPCycle(request.scope, request.body)(cast(Any, self.app))
        return cast(dict[str, Any], request.handler(response))
