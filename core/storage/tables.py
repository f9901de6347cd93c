"""The gateway's DynamoDB tables, defined once: the embedded store creates them from here and a
test holds `template.yaml` to the same definitions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TableSpec:
    logical: str                                # how the code names it
    env: str                                    # variable holding its real name (set by the template)
    default: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[tuple[str, str], ...] = ()   # (index name, hash key) of global secondary indexes
    ttl_attribute: str | None = None


TABLES = (
    TableSpec("keys", "APEX_KEYS_TABLE", "apex-keys", "key_hash", indexes=(("by_id", "id"),)),
    TableSpec("usage", "APEX_USAGE_TABLE", "apex-usage", "pk", "sk", ttl_attribute="expires_at"),
    TableSpec("responses", "APEX_RESPONSES_TABLE", "apex-responses", "pk", "sk", ttl_attribute="expires_at"),
    TableSpec("cache", "APEX_CACHE_TABLE", "apex-cache", "pk", ttl_attribute="expires_at"),
)


def table_names(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {t.logical: environ.get(t.env, t.default) for t in TABLES}


def create_table_request(spec: TableSpec, name: str) -> dict[str, Any]:
    keys = [(spec.hash_key, "HASH")] + ([(spec.range_key, "RANGE")] if spec.range_key else [])
    attributes = {k for k, _ in keys} | {h for _, h in spec.indexes}
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": index, "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}],
             "Projection": {"ProjectionType": "ALL"}}
            for index, h in spec.indexes
        ]
    return request
