"""Reliability of one `apex serve` process with its embedded DynamoDB, usage on. Two runs:

    python bench/reliability.py load [--duration 60] [--clients 64] [--keys 8] [--rpm 600]
    python bench/reliability.py faults [--requests 1000] [--rate 0.3]
    python bench/reliability.py adversarial [--duration 20] [--rate 10]
    python bench/reliability.py credits [--concurrent 50] [--credits 0.1]

`load`: 64 concurrent clients for 60 s against keys whose plan allows RPM requests a minute each.
Checked: every answer is a 200 or the expected 429; in every minute window of every key exactly
RPM requests were served once the window filled (never one more); the usage records, read back
through the admin API, count every request made (lost records: 0); memory at the end is what it
was once warm.

`faults`: REQUESTS requests (half streamed, 50 at a time) to an alias whose first provider fails a
RATE share of its requests (500, 429, dropped connections, hangs) and whose second is healthy.
Checked: every request succeeds, none takes longer than the alias's time budget, and the usage
records count every request, each with the provider that answered it.

`adversarial`: prompts made to be slow (the security review's reproductions of exponential and
quadratic patterns, at their worst sizes) posted to /v1/optimize at RATE a second while /health is
polled every 20 ms. Checked: the worst /health latency is at most 50 ms, and every prompt is answered.

`credits`: CONCURRENT requests at once from a key with CREDITS dollars, on a
model priced so one request costs $0.031. Checked: every answer is a 200 or a 402, and the spend
recorded passes the credits by at most one request's cost.

Prints the figures as JSON; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "admin-reliability-0123456789"
PROMPT = {"model": "bench", "messages": [{"role": "user", "content": "Hello, how are you?"}]}


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok}, indent=2)


@dataclass
class LoadReport(Report):
    duration_s: float = 60
    clients: int = 64
    keys: int = 8
    rpm: int = 600
    requests: int = 0
    served: int = 0
    limited: int = 0                            # 429 rate_limit_exceeded: the expected refusals
    other: dict[str, int] = field(default_factory=dict)   # anything else, by status and code: none expected
    windows: int = 0                            # (key, minute) windows seen
    windows_full: int = 0                       # windows that refused requests and served exactly RPM
    windows_over: int = 0                       # windows that served more than RPM: must be 0
    usage_records: int = 0
    lost_records: int = 0
    rps: float = 0.0
    rss_mib: dict[str, float] = field(default_factory=dict)


@dataclass
class FaultReport(Report):
    requests: int = 1000
    fault_rate: float = 0.3
    faults_injected: dict[str, int] = field(default_factory=dict)
    succeeded: int = 0
    budget_s: float = 0.0
    slowest_s: float = 0.0
    usage_records: int = 0
    lost_records: int = 0
    served_by: dict[str, int] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True, cwd=tempfile.gettempdir())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@contextlib.contextmanager
def apex_serve(config: str) -> Iterator[tuple[str, int]]:
    """`apex serve` on `config` (TOML text), storage embedded, admin API on: (base URL, pid)."""
    path = Path(tempfile.mkdtemp()) / "apex.toml"
    path.write_text(config)
    apex = str(Path(sys.executable).parent / "apex")
    env = {"APEX_ADMIN_KEY": ADMIN_KEY, **{k: "" for k in os.environ if k.startswith(("AWS_", "APEX_DYNAMO"))}}
    with process([apex, "serve", "--port", "0", "--config", str(path)], env) as gateway:
        assert gateway.stdout is not None
        while line := gateway.stdout.readline():
            if found := re.search(r"on (http://\S+/v1)", line):
                # Its log (a line a request) read on, as a terminal would: a full pipe would stall it.
                threading.Thread(target=collections.deque, args=(gateway.stdout, 0), daemon=True).start()
                yield found.group(1), gateway.pid
                return
        raise RuntimeError("apex serve did not start")


def admin_usage(base: str, group_by: str = "") -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(f"{base}/admin/usage?group_by={group_by}",
                                     headers={"authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


# -- load: rate limits and usage under 64 clients -----------------------------------------------------

def load_config(upstream: str, keys: list[str], rpm: int) -> str:
    entries = "".join(f'\n[[keys]]\nkey = "{key}"\nplan = "limited"\n' for key in keys)
    return (f'[providers.up]\nkind = "openai"\nbase_url = "{upstream}"\n\n'
            f'[models.bench]\nprice = {{ input = 1.0, output = 2.0 }}\n'
            f'routes = [{{ provider = "up", model = "bench" }}]\n\n'
            f'[plans.limited]\nrpm = {rpm}\n{entries}')


async def load(base: str, keys: list[str], clients: int, duration_s: float, pid: int,
               report: LoadReport) -> list[tuple[int, int, str, str]]:
    """`clients` loops, each on its own key (round robin), posting until the time is up: (status,
    key index, X-RateLimit-Reset, error code) per answer. RSS is sampled every second meanwhile."""
    import aiohttp

    answers: list[tuple[int, int, str, str]] = []
    deadline = time.monotonic() + duration_s
    body = json.dumps(PROMPT).encode()

    async def client(index: int, session: aiohttp.ClientSession) -> None:
        key = index % len(keys)
        headers = {"authorization": f"Bearer {keys[key]}", "content-type": "application/json"}
        while time.monotonic() < deadline:
            async with session.post(f"{base}/chat/completions", data=body, headers=headers) as response:
                payload = await response.read()
                code = ""
                if response.status != 200:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        code = json.loads(payload)["error"]["code"]
                answers.append((response.status, key, response.headers.get("x-ratelimit-reset", ""), code))

    async def sample() -> None:
        samples: list[float] = []
        while time.monotonic() < deadline:
            samples.append(rss_mib(pid))
            await asyncio.sleep(1)
        report.rss_mib = {"start": samples[0], "warm": samples[len(samples) // 4], "end": rss_mib(pid),
                          "max": max(samples)}

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(sample(), *(client(i, session) for i in range(clients)))
    return answers


def check_load(report: LoadReport, answers: list[tuple[int, int, str, str]], usage: dict[str, Any]) -> None:
    report.requests = len(answers)
    statuses = Counter((status, code) for status, _, _, code in answers)
    report.served = statuses.pop((200, ""), 0)
    report.limited = statuses.pop((429, "rate_limit_exceeded"), 0)
    report.other = {f"{status} {code}".strip(): n for (status, code), n in statuses.items()}
    windows: Counter[tuple[int, str]] = Counter()
    refused: set[tuple[int, str]] = set()
    for status, key, reset, _ in answers:
        if status == 200:
            windows[(key, reset)] += 1
        elif status == 429:
            refused.add((key, reset))
    report.windows = len(set(windows) | refused)
    report.windows_over = sum(1 for n in windows.values() if n > report.rpm)
    report.windows_full = sum(1 for w in refused if windows[w] == report.rpm)
    report.usage_records = int(usage["totals"]["requests"])
    report.lost_records = report.requests - report.usage_records
    if report.other:
        report.failures.append(f"unexpected answers: {report.other}")
    if report.windows_over:
        report.failures.append(f"{report.windows_over} windows served more than {report.rpm}")
    if report.windows_full != len(refused):
        report.failures.append(f"{len(refused) - report.windows_full} windows refused before serving {report.rpm}")
    if report.lost_records:
        report.failures.append(f"usage holds {report.usage_records} records for {report.requests} requests")
    if int(usage["totals"]["errors"]) != report.limited:
        report.failures.append(f"usage counts {usage['totals']['errors']} errors, clients saw {report.limited}")
    rss = report.rss_mib
    if rss["end"] - rss["warm"] > max(8.0, 0.1 * rss["warm"]):
        report.failures.append(f"memory grew from {rss['warm']:.1f} to {rss['end']:.1f} MiB once warm")


def run_load(duration_s: float = 60, clients: int = 64, keys: int = 8, rpm: int = 600) -> LoadReport:
    report = LoadReport(duration_s=duration_s, clients=clients, keys=keys, rpm=rpm)
    key_list = [f"sk-load-{i:02d}-{os.urandom(8).hex()}" for i in range(keys)]
    up_port = free_port()
    with process([sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]) as upstream:
        assert upstream.stdout is not None
        upstream.stdout.readline()
        with apex_serve(load_config(f"http://127.0.0.1:{up_port}/v1", key_list, rpm)) as (base, pid):
            started = time.monotonic()
            answers = asyncio.run(load(base, key_list, clients, duration_s, pid, report))
            report.rps = round(len(answers) / (time.monotonic() - started), 1)
            usage = admin_usage(base)
    check_load(report, answers, usage)
    return report


# -- faults: a provider failing a share of its requests beside a healthy one ---------------------------

FAULT_KINDS = ("500", "429", "drop", "hang")
FLAKY_TIMEOUT_S, HEALTHY_TIMEOUT_S = 0.5, 2.0
FAULTS_KEY = "sk-faults-0123456789"


def faults_config(flaky: str, healthy: str) -> str:
    return (f'[gateway]\nbreaker_failures = 1000000\n\n'      # every request meets the flaky provider first
            f'[providers.flaky]\nkind = "openai"\nbase_url = "{flaky}"\ntimeout_s = {FLAKY_TIMEOUT_S}\n\n'
            f'[providers.healthy]\nkind = "openai"\nbase_url = "{healthy}"\ntimeout_s = {HEALTHY_TIMEOUT_S}\n\n'
            f'[models.both]\nroutes = [{{ provider = "flaky", model = "f-1" }}, '
            f'{{ provider = "healthy", model = "h-1" }}]\n\n'
            f'[[keys]]\nkey = "{FAULTS_KEY}"\nplan = "unlimited"\n')


async def requests_through(base: str, n: int) -> list[tuple[float, bool]]:
    """`n` requests to "both", odd ones streamed, 50 at a time: (seconds, whole answer) each."""
    import aiohttp

    gate = asyncio.Semaphore(50)
    headers = {"authorization": f"Bearer {FAULTS_KEY}"}

    async def one(session: aiohttp.ClientSession, i: int) -> tuple[float, bool]:
        async with gate:
            started = time.monotonic()
            body = {"model": "both", "messages": PROMPT["messages"], "stream": bool(i % 2)}
            async with session.post(f"{base}/chat/completions", json=body, headers=headers) as response:
                text = await response.text()
            whole = response.status == 200 and ("[DONE]" in text if i % 2 else '"finish_reason":"stop"' in text)
            return time.monotonic() - started, whole

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        return await asyncio.gather(*(one(session, i) for i in range(n)))


def run_faults(requests: int = 1000, rate: float = 0.3) -> FaultReport:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.openai import FakeOpenAI

    report = FaultReport(requests=requests, fault_rate=rate, budget_s=FLAKY_TIMEOUT_S + HEALTHY_TIMEOUT_S)
    flaky, healthy = FakeOpenAI("flaky").start(), FakeOpenAI("healthy").start()
    try:
        flaky.fail_randomly(rate, FAULT_KINDS, seed=10)
        with apex_serve(faults_config(flaky.base_url, healthy.base_url)) as (base, _):
            results = asyncio.run(requests_through(base, requests))
            usage = admin_usage(base, "provider")
        report.faults_injected = dict(sorted(flaky.injected.items()))
    finally:
        flaky.stop()
        healthy.stop()
    report.succeeded = sum(1 for _, whole in results if whole)
    report.slowest_s = round(max(took for took, _ in results), 3)
    report.usage_records = int(usage["totals"]["requests"])
    report.lost_records = requests - report.usage_records
    report.served_by = {g["provider"]: g["requests"] for g in usage.get("groups", ())}
    faults = sum(report.faults_injected.values())
    if report.succeeded != requests:
        report.failures.append(f"{requests - report.succeeded} of {requests} requests failed")
    if report.slowest_s >= report.budget_s:
        report.failures.append(f"a request took {report.slowest_s} s, past the {report.budget_s} s budget")
    if report.lost_records or usage["totals"]["errors"]:
        report.failures.append(f"usage holds {report.usage_records} records ({usage['totals']['errors']} errors)")
    if report.served_by != {"flaky": requests - faults, "healthy": faults}:
        report.failures.append(f"served by {report.served_by}, but {faults} faults were injected")
    return report


# -- adversarial: the optimizer under prompts made to be slow ------------------------------------------------

ADVERSARIAL_KEY = "sk-adversarial-0123456789"
# The review's reproductions (SEC-01: exponential small talk; SEC-02: quadratic runs), at their worst sizes.
ADVERSARIAL = ("Thanks" + " a lot" * 30 + " zzz.", "So so so so, " + "so " * 60 + "zzz.",
               "Please tell me about the weather" + "\u00a0" * 49_000 + " end.", "Tell me" + ",:" * 24_000 + " end.",
               "Tell me" + "\u201c" * 49_000 + " end.", "I'm " + "so " * 200 + "sorry zzz.")


@dataclass
class AdversarialReport(Report):
    duration_s: float = 0
    rate: float = 0
    optimized: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    health_polls: int = 0
    worst_health_ms: float = 0


def poll_health(base: str, duration_s: float, out: Any) -> None:
    """/health every 20 ms for `duration_s`, from a process of its own with a blocking client: what it
    measures is the server, not the process sending the prompts. Sends (polls, worst ms) to `out`."""
    import http.client
    import urllib.parse

    address = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=30)
    deadline, polls, worst = time.monotonic() + duration_s, 0, 0.0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        connection.request("GET", "/health")
        connection.getresponse().read()
        worst = max(worst, (time.perf_counter() - started) * 1000)
        polls += 1
        time.sleep(0.02)
    connection.close()
    out.send((polls, worst))


async def adversarial(base: str, duration_s: float, rate: float, report: AdversarialReport) -> None:
    """Adversarial prompts posted to /v1/optimize at `rate` a second while /health is polled."""
    import multiprocessing

    import aiohttp

    statuses: Counter[int] = Counter()
    receiving, sending = multiprocessing.Pipe(duplex=False)
    poller = multiprocessing.get_context("spawn").Process(target=poll_health, args=(base, duration_s, sending))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async with session.post(f"{base}/optimize", json={"prompt": "Hello, a warm-up."},   # workers started
                                headers={"authorization": f"Bearer {ADVERSARIAL_KEY}"}) as warm:
            await warm.read()
        poller.start()
        deadline = time.monotonic() + duration_s
        async def post(prompt: bytes) -> None:
            async with session.post(f"{base}/optimize", data=prompt, headers={
                    "authorization": f"Bearer {ADVERSARIAL_KEY}", "content-type": "application/json"}) as answer:
                await answer.read()
                statuses[answer.status] += 1

        bodies = [json.dumps({"prompt": prompt}).encode() for prompt in ADVERSARIAL]
        posts, i = [], 0
        while time.monotonic() < deadline:
            posts.append(asyncio.create_task(post(bodies[i % len(bodies)])))
            i += 1
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*posts)
    report.health_polls, worst = receiving.recv()
    poller.join()
    report.optimized, report.statuses = i, dict(statuses)
    report.worst_health_ms = round(worst, 1)


def run_adversarial(duration_s: float = 20, rate: float = 10) -> AdversarialReport:
    report = AdversarialReport(duration_s=duration_s, rate=rate)
    config = f'[[keys]]\nkey = "{ADVERSARIAL_KEY}"\nplan = "unlimited"\n'
    with apex_serve(config) as (base, _):
        asyncio.run(adversarial(base, duration_s, rate, report))
    if report.worst_health_ms > 50:
        report.failures.append(f"/health took {report.worst_health_ms} ms at worst (target: 50 ms)")
    if set(report.statuses) != {200}:
        report.failures.append(f"answers {report.statuses}: every prompt should be answered 200")
    return report


# -- credits: concurrent requests against a small balance --------------------------------------------------

CREDITS_KEY = "sk-credits-0123456789"
PRICE_IN, PRICE_OUT = 1000.0, 2000.0      # USD per 1M tokens: the bench upstream's answer costs $0.031


@dataclass
class CreditsReport(Report):
    concurrent: int = 0
    credits: float = 0
    served: int = 0
    refused: int = 0
    spent: float = 0
    one_request: float = 0
    overshoot: float = 0


async def burst(base: str, n: int) -> list[int]:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def one() -> int:
            async with session.post(f"{base}/chat/completions", json=PROMPT,
                                    headers={"authorization": f"Bearer {CREDITS_KEY}"}) as answer:
                await answer.read()
                return answer.status

        return list(await asyncio.gather(*(one() for _ in range(n))))


def run_credits(concurrent: int = 50, credits: float = 0.1) -> CreditsReport:
    report = CreditsReport(concurrent=concurrent, credits=credits)
    up_port = free_port()
    with process([sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)]) as upstream:
        assert upstream.stdout is not None
        upstream.stdout.readline()
        config = (f'[providers.up]\nkind = "openai"\nbase_url = "http://127.0.0.1:{up_port}/v1"\n\n'
                  f'[models.bench]\nprice = {{ input = {PRICE_IN}, output = {PRICE_OUT} }}\n'
                  f'routes = [{{ provider = "up", model = "bench" }}]\n\n'
                  f'[[keys]]\nkey = "{CREDITS_KEY}"\nplan = "pro"\ncredits = {credits}\n')
        with apex_serve(config) as (base, _):
            statuses = asyncio.run(burst(base, concurrent))
            time.sleep(1.5)                                  # the usage flush
            usage = admin_usage(base)
    report.served, report.refused = statuses.count(200), statuses.count(402)
    report.spent = round(float(usage["totals"]["cost"]), 6)
    report.one_request = round((13 * PRICE_IN + 9 * PRICE_OUT) / 1e6, 6)    # the canned answer's usage
    report.overshoot = round(max(0.0, report.spent - credits), 6)
    if report.served + report.refused != concurrent:
        report.failures.append(f"answers other than 200 and 402: {Counter(statuses)}")
    if report.overshoot > report.one_request:
        report.failures.append(f"spent ${report.spent} against ${credits}: more than one request past the credits")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    runs = parser.add_subparsers(dest="run", required=True)
    loaded = runs.add_parser("load")
    loaded.add_argument("--duration", type=float, default=60)
    loaded.add_argument("--clients", type=int, default=64)
    loaded.add_argument("--keys", type=int, default=8)
    loaded.add_argument("--rpm", type=int, default=600)
    faulty = runs.add_parser("faults")
    faulty.add_argument("--requests", type=int, default=1000)
    faulty.add_argument("--rate", type=float, default=0.3)
    paying = runs.add_parser("credits")
    paying.add_argument("--concurrent", type=int, default=50)
    paying.add_argument("--credits", type=float, default=0.1)
    hostile = runs.add_parser("adversarial")
    hostile.add_argument("--duration", type=float, default=20)
    hostile.add_argument("--rate", type=float, default=10)
    args = parser.parse_args()
    report: Report = (run_load(args.duration, args.clients, args.keys, args.rpm) if args.run == "load"
                      else run_faults(args.requests, args.rate) if args.run == "faults"
                      else run_credits(args.concurrent, args.credits) if args.run == "credits"
                      else run_adversarial(args.duration, args.rate))
    print(report.as_json())
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
