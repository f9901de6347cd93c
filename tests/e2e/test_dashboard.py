"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a running gateway
with a seeded usage table and a few live requests (one that falls back after an upstream 500, two the
gateway refuses) — and the admin API calls it makes, checked directly."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from core.keys import hash_key, key_id
from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.tables import TABLES, create_table_request
from core.usage import UsageEvent, UsageRecorder, day_of
from tests.fakes.openai import FakeOpenAI
from tests.support import TEST_KEY, Running, config, run_gateway

ADMIN_KEY = "admin-dashboard-0123456789"
CHROMIUM = os.environ.get("APEX_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("APEX_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / ".artifacts"))
# (days ago, key, model, provider, prompt, completion, cost, latency ms, status, cached)
FORMULA = '=HYPERLINK("https://evil.example","click")'
SEED = [
    (0, "key_alice", "gpt-4o", "openai", 100, 50, 0.00075, 420.0, 200, False),
    (0, "key_alice", "gpt-4o", "openai", 80, 40, 0.0006, 380.0, 200, True),
    (1, "key_alice", "claude-haiku", "anthropic", 200, 100, 0.0007, 610.0, 200, False),
    (1, "key_bob", "gpt-4o", "openai", 10, 0, 0.0, 95.0, 502, False),
    (2, "key_bob", "llama-3.1-8b", "groq", 300, 120, 0.00003, 150.0, 200, False),
    (5, "key_bob", FORMULA, "groq", 120, 60, 0.00001, 130.0, 200, False),   # a client's model name
]


LIVE = 3          # requests the fixture sends: one that falls back, two refused before any provider
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, upstream_b: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    """A gateway over tables of its own, so the seeded totals and its live requests are the only ones."""
    prefix = f"dash-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=dynamo_url, region_name="us-east-1",
                          aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1])
    with pytest.MonkeyPatch.context() as env:
        for spec in TABLES:
            env.setenv(spec.env, f"{prefix}-{spec.logical}")
            client.create_table(**create_table_request(spec, f"{prefix}-{spec.logical}"))
        env.setenv("APEX_ADMIN_KEY", ADMIN_KEY)
        seed(dynamo_url, {spec.logical: f"{prefix}-{spec.logical}" for spec in TABLES})
        cfg = config({"gpt": upstream_a.base_url, "backup": upstream_b.base_url},
                     {"gpt-4o": {"price": {"input": 2.5, "output": 10}, "routes": [{"provider": "gpt", "model": "m"}]},
                      "sturdy": {"routes": [{"provider": "gpt", "model": "m"}, {"provider": "backup", "model": "b"}]},
                      "gpt-3.5-turbo-0301": {"deprecated": True, "replacement": "gpt-4o"}},
                     plans={"team": {"rpm": 100, "monthly_tokens": 50_000, "credits": 10}},
                     keys=[{"key": TEST_KEY, "plan": "unlimited", "name": "ci"}])
        with run_gateway(cfg, dynamo_url) as running:
            send_live_requests(running, upstream_a)
            yield running


def send_live_requests(running: Running, upstream_a: FakeOpenAI) -> None:
    """One request to "sturdy" whose first route answers 500 (it falls back to "backup"), two the gateway
    refuses before any provider (an unknown model, a deprecated one) and one with a wrong key (no record)."""
    recorded: queue.Queue = queue.Queue()
    running.local.gateway.usage.listeners.append(recorded.put)
    upstream_a.fail_next(1, "500")
    for model, status in (("sturdy", 200), ("nope-model", 404), ("gpt-3.5-turbo-0301", 400)):
        answer = httpx.post(f"{running.base_url}/chat/completions", headers={"authorization": f"Bearer {TEST_KEY}"},
                            json={"model": model, "messages": HI})
        assert answer.status_code == status, answer.text
    assert httpx.post(f"{running.base_url}/chat/completions", headers={"authorization": "Bearer sk-wrong-key-123"},
                      json={"model": "sturdy", "messages": HI}).status_code == 401
    fell_back = recorded.get(timeout=5)
    assert (fell_back.provider, [(a.provider, a.outcome) for a in fell_back.attempts]) == \
        ("backup", [("gpt", "error 500"), ("backup", "ok")])
    assert [recorded.get(timeout=5).attempts for _ in range(LIVE - 1)] == [(), ()]
    running.local.gateway.usage.listeners.remove(recorded.put)


