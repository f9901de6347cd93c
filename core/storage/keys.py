"""The keys table behind the KeyStore Protocol: one item per key, keyed by the key's SHA-256."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.keys import ApiKey
from core.storage.dynamo import ConditionFailed, DynamoDB


def _key_item(key_hash: str, key: ApiKey) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key_hash": {"S": key_hash}, "id": {"S": key.id}, "prefix": {"S": key.prefix},
        "plan": {"S": key.plan}, "name": {"S": key.name}, "created_at": {"N": str(key.created_at)},
        "revoked": {"BOOL": key.revoked},
    }
    for field in ("rpm", "monthly_tokens", "credits"):
        value = getattr(key, field)
        if value is not None:
            item[field] = {"N": str(value)}
    if key.models is not None:
        item["models"] = {"L": [{"S": m} for m in key.models]}
    return item


def _key_from_item(item: Mapping[str, Any]) -> ApiKey:
    def number(field: str, kind: type) -> Any:
        return kind(item[field]["N"]) if field in item else None

    return ApiKey(
        id=item["id"]["S"], prefix=item["prefix"]["S"], plan=item["plan"]["S"], name=item["name"]["S"],
        rpm=number("rpm", int), monthly_tokens=number("monthly_tokens", int), credits=number("credits", float),
        models=tuple(m["S"] for m in item["models"]["L"]) if "models" in item else None,
        created_at=int(item["created_at"]["N"]), revoked=item["revoked"]["BOOL"],
    )


class DynamoKeyStore:
    """The keys table: one item per key, keyed by the key's SHA-256; `by_id` finds it for revocation."""

    def __init__(self, db: DynamoDB) -> None:
        self._db = db
        self._table = db.names["keys"]

    async def get_key(self, key_hash: str) -> ApiKey | None:
        found = await self._db.call("get_item", TableName=self._table, Key={"key_hash": {"S": key_hash}})
        return _key_from_item(found["Item"]) if "Item" in found else None

    async def put_key(self, key_hash: str, key: ApiKey) -> None:
        await self._db.call("put_item", TableName=self._table, Item=_key_item(key_hash, key),
                            ConditionExpression="attribute_not_exists(key_hash)")

    async def list_keys(self) -> list[ApiKey]:
        keys = [_key_from_item(item) async for item in self._db.items("scan", TableName=self._table)]
        return sorted(keys, key=lambda k: k.created_at)

    async def revoke_key(self, key_id: str) -> bool:
        found = await self._db.call("query", TableName=self._table, IndexName="by_id",
                                    KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": {"S": key_id}})
        if not found.get("Items"):
            return False
        key_hash = found["Items"][0]["key_hash"]
        try:
            await self._db.call("update_item", TableName=self._table, Key={"key_hash": key_hash},
                                UpdateExpression="SET revoked = :t", ExpressionAttributeValues={":t": {"BOOL": True}},
                                ConditionExpression="attribute_exists(key_hash)")
        except ConditionFailed:
            return False
        return True
