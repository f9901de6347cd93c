import time
import zlib

import orjson
import pytest

from core.errors import StorageError
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.tables import table_names
from core.usage import (
    MAX_ATTEMPTS,
    REJECTED,
    Attempt,
    Meter,
    UsageEvent,
    UsageRecorder,
    by_provider,
    day_of,
    event_of,
    events_from_item,
    latest,
    status_matches,
    summarize,
    usage_between,
)

pytestmark = pytest.mark.anyio


def event(key: str, model: str, prompt: int, completion: int, cost: float, status: int = 200,
          latency: float = 10.0) -> UsageEvent:
    now = time.time()
    return UsageEvent(key, f"req-{time.monotonic_ns()}", now, model, "gpt", model, prompt, completion, cost,
                      latency, False, status, day_of(now))


class Unreachable(DynamoDB):
    """DynamoDB as a dropped connection looks to the gateway, at once (no botocore backoff)."""

    async def call(self, operation: str, **kwargs: object) -> object:
        raise StorageError(f"Storage is unreachable ({operation})")


async def test_records_survive_a_failing_store_and_are_written_once_it_answers(dynamo_url: str) -> None:
    good = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    bad = Unreachable(table_names())
    recorder = UsageRecorder(bad)
    key = f"key_usage_{time.monotonic_ns()}"
    for _ in range(30):                                  # more than one BatchWriteItem
        recorder.record(event(key, "m", 10, 5, 0.001))
    assert await recorder.flush() == 0
    assert recorder.pending > 0                          # nothing dropped
    recorder._db = good
    assert await recorder.flush() == 30
    assert await recorder.flush() == 0 and recorder.pending == 0
    today = time.strftime("%Y-%m-%d", time.gmtime())
    stored = await usage_between(good, key, today, today)
    assert len(stored) == 30 and sum(e.tokens for e in stored) == 450
    month = await good.call("get_item", TableName=good.names["usage"],
                            Key={"pk": {"S": f"month#{key}#{today[:7]}"}, "sk": {"S": "totals"}})
    assert month["Item"]["tokens"]["N"] == "450"          # added once, not once per attempt
    assert month["Item"]["cost"]["N"] == "30000"          # micro-USD
    await good.aclose()
    await bad.aclose()


async def test_an_item_dynamodb_refuses_is_dropped_and_every_other_record_is_written(dynamo_url: str) -> None:
    """SEC-06: one pack over DynamoDB's item limit once failed its whole batch, every second, for the
    life of the process, and no key's records were stored again."""
    import secrets

    db = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    recorder = UsageRecorder(db)
    poisoned, others = f"key_poison_{time.monotonic_ns()}", [f"key_other_{i}_{time.monotonic_ns()}" for i in range(3)]
    recorder.record(event(poisoned, secrets.token_urlsafe(450_000), 1, 1, 0.0))    # ~600 KB, incompressible
    for key in others:
        for _ in range(5):
            recorder.record(event(key, "m", 10, 5, 0.001))
    await recorder.flush()
    assert recorder.pending == 0                            # nothing requeued for ever
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for key in others:
        assert len(await usage_between(db, key, today, today)) == 5
    assert await usage_between(db, poisoned, today, today) == []
    await db.aclose()


async def test_a_pack_closes_past_its_bytes_as_well_as_its_count() -> None:
    recorder = UsageRecorder(Unreachable(table_names()))
    for _ in range(40):
        recorder.record(event("key_big", "m" * 20_000, 1, 1, 0.0))
    packs = recorder._packs[("key_big", day_of(time.time()))]
    assert len(packs) > 1 and all(len(pack.rows) < 330_000 for pack in packs)


async def test_a_meter_becomes_an_event_with_its_latency() -> None:
    meter = Meter("key_1", "req_1", started=time.monotonic() - 0.25, model="alias")
    meter.used({"prompt_tokens": 3, "completion_tokens": 4}, (1.0, 2.0, 0.1, 1.25))
    recorded = event_of(meter, 200, now=1_800_000_000.0)
    assert (recorded.tokens, recorded.cost, recorded.day) == (7, 11e-6, "2027-01-15")
    assert recorded.latency_ms >= 250


async def test_usage_told_in_parts_adds_up() -> None:
    meter = Meter("key_1", "req_1")
    meter.used({"prompt_tokens": 12}, (0, 0, 0, 0))          # a stream's start tells the prompt
    meter.used({"completion_tokens": 30}, (1, 1, 1, 1))      # its end the completion
    assert (meter.prompt_tokens, meter.completion_tokens, meter.cost) == (12, 30, 42e-6)
    meter.used({"input_tokens": 99}, (0, 0, 0, 0))   # another format's words: read by its plug-in, not here
    assert meter.prompt_tokens == 12


