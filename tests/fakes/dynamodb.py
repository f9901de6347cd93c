"""DynamoDB (moto) with faults injected under the gateway's own client: the next calls of an operation
on a table raise what botocore raises when DynamoDB throttles or cannot be reached, so the
gateway's translation of them (and everything above it) is what gets tested."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from core.storage.dynamo import DynamoDB


def throttled(operation: str) -> Exception:
    return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                  "Message": "The level of configured provisioned throughput for the table "
                                             "was exceeded."},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def unreachable(operation: str) -> Exception:
    return EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/")


FAULTS: dict[str, Callable[[str], Exception]] = {"throttled": throttled, "unreachable": unreachable}


class FaultyDynamoDB(DynamoDB):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._faults: dict[tuple[str, str], list[str]] = {}
        self._faults_lock = threading.Lock()
        self.failed: list[tuple[str, str]] = []      # (operation, table) of every call made to fail

    def fail(self, operation: str, table: str, times: int = 1, kind: str = "throttled") -> None:
        """The next `times` calls of `operation` on `table` (a role: keys, usage, …) fail."""
        with self._faults_lock:
            self._faults.setdefault((operation, self.names[table]), []).extend([kind] * times)

    def heal(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    async def client(self) -> Any:
        return _Faulty(await super().client(), self)

    def _draw(self, operation: str, kwargs: dict[str, Any]) -> str | None:
        tables = {kwargs.get("TableName")} if "TableName" in kwargs else set(kwargs.get("RequestItems") or ())
        tables |= {item[kind]["TableName"] for item in kwargs.get("TransactItems") or () for kind in item}
        with self._faults_lock:
            for table in tables:
                pending = self._faults.get((operation, str(table)))
                if pending:
                    self.failed.append((operation, str(table)))
                    return pending.pop(0)
        return None


class _Faulty:
    def __init__(self, real: Any, owner: FaultyDynamoDB) -> None:
        self._real = real
        self._owner = owner

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self._real, operation)

        async def call(**kwargs: Any) -> Any:
            kind = self._owner._draw(operation, kwargs)
            if kind is not None:
                raise FAULTS[kind](operation)
            return await method(**kwargs)

        return call
