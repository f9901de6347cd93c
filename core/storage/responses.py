"""Stored `/v1/responses` objects in the responses table, readable only by the key that made them.

A record (the response, its input items and the conversation so far) is JSON, compressed and cut
into parts well under DynamoDB's 400 KB item limit, so nothing is ever too large to keep. The parts
are written first and the head last: a reader sees a record whole or not at all, never half-written.
"""

from __future__ import annotations

import time
import zlib

import orjson

from core.storage.dynamo import ConditionFailed, DynamoDB
from core.types import JSON

PART_BYTES = 350_000


class ResponseStore:
    def __init__(self, db: DynamoDB, ttl_s: int) -> None:
        self._db = db
        self._ttl_s = ttl_s

    @property
    def _table(self) -> str:
        return self._db.names["responses"]

    @staticmethod
    def _pk(key_id: str, response_id: str) -> dict[str, str]:
        return {"S": f"{key_id}#{response_id}"}

    async def put(self, key_id: str, response_id: str, record: JSON) -> None:
        blob = zlib.compress(orjson.dumps(record), 6)
        parts = [blob[i:i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]
        expires = {"N": str(int(time.time()) + self._ttl_s)}
        pk = self._pk(key_id, response_id)
        for i, part in enumerate(parts):
            await self._db.call("put_item", TableName=self._table, Item={
                "pk": pk, "sk": {"S": f"part#{i:05d}"}, "data": {"B": part}, "expires_at": expires})
        await self._db.call("put_item", TableName=self._table, Item={
            "pk": pk, "sk": {"S": "head"}, "parts": {"N": str(len(parts))}, "expires_at": expires})

    async def get(self, key_id: str, response_id: str) -> JSON | None:
        pk = self._pk(key_id, response_id)
        head = await self._db.call("get_item", TableName=self._table, ConsistentRead=True,
                                   Key={"pk": pk, "sk": {"S": "head"}})
        if "Item" not in head:
            return None
        count = int(head["Item"]["parts"]["N"])
        parts = [item["data"]["B"] async for item in self._db.items(
            "query", TableName=self._table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :part)",
            ExpressionAttributeValues={":pk": pk, ":part": {"S": "part#"}})]
        if len(parts) != count:
            return None    # parts expired under a living head: treat as gone
        return dict(orjson.loads(zlib.decompress(b"".join(parts))))

    async def delete(self, key_id: str, response_id: str) -> bool:
        pk = self._pk(key_id, response_id)
        try:
            head = await self._db.call("delete_item", TableName=self._table, Key={"pk": pk, "sk": {"S": "head"}},
                                       ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_OLD")
        except ConditionFailed:
            return False
        for i in range(int(head["Attributes"]["parts"]["N"])):
            await self._db.call("delete_item", TableName=self._table, Key={"pk": pk, "sk": {"S": f"part#{i:05d}"}})
        return True