async def test_cache_reads_and_writes_are_prompt_tokens_at_their_own_prices() -> None:
    meter = Meter("key_1", "req_1")
    usage = {"prompt_tokens": 100_000 + 1_000 + 10, "completion_tokens": 20,
             "prompt_tokens_details": {"cached_tokens": 100_000, "cache_write_tokens": 1_000}}
    meter.used(usage, (3.0, 15.0, 0.3, 3.75))        # Claude Sonnet's prices
    assert meter.prompt_tokens == 101_010
    assert meter.cost == pytest.approx((10 * 3.0 + 100_000 * 0.3 + 1_000 * 3.75 + 20 * 15.0) / 1e6)


async def test_summary_groups_and_quantiles() -> None:
    events = [event("k", "a", 1, 1, 0.5, latency=10), event("k", "a", 2, 2, 0.5, latency=30, status=502),
              event("k", "b", 3, 3, 1.0, latency=20)]
    report = summarize(events, ["model"])
    assert report["totals"]["requests"] == 3 and report["totals"]["errors"] == 1 and report["totals"]["cost"] == 2.0
    groups = {g["group"]: g for g in report["groups"]}
    assert groups["a"]["tokens"] == 6 and groups["a"]["latency_ms_p50"] == 30 and groups["b"]["requests"] == 1


def served(key: str, model: str, provider: str, attempts: tuple[Attempt, ...], status: int = 200,
           tokens: tuple[int, int] = (0, 0), cost: float = 0.0, latency: float = 100.0) -> UsageEvent:
    now = time.time()
    return UsageEvent(key, f"req-{time.monotonic_ns()}", now, model, provider, model, *tokens, cost, latency, False,
                      status, day_of(now), attempts)


async def test_a_failed_attempt_is_an_error_of_the_provider_that_failed() -> None:
    """An upstream's 500 once made a record with no provider: a row of no provider at 100% errors, and
    the failing provider at 0%."""
    events = [
        served("k", "m", "backup", (Attempt("gpt", "error 500", 40), Attempt("backup", "ok", 60)),
               tokens=(10, 5), cost=0.01, latency=130),                                     # fell back
        served("k", "m", "", (Attempt("gpt", "error 429", 20), Attempt("backup", "timeout", 900)), status=502),
        served("k", "m", "gpt", (Attempt("gpt", "ok", 50),), tokens=(1, 1)),
        served("k", "nope", "", (), status=404),                                            # refused first
        served("k", "m", "cache-hit-provider", ()),                                         # no attempt: a cache hit
    ]
    providers = {g["provider"]: g for g in summarize(events, ["provider"])["groups"]}
    assert set(providers) == {"gpt", "backup", "cache-hit-provider"}                       # no "" row
    assert (providers["gpt"]["requests"], providers["gpt"]["errors"]) == (3, 2)
    assert (providers["backup"]["requests"], providers["backup"]["errors"]) == (2, 1)
    assert providers["backup"]["tokens"] == 15 and providers["backup"]["cost"] == 0.01     # the one that answered
    assert providers["gpt"]["tokens"] == 2
    assert providers["backup"]["latency_ms_p95"] == 900 and providers["backup"]["latency_ms_p50"] == 900
    assert sorted(e.latency_ms for e in by_provider(events[:1])) == [40, 90]               # 130 less gpt's 40
    totals = summarize(events, ["provider"])["totals"]
    assert (totals["requests"], totals["errors"], totals["tokens"]) == (5, 2, 17)           # requests, not attempts
    by_day = summarize(events, ["day", "provider"])["groups"]
    assert sum(g["errors"] for g in by_day if g["provider"] == "gpt") == 2


async def test_requests_refused_before_any_provider_are_one_model_row_with_their_names() -> None:
    events = [served("k", name, "", (), status=status) for name, status in
              [("nope-model", 404), ("nope-model", 404), ("claude-nope", 404), ("old", 400), ("", 429)]]
    events += [served("k", "gpt-4o", "gpt", (Attempt("gpt", "ok", 5),)),
               served("k", "gpt-4o", "", (Attempt("gpt", "error 400", 5),), status=400),   # the upstream refused it
               served("k", "gpt-4o", "", (), status=500)]                                   # not a refusal: 5xx
    models = {g["model"]: g for g in summarize(events, ["model"])["groups"]}
    assert set(models) == {"gpt-4o", REJECTED}
    assert (models["gpt-4o"]["requests"], models["gpt-4o"]["errors"]) == (3, 2)
    assert models[REJECTED]["requests"] == models[REJECTED]["errors"] == 5
    assert models[REJECTED]["rejected_names"] == 4
    assert models[REJECTED]["rejected_models"] == {"nope-model": 2, "claude-nope": 1, "old": 1, "": 1}
    assert "rejected_names" not in models["gpt-4o"]
    daily = summarize(events, ["day", "model"])["groups"]
    assert {g["model"] for g in daily} == {"gpt-4o", REJECTED}


async def test_a_meter_keeps_its_attempts_within_the_cap_and_always_the_last() -> None:
    meter = Meter("key_1", "req_1")
    for i in range(MAX_ATTEMPTS + 3):
        meter.tried(Attempt(f"p{i}", "error 500", i))
    meter.tried(Attempt("answered", "ok", 7))
    recorded = event_of(meter, 200, now=1_800_000_000.0)
    assert len(recorded.attempts) == MAX_ATTEMPTS
    assert recorded.attempts[0] == Attempt("p0", "error 500", 0)
    assert recorded.attempts[-1] == Attempt("answered", "ok", 7)