def seed(dynamo_url: str, names: dict[str, str]) -> None:
    async def write() -> None:
        db = DynamoDB(names, dynamo_url, credentials=CREDENTIALS)
        recorder = UsageRecorder(db)
        now = time.time()
        for days_ago, key, model, provider, prompt, completion, cost, latency, status, cached in SEED:
            ts = now - days_ago * 86400
            recorder.record(UsageEvent(key, f"req-{uuid.uuid4().hex}", ts, model, provider, model, prompt, completion,
                                       cost, latency, cached, status, day_of(ts)))
        assert await recorder.flush() == len(SEED)
        await db.aclose()

    asyncio.run(write())


def admin(gateway: Running, path: str, **params) -> dict:
    response = httpx.get(f"{gateway.url}/admin/{path}", params=params, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_api_calls_the_page_makes(gateway: Running) -> None:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400))
    totals = admin(gateway, "usage", **{"from": start, "to": today})["totals"]
    assert (totals["requests"], totals["tokens"], totals["errors"], totals["cached"]) == (6 + LIVE, 1184, 3, 1)
    assert totals["cost"] == pytest.approx(0.00209)
    split = admin(gateway, "usage", **{"from": start, "to": today, "group_by": "day,provider"})["groups"]
    assert {(g["day"], g["provider"]) for g in split} >= {(today, "openai"), (today, "gpt"), (today, "backup")}
    assert sum(g["requests"] for g in split) == 6 + 2          # the live request counts once per provider it tried
    providers = {g["provider"]: g for g in admin(gateway, "usage", **{"from": start, "to": today,
                                                                     "group_by": "provider"})["groups"]}
    assert providers["openai"]["errors"] == 1 and providers["groq"]["latency_ms_p95"] == 150.0
    # The upstream's 500 is gpt's error; backup answered; the refused requests make no provider row.
    assert (providers["gpt"]["requests"], providers["gpt"]["errors"]) == (1, 1)
    assert (providers["backup"]["requests"], providers["backup"]["errors"], providers["backup"]["tokens"]) == (1, 0, 4)
    assert "" not in providers
    models = {g["model"]: g for g in admin(gateway, "usage", **{"from": start, "to": today,
                                                               "group_by": "model"})["groups"]}
    assert models["(rejected)"]["rejected_models"] == {"nope-model": 1, "gpt-3.5-turbo-0301": 1}
    assert "nope-model" not in models and models["sturdy"]["requests"] == 1
    assert [p["name"] for p in admin(gateway, "plans")["data"]].count("team") == 1
    routes = {m["id"]: m for m in admin(gateway, "routes")["data"]}
    assert routes["gpt-4o"]["routes"][0]["circuit"] == "closed"
    assert (routes["gpt-3.5-turbo-0301"]["deprecated"], routes["gpt-3.5-turbo-0301"]["replacement"]) == (True, "gpt-4o")
    page = httpx.get(f"{gateway.url}/dashboard")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    script = httpx.get(f"{gateway.url}/dashboard/app.js")
    assert script.headers["content-type"].startswith("text/javascript") and "max-age" in script.headers["cache-control"]
    assert httpx.get(f"{gateway.url}/dashboard/app.css").headers["content-type"].startswith("text/css")
    for icon in ("/favicon.ico", "/dashboard/favicon.svg", "/v1/dashboard/favicon.svg"):
        answer = httpx.get(f"{gateway.url}{icon}")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml", icon
        assert answer.text.startswith("<svg") and "default-src 'none'" in answer.headers["content-security-policy"]


def month_range() -> dict[str, str]:
    """The range the page opens on: the last 30 days."""
    return {"from": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400)),
            "to": time.strftime("%Y-%m-%d", time.gmtime())}


def logged(gateway: Running, **params) -> list[dict]:
    return admin(gateway, "requests", **{**month_range(), **params})["data"]


