import pytest

from core.catalog import Resolution, Route
from core.errors import (
    ProviderError,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UpstreamRejected,
)
from core.fallback import Policy, first_success
from core.routing import Health
from core.usage import Attempt

pytestmark = pytest.mark.anyio

ROUTES = (Route("a", "m1"), Route("b", "m2"), Route("c", "m3"))
RESOLUTION = Resolution("alias", None, ROUTES, "alias with 3 routes")
ADAPTERS: dict = {"a": "A", "b": "B", "c": "C"}


def script(*outcomes: object):
    calls: list[str] = []

    async def attempt(adapter: str, route: Route) -> str:
        calls.append(route.provider)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, ProviderError):
            raise outcome
        return f"{adapter}:{route.model}"

    return attempt, calls


async def test_first_route_answers() -> None:
    attempt, calls = script("ok")
    outcome = await first_success(RESOLUTION, ADAPTERS, attempt)
    assert (outcome.value, outcome.route, outcome.reason, calls) == ("A:m1", ROUTES[0], "alias with 3 routes", ["a"])


async def test_retryable_failures_fall_through_and_the_reason_says_so() -> None:
    attempt, calls = script(ProviderFailed("500"), ProviderTimeout("slow"), "ok")
    outcome = await first_success(RESOLUTION, ADAPTERS, attempt)
    assert outcome.value == "C:m3" and calls == ["a", "b", "c"]
    assert "fell back after a (provider_error), b (provider_error)" in outcome.reason
    assert [f.provider for f in outcome.failures] == ["a", "b"]


async def test_a_rejected_request_is_not_retried_elsewhere() -> None:
    attempt, calls = script(UpstreamRejected("bad temperature", status=400, code="invalid_value"), "ok")
    with pytest.raises(UpstreamRejected):
        await first_success(RESOLUTION, ADAPTERS, attempt)
    assert calls == ["a"]


async def test_fallback_off_tries_only_the_first_route() -> None:
    attempt, calls = script(ProviderFailed("500"), "ok")
    with pytest.raises(ProviderFailed):
        await first_success(RESOLUTION, ADAPTERS, attempt, fallback=False)
    assert calls == ["a"]


@pytest.mark.parametrize(("failures", "status", "code"), [
    ([ProviderRateLimited("429", retry_after=3), ProviderRateLimited("429", retry_after=1),
      ProviderRateLimited("429")], 429, "provider_rate_limit"),
    ([ProviderUnavailable("refused")] * 3, 503, "all_providers_unavailable"),
    ([ProviderRateLimited("429"), ProviderUnavailable("refused"), ProviderFailed("500")], 502, "provider_error"),
    ([ProviderTimeout("slow")] * 3, 502, "provider_error"),
])
async def test_when_every_route_fails_the_error_is_the_most_specific_truth(failures, status, code) -> None:
    attempt, _ = script(*failures)
    with pytest.raises(ProviderError) as caught:
        await first_success(RESOLUTION, ADAPTERS, attempt)
    assert (caught.value.status, caught.value.code) == (status, code)
    if code == "provider_rate_limit":
        assert caught.value.headers["Retry-After"] == "1"


async def test_a_buffered_timeout_does_not_count_against_the_route_and_a_first_byte_timeout_does() -> None:
    """SEC-10: a client can make a buffered answer outlast its timeout by asking for a long one; five of
    those once opened the route's circuit for every key."""
    health = Health(failures=2, window_s=60, cooldown_s=60)
    one = Resolution("alias", None, ROUTES[:1], "one route")
    for _ in range(3):
        attempt, _ = script(ProviderTimeout("slow"))
        with pytest.raises(ProviderTimeout):
            await first_success(one, ADAPTERS, attempt, policy=Policy(health))
    assert health.allow(ROUTES[0]) and health.snapshot(ROUTES[0])["recent_failures"] == 0
    for _ in range(2):
        attempt, _ = script(ProviderTimeout("no first byte"))
        with pytest.raises(ProviderTimeout):
            await first_success(one, ADAPTERS, attempt, policy=Policy(health), first_byte=True)
    assert health.snapshot(ROUTES[0])["circuit"] == "open"


def test_health_keeps_a_bounded_number_of_routes() -> None:
    """SEC-11: a client names routes (PROVIDER/MODEL); each once stayed in two maps for ever."""
    from core.routing import ROUTES as KEPT

    health = Health(failures=5, window_s=30, cooldown_s=30)
    for i in range(KEPT + 500):
        route = Route("p", f"model-{i}")
        health.success(route, 0.1)
        health.failure(route)
    assert len(health._latency_ms) == len(health._circuits) == KEPT


async def test_every_attempt_is_told_with_the_provider_and_how_it_went() -> None:
    """What a usage record keeps of a request's routes: the upstream's status when it answered one."""
    health = Health(failures=1, window_s=60, cooldown_s=60)
    health.failure(ROUTES[1])                                   # b's circuit is open: skipped
    noted: list[Attempt] = []
    attempt, calls = script(ProviderFailed("a: upstream returned 500", upstream_status=500), "ok")
    outcome = await first_success(RESOLUTION, ADAPTERS, attempt, policy=Policy(health), tried=noted.append)
    assert outcome.value == "C:m3" and calls == ["a", "c"]
    assert [(a.provider, a.outcome) for a in noted] == [("a", "error 500"), ("b", "circuit_open"), ("c", "ok")]
    assert all(isinstance(a.ms, int) and a.ms >= 0 for a in noted)


@pytest.mark.parametrize(("error", "outcome"), [
    (ProviderRateLimited("429"), "error 429"),
    (ProviderTimeout("slow"), "timeout"),
    (ProviderTimeout("504", upstream_status=504), "error 504"),
    (ProviderUnavailable("refused"), "unavailable"),
    (ProviderFailed("not JSON"), "failed"),
    (UpstreamRejected("bad", status=400, code=None), "error 400"),
])
async def test_a_failed_attempt_is_named_by_what_went_wrong(error: ProviderError, outcome: str) -> None:
    noted: list[Attempt] = []
    attempt, _ = script(error)
    with pytest.raises(ProviderError):
        await first_success(RESOLUTION, ADAPTERS, attempt, fallback=False, tried=noted.append)
    assert [(a.provider, a.outcome) for a in noted] == [("a", outcome)]
