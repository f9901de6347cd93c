"""What reporting each request costs: `apex serve` with its request lines, metrics and traces off, as
it starts by default (text lines and metrics), JSON lines and traces to a local OTLP collector, all
on (those and metrics), and all on with one trace in ten sampled, side by side under wrk at 64
connections.

    python bench/observability.py [--rounds 8] [--duration 5] [--before DIR]

Every setting runs as its own process from the start (pinned to CPU 0, the upstream, the collector
and wrk on CPU 1), and the rounds take them in turn, so drift on the machine falls on all alike;
medians are reported with each setting's throughput against `off`. `--before DIR` adds a checkout
of an earlier commit (put first on PYTHONPATH), with everything off: the hot path's cost of the
change itself. Request lines go to a file, as a deployment's log would.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import LOAD_CPU, Target, apex, ensure_wrk, free_port, pinned, wrk  # noqa: E402

OFF = {"APEX_LOG_LEVEL": "warning", "APEX_METRICS": "0"}


def settings(collector: str, before: str | None) -> dict[str, dict[str, str]]:
    on = {"APEX_LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": collector}
    chosen = {"off": OFF, "default": {}, "json+traces": {**on, "APEX_METRICS": "0"}, "on": on,
              "on-sampled": {**on, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}}
    if before:
        chosen = {"before": {**OFF, "PYTHONPATH": before}, **chosen}
    return chosen


def gateway(name: str, upstream: str, env: dict[str, str]) -> Target:
    """`apex serve` as bench/run.py starts it, with this setting's environment."""
    target = apex(upstream)
    target.name, target.env = f"observability-{name}", env
    return target


def helper(argv: list[str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(pinned(LOAD_CPU, argv), stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None
    process.stdout.readline()                                  # ready
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=int, default=5, help="seconds of load a setting a round")
    parser.add_argument("--before", help="a checkout of an earlier commit, run with everything off")
    parser.add_argument("--settings", help="only these, comma-separated (of before, off, default, json+traces, on, "
                                           "on-sampled)")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith(("APEX_", "OTEL_"))]:
        del os.environ[name]          # each setting is only what it names (Target.start adds it to these)
    ensure_wrk()
    up_port, sink_port = free_port(), free_port()
    upstream = helper([sys.executable, str(ROOT / "bench" / "upstream.py"), str(up_port)])
    sink = helper([sys.executable, str(ROOT / "bench" / "otlp_sink.py"), str(sink_port)])
    chosen = settings(f"http://127.0.0.1:{sink_port}", args.before)
    if args.settings:
        chosen = {name: chosen[name] for name in args.settings.split(",")}
    targets = {name: gateway(name, f"http://127.0.0.1:{up_port}/v1", env) for name, env in chosen.items()}
    try:
        for target in targets.values():
            target.start()
            wrk(target, 64, 2)                                # warm
        rps: dict[str, list[float]] = {name: [] for name in targets}
        for round_ in range(args.rounds):
            names = list(targets)
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                rps[name].append(wrk(targets[name], 64, args.duration)["rps"])
        base = statistics.median(rps["off"])
        print("| setting | rps at 64 connections (median) | against off | rounds |")
        print("| --- | --- | --- | --- |")
        for name, values in rps.items():
            median = statistics.median(values)
            print(f"| {name} | {median:,.0f} | {median / base - 1:+.1%} | {', '.join(f'{v:,.0f}' for v in values)} |")
    finally:
        for target in targets.values():
            target.stop()
        for process in (upstream, sink):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


if __name__ == "__main__":
    main()