def test_the_request_log_lists_the_latest_requests_with_their_attempts_and_keys(gateway: Running) -> None:
    data = logged(gateway)
    assert len(data) == 6 + LIVE and [r["ts"] for r in data] == sorted((r["ts"] for r in data), reverse=True)
    fell_back = logged(gateway, provider="gpt")            # gpt answered 500; backup answered the request
    assert [(r["model"], r["mapped_model"], r["provider"], r["status"]) for r in fell_back] == \
        [("sturdy", "b", "backup", 200)]
    assert [(a["provider"], a["outcome"]) for a in fell_back[0]["attempts"]] == [("gpt", "error 500"), ("backup", "ok")]
    assert all(isinstance(a["ms"], int) for a in fell_back[0]["attempts"])
    assert (fell_back[0]["prompt_tokens"], fell_back[0]["completion_tokens"]) == (1, 3)
    assert fell_back[0]["key_id"] == key_id(hash_key(TEST_KEY)) and fell_back[0]["key_name"] == "ci"
    assert fell_back[0]["key_prefix"].endswith("…") and TEST_KEY not in str(data)
    assert logged(gateway, provider="backup") == fell_back and logged(gateway, model="sturdy") == fell_back
    alice = logged(gateway, key="key_alice")
    assert len(alice) == 3 and {(r["key_name"], r["key_prefix"]) for r in alice} == {(None, None)}   # not a key now
    assert [r["provider"] for r in logged(gateway, key="key_alice", model="gpt-4o")] == ["openai", "openai"]
    assert [r["cached"] for r in logged(gateway, key="key_alice", model="gpt-4o")].count(True) == 1
    assert sorted(r["status"] for r in logged(gateway, status="4xx")) == [400, 404]
    assert [r["model"] for r in logged(gateway, status="404")] == ["nope-model"]
    assert [r["status"] for r in logged(gateway, status="5xx")] == [502]
    assert len(logged(gateway, status="2xx")) == 6
    assert logged(gateway, provider="nobody") == []
    assert logged(gateway, **{"from": "2020-01-01", "to": "2020-01-31"}) == []


def test_the_request_log_pages_to_older_requests(gateway: Running) -> None:
    everything = [r["request_id"] for r in logged(gateway, limit="500")]
    paged: list[str] = []
    before: dict[str, str] = {}
    for _ in range(10):
        page = admin(gateway, "requests", **month_range(), limit="2", **before)
        assert 1 <= len(page["data"]) <= 2
        paged += [r["request_id"] for r in page["data"]]
        if not page["has_more"]:
            assert page["next_before"] is None
            break
        assert page["next_before"] == page["data"][-1]["ts"]
        before = {"before": repr(page["next_before"])}
    assert paged == everything and len(everything) == 6 + LIVE       # each once, in order (seeded ones share a ts)
    oldest = admin(gateway, "requests", **month_range(), before=repr(min(r["ts"] for r in logged(gateway))))
    assert (oldest["data"], oldest["has_more"]) == ([], False)


@pytest.mark.parametrize(("params", "param"), [
    ({"from": "2024-13-01"}, "from"), ({"to": "today"}, "to"), ({"key": "k" * 65}, "key"),
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "2.5"}, "limit"), ({"limit": "\uff11\uff10"}, "limit"),       # fullwidth digits: 10 to int()
    ({"before": "yesterday"}, "before"), ({"before": "-5"}, "before"), ({"before": "0"}, "before"),
    ({"before": "nan"}, "before"), ({"before": "inf"}, "before"),
    ({"status": "6xx"}, "status"), ({"status": "42"}, "status"), ({"status": "4x"}, "status"),
    ({"status": "error"}, "status"), ({"status": "2000"}, "status"),
])
def test_the_request_log_refuses_a_bad_parameter_by_name(gateway: Running, params: dict, param: str) -> None:
    answer = httpx.get(f"{gateway.url}/admin/requests", params=params, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "invalid_value", param)


def test_the_request_log_takes_its_bounds_and_the_admin_key(gateway: Running) -> None:
    assert len(logged(gateway, limit="1")) == 1 and len(logged(gateway, limit="500")) == 6 + LIVE
    assert len(logged(gateway, status="4XX")) == 2
    assert httpx.get(f"{gateway.url}/admin/requests").status_code == 401
    assert httpx.get(f"{gateway.url}/v1/admin/requests",
                     headers={"authorization": f"Bearer {TEST_KEY}"}).status_code == 401


