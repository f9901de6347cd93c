"""The metrics' text: Prometheus's format, cumulative buckets, and a bounded number of series."""

from __future__ import annotations

import re

from core.metrics import MAX_SERIES, Metrics

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [0-9.e+-]+$')


def test_one_request_in_every_metric_and_lines_prometheus_can_read() -> None:
    metrics = Metrics()
    metrics.observe("/v1/chat/completions", "m", "p", 200, 0.3, 0.02, 10, 5, 0.001,
                    [("down", "x", "error 500"), ("p", "m-1", "ok")])
    metrics.observe("/v1/chat/completions", 'we"ird\nname', "", 404, 0.001, 0.001, 0, 0, 0.0, [])
    text = metrics.exposition([("p", "m-1", 2)])
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(LINE.match(line) for line in samples), [line for line in samples if not LINE.match(line)]
    key = 'endpoint="/v1/chat/completions",model="m",provider="p",status="200"'
    assert f"apex_requests_total{{{key}}} 1" in samples
    assert f'apex_request_duration_seconds_bucket{{{key},le="0.25"}} 0' in samples
    assert f'apex_request_duration_seconds_bucket{{{key},le="0.5"}} 1' in samples        # cumulative
    assert f'apex_request_duration_seconds_bucket{{{key},le="+Inf"}} 1' in samples
    assert f'apex_time_to_first_byte_seconds_sum{{{key}}} 0.02' in samples
    assert f'apex_tokens_total{{{key},kind="completion"}} 5' in samples
    assert 'apex_upstream_attempts_total{provider="down",upstream_model="x",outcome="error 500"} 1' in samples
    assert 'apex_circuit_state{provider="p",upstream_model="m-1"} 2' in samples
    assert 'model="we\\"ird\\nname"' in text and not any("status=\"200\"" in s for s in samples if "errors" in s)
    assert sum(s.startswith("apex_request_errors_total") for s in samples) == 1


def test_made_up_names_fold_into_other_past_the_bound() -> None:
    metrics = Metrics()
    for i in range(MAX_SERIES + 500):
        metrics.observe("/v1/chat/completions", f"openai/made-up-{i}", "openai", 200, 0.1, None, 1, 1, 0.0,
                        [("openai", f"made-up-{i}", "ok")])
    assert len(metrics.series) == MAX_SERIES + 1 and len(metrics.attempts) == MAX_SERIES + 1
    assert metrics.series[("other", "other", "other", "200")][0] == 500
