"""Usage accounting: every request's key, model, provider, tokens, cost, latency, cache and status.

Records are serialized as they are made, into packs of one key's records of one day (up to 1,000,
compressed into one item at the flush, well under DynamoDB's item limit), so a busy gateway makes a
handful of writes a second, not one per request; each key's month totals (tokens, cost) and lifetime
spend go with them as atomic ADDs. A write that fails stays pending and is tried again at the next
flush: nothing is dropped while the process lives, and `apex serve` and the Lambda runtime flush
once more on the way out.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from core.errors import StorageError
from core.storage.dynamo import DynamoDB, refused

log = logging.getLogger("apex.usage")

MICRO = 1_000_000          # costs are kept in micro-USD: DynamoDB ADDs on integers are exact
BATCH = 25                 # BatchWriteItem's limit
PACK = 1000                # records per item: ~60-90 KB of JSON, far under the 400 KB limit once compressed
PACK_BYTES = 300_000       # and a pack is closed past this much JSON, whatever its records hold
MAX_ATTEMPTS = 8           # attempts a record keeps (~50 bytes each, and the model's name): the first 7 and the last


def usd(cost: float) -> str:
    """A cost in USD as a header or a log line shows it: decimals (no exponent), to the micro-cent."""
    return f"{cost:.10f}".rstrip("0").rstrip(".")


class Attempt(NamedTuple):
    """One route a request tried, as its usage record keeps it: stored as `[provider, outcome, ms, model]`.

    `outcome` is "ok" (the route answered; for a stream, its first item came), "error NNN" (the
    upstream answered HTTP NNN: 500, 429, 400, …), "timeout", "unavailable" (no connection, or the
    provider does not serve the request's kind), "circuit_open" (skipped: its circuit breaker was
    open) or "failed" (a malformed answer, a broken connection). `ms` is how long the attempt took,
    to its answer (a stream's first item) or its failure."""

    provider: str
    outcome: str
    ms: int
    model: str = ""     # the upstream model the route names (records from before it was kept: "")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(slots=True)
class Meter:
    """What one request used, filled in as the request learns it; recorded when its response ends."""

    key_id: str
    request_id: str
    started: float = field(default_factory=time.monotonic)
    key_prefix: str = ""           # how logs name the key (its first characters, never the key)
    model: str = ""
    provider: str = ""
    mapped_model: str = ""
    prompt_tokens: int = 0         # cache reads and writes included
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost: float = 0.0              # USD
    held: int = 0                  # micro-USD held against the key's credits while it is served
    request_bytes: int = 0         # the request body's size, for the hold's estimate
    cached: bool = False
    billable: bool = True          # False: rate-limited and headed, but no usage record (reads)
    attempts: list[Attempt] = field(default_factory=list)      # the routes tried, in order (fallback)

    def tried(self, attempt: Attempt) -> None:
        """Note a route's attempt. Past MAX_ATTEMPTS the last slot is overwritten, so a record stays
        small and still ends with the attempt that decided the request."""
        if len(self.attempts) < MAX_ATTEMPTS:
            self.attempts.append(attempt)
        else:
            self.attempts[-1] = attempt

    def used(self, usage: dict[str, Any] | None, prices: tuple[float, float, float, float]) -> None:
        """Take a `usage` object in core's terms — OpenAI's: prompt and completion tokens, the prompt's
        cache reads in `prompt_tokens_details.cached_tokens`, and its cache writes, which OpenAI has
        no word for, in `prompt_tokens_details.cache_write_tokens` —; what it lacks stays. The cost
        puts each kind of prompt token at its price (USD per 1M: input, output, read, write)."""
        if usage:
            self.prompt_tokens = int(usage.get("prompt_tokens") or self.prompt_tokens)
            self.completion_tokens = int(usage.get("completion_tokens") or self.completion_tokens)
            if details := usage.get("prompt_tokens_details"):
                self.cache_read_tokens = int(details.get("cached_tokens") or self.cache_read_tokens)
                self.cache_write_tokens = int(details.get("cache_write_tokens") or self.cache_write_tokens)
        price_in, price_out, price_read, price_write = prices
        plain = max(0, self.prompt_tokens - self.cache_read_tokens - self.cache_write_tokens)
        self.cost = (plain * price_in + self.cache_read_tokens * price_read + self.cache_write_tokens * price_write
                     + self.completion_tokens * price_out) / 1_000_000


class UsageEvent(NamedTuple):
    """One request's record: plain values, written into its pack as it is recorded (and read back
    from the packs stored in DynamoDB)."""

    key_id: str
    request_id: str
    ts: float
    model: str
    provider: str
    mapped_model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    latency_ms: float
    cached: bool
    status: int
    day: str            # YYYY-MM-DD, UTC: the record's partition
    attempts: tuple[Attempt, ...] = ()   # the routes tried, in order; empty: none (refused, cached, older records)

    @classmethod
    def of_row(cls, row: list[Any]) -> UsageEvent:
        """A record as stored (a JSON array; records written before attempts were kept have 13 fields)."""
        return cls._make([*row[:13], tuple(Attempt(*a) for a in row[13]) if len(row) > 13 else ()])

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def refused(self) -> bool:
        """Refused by the gateway itself (4xx: an unknown or deprecated model, a bad body, a limit)
        before any provider was tried."""
        return 400 <= self.status < 500 and not self.attempts and not self.provider

    @property
    def month(self) -> str:
        return self.day[:7]


_last_day = (0, "")


def day_of(now: float) -> str:
    """The UTC date, formatted once per second rather than once per request."""
    global _last_day
    second = int(now)
    if _last_day[0] != second:
        _last_day = (second, time.strftime("%Y-%m-%d", time.gmtime(second)))
    return _last_day[1]


def event_of(meter: Meter, status: int, now: float) -> UsageEvent:
    return UsageEvent(meter.key_id, meter.request_id, now, meter.model, meter.provider, meter.mapped_model,
                      meter.prompt_tokens, meter.completion_tokens, meter.cost,
                      round((time.monotonic() - meter.started) * 1000, 2), meter.cached, status, day_of(now),
                      tuple(meter.attempts))



def record_pk(key_id: str, day: str) -> str:
    return f"u#{day}#{key_id}"


def month_pk(key_id: str, month: str) -> str:
    return f"month#{key_id}#{month}"


def credit_pk(key_id: str) -> str:
    return f"credit#{key_id}"


def spend_pk(key_id: str) -> str:
    return f"spend#{key_id}"


@dataclass(slots=True)
class _Pack:
    """Up to PACK records of one key and day, kept serialized as they come (JSON rows joined by
    commas): a pending record is a few bytes in one buffer, not a dozen objects that live a second
    among a request's short-lived ones — that mix, at thousands of requests a second, fragmented
    the allocator (RSS +21 MiB in 30 minutes at 4,700 rps with the Python heap flat; serialized, RSS
    held 57.6 → 58.2 MiB over 15 minutes)."""

    sk: str                 # from its first record: a retried write puts the same item again
    rows: bytearray
    count: int = 0


def _records(packs: dict[tuple[str, str], list[_Pack]]) -> int:
    return sum(pack.count for group in packs.values() for pack in group)


class UsageRecorder:
    """Records are idempotent puts (a retried batch overwrites itself); the totals are ADDs, so
    they are kept apart, summed per key and month, and cleared only once written."""

    def __init__(self, db: DynamoDB, retention_s: int = 90 * 24 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._retention_s = retention_s
        self.clock = clock      # wall time of the records (tests move it, with the admission's)
        self._packs: dict[tuple[str, str], list[_Pack]] = {}     # pending records, by key and day
        self._totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])   # tokens, micro-USD
        self._lock = asyncio.Lock()
        self.listeners: list[Any] = []      # called with each event as it is recorded (the quota book)

    @property
    def pending(self) -> int:
        return _records(self._packs) + len(self._totals)

    def record_meter(self, meter: Meter, status: int) -> None:
        self.record(event_of(meter, status, self.clock()))

    def record(self, event: UsageEvent) -> None:
        packs = self._packs.setdefault((event.key_id, event.day), [])
        if not packs or packs[-1].count >= PACK or len(packs[-1].rows) >= PACK_BYTES:
            packs.append(_Pack(f"{event.ts:.6f}#{event.request_id}", bytearray(b"[")))
        pack = packs[-1]
        if pack.count:
            pack.rows += b","
        pack.rows += orjson.dumps(event, default=tuple)
        pack.count += 1
        totals = self._totals[(event.key_id, event.month)]
        totals[0] += event.tokens
        totals[1] += round(event.cost * MICRO)
        for listener in self.listeners:
            listener(event)

    async def flush(self) -> int:
        """Write what is pending; returns how many records were written. Failures stay pending."""
        async with self._lock:
            written = 0
            if self._packs:
                packs, self._packs = self._packs, {}
                try:
                    await self._write_records(packs)
                    written = _records(packs)
                except Exception as exc:
                    log.warning("usage flush failed, %d records kept for the next one: %s", _records(packs), exc)
                    for group, newer in self._packs.items():        # back to the front, in order
                        packs[group] = packs.get(group, []) + newer
                    self._packs = packs
            for (key_id, month), (tokens, micro) in list(self._totals.items()):
                try:
                    await self._add_totals(key_id, month, tokens, micro)
                except Exception as exc:
                    log.warning("usage totals of %s kept for the next flush: %s", key_id, exc)
                    continue
                remaining = self._totals[(key_id, month)]
                remaining[0] -= tokens
                remaining[1] -= micro
                if remaining == [0, 0]:
                    del self._totals[(key_id, month)]
            return written

    async def _write_records(self, packs: dict[tuple[str, str], list[_Pack]]) -> None:
        """One item per pack: idempotent puts, keyed by the pack's first record (compressed on a worker
        thread). A batch DynamoDB refuses is written item by item, and an item it refuses alone is
        logged and dropped: one bad item must not hold back every key's records for ever."""
        table = self._db.names["usage"]
        items = await asyncio.to_thread(self._items, packs)
        for i in range(0, len(items), BATCH):
            try:
                await self._write_batch(table, items[i:i + BATCH])
            except StorageError as exc:
                if not refused(exc):
                    raise
                for item in items[i:i + BATCH]:
                    try:
                        await self._write_batch(table, [item])
                    except StorageError as alone:
                        if not refused(alone):
                            raise
                        log.error("usage: DynamoDB refused an item of %s (%s); its records are dropped",
                                  item["PutRequest"]["Item"]["pk"]["S"], alone.__cause__)

    def _items(self, packs: dict[tuple[str, str], list[_Pack]]) -> list[dict[str, Any]]:
        expires = {"N": str(int(time.time()) + self._retention_s)}
        return [{"PutRequest": {"Item": {
            "pk": {"S": record_pk(key_id, day)}, "sk": {"S": pack.sk},
            "records": {"B": zlib.compress(pack.rows + b"]")}, "expires_at": expires}}}
            for (key_id, day), group in packs.items() for pack in group]

    async def _write_batch(self, table: str, items: list[dict[str, Any]]) -> None:
        request: dict[str, Any] = {table: items}
        for _ in range(8):
            answer = await self._db.call("batch_write_item", RequestItems=request)
            request = answer.get("UnprocessedItems") or {}
            if not request:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("DynamoDB left usage records unprocessed")

    async def settle(self, meter: Meter) -> None:
        """What a request held against its key's credits, traded for what it cost: the committed sum
        goes down by the difference, so the key's next requests see what is really left."""
        if not meter.held:
            return
        delta = round(meter.cost * MICRO) - meter.held
        meter.held = 0
        await self._db.call("update_item", TableName=self._db.names["usage"],
                            Key={"pk": {"S": credit_pk(meter.key_id)}, "sk": {"S": "committed"}},
                            UpdateExpression="ADD micro :delta",
                            ExpressionAttributeValues={":delta": {"N": str(delta)}})

    async def _add_totals(self, key_id: str, month: str, tokens: int, micro: int) -> None:
        """The month's tokens and cost and the lifetime spend, in one transaction: both or neither."""
        table = self._db.names["usage"]
        cost = {":c": {"N": str(micro)}}
        await self._db.call("transact_write_items", TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": month_pk(key_id, month)}, "sk": {"S": "totals"}},
                        "UpdateExpression": "ADD tokens :t, cost :c",
                        "ExpressionAttributeValues": {":t": {"N": str(tokens)}, **cost}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": spend_pk(key_id)}, "sk": {"S": "total"}},
                        "UpdateExpression": "ADD cost :c", "ExpressionAttributeValues": cost}},
        ])

    async def run(self, interval_s: float = 1.0) -> None:
        """Flush every `interval_s` until cancelled (apex serve)."""
        while True:
            await asyncio.sleep(interval_s)
            await self.flush()


