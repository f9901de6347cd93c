"""Plans and their limits: requests per minute (per key and per client IP), monthly tokens, credits,
and which models a key may name.

Requests per minute are atomic counters in DynamoDB (a conditional UpdateItem per request, one item
per key and minute), so a limit of N lets exactly N through however many instances serve the key.
Monthly tokens and credits are checked against the key's totals, read from DynamoDB at most every
`quota_refresh_s` and kept current in between by this process's own usage: the request that crosses
the line is served, the next one here is refused; another instance learns within the refresh time.

When DynamoDB is busy or out of reach, limits fail open: the request is served unmetered and a
warning logged, as an outage of the counters should not become an outage of the gateway — but not
for a key with credits (money is at stake: 503), and never when DynamoDB refuses the call itself (a
client cannot buy itself unmetered service with a request storage rejects: 503). Keys fail closed
(a key not already cached is refused with 503), so nobody unknown is served meanwhile.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.config import Config
from core.context import NO_HEADERS
from core.errors import GatewayError, LimitError, StorageError, shown
from core.keys import ApiKey
from core.storage.dynamo import ConditionFailed, DynamoDB, refused
from core.usage import MICRO, UsageEvent, credit_pk, month_pk, spend_pk

log = logging.getLogger("apex.limits")
HOLD_TRIES = 5          # reads and conditional holds, while other requests of the key hold first


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int                        # 0: none
    monthly_tokens: int             # 0: none
    credits: float | None           # USD; None: no balance kept
    models: tuple[str, ...]         # empty: every model
    optimize: bool = False          # the plan optimizes chat prompts by default

    @property
    def metered(self) -> bool:
        return bool(self.rpm or self.monthly_tokens or self.credits is not None)


def limits_of(key: ApiKey, config: Config) -> Limits:
    plan = config.plans.get(key.plan)
    return Limits(
        rpm=key.rpm if key.rpm is not None else (plan.rpm if plan else 0),
        monthly_tokens=key.monthly_tokens if key.monthly_tokens is not None else (plan.monthly_tokens if plan else 0),
        credits=key.credits if key.credits is not None else (plan.credits if plan else None),
        models=tuple(key.models if key.models is not None else (plan.models if plan else ())),
        optimize=plan.optimize if plan else False,
    )


def check_model(limits: Limits, model: str) -> None:
    if limits.models and model not in limits.models:
        only = ", ".join(f"'{m}'" for m in limits.models)
        raise GatewayError(f"This key's plan may use only {only}; '{shown(model)}' is not among them",
                           code="model_selection_restricted", status=403, param="model")


def month_of(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now))


def next_month(now: float) -> float:
    year, month = time.gmtime(now)[:2]
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


class RateLimiter:
    """Fixed one-minute windows, one counter item each, expiring on their own (TTL)."""

    def __init__(self, db: DynamoDB) -> None:
        self._db = db

    async def hit(self, name: str, limit: int, code: str, now: float, count: int = 1) -> dict[str, str]:
        """Count `count` requests against `name`; the X-RateLimit headers, or a 429 carrying them."""
        window = int(now // 60)
        reset = (window + 1) * 60
        try:
            answer = await self._db.call(
                "update_item", TableName=self._db.names["usage"],
                Key={"pk": {"S": f"rpm#{name}#{window}"}, "sk": {"S": "n"}},
                UpdateExpression="ADD n :count SET expires_at = :expires",
                ConditionExpression="(attribute_not_exists(n) AND :count <= :limit) OR n <= :room",
                ExpressionAttributeValues={":count": {"N": str(count)}, ":limit": {"N": str(limit)},
                                           ":room": {"N": str(limit - count)}, ":expires": {"N": str(reset + 120)}},
                ReturnValues="UPDATED_NEW")
        except ConditionFailed:       # the window is full
            wait = max(1, math.ceil(reset - now))
            raise LimitError(f"Too many requests: {limit} per minute. Try again in {wait} s", code=code,
                             headers={**rate_headers(limit, 0, reset), "Retry-After": str(wait)}) from None
        return rate_headers(limit, limit - int(answer["Attributes"]["n"]["N"]), reset)


def ip_name(client_ip: str) -> str:
    """A client IP as a counter's name: hashed, so whatever a proxy reported is a short, fixed key."""
    return hashlib.sha256(client_ip.encode(errors="replace")).hexdigest()[:32]


def rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, remaining)),
            "X-RateLimit-Reset": str(int(reset))}


class QuotaBook:
    """Each key's tokens this month and lifetime spend, as this process knows them."""

    def __init__(self, db: DynamoDB, refresh_s: float) -> None:
        self.db = self._db = db
        self._refresh_s = refresh_s
        self._known: dict[str, tuple[float, str, int, int]] = {}   # key → (read at, month, tokens, micro-USD spent)

    def forget(self) -> None:
        """Read every key's totals afresh next time (an admin looking at them wants them exact)."""
        self._known.clear()

    def add(self, event: UsageEvent) -> None:
        known = self._known.get(event.key_id)
        if known is not None and known[1] == event.month:
            at, month, tokens, spent = known
            self._known[event.key_id] = (at, month, tokens + event.tokens, spent + round(event.cost * MICRO))

    async def totals(self, key_id: str, now: float) -> tuple[int, float]:
        """(tokens this month, USD spent ever)."""
        month = month_of(now)
        known = self._known.get(key_id)
        if known is None or known[1] != month or time.monotonic() - known[0] > self._refresh_s:
            table = self._db.names["usage"]
            this_month = await self._db.call("get_item", TableName=table, ConsistentRead=True,
                                             Key={"pk": {"S": month_pk(key_id, month)}, "sk": {"S": "totals"}})
            spend = await self._db.call("get_item", TableName=table, ConsistentRead=True,
                                        Key={"pk": {"S": spend_pk(key_id)}, "sk": {"S": "total"}})
            tokens = int(this_month.get("Item", {}).get("tokens", {}).get("N", "0"))
            spent = int(spend.get("Item", {}).get("cost", {}).get("N", "0"))
            known = (time.monotonic(), month, tokens, spent)
            self._known[key_id] = known
        return known[2], known[3] / MICRO


