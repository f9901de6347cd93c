"""`/dashboard`: one page (HTML, a stylesheet, a script, an icon; no build step, no CDN) over the
admin API.

Its Content-Security-Policy lets it load only its own files and talk only to its own origin. The icon
is served at `/favicon.ico` too, where a browser looks for it unasked (the page links its own
`dashboard/favicon.svg`, which a deployed stage serves too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STATIC = Path(__file__).resolve().parent.parent / "static"
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
          "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
FILES = {  # path → (file, media type, cache policy)
    "/v1/dashboard": ("dashboard.html", "text/html; charset=utf-8", "no-cache"),
    "/v1/dashboard/app.js": ("app.js", "text/javascript; charset=utf-8", "public, max-age=300"),
    "/v1/dashboard/app.css": ("app.css", "text/css; charset=utf-8", "public, max-age=300"),
    "/v1/dashboard/favicon.svg": ("favicon.svg", "image/svg+xml", "public, max-age=86400"),
}
ICON = ("/favicon.ico", ("favicon.svg", "image/svg+xml", "public, max-age=86400"))


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _serve(name: str, media_type: str, caching: str) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        return Response(_read(name), media_type=media_type, headers={
            "cache-control": caching, "content-security-policy": POLICY, "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer"})
    return page


def dashboard_routes() -> list[Route]:
    return [Route(path, _serve(*spec), methods=["GET"]) for path, spec in [*FILES.items(), ICON]]


OFF = (b"<!doctype html><meta charset=utf-8><title>Apex Gateway: dashboard off</title>"
       b"<p>The dashboard is off: it signs in with the admin key, and this gateway has none. Set "
       b"<code>APEX_ADMIN_KEY</code> (32 characters or more) and start it again; deployed, give the stack the "
       b"<code>AdminKeySecret</code> or <code>AdminKeySsmParameter</code> parameter.</p>")


async def _off(request: Request) -> Response:
    return Response(OFF, status_code=503, media_type="text/html; charset=utf-8",
                    headers={"content-security-policy": POLICY, "x-content-type-options": "nosniff"})


def dashboard_off_routes() -> list[Route]:
    """Without an admin key: the dashboard's address says it is off and how to turn it on."""
    return [Route("/v1/dashboard", _off, methods=["GET"]), Route(ICON[0], _serve(*ICON[1]), methods=["GET"])]