def test_static_keys_are_listed_without_their_secret_and_cannot_be_revoked(gateway: Running) -> None:
    listed = httpx.get(f"{gateway.url}/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    static = [k for k in listed.json()["data"] if k["static"]]
    assert [(k["name"], k["plan"], k["status"]) for k in static] == [("ci", "unlimited", "active")]
    assert TEST_KEY not in listed.text and static[0]["prefix"].endswith("…")
    refused = httpx.delete(f"{gateway.url}/admin/keys/{static[0]['id']}",
                           headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "static_key"
    wrong = httpx.get(f"{gateway.url}/admin/keys", headers={"authorization": "Bearer not-the-admin-key"})
    assert wrong.status_code == 401 and "Wrong admin key" in wrong.json()["error"]["message"]


@pytest.fixture(scope="module")
def page(gateway: Running) -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())       # the revoke confirmation
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.on("response", lambda response: response.status == 404 and failed.append(response.url))  # a favicon
        yield page
        assert not failed, failed
        browser.close()


def ticks(page: Page) -> list[str]:
    """The chart's y-axis labels, bottom up."""
    return page.locator("#chart svg text.tick").evaluate_all("(labels) => labels.map((l) => l.textContent)")


def test_sign_in_create_a_key_see_it_revoke_it_and_read_the_charts(gateway: Running, page: Page) -> None:
    page.goto(f"{gateway.url}/dashboard")
    expect(page.locator("#welcome")).to_contain_text("APEX_ADMIN_KEY")      # where the key comes from
    assert page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then((r) => r.status)") == 200
    page.fill("#admin-key", "not-the-key")
    page.click("#signin button")
    expect(page.locator("#message")).to_contain_text("Sign-in failed: wrong admin key")
    page.fill("#admin-key", ADMIN_KEY)
    page.click("#signin button")

    expect(page.locator('[data-total="Requests"]')).to_have_text("9")
    expect(page.locator('[data-total="Tokens"]')).to_have_text("1,184")
    expect(page.locator('[data-total="Error rate"]')).to_have_text("33.3%")
    expect(page.locator("#welcome")).to_be_hidden()
    expect(page.locator("#empty")).to_be_hidden()
    assert page.locator("#chart svg rect").count() >= 5                  # one bar per model per day
    assert ticks(page) == ["0", "2", "4", "6"]                           # today: 5 requests, a round step
    page.select_option("#metric", "cost")
    assert ticks(page) == ["$0", "$0.0005", "$0.0010", "$0.0015"]        # today: $0.00135
    page.select_option("#metric", "requests")
    expect(page.locator("#legend")).to_contain_text("gpt-4o")
    models = page.locator("#top-models tr")
    expect(models.filter(has_text="gpt-4o")).to_contain_text("3")
    expect(models.last).to_contain_text("rejected (2 names)")             # not a row per name
    expect(page.locator("#top-models")).not_to_contain_text("nope-model")
    top_keys = page.locator("#top-keys")
    expect(top_keys.locator("tr", has_text="ci")).to_contain_text("3")    # the static key, by its name
    expect(top_keys).not_to_contain_text(key_id(hash_key(TEST_KEY)))
    providers = page.locator("#providers")
    expect(providers).to_contain_text("groq")
    expect(providers.locator("tr", has_text="gpt")).to_contain_text("100.0%")    # the upstream that answered 500
    expect(providers.locator("tr", has_text="backup")).to_contain_text("0.0%")   # the one that answered
    expect(providers.locator("tr")).to_have_count(1 + 5)    # openai, groq, anthropic, gpt, backup: no row for none
    static = page.locator("#keys tr", has_text="ci")
    expect(static).to_contain_text("static")
    expect(static).to_contain_text("unlimited")
    expect(static.locator("[data-revoke]")).to_have_count(0)
    expect(page.locator("#routes tr", has_text="gpt-3.5-turbo-0301")).to_contain_text("deprecated — use gpt-4o")
    page.click('[data-split="provider"]')
    expect(page.locator("#legend")).to_contain_text("anthropic")

    page.fill("#new-name", "browser-key")
    page.select_option("#new-plan", "team")
    page.click("#create button")
    expect(page.locator("#new-key")).to_be_visible()
    created = page.locator("#new-key-value").inner_text()
    assert created.startswith("sk-apex-")
    page.click("#close")
    row = page.locator("#keys tr", has_text="browser-key")
    expect(row).to_contain_text("active")
    assert created not in page.content()                                 # shown once, then gone
    expect(page.locator("#quotas")).to_contain_text("browser-key · tokens")
    expect(page.locator("#routes")).to_contain_text("gpt/m")

    page.click('[data-split="model"]')
    with page.expect_download() as download:             # SEC-24: a model name is no formula in the export
        page.click("#csv")
    exported = Path(download.value.path()).read_text()
    assert '"\'=HYPERLINK(""https://evil.example"",""click"")"' in exported and '"=HYPERLINK' not in exported

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})                # a phone
    expect(page.locator("#chart svg")).to_have_attribute("viewBox", re.compile(r"^0 0 [23]\d\d "))   # redrawn
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    chart = page.evaluate("(() => { const s = document.querySelector('#chart svg');"
                          " return [s.viewBox.baseVal.width, s.getBoundingClientRect().width]; })()")
    assert abs(chart[0] - chart[1]) < 1                                  # drawn at its size: 10 px labels
    cards = page.locator("#overview .card")
    assert max(box["x"] + box["width"] for box in (cards.nth(i).bounding_box() for i in range(cards.count()))) <= 390
    page.screenshot(path=str(ARTIFACTS / "dashboard-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 1400})

    page.fill("#from", "2020-01-01")                                    # a range with no request
    page.fill("#to", "2020-01-31")
    page.click("#apply")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#try-curl")).to_contain_text(f"curl {gateway.url}/v1/chat/completions")
    expect(page.locator("#try-curl")).to_contain_text('"model":"gpt-4o"')
    assert ticks(page) == ["0", "1"]
    page.select_option("#metric", "cost")
    assert ticks(page) == ["$0", "$0.50", "$1.00"]
    page.select_option("#metric", "requests")

    row.locator("[data-revoke]").click()
    expect(page.locator("#keys tr", has_text="browser-key")).to_contain_text("revoked")
    assert httpx.post(f"{gateway.base_url}/chat/completions", headers={"authorization": f"Bearer {created}"},
                      json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).status_code == 401


def test_the_requests_panel_lists_filters_pages_and_opens_a_request(gateway: Running, page: Page) -> None:
    page.goto(f"{gateway.url}/dashboard/favicon.svg")                   # the origin, signed in, with no page yet
    page.evaluate("(key) => sessionStorage.setItem('apex-admin-key', key)", ADMIN_KEY)
    sizes: list[str] = []          # the page asks for 50; here it gets 4, to page with Older
    page.route(re.compile(r"/admin/requests\?"), lambda route: (
        sizes.append(re.search(r"limit=(\d+)", route.request.url)[1]),     # type: ignore[index]
        route.continue_(url=route.request.url.replace("limit=50", "limit=4"))))
    page.goto(f"{gateway.url}/dashboard")
    rows = page.locator("#requests tr[data-request]")
    expect(rows).to_have_count(3)           # the live 3; 4 would split the seeded pair of one time
    assert sizes == ["50"]
    page.click("#older")
    expect(rows).to_have_count(7)
    page.click("#older")
    expect(rows).to_have_count(6 + LIVE)                                  # all of them, each once
    expect(page.locator("#older")).to_be_hidden()
    texts = rows.all_inner_texts()
    assert len(set(texts)) == len(texts)
    page.unroute(re.compile(r"/admin/requests\?"))

    fell_back = rows.filter(has_text="sturdy")
    expect(fell_back).to_have_count(1)
    expect(fell_back).to_contain_text("sturdy → b")
    expect(fell_back).to_contain_text("backup")
    expect(fell_back.locator(".fell-back")).to_have_attribute("title", "gpt: error 500 → backup: ok")
    expect(fell_back).to_contain_text("ci")                                # the static key, by its name
    expect(rows.filter(has_text="nope-model")).to_contain_text("404")
    expect(page.locator("#log-provider option")).to_contain_text(["All providers"])

    page.select_option("#log-provider", "gpt")                              # the provider that failed, narrowed
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("sturdy")
    rows.first.click()
    dialog = page.locator("#request")
    expect(dialog).to_be_visible()
    attempts = page.locator("#request-attempts tr")
    expect(attempts).to_have_count(3)
    expect(attempts.nth(1)).to_contain_text("gpt")
    expect(attempts.nth(1)).to_contain_text("error 500")
    expect(attempts.nth(2)).to_contain_text("backup")
    expect(attempts.nth(2).locator("td").nth(1)).to_have_text("ok")
    record = admin(gateway, "requests", **month_range(), provider="gpt")["data"][0]
    facts = page.locator("#request-facts")
    for fact in ("Prompt tokens1", "Completion tokens3", "Cache hitno", f"Request id{record['request_id']}",
                 "Cost$0.00", "Providerbackup", "Served modelb"):
        expect(facts).to_contain_text(fact)
    page.set_viewport_size({"width": 390, "height": 844})                  # a phone: the details fit
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.screenshot(path=str(ARTIFACTS / "dashboard-request-390.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390    # the panel scrolls, not the page
    panel = page.locator("#requests").locator("xpath=ancestor::section")
    assert (panel.bounding_box() or {"x": 0, "width": 999})["width"] <= 390
    page.set_viewport_size({"width": 1280, "height": 1400})

    page.select_option("#log-provider", "")
    page.select_option("#log-status", "4xx")
    expect(rows).to_have_count(2)
    page.select_option("#log-status", "")
    page.select_option("#log-key", key_id(hash_key(TEST_KEY)))
    expect(rows).to_have_count(LIVE)
    rows.filter(has_text="nope-model").press("Enter")                      # from the keyboard too
    expect(page.locator("#request-attempts")).to_contain_text("refused it before any provider")
    page.click("#request-close")
    page.select_option("#log-key", "")
