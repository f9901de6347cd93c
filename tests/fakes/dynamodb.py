"""DynamoDB (moto) with faults injected under the gateway's own client, where the network is: the next
calls of an operation on a table get DynamoDB's throttling answer or a dropped connection, so the
client's retries, its translation of failures and everything above them are what gets tested."""

from __future__ import annotations

import threading
from typing import Any

import aiohttp
import orjson

from core.storage.dynamo import ATTEMPTS, DynamoDB

# What DynamoDB answers when a table's throughput is exceeded.
REFUSED = (400, orjson.dumps({        # what DynamoDB says of a partition key over 2,048 bytes, say
    "__type": "com.amazon.coral.validate#ValidationException",
    "message": "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit "
               "of 2048 bytes"}))
THROTTLED = (400, orjson.dumps({
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing "
               "your provisioning level with the UpdateTable API."}))


class FaultyDynamoDB(DynamoDB):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._faults: dict[tuple[str, str], list[str]] = {}
        self._faults_lock = threading.Lock()
        self.failed: list[tuple[str, str]] = []      # (operation, table) of every call made to fail

    def fail(self, operation: str, table: str, times: int = ATTEMPTS, kind: str = "throttled") -> None:
        """The next `times` sends of `operation` on `table` (a role: keys, usage, …) fail: by default
        as many as the client tries, so the failure outlasts its retries."""
        target = "DynamoDB_20120810." + "".join(part.title() for part in operation.split("_"))
        with self._faults_lock:
            self._faults.setdefault((target, self.names[table]), []).extend([kind] * times)

    def heal(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    async def _post(self, target: str, body: bytes) -> tuple[int, bytes]:
        request = orjson.loads(body)
        tables = {request["TableName"]} if "TableName" in request else set(request.get("RequestItems") or ())
        tables |= {item[kind]["TableName"] for item in request.get("TransactItems") or () for kind in item}
        with self._faults_lock:
            kind = next((pending.pop(0) for table in tables
                         if (pending := self._faults.get((target, table)))), None)
            if kind is not None:
                self.failed.append((target.rpartition(".")[2], next(iter(tables))))
        if kind == "throttled":
            return THROTTLED
        if kind == "refused":
            return REFUSED
        if kind == "unreachable":
            raise aiohttp.ServerDisconnectedError()
        return await super()._post(target, body)
