import time

import pytest

from core.config import StaticKey
from core.errors import AuthError
from core.keys import ApiKey, Authenticator, display_prefix, hash_key, key_id, new_key, presented_key
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.keys import DynamoKeyStore
from core.storage.tables import table_names

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("headers", "expected"), [
    ({"authorization": "Bearer sk-a"}, "sk-a"),
    ({"authorization": "bearer   sk-a "}, "sk-a"),
    ({"x-api-key": "sk-b"}, "sk-b"),
    ({"authorization": "Basic abc", "x-api-key": "sk-c"}, "sk-c"),
    ({"authorization": "Bearer "}, None),
    ({}, None),
])
async def test_presented_key_from_each_header(headers: dict[str, str], expected: str | None) -> None:
    assert presented_key(headers) == expected


async def test_static_keys_authenticate_without_storage() -> None:
    auth = Authenticator([StaticKey(key="sk-static-key", plan="pro", name="dev")], None, 10)
    record = await auth.authenticate({"authorization": "Bearer sk-static-key"})
    assert (record.plan, record.name, record.id) == ("pro", "dev", key_id(hash_key("sk-static-key")))
    assert "sk-static-key" not in record.prefix
    for headers in ({}, {"authorization": "Bearer sk-wrong-key"}):
        with pytest.raises(AuthError) as caught:
            await auth.authenticate(headers)
        assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


@pytest.fixture
async def store(dynamo_url: str):
    db = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    yield DynamoKeyStore(db), db
    await db.aclose()


async def test_stored_keys_are_hashed_and_revocation_is_seen_after_the_cache_ttl(store) -> None:
    keys, db = store
    key = new_key()
    record = ApiKey(id=key_id(hash_key(key)), prefix=display_prefix(key), plan="pro", created_at=int(time.time()))
    await keys.put_key(hash_key(key), record)
    raw = await db.call("scan", TableName=db.names["keys"])
    assert key not in str(raw["Items"]) and hash_key(key) in str(raw["Items"])

    auth = Authenticator([], keys, cache_ttl_s=60)
    assert (await auth.authenticate({"x-api-key": key})).id == record.id
    assert await keys.revoke_key(record.id)
    assert (await auth.authenticate({"x-api-key": key})).id == record.id   # cached within the TTL
    auth.forget()                                                           # the TTL has passed
    with pytest.raises(AuthError):
        await auth.authenticate({"x-api-key": key})
    assert not await keys.revoke_key("key_does_not_exist")


async def test_unknown_key_lookups_are_cached_too(store) -> None:
    keys, _ = store
    auth = Authenticator([], keys, cache_ttl_s=60)
    key = new_key()
    with pytest.raises(AuthError):
        await auth.authenticate({"x-api-key": key})
    await keys.put_key(hash_key(key), ApiKey(id=key_id(hash_key(key)), prefix=display_prefix(key), plan="pro"))
    with pytest.raises(AuthError):   # the miss is remembered, so random keys cannot hammer the table
        await auth.authenticate({"x-api-key": key})
    auth.forget(hash_key(key))
    assert (await auth.authenticate({"x-api-key": key})).plan == "pro"


async def test_unknown_keys_never_push_a_known_one_out_of_the_cache() -> None:
    """SEC-21: every request with a random key cost a read, and 10,000 of them evicted the real keys."""

    class Counting:
        def __init__(self) -> None:
            self.reads: list[str] = []
            self.known = ApiKey(id="key_real", prefix="sk-real…", plan="pro")

        async def get_key(self, key_hash: str) -> ApiKey | None:
            self.reads.append(key_hash)
            return self.known if key_hash == hash_key("sk-real-0123456789") else None

    store = Counting()
    auth = Authenticator([], store, cache_ttl_s=3600)           # type: ignore[arg-type]
    assert await auth.lookup(hash_key("sk-real-0123456789")) is store.known
    for i in range(12_000):
        assert await auth.lookup(hash_key(f"sk-random-{i}")) is None
    reads = len(store.reads)
    assert await auth.lookup(hash_key("sk-real-0123456789")) is store.known
    assert len(store.reads) == reads                             # still cached: no read
