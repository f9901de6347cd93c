"""An embedded DynamoDB for `apex serve` and the tests: moto's server on a loopback port.

moto's werkzeug app serves each request on its own thread without a lock of its own, so a
conditional UpdateItem under contention can let more through than DynamoDB would. Every request
here runs under one lock, which makes local behaviour as exact as the real service's.

`apex serve` runs it in a child process (`EmbeddedProcess`): moto's request handling is Python
that would otherwise take the gateway's GIL, and its 60 MB of modules would sit in the gateway's
heap, where every garbage collection walks them. The child exits when its parent does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CREDENTIALS = ("embedded", "embedded")
KEY_VARIABLE = "APEX_EMBEDDED_KEY"


def _guarded(app: WSGIApp, access_key: str | None) -> WSGIApp:
    """No browser, and (with `access_key`) nobody but the gateway that started it: moto answers any
    caller and reflects any Origin in its CORS headers, so a web page (DNS rebinding) or another local
    user could read keys, usage and stored conversations. A request with an Origin is refused; with
    an access key, so is one not signed with it (the signature itself moto does not check)."""

    def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signed = access_key is None or f"Credential={access_key}/" in environ.get("HTTP_AUTHORIZATION", "")
        if "HTTP_ORIGIN" in environ or not signed:
            start_response("403 Forbidden", [("content-type", "application/x-amz-json-1.0")])
            return [b'{"__type":"com.amazonaws.dynamodb.v20120810#UnrecognizedClientException",'
                    b'"message":"The embedded DynamoDB serves only the gateway that started it"}']
        return app(environ, start_response)

    return guard


def _serialized(app: WSGIApp) -> WSGIApp:
    lock = threading.Lock()

    def locked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return locked


class EmbeddedDynamoDB:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, access_key: str | None = None) -> None:
        self._host, self._port, self._access_key = host, port, access_key
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Serve on a background thread; returns the endpoint URL."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args: Any) -> None:
                """Request lines would drown the gateway's own log."""

        app = _guarded(_serialized(DomainDispatcherApplication(create_backend_app)), self._access_key)
        self._server = make_server(self._host, self._port, app, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-dynamodb", daemon=True)
        self._thread.start()
        return self.url

    def create_tables(self) -> None:
        """The gateway's tables, created here with moto's own boto3 so the gateway never has to."""
        import boto3

        from core.storage.tables import TABLES, create_table_request, table_names

        key = (self._access_key, self._access_key) if self._access_key else CREDENTIALS
        client = boto3.client("dynamodb", endpoint_url=self.url, region_name="us-east-1",
                              aws_access_key_id=key[0], aws_secret_access_key=key[1])
        names = table_names()
        for spec in TABLES:
            client.create_table(**create_table_request(spec, names[spec.logical]))
            if spec.ttl_attribute:
                client.update_time_to_live(TableName=names[spec.logical], TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": spec.ttl_attribute})

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class EmbeddedProcess:
    """The embedded DynamoDB in a child process, tables created; its URL is known once `start` returns.
    With `access_key`, it serves only requests signed with it (as `credentials`)."""

    def __init__(self, access_key: str | None = None) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self._access_key = access_key

    @property
    def credentials(self) -> tuple[str, str]:
        return (self._access_key, self._access_key) if self._access_key else CREDENTIALS

    def start(self) -> str:
        env = {**os.environ, **({KEY_VARIABLE: self._access_key} if self._access_key else {})}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "core.storage.embedded"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=env)
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError("the embedded DynamoDB did not start")
        return self.url

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)


def main() -> None:
    """Serve until standard input closes, which happens when the parent exits for any reason."""
    server = EmbeddedDynamoDB(access_key=os.environ.get(KEY_VARIABLE) or None)
    url = server.start()
    server.create_tables()
    print(url, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
