"""Keys over HTTP: every accepted header, keys stored hashed in DynamoDB, and revocation."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from openai import OpenAI

from core.keys import ApiKey, display_prefix, hash_key, key_id, new_key
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.keys import DynamoKeyStore
from core.storage.tables import table_names
from tests.support import TEST_KEY, Running

CHAT = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}


def run(dynamo_url: str, coroutine_factory):
    """Store operations on a loop and client of their own: the server's loop belongs to its thread."""

    async def go():
        db = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
        try:
            return await coroutine_factory(DynamoKeyStore(db))
        finally:
            await db.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key", "x-api-key"])
def test_each_header_is_accepted(gateway: Running, header: str) -> None:
    value = f"Bearer {TEST_KEY}" if header == "Authorization" else TEST_KEY
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=CHAT, headers={header: value})
    assert response.status_code == 200


def test_a_key_from_the_keys_table_works_until_revoked(gateway: Running, dynamo_url: str) -> None:
    key = new_key()
    record = ApiKey(id=key_id(hash_key(key)), prefix=display_prefix(key), plan="pro", created_at=int(time.time()))
    run(dynamo_url, lambda store: store.put_key(hash_key(key), record))
    with OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0) as client:
        assert client.chat.completions.create(**CHAT).choices[0].message.content
        assert run(dynamo_url, lambda store: store.revoke_key(record.id))
        response = httpx.post(f"{gateway.base_url}/chat/completions", json=CHAT, headers={"x-api-key": key})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
