"""The garbage collector, tuned for a server: what start-up allocates is frozen out of its sight, and
young objects are collected less often. Requests allocate many short-lived containers; with
CPython's defaults the collections they trigger cost about 15% of throughput (bench/README.md)."""

import gc


def settle_heap() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)
