"""Gateway API keys: how they are made, stored (SHA-256 only) and recognised on a request.

Static keys come from `[[keys]]` in the config; the rest live hashed in the keys table. Lookups are
cached in memory for `key_cache_ttl_s` (found and not-found alike), which bounds how long a
revoked key keeps working on an instance that has seen it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from core.config import StaticKey
from core.errors import AuthError

KEY_PREFIX = "sk-apex-"
_CACHE_MAX = 10_000
_UNKNOWN_MAX = 1_000
# Keys printed in the gateway's own examples, sample events and docs: anyone may send them.
PUBLISHED_KEYS = frozenset({"sk-local-dev-key", "sk-local-dev"})
# The shortest static or admin key a deployed gateway accepts (new_key() makes 51 characters).
DEPLOYED_KEY_MIN_LENGTH = 32


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    prefix: str                        # shown in listings and logs instead of the key
    plan: str
    name: str = ""
    rpm: int | None = None             # None: the plan's value
    monthly_tokens: int | None = None
    credits: float | None = None
    models: tuple[str, ...] | None = None
    created_at: int = 0
    revoked: bool = False


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 4] + "…"


def undeployable(key: str) -> str | None:
    """Why a deployed gateway, open to the internet, must refuse `key` as a static or admin key."""
    if key in PUBLISHED_KEYS:
        return f"{key!r} is published in the gateway's examples, so anyone may send it"
    if len(key) < DEPLOYED_KEY_MIN_LENGTH:
        return f"the key starting {key[:4]!r} is shorter than {DEPLOYED_KEY_MIN_LENGTH} characters"
    return None


def key_id(key_hash: str) -> str:
    """A stable public id: derived from the hash, so it reveals nothing of the key."""
    return "key_" + key_hash[:16]


def static_key(entry: StaticKey) -> ApiKey:
    return ApiKey(
        id=key_id(hash_key(entry.key)), prefix=display_prefix(entry.key), plan=entry.plan, name=entry.name,
        rpm=entry.rpm, monthly_tokens=entry.monthly_tokens, credits=entry.credits,
        models=tuple(entry.models) if entry.models is not None else None,
    )


class KeyStore(Protocol):
    async def get_key(self, key_hash: str) -> ApiKey | None: ...

    async def put_key(self, key_hash: str, key: ApiKey) -> None: ...

    async def list_keys(self) -> list[ApiKey]: ...

    async def revoke_key(self, key_id: str) -> bool: ...


async def create_key(store: KeyStore, plan: str, name: str = "", rpm: int | None = None,
                     monthly_tokens: int | None = None, credits: float | None = None,
                     models: tuple[str, ...] | None = None) -> tuple[str, ApiKey]:
    """A new key, stored by its hash; the key itself is returned once and kept nowhere."""
    key = new_key()
    record = ApiKey(id=key_id(hash_key(key)), prefix=display_prefix(key), plan=plan, name=name, rpm=rpm,
                    monthly_tokens=monthly_tokens, credits=credits, models=models, created_at=int(time.time()))
    await store.put_key(hash_key(key), record)
    return key, record


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer`, or `X-API-Key` (header names are case-insensitive)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or None


class Authenticator:
    def __init__(self, static: list[StaticKey], store: KeyStore | None, cache_ttl_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._static = {hash_key(k.key): static_key(k) for k in static}
        self._store = store
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._unknown: dict[str, tuple[float, ApiKey | None]] = {}
        self.clock = clock      # when cached lookups expire (tests move it)

    @property
    def static(self) -> list[ApiKey]:
        """The keys of the config (and `apex serve`'s own), which live in no table: listed beside the
        stored ones, never revoked through the admin API."""
        return list(self._static.values())

    def add_static(self, key: str, plan: str, name: str = "") -> ApiKey:
        record = replace(static_key(StaticKey(key=key, plan=plan)), name=name)
        self._static[hash_key(key)] = record
        return record

    async def authenticate(self, headers: Mapping[str, str]) -> ApiKey:
        key = presented_key(headers)
        if key is None:
            raise AuthError("Missing API key: send it as 'Authorization: Bearer <key>' or 'X-API-Key'")
        record = await self.lookup(hash_key(key))
        if record is None or record.revoked:
            raise AuthError("The API key provided is invalid or has been revoked")
        return record

    async def lookup(self, key_hash: str) -> ApiKey | None:
        record = self._static.get(key_hash)
        if record is not None or self._store is None:
            return record
        now = self.clock()
        hit = self._cache.get(key_hash) or self._unknown.get(key_hash)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = await self._store.get_key(key_hash)
        # Unknown keys are remembered apart, in fewer places: a stream of random keys must not push the
        # real ones out (each would cost a read again).
        cache, bound = (self._cache, _CACHE_MAX) if record is not None else (self._unknown, _UNKNOWN_MAX)
        if len(cache) >= bound:
            cache.pop(next(iter(cache)))
        cache[key_hash] = (now + self._ttl, record)
        return record

    def forget(self, key_hash: str | None = None) -> None:
        """Drop cached lookups (after this process creates or revokes a key)."""
        if key_hash is None:
            self._cache.clear()
            self._unknown.clear()
        else:
            self._cache.pop(key_hash, None)
            self._unknown.pop(key_hash, None)
