"""SEC-26: `apex keys/routes --url` sends the admin key nowhere but the gateway named, over TLS."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from handlers.keys_cli import admin_call


def test_an_http_url_off_this_machine_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("APEX_ADMIN_KEY", "sk-admin-" + "a" * 40)
    with pytest.raises(SystemExit, match="must be https"):
        admin_call("http://gateway.example.com/v1", "GET", "keys")


def test_a_redirect_is_not_followed_with_the_admin_key(monkeypatch) -> None:
    monkeypatch.setenv("APEX_ADMIN_KEY", "sk-admin-" + "a" * 40)
    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Redirecting(Elsewhere):
        def do_GET(self) -> None:
            self.send_response(307)
            self.send_header("location", f"http://127.0.0.1:{target.server_port}/steal")
            self.end_headers()

    target, redirecting = HTTPServer(("127.0.0.1", 0), Elsewhere), HTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (target, redirecting):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SystemExit, match="307"):
            admin_call(f"http://127.0.0.1:{redirecting.server_port}/v1", "GET", "keys")
    finally:
        target.shutdown()
        redirecting.shutdown()
    assert seen == []
