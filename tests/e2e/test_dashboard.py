"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against a running gateway
with a seeded usage table — and the admin API calls it makes, checked directly."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from core.storage.dynamo import DynamoDB
from core.storage.embedded import CREDENTIALS
from core.storage.tables import TABLES, create_table_request
from core.usage import UsageEvent, UsageRecorder, day_of
from tests.fakes.openai import FakeOpenAI
from tests.support import Running, config, run_gateway

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


@pytest.fixture(scope="module")
def gateway(upstream_a: FakeOpenAI, dynamo_url: str) -> Iterator[Running]:
    """A gateway over tables of its own, so the seeded totals are the only ones."""
    prefix = f"dash-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=dynamo_url, region_name="us-east-1",
                          aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1])
    with pytest.MonkeyPatch.context() as env:
        for spec in TABLES:
            env.setenv(spec.env, f"{prefix}-{spec.logical}")
            client.create_table(**create_table_request(spec, f"{prefix}-{spec.logical}"))
        env.setenv("APEX_ADMIN_KEY", ADMIN_KEY)
        seed(dynamo_url, {spec.logical: f"{prefix}-{spec.logical}" for spec in TABLES})
        cfg = config({"gpt": upstream_a.base_url},
                     {"gpt-4o": {"price": {"input": 2.5, "output": 10}, "routes": [{"provider": "gpt", "model": "m"}]}},
                     plans={"team": {"rpm": 100, "monthly_tokens": 50_000, "credits": 10}})
        with run_gateway(cfg, dynamo_url) as running:
            yield running


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
    assert (totals["requests"], totals["tokens"], totals["errors"], totals["cached"]) == (6, 1180, 1, 1)
    assert totals["cost"] == pytest.approx(0.00209)
    split = admin(gateway, "usage", **{"from": start, "to": today, "group_by": "day,provider"})["groups"]
    assert {(g["day"], g["provider"]) for g in split} >= {(today, "openai")}
    assert sum(g["requests"] for g in split) == 6
    providers = {g["provider"]: g for g in admin(gateway, "usage", **{"from": start, "to": today,
                                                                     "group_by": "provider"})["groups"]}
    assert providers["openai"]["errors"] == 1 and providers["groq"]["latency_ms_p95"] == 150.0
    assert [p["name"] for p in admin(gateway, "plans")["data"]].count("team") == 1
    assert admin(gateway, "routes")["data"][0]["routes"][0]["circuit"] == "closed"
    page = httpx.get(f"{gateway.url}/dashboard")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    script = httpx.get(f"{gateway.url}/dashboard/app.js")
    assert script.headers["content-type"].startswith("text/javascript") and "max-age" in script.headers["cache-control"]
    assert httpx.get(f"{gateway.url}/dashboard/app.css").headers["content-type"].startswith("text/css")


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
        yield page
        assert not failed, failed
        browser.close()


def test_sign_in_create_a_key_see_it_revoke_it_and_read_the_charts(gateway: Running, page: Page) -> None:
    page.goto(f"{gateway.url}/dashboard")
    page.fill("#admin-key", "not-the-key")
    page.click("#signin button")
    expect(page.locator("#message")).to_contain_text("Sign-in failed")
    page.fill("#admin-key", ADMIN_KEY)
    page.click("#signin button")

    expect(page.locator('[data-total="Requests"]')).to_have_text("6")
    expect(page.locator('[data-total="Tokens"]')).to_have_text("1,180")
    expect(page.locator('[data-total="Error rate"]')).to_have_text("16.7%")
    assert page.locator("#chart svg rect").count() >= 5                  # one bar per model per day
    expect(page.locator("#legend")).to_contain_text("gpt-4o")
    models = page.locator("#top-models tr")
    expect(models.filter(has_text="gpt-4o")).to_contain_text("3")
    expect(page.locator("#providers")).to_contain_text("groq")
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

    row.locator("[data-revoke]").click()
    expect(page.locator("#keys tr", has_text="browser-key")).to_contain_text("revoked")
    assert httpx.post(f"{gateway.base_url}/chat/completions", headers={"authorization": f"Bearer {created}"},
                      json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).status_code == 401
