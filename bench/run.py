"""Apex Gateway side by side with a thin aiohttp proxy, LiteLLM and Portkey, on loopback.

    python bench/run.py [--targets apex,thin,litellm,portkey] [--duration 10] [--rounds 1]

Each target runs with one worker pinned to CPU 0; the fake upstream (bench/upstream.py), wrk and
the streaming client share CPU 1. For each target: launch → first completion, wrk at 1/16/64
connections (rps, p50, errors), streaming time to first byte and per-chunk delay, and RSS after
the load. Peers are installed into bench/.peers (never into the project's environment); wrk from
Debian's packages. Every wait is bounded; every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / ".peers"
GATEWAY_CPU, LOAD_CPU = "0", "1"
CONNECTIONS = (1, 16, 64)
KEY = "sk-bench-6f1d2c9a8b7e4f3a0c5d6e7f8a9b0c1d"
PROMPT = {"model": "bench", "messages": [{"role": "user", "content": "Hello, how are you?"}]}
STREAM_CHUNKS, CHUNK_DELAY_MS, STREAM_REQUESTS = 20, 10, 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv]


@dataclass
class Target:
    name: str
    argv: list[str]
    base: str                                   # http://127.0.0.1:PORT/v1
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Launch; returns seconds until the first completion succeeded (bounded at 60 s)."""
        started = time.monotonic()
        with open(f"/tmp/bench-{self.name}.log", "wb") as log:
            self.process = subprocess.Popen(pinned(GATEWAY_CPU, self.argv), env={**os.environ, **self.env},
                                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                                            cwd=tempfile.gettempdir())
        while time.monotonic() - started < 60:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see /tmp/bench-{self.name}.log")
            try:
                post(self.base + "/chat/completions", PROMPT, self.headers, timeout=2)
                return time.monotonic() - started
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not answer within 60 s")

    def rss_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def post(url: str, body: dict, headers: dict[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


# -- load --------------------------------------------------------------------------------------
def wrk(target: Target, connections: int, duration: int, body: dict | None = None,
        path: str = "/chat/completions") -> dict[str, float]:
    lua = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body or PROMPT))}",
             'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in target.headers.items()]
    lua.write_text("\n".join(lines) + "\n")
    out = subprocess.run(pinned(LOAD_CPU, ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                                           "-s", str(lua), target.base + path]),
                         capture_output=True, text=True, timeout=duration + 60).stdout
    lua.unlink()
    result = {"rps": 0.0, "p50_ms": 0.0, "errors": 0.0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif parts[:1] == ["50%"]:
            result["p50_ms"] = to_ms(parts[1])
        elif line.strip().startswith("Non-2xx"):
            result["errors"] += float(parts[-1])
        elif line.strip().startswith("Socket errors"):
            result["errors"] += sum(float(p.rstrip(",")) for p in parts[3::2])
    return result


def to_ms(value: str) -> float:
    for suffix, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * scale
    return float(value)


# -- streaming ---------------------------------------------------------------------------------
STREAM_CLIENT = r'''
import json, socket, sys, time
host, port, path, headers = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
body = json.dumps({"model": "bench", "stream": True, "messages": [{"role": "user", "content": "Hello"}]}).encode()
head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
ttfb, lags = [], []
for _ in range(int(sys.argv[5])):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall((f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n{head}"
               f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body)
    start, first, buffer, done = time.monotonic(), None, b"", False
    while not done:
        data = s.recv(65536)
        if not data:
            break
        done = b"[DONE]" in data
        now_ns = time.time_ns()
        if first is None and b"data:" in buffer + data:
            first = time.monotonic() - start
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if b"@t" in line:   # content " w<i>@t<ns>" carries the upstream's send time
                    sent = int(line.split(b"@t")[1].split(b'"')[0].split(b"\\")[0])
                    lags.append((now_ns - sent) / 1e6)
    s.close()
    ttfb.append(first * 1000 if first else float("nan"))
print(json.dumps({"ttfb": ttfb, "lags": lags}))
'''


def streaming(target: Target) -> dict[str, float]:
    host_port = target.base.split("//")[1].split("/")[0]
    host, port = host_port.split(":")
    path = "/" + target.base.split("//")[1].split("/", 1)[1] + "/chat/completions"
    out = subprocess.run(pinned(LOAD_CPU, [sys.executable, "-c", STREAM_CLIENT, host, port, path,
                                           json.dumps(target.headers), str(STREAM_REQUESTS)]),
                         capture_output=True, text=True, timeout=120)
    data = json.loads(out.stdout)
    lags = sorted(data["lags"])
    return {"ttfb_ms": statistics.median(data["ttfb"]),
            "chunk_p50_ms": statistics.median(lags) if lags else float("nan"),
            "chunk_p99_ms": lags[int(len(lags) * 0.99) - 1] if lags else float("nan")}


# -- targets -----------------------------------------------------------------------------------
def apex(upstream: str, gateway: str = "") -> Target:
    """`gateway`: the config's `[gateway]` table, when the run sets any of it."""
    port = free_port()
    config = Path(tempfile.mkdtemp()) / "apex.toml"
    config.write_text(f'[providers.up]\nkind = "openai"\nbase_url = "{upstream}"\n\n'
                      f'[models.bench]\ncontext_window = 128000\nroutes = [{{ provider = "up", model = "bench" }}]\n\n'
                      f'[[keys]]\nkey = "{KEY}"\nplan = "unlimited"\n'
                      + (f"\n[gateway]\n{gateway}\n" if gateway else ""))
    apex_bin = str(Path(sys.executable).parent / "apex")
    return Target("apex", [apex_bin, "serve", "--port", str(port), "--config", str(config)],
                  f"http://127.0.0.1:{port}/v1", {"Authorization": f"Bearer {KEY}"})


def thin(upstream: str) -> Target:
    port = free_port()
    return Target("thin-aiohttp", [sys.executable, str(ROOT / "bench" / "thin.py"), str(port), upstream],
                  f"http://127.0.0.1:{port}/v1")


def litellm(upstream: str) -> Target:
    venv = PEERS / "litellm"
    if not (venv / "bin" / "litellm").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    port = free_port()
    config = Path(tempfile.mkdtemp()) / "litellm.yaml"
    config.write_text(f"model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n"
                      f"      api_base: {upstream}\n      api_key: sk-upstream\n")
    return Target("litellm", [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port),
                              "--num_workers", "1"], f"http://127.0.0.1:{port}/v1",
                  {"Authorization": f"Bearer {KEY}"}, {"LITELLM_LOG": "ERROR", "LITELLM_MASTER_KEY": KEY})