class Admission:
    """Everything a key's plan says about a request before it is served."""

    def __init__(self, config: Config, db: DynamoDB | None, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._rates = RateLimiter(db) if db is not None else None
        self._book = QuotaBook(db, config.gateway.quota_refresh_s) if db is not None else None
        self.clock = clock      # wall time: minute windows and months (tests move it)
        self._limits: dict[ApiKey, Limits] = {}

    @property
    def book(self) -> QuotaBook | None:
        return self._book

    def limits(self, key: ApiKey) -> Limits:
        """Memoized: keys and config are immutable, and this is on every request's path."""
        found = self._limits.get(key)
        if found is None:
            if len(self._limits) >= 10_000:
                self._limits.clear()
            found = self._limits[key] = limits_of(key, self._config)
        return found

    async def limit_ip(self, client_ip: str | None) -> None:
        """The per-IP limit (`ip_rpm`), counted before the key is even looked up: a client trying keys
        at random is held to it too."""
        ip_rpm = self._config.gateway.ip_rpm
        if self._rates is None or not ip_rpm or not client_ip:
            return
        try:
            await self._rates.hit(f"ip#{ip_name(client_ip)}", ip_rpm, "ip_rate_limit_exceeded", self.clock())
        except StorageError as exc:
            if refused(exc):
                raise
            log.warning("the IP limit is not enforced, storage failed: %s", exc.message)

    async def admit(self, key: ApiKey) -> tuple[Limits, Mapping[str, str]]:
        """The key's limits and its X-RateLimit headers; raises the first limit the request is over."""
        limits = self.limits(key)
        if not limits.metered:
            return limits, NO_HEADERS          # the hot path of an unlimited key: no round trip at all
        try:
            return limits, await self._enforce(key, limits)
        except StorageError as exc:
            if refused(exc) or limits.credits is not None:     # a refusal, or money at stake: closed
                raise
            log.warning("limits of %s not enforced, storage failed: %s", key.prefix, exc.message)
            return limits, NO_HEADERS                          # busy or out of reach: open (module docstring)

    async def hold(self, key: ApiKey, limits: Limits, estimate: int) -> int:
        """Hold up to `estimate` micro-USD of the key's credits for a request about to be served, all of
        it or what is left: returns what was held; 402 when nothing is left. The committed sum (spend
        settled, plus what requests in flight hold) lives in one item, raised by a conditional update,
        so requests served at once cannot together commit more than the credits: the overshoot is at
        most what one request costs past its hold. A request's hold is settled when it is recorded."""
        if self._book is None or limits.credits is None or estimate <= 0:
            return 0
        credits = round(limits.credits * MICRO)
        table, item = self._book.db.names["usage"], {"pk": {"S": credit_pk(key.id)}, "sk": {"S": "committed"}}
        for _ in range(HOLD_TRIES):
            found = await self._book.db.call("get_item", TableName=table, Key=item, ConsistentRead=True)
            if "Item" in found:
                committed = int(found["Item"]["micro"]["N"])
            else:
                committed = round((await self._book.totals(key.id, self.clock()))[1] * MICRO)
            held = min(estimate, credits - committed)
            if held <= 0:
                raise GatewayError(f"Insufficient credits: ${committed / MICRO:.6f} of ${limits.credits:.6f} used or "
                                   "held by requests in flight", code="insufficient_credits", status=402)
            try:
                await self._book.db.call(
                    "update_item", TableName=table, Key=item,
                    UpdateExpression="SET micro = if_not_exists(micro, :committed) + :held",
                    ConditionExpression="(attribute_not_exists(micro) AND :committed <= :room) OR micro <= :room",
                    ExpressionAttributeValues={":committed": {"N": str(committed)}, ":held": {"N": str(held)},
                                               ":room": {"N": str(credits - held)}})
                return held
            except ConditionFailed:
                continue                   # another request held first: read again, hold what is left
        raise GatewayError("Insufficient credits: held by requests in flight", code="insufficient_credits",
                           status=402)

    async def charge(self, key: ApiKey, limits: Limits, extra: int) -> None:
        """`extra` more requests against the key's rpm: one request that makes that many more upstream
        calls (a completions request with an array of prompts, through a chat model)."""
        if self._rates is not None and limits.rpm and extra > 0:
            await self._rates.hit(f"key#{key.id}", limits.rpm, "rate_limit_exceeded", self.clock(), extra)

    async def _enforce(self, key: ApiKey, limits: Limits) -> Mapping[str, str]:
        now = self.clock()
        headers: Mapping[str, str] = NO_HEADERS
        if self._rates is not None and limits.rpm:
            headers = await self._rates.hit(f"key#{key.id}", limits.rpm, "rate_limit_exceeded", now)
        if self._book is not None and (limits.monthly_tokens or limits.credits is not None):
            tokens, spent = await self._book.totals(key.id, now)
            if limits.monthly_tokens and tokens >= limits.monthly_tokens:
                wait = max(1, math.ceil(next_month(now) - now))
                raise LimitError(f"Monthly token limit exceeded: {tokens} of {limits.monthly_tokens} used",
                                 code="token_limit_exceeded", headers={**headers, "Retry-After": str(wait)})
            if limits.credits is not None and spent >= limits.credits:
                raise GatewayError(f"Insufficient credits: ${spent:.6f} of ${limits.credits:.2f} used",
                                   code="insufficient_credits", status=402, headers=dict(headers))
        return headers
