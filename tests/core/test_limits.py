import asyncio
import time

import pytest

from core.config import parse_config
from core.errors import GatewayError, LimitError
from core.keys import ApiKey
from core.limits import RateLimiter, check_model, limits_of, next_month
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.tables import table_names

pytestmark = pytest.mark.anyio
CONFIG = parse_config({"plans": {"team": {"rpm": 30, "monthly_tokens": 1000, "credits": 5, "models": ["a"]}}})


def test_plan_values_unless_the_key_overrides_them() -> None:
    plain = limits_of(ApiKey(id="k", prefix="p", plan="team"), CONFIG)
    assert (plain.rpm, plain.monthly_tokens, plain.credits, plain.models) == (30, 1000, 5, ("a",))
    custom = limits_of(ApiKey(id="k", prefix="p", plan="team", rpm=0, monthly_tokens=50, credits=1.5,
                              models=()), CONFIG)
    assert (custom.rpm, custom.monthly_tokens, custom.credits, custom.models) == (0, 50, 1.5, ())
    free = limits_of(ApiKey(id="k", prefix="p", plan="free"), CONFIG)
    assert (free.rpm, free.monthly_tokens, free.models) == (5, 20000, ("auto",))     # the ApeKey seed's


def test_model_lists() -> None:
    check_model(limits_of(ApiKey(id="k", prefix="p", plan="pro"), CONFIG), "anything")
    with pytest.raises(GatewayError) as caught:
        check_model(limits_of(ApiKey(id="k", prefix="p", plan="free"), CONFIG), "gpt-4o")
    assert (caught.value.status, caught.value.code) == (403, "model_selection_restricted")


def test_next_month_is_the_first_second_of_it_in_utc() -> None:
    assert next_month(time.mktime((2026, 12, 31, 12, 0, 0, 0, 0, 0))) == 1798761600.0   # 2027-01-01T00:00Z


async def test_exactly_the_limit_passes_under_concurrency(dynamo_url: str) -> None:
    db = DynamoDB(table_names(), dynamo_url, credentials=CREDENTIALS)
    limiter = RateLimiter(db)
    name, now = f"unit#{time.monotonic_ns()}", 1_800_000_030.0

    async def one() -> bool:
        try:
            await limiter.hit(name, 7, "rate_limit_exceeded", now)
            return True
        except LimitError:
            return False

    results = await asyncio.gather(*(one() for _ in range(40)))
    assert results.count(True) == 7
    assert await one() is False
    assert (await limiter.hit(name, 7, "rate_limit_exceeded", now + 60))["X-RateLimit-Remaining"] == "6"
    await db.aclose()
