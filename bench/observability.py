"""What reporting each request costs: `apex serve` with its request lines, metrics, traces and the
answers' cost off; as it starts by default (text lines, metrics, cost); JSON lines and traces to a
local OTLP collector, the rest off; all on; and all on with one trace in ten sampled — side by side
under wrk at 64 connections.

    python bench/observability.py [--rounds 6] [--duration 4] [--processes 3] [--before DIR]

Every setting runs as `--processes` processes of its own from the start (pinned to CPU 0, the
upstream, the collector and wrk on CPU 1), and the rounds take them all in turn, so drift on the
machine falls on all alike; the others are paused (SIGSTOP) while one is measured, after a second of
load to warm it again. Several processes, because one process of the same code can run 5%
faster or slower than another for its whole life (its memory layout, its hash seed): each setting's
processes get the same hash seeds, and a setting's figure is the mean of its processes' medians,
reported against `off` with each process's median beside it. `--before DIR` adds a checkout
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
# `off` is all of it off, the answers' cost too (a config setting); `json+traces` is those two alone.
NO_COST = "expose_cost = false"


def settings(collector: str, before: str | None) -> dict[str, dict[str, str]]:
    on = {"APEX_LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": collector}
    chosen = {"off": OFF, "default": {}, "json+traces": {**on, "APEX_METRICS": "0"}, "on": on,
              "on-sampled": {**on, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}}
    if before:
        chosen = {"before": {**OFF, "PYTHONPATH": before}, **chosen}
    return chosen


def gateway(name: str, upstream: str, env: dict[str, str], seed: int) -> Target:
    """`apex serve` as bench/run.py starts it, with this setting's environment and hash seed."""
    target = apex(upstream, NO_COST if name in ("off", "json+traces") else "")
    target.name, target.env = f"observability-{name}-{seed}", {**env, "PYTHONHASHSEED": str(seed)}
    return target


def paused(target: Target, pause: bool) -> None:
    """A gateway (its process group: the server and its embedded store) stopped while another is
    measured: a dozen idle ones on the same CPU, each waking to flush and refresh, cost the one under
    load a few percent, more for some rounds than others."""
    if target.process is not None and target.process.poll() is None:
        os.killpg(target.process.pid, signal.SIGSTOP if pause else signal.SIGCONT)


def helper(argv: list[str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(pinned(LOAD_CPU, argv), stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None
    process.stdout.readline()                                  # ready
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=4, help="seconds of load a process a round")
    parser.add_argument("--processes", type=int, default=3, help="processes a setting")
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
    targets = {(name, seed): gateway(name, f"http://127.0.0.1:{up_port}/v1", env, seed)
               for seed in range(1, args.processes + 1) for name, env in chosen.items()}
    try:
        for target in targets.values():
            target.start()
            wrk(target, 64, 2)                                # warm
            paused(target, True)
        rps: dict[tuple[str, int], list[float]] = {each: [] for each in targets}
        order = list(targets)
        for round_ in range(args.rounds):
            for each in order[round_ % len(order):] + order[:round_ % len(order)]:
                paused(targets[each], False)
                wrk(targets[each], 64, 1)                     # its caches warm again
                rps[each].append(wrk(targets[each], 64, args.duration)["rps"])
                paused(targets[each], True)
        medians = {name: [statistics.median(rps[name, seed]) for seed in range(1, args.processes + 1)]
                   for name in chosen}
        base = statistics.mean(medians["off"])
        print("| setting | rps at 64 connections (mean of the processes' medians) | against off | each process |")
        print("| --- | --- | --- | --- |")
        for name, values in medians.items():
            mean = statistics.mean(values)
            print(f"| {name} | {mean:,.0f} | {mean / base - 1:+.1%} | {', '.join(f'{v:,.0f}' for v in values)} |")
    finally:
        for target in targets.values():
            paused(target, False)
            target.stop()
        for process in (upstream, sink):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


if __name__ == "__main__":
    main()