def portkey(upstream: str) -> Target:
    prefix = PEERS / "portkey"
    server = prefix / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if not server.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", str(prefix), "@portkey-ai/gateway"], check=True)
    patch_portkey(server)
    port = free_port()
    return Target("portkey", ["node", str(server), f"--port={port}"], f"http://127.0.0.1:{port}/v1",
                  {"Authorization": "Bearer sk-upstream", "x-portkey-provider": "openai",
                   "x-portkey-custom-host": upstream})


# Portkey 1.15.2 on Node 20 appends headers to the upstream fetch Response, whose headers are
# immutable for streams: every streaming request fails with "TypeError: immutable". In the scratch
# copy only, give the Response mutable headers before that.
PORTKEY_BUG = "this.updateHeaders(i,n.cacheStatus,o)"
PORTKEY_FIX = ("(i=new Response(i.body,{status:i.status,statusText:i.statusText,headers:new Headers(i.headers)}),"
               "this.updateHeaders(i,n.cacheStatus,o))")


def patch_portkey(server: Path) -> None:
    source = server.read_text()
    if PORTKEY_BUG in source and PORTKEY_FIX not in source:
        server.write_text(source.replace(PORTKEY_BUG, PORTKEY_FIX, 1))


TARGETS = {"apex": apex, "thin": thin, "litellm": litellm, "portkey": portkey}


def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


def measure(target: Target, duration: int) -> dict[str, float]:
    row: dict[str, float] = {"launch_s": target.start()}
    try:
        for c in CONNECTIONS:
            result = wrk(target, c, duration)
            row[f"rps_{c}"], row[f"errors_{c}"] = result["rps"], result["errors"]
            if c == 1:
                row["p50_ms"] = result["p50_ms"]
        row["rss_mib"] = target.rss_mib()
        row.update(streaming(target))
    finally:
        target.stop()
    return row