def events_from_item(item: dict[str, Any]) -> list[UsageEvent]:
    return [UsageEvent.of_row(record) for record in orjson.loads(zlib.decompress(item["records"]["B"]))]


async def usage_between(db: DynamoDB, key_id: str | None, first_day: str, last_day: str) -> list[UsageEvent]:
    """The records of one key (a query per day) or of every key (a scan), from first to last day."""
    table = db.names["usage"]
    items: list[dict[str, Any]] = []
    if key_id is not None:
        for day in _days(first_day, last_day):
            items += [item async for item in db.items(
                "query", TableName=table, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": record_pk(key_id, day)}})]
    else:
        items = [item async for item in db.items(
            "scan", TableName=table, FilterExpression="begins_with(pk, :u) AND pk BETWEEN :a AND :b",
            ExpressionAttributeValues={":u": {"S": "u#"}, ":a": {"S": f"u#{first_day}"},
                                       ":b": {"S": f"u#{last_day}~"}})]
    return sorted((e for item in items for e in events_from_item(item)), key=lambda e: e.ts)


def _days(first: str, last: str) -> list[str]:
    start = time.strptime(first, "%Y-%m-%d")
    day = calendar.timegm(start)
    end = calendar.timegm(time.strptime(last, "%Y-%m-%d"))
    days: list[str] = []
    while day <= end and len(days) < 400:
        days.append(time.strftime("%Y-%m-%d", time.gmtime(day)))
        day += 86400
    return days


def status_matches(status: int, wanted: str) -> bool:
    """`wanted` is a status ("429") or a class of them ("4xx"), as the request log filters by."""
    return status // 100 == int(wanted[0]) if wanted.endswith("xx") else status == int(wanted)


def latest(events: list[UsageEvent], limit: int, before: float | None = None, model: str | None = None,
           provider: str | None = None, status: str | None = None) -> tuple[list[UsageEvent], bool]:
    """The request log's page: the newest `limit` records (`events` in time order, as usage_between
    gives them) older than `before` that match every filter given, newest first, and whether older
    ones match too. `model` is the name asked for or the upstream model that served it; `provider`
    is the one that answered or any one tried, so a fallback is found under the provider that failed
    as well. `before` is the `ts` of the last record a page showed: a page that would end amid
    records of the same `ts` ends before them (unless they fill it), so the next page starts with all
    of them."""
    def wanted(e: UsageEvent) -> bool:
        return ((before is None or e.ts < before) and (not model or model in (e.model, e.mapped_model))
                and (not provider or e.provider == provider or any(a.provider == provider for a in e.attempts))
                and (not status or status_matches(e.status, status)))

    found: list[UsageEvent] = []
    for event in reversed(events):
        if wanted(event):
            found.append(event)
            if len(found) > limit:
                break
    page, more = found[:limit], len(found) > limit
    if more:
        page = [e for e in page if e.ts != found[limit].ts] or page
    return page, more


REJECTED = "(rejected)"    # the model group of the requests refused before any provider (see summarize)
REJECTED_NAMES_SHOWN = 20
FAILED = 502               # the status a failed attempt counts with in a provider's group: an error


def by_provider(events: list[UsageEvent]) -> list[UsageEvent]:
    """The records as the providers saw them, so that a provider's errors are its own: a record
    counts once for each attempt. A failed attempt is a request and an error of the provider that
    failed, with that attempt's time and no tokens; the attempt that answered (the last "ok") keeps
    the record's tokens, cost, cache hit and status, and its latency less the time the other attempts
    took. A record without attempts (a cache hit, a record older than attempts) counts for its
    provider; one refused before any provider was tried counts for none."""
    seen: list[UsageEvent] = []
    for event in events:
        if not event.attempts:
            if event.provider:
                seen.append(event)
            continue
        answered = max((i for i, a in enumerate(event.attempts) if a.ok), default=-1)
        others_ms = sum(a.ms for i, a in enumerate(event.attempts) if i != answered)
        for i, attempt in enumerate(event.attempts):
            if i == answered:
                seen.append(event._replace(provider=attempt.provider,
                                           latency_ms=max(0.0, event.latency_ms - others_ms), attempts=()))
            else:
                seen.append(event._replace(provider=attempt.provider, status=200 if attempt.ok else FAILED,
                                           latency_ms=float(attempt.ms), prompt_tokens=0, completion_tokens=0,
                                           cost=0.0, cached=False, attempts=()))
    return seen


def summarize(events: list[UsageEvent], group_by: list[str]) -> dict[str, Any]:
    """Totals, and per group (any of model, provider, day, key — `day, model` splits each day by
    model) the same figures with latency quantiles.

    By model, the requests refused before any provider (an unknown, deprecated or invalid name, a
    limit) are one group, REJECTED, with the names they asked for (`rejected_names` distinct, the
    most frequent in `rejected_models`): a client's typos must not crowd out the models served. By
    provider, each attempt counts for the provider it went to (by_provider)."""
    def figures(chunk: list[UsageEvent]) -> dict[str, Any]:
        latencies = sorted(e.latency_ms for e in chunk)
        return {
            "requests": len(chunk), "prompt_tokens": sum(e.prompt_tokens for e in chunk),
            "completion_tokens": sum(e.completion_tokens for e in chunk), "tokens": sum(e.tokens for e in chunk),
            "cost": round(sum(e.cost for e in chunk), 8), "errors": sum(1 for e in chunk if e.status >= 400),
            "cached": sum(1 for e in chunk if e.cached),
            "latency_ms_p50": latencies[len(latencies) // 2] if latencies else 0,
            "latency_ms_p95": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] if latencies else 0,
            "last_seen": max((e.ts for e in chunk), default=None),
        }

    def rejected(chunk: list[UsageEvent]) -> dict[str, Any]:
        names = Counter(e.model for e in chunk)
        return {"rejected_names": len(names), "rejected_models": dict(names.most_common(REJECTED_NAMES_SHOWN))}

    result: dict[str, Any] = {"totals": figures(events)}
    if group_by:
        fields = ["key_id" if g == "key" else g for g in group_by]
        if "provider" in fields:
            events = by_provider(events)
        groups: dict[tuple[str, ...], list[UsageEvent]] = defaultdict(list)
        for event in events:
            groups[tuple(REJECTED if f == "model" and event.refused else getattr(event, f)
                         for f in fields)].append(event)
        result["groups"] = [{"group": "|".join(name), **dict(zip(group_by, name, strict=True)), **figures(chunk),
                             **(rejected(chunk) if "model" in group_by
                                and name[group_by.index("model")] == REJECTED else {})}
                            for name, chunk in sorted(groups.items())]
    return result
