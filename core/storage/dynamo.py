"""DynamoDB over its JSON API: one pooled aiohttp session per process, requests signed with SigV4
here. The gateway uses eight operations with boto's own request and answer shapes, so a client of
its own costs ~150 lines instead of aioboto3's 22 MB of resident memory and its import time on a
cold start. Credentials come from the arguments, else the environment (as Lambda sets them), else
botocore's chain (profiles, SSO, instance roles), imported only then.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import os
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from core.errors import StorageError

JSON_TYPE = "application/x-amz-json-1.0"
ATTEMPTS = 3                     # as botocore's standard mode: a throttled or failed call is tried 3 times
RETRIED = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
                     "InternalServerError", "ServiceUnavailable", "TransactionInProgressException"})


def refused(exc: BaseException) -> bool:
    """Whether a StorageError is DynamoDB refusing the call itself (a ValidationException, say), which
    trying again cannot mend, rather than DynamoDB being busy or out of reach."""
    cause = exc.__cause__
    return isinstance(cause, DynamoError) and bool(cause.code) and cause.code not in RETRIED


class ConditionFailed(Exception):
    """A write's ConditionExpression did not hold: an answer, not a failure."""


class DynamoError(Exception):
    """DynamoDB refused the call (`code` is its error type) or could not be reached (`code` empty)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


def _signing_key(secret: str, day: str, region: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, "dynamodb", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(host: str, target: str, body: bytes, region: str, credentials: tuple[str, str, str | None],
         now: datetime.datetime) -> dict[str, str]:
    """The headers of a signed POST to `/` (AWS Signature Version 4)."""
    access, secret, token = credentials
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {"content-type": JSON_TYPE, "host": host, "x-amz-date": stamp, "x-amz-target": target}
    if token:
        headers["x-amz-security-token"] = token
    names = ";".join(sorted(headers))
    canonical = "\n".join(["POST", "/", "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", names,
                           hashlib.sha256(body).hexdigest()])
    scope = f"{stamp[:8]}/{region}/dynamodb/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(secret, stamp[:8], region), to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={names}, " \
                               f"Signature={signature}"
    del headers["host"]                       # aiohttp sends the same value itself
    return headers


def _encoded(value: Any) -> Any:
    """A request in boto's shapes as the JSON API takes it: binary attribute values as base64."""
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(found := value.get("B"), bytes):
                return {"B": base64.b64encode(found).decode()}
            if isinstance(found := value.get("BS"), list) and all(isinstance(b, bytes) for b in found):
                return {"BS": [base64.b64encode(b).decode() for b in found]}
        return {k: _encoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encoded(v) for v in value]
    return value


def _decoded(value: Any) -> Any:
    """An answer in boto's shapes: binary attribute values as bytes."""
    if isinstance(value, dict):
        if len(value) == 1:
            if isinstance(found := value.get("B"), str):
                return {"B": base64.b64decode(found)}
            if isinstance(found := value.get("BS"), list) and all(isinstance(b, str) for b in found):
                return {"BS": [base64.b64decode(b) for b in found]}
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


class DynamoDB:
    def __init__(self, names: Mapping[str, str], endpoint_url: str | None = None,
                 region: str | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.names = dict(names)
        self._region = region or "us-east-1"
        self._url = (endpoint_url or f"https://dynamodb.{self._region}.amazonaws.com").rstrip("/") + "/"
        self._host = self._url.split("://", 1)[1].split("/", 1)[0]
        if credentials:
            self._credentials: tuple[str, str, str | None] | None = (*credentials, None)
        elif (access := os.environ.get("AWS_ACCESS_KEY_ID")) and (secret := os.environ.get("AWS_SECRET_ACCESS_KEY")):
            self._credentials = (access, secret, os.environ.get("AWS_SESSION_TOKEN"))   # as Lambda sets them
        else:
            self._credentials = None
        self._chain: Any = None          # botocore's credentials, when neither given nor in the environment
        self._session: Any = None
        self._timeout: Any = None

    async def client(self) -> Any:
        """The pooled session, made on first use inside the running loop."""
        if self._session is None:
            import aiohttp

            self._timeout = aiohttp.ClientTimeout(total=10, sock_connect=2, sock_read=5)
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30),
                                                  trust_env=False)
        return self._session

    def _current_credentials(self) -> tuple[str, str, str | None]:
        if self._credentials is not None:
            return self._credentials
        if self._chain is None:
            import botocore.session

            self._chain = botocore.session.get_session().get_credentials()
            if self._chain is None:
                raise DynamoError("", "no AWS credentials found")
        frozen = self._chain.get_frozen_credentials()       # refreshed by botocore when they expire
        return frozen.access_key, frozen.secret_key, frozen.token

    async def call(self, operation: str, **kwargs: Any) -> Any:
        """One operation (`get_item`, …, boto's names and shapes), tried up to ATTEMPTS times while
        DynamoDB throttles or cannot be reached. A failed condition raises ConditionFailed; any other
        failure StorageError."""
        target = "DynamoDB_20120810." + "".join(part.title() for part in operation.split("_"))
        body = orjson.dumps(_encoded(kwargs))
        attempt = 1
        while True:
            try:
                return _decoded(await self._send(target, body))
            except DynamoError as exc:
                if exc.code == "ConditionalCheckFailedException":
                    raise ConditionFailed(str(exc)) from None
                if (exc.code and exc.code not in RETRIED) or attempt == ATTEMPTS:
                    problem = "failed" if exc.code else "is unreachable"
                    raise StorageError(f"Storage {problem} ({operation})") from exc
            await asyncio.sleep(random.uniform(0, 0.05 * 2 ** attempt))     # full jitter, as botocore
            attempt += 1

    async def items(self, operation: str, **request: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item a `query` or `scan` finds, page after page."""
        while True:
            page = await self.call(operation, **request)
            for item in page.get("Items", ()):
                yield item
            if "LastEvaluatedKey" not in page:
                return
            request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    async def _send(self, target: str, body: bytes) -> Any:
        """One signed POST; the answer's JSON, or DynamoError."""
        import aiohttp

        try:
            status, raw = await self._post(target, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DynamoError("", f"{type(exc).__name__}") from exc
        try:
            answer = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise DynamoError("InternalServerError", f"an answer that is not JSON ({status})") from None
        if status == 200:
            return answer
        code = str(answer.get("__type", "")).rpartition("#")[2] or f"HTTP{status}"
        raise DynamoError(code, str(answer.get("message") or answer.get("Message") or ""))

    async def _post(self, target: str, body: bytes) -> tuple[int, bytes]:
        session = await self.client()
        headers = sign(self._host, target, body, self._region, self._current_credentials(),
                       datetime.datetime.now(datetime.UTC))
        async with session.post(self._url, data=body, headers=headers, timeout=self._timeout) as response:
            return response.status, await response.read()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