def table(rows: dict[str, dict[str, float]]) -> str:
    direct = rows["direct"]
    lines = ["| target | rps 1 / 16 / 64 conn | p50 overhead (1 conn) | stream TTFB overhead | chunk delay p50 / p99 "
             "| RSS | launch → first completion | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        rps = " / ".join(f"{r[f'rps_{c}']:,.0f}" for c in CONNECTIONS)
        if name == "direct":
            lines.append(f"| direct (fake upstream) | {rps} | {r['p50_ms']:.2f} ms (itself) | {r['ttfb_ms']:.2f} ms "
                         f"(itself) | {r['chunk_p50_ms']:.2f} / {r['chunk_p99_ms']:.2f} ms | | | |")
            continue
        errors = sum(r[f"errors_{c}"] for c in CONNECTIONS)
        extra = {k: r[k] - direct[k] for k in ("p50_ms", "ttfb_ms", "chunk_p50_ms", "chunk_p99_ms")}
        lines.append(
            f"| {name} | {rps} | +{extra['p50_ms']:.2f} ms | +{extra['ttfb_ms']:.2f} ms "
            f"| +{extra['chunk_p50_ms']:.2f} / +{extra['chunk_p99_ms']:.2f} ms "
            f"| {r['rss_mib']:.0f} MiB | {r['launch_s']:.2f} s | {errors:.0f} |")
    lines.append("")
    apex_rps = rows.get("apex", {}).get("rps_64")
    if apex_rps:
        for name, r in rows.items():
            if name not in ("apex", "direct") and r.get("rps_64"):
                lines.append(f"- apex at 64 connections: {apex_rps / r['rps_64']:.2f} x {name}")
    return "\n".join(lines)


def soak(upstream_url: str, seconds: int) -> None:
    """Load at 64 connections for `seconds`, RSS read after every 30 s slice: memory must stay flat."""
    target = apex(upstream_url)
    target.start()
    samples, requests = [target.rss_mib()], 0.0
    try:
        for _ in range(max(1, seconds // 30)):
            requests += wrk(target, 64, 30)["rps"] * 30
            samples.append(target.rss_mib())
    finally:
        target.stop()
    print(f"soak: {seconds} s at 64 connections, {requests:,.0f} requests; RSS MiB every 30 s: "
          + ", ".join(f"{m:.1f}" for m in samples))
    print(f"RSS after the first slice {samples[1]:.1f} MiB, at the end {samples[-1]:.1f} MiB, "
          f"max {max(samples):.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="apex,thin,litellm,portkey")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per connection count")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report medians")
    parser.add_argument("--soak", type=int, default=0, help="instead: apex under load this long, RSS sampled")
    args = parser.parse_args()
    ensure_wrk()
    up_port = free_port()
    upstream = subprocess.Popen(pinned(LOAD_CPU, [sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port),
                                                  str(STREAM_CHUNKS), str(CHUNK_DELAY_MS)]),
                                stdout=subprocess.PIPE, start_new_session=True)
    assert upstream.stdout is not None
    upstream.stdout.readline()
    upstream_url = f"http://127.0.0.1:{up_port}/v1"
    try:
        if args.soak:
            soak(upstream_url, args.soak)
            return
        rounds: list[dict[str, dict[str, float]]] = []
        for _ in range(args.rounds):
            direct = Target("direct", [], upstream_url)
            rows = {"direct": {f"rps_{c}": wrk(direct, c, args.duration)["rps"] for c in CONNECTIONS}}
            rows["direct"]["p50_ms"] = wrk(direct, 1, args.duration)["p50_ms"]
            rows["direct"].update(streaming(direct))
            for name in args.targets.split(","):
                rows[name] = measure(TARGETS[name](upstream_url), args.duration)
            rounds.append(rows)
        medians = {name: {k: statistics.median(r[name][k] for r in rounds) for k in rounds[0][name]}
                   for name in rounds[0]}
        report = table(medians)
        print(report)
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "latest.md").write_text(report + "\n")
        (out / "latest.json").write_text(json.dumps(medians, indent=1))
    finally:
        os.killpg(upstream.pid, signal.SIGTERM)
        upstream.wait(10)


if __name__ == "__main__":
    main()