async def test_attempts_are_stored_in_the_pack_and_read_back_typed_and_older_records_still_read() -> None:
    recorder = UsageRecorder(Unreachable(table_names()))
    fell_back = served("key_a", "m", "backup", (Attempt("gpt", "error 500", 40, "gpt-4o"),
                                                Attempt("backup", "ok", 60, "b-1")))
    recorder.record(fell_back)
    item = recorder._items(recorder._packs)[0]["PutRequest"]["Item"]
    assert events_from_item(item) == [fell_back]
    assert isinstance(events_from_item(item)[0].attempts[0], Attempt)
    row = orjson.loads(zlib.decompress(item["records"]["B"]))[0]
    # [provider, outcome, ms, model]
    assert row[13] == [["gpt", "error 500", 40, "gpt-4o"], ["backup", "ok", 60, "b-1"]]
    assert UsageEvent.of_row(row[:13]).attempts == ()                                       # a record made before
    assert UsageEvent.of_row([*row[:13], [["gpt", "error 500", 40]]]).attempts == (Attempt("gpt", "error 500", 40),)
    most = served("key_a", "m", "p", tuple(Attempt(f"provider-{i}", "error 503", 30_000) for i in range(MAX_ATTEMPTS)))
    assert len(orjson.dumps(most, default=tuple)) - len(orjson.dumps(most._replace(attempts=()), default=tuple)) < 400


def log(*rows: tuple[float, str, str, str, tuple[Attempt, ...], int]) -> list[UsageEvent]:
    """Records at the given times (model, served model, provider, attempts, status), in time order."""
    return [UsageEvent("k", f"req-{ts}", ts, model, provider, mapped, 1, 1, 0.0, 10.0, False, status,
                       day_of(ts), attempts) for ts, model, mapped, provider, attempts, status in rows]


FELL_BACK = (Attempt("gpt", "error 500", 40), Attempt("backup", "ok", 60))
LOG = log((1.0, "m", "m-1", "gpt", (Attempt("gpt", "ok", 5),), 200),
          (2.0, "sturdy", "b", "backup", FELL_BACK, 200),
          (3.0, "nope", "", "", (), 404),
          (4.0, "m", "m-1", "", (Attempt("gpt", "error 429", 5),), 429),
          (5.0, "m", "m-1", "gpt", (Attempt("gpt", "error 500", 5),), 502),
          (6.0, "m", "m-1", "cached-from", (), 200))


def ids(page: tuple[list[UsageEvent], bool]) -> tuple[list[float], bool]:
    return [e.ts for e in page[0]], page[1]


async def test_the_request_log_is_newest_first_and_filters_by_model_provider_and_status() -> None:
    assert ids(latest(LOG, 100)) == ([6.0, 5.0, 4.0, 3.0, 2.0, 1.0], False)
    assert ids(latest(LOG, 100, provider="gpt")) == ([5.0, 4.0, 2.0, 1.0], False)     # the 2.0 fell back from gpt
    assert ids(latest(LOG, 100, provider="backup")) == ([2.0], False)
    assert ids(latest(LOG, 100, provider="cached-from")) == ([6.0], False)            # no attempts: its provider
    assert ids(latest(LOG, 100, model="sturdy")) == ids(latest(LOG, 100, model="b")) == ([2.0], False)
    assert ids(latest(LOG, 100, status="4xx")) == ([4.0, 3.0], False)
    assert ids(latest(LOG, 100, status="429")) == ([4.0], False)
    assert ids(latest(LOG, 100, status="5xx")) == ([5.0], False)
    assert ids(latest(LOG, 100, status="2xx", provider="gpt", model="m")) == ([1.0], False)
    assert ids(latest(LOG, 100, status="3xx")) == ([], False)


async def test_the_request_log_pages_by_time_and_never_splits_records_of_one_time() -> None:
    assert ids(latest(LOG, 2)) == ([6.0, 5.0], True)
    assert ids(latest(LOG, 2, before=5.0)) == ([4.0, 3.0], True)
    assert ids(latest(LOG, 2, before=3.0)) == ([2.0, 1.0], False)
    assert ids(latest(LOG, 2, before=1.0)) == ([], False)
    tied = log(*((ts, "m", "m", "gpt", (), 200) for ts in (1.0, 2.0, 2.0, 3.0)))
    assert ids(latest(tied, 2)) == ([3.0], True)                 # not 3.0 and one of the 2.0s: the next page has both
    assert ids(latest(tied, 2, before=3.0)) == ([2.0, 2.0], True)
    assert ids(latest(tied, 1, before=3.0)) == ([2.0], True)     # a page full of one time keeps it


async def test_a_status_filter_is_a_status_or_a_class() -> None:
    assert status_matches(429, "429") and status_matches(429, "4xx") and not status_matches(429, "5xx")
    assert not status_matches(400, "429") and status_matches(200, "2xx")
