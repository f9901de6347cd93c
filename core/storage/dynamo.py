"""DynamoDB through aioboto3: one client per process, opened on first use so a cold start that
never touches storage never imports boto."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from core.errors import StorageError
from core.keys import ApiKey


class DynamoDB:
    def __init__(self, names: Mapping[str, str], endpoint_url: str | None = None,
                 region: str | None = None, credentials: tuple[str, str] | None = None) -> None:
        self.names = dict(names)
        self._endpoint_url = endpoint_url
        self._region = region
        self._credentials = credentials
        self._client: Any = None
        self._context: Any = None
        self._lock = asyncio.Lock()

    async def client(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    import aioboto3
                    from botocore.config import Config as BotoConfig

                    session = aioboto3.Session()
                    kwargs: dict[str, Any] = {
                        "endpoint_url": self._endpoint_url,
                        "region_name": self._region or "us-east-1",
                        "config": BotoConfig(retries={"max_attempts": 3, "mode": "standard"},
                                             connect_timeout=2, read_timeout=5),
                    }
                    if self._credentials:
                        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = self._credentials
                    self._context = session.client("dynamodb", **kwargs)
                    self._client = await self._context.__aenter__()
        return self._client

    async def call(self, operation: str, **kwargs: Any) -> Any:
        """One DynamoDB operation; transport and service failures become StorageError."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = await self.client()
        try:
            return await getattr(client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise
            raise StorageError(f"Storage failed ({operation})") from exc
        except BotoCoreError as exc:
            raise StorageError(f"Storage is unreachable ({operation})") from exc

    async def aclose(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)
            self._client = self._context = None


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
        keys: list[ApiKey] = []
        kwargs: dict[str, Any] = {"TableName": self._table}
        while True:
            page = await self._db.call("scan", **kwargs)
            keys.extend(_key_from_item(item) for item in page.get("Items", ()))
            if "LastEvaluatedKey" not in page:
                return sorted(keys, key=lambda k: k.created_at)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    async def revoke_key(self, key_id: str) -> bool:
        from botocore.exceptions import ClientError

        found = await self._db.call("query", TableName=self._table, IndexName="by_id",
                                    KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": {"S": key_id}})
        if not found.get("Items"):
            return False
        key_hash = found["Items"][0]["key_hash"]
        try:
            await self._db.call("update_item", TableName=self._table, Key={"key_hash": key_hash},
                                UpdateExpression="SET revoked = :t", ExpressionAttributeValues={":t": {"BOOL": True}},
                                ConditionExpression="attribute_exists(key_hash)")
        except ClientError:
            return False
        return True
