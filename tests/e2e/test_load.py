"""The reliability benchmark, bounded for the suite: `apex serve` in its own process under 32 clients for
8 s with rate limits and usage on (`python bench/reliability.py` runs the full 64 clients for 60 s)."""

from __future__ import annotations

from bench.reliability import run_load


def test_under_load_only_the_expected_429s_exact_windows_no_lost_records_steady_memory() -> None:
    report = run_load(duration_s=8, clients=32, keys=4, rpm=150)
    assert report.failures == []
    assert report.served and report.limited and report.windows_full   # windows filled: the limit was exercised
    assert report.lost_records == 0 and report.usage_records == report.requests
