"""No text makes the optimizer's rules slow (SEC-01, SEC-02): every adversarial text of
tests/core/adversarial.py through every level, each call within its budget. The rules run in a child
process, so that a pattern gone exponential fails the test by name instead of hanging the suite."""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection

from core.optimizer.rules import compress_pieces, pieces_of
from tests.core.adversarial import texts

SHORT_BUDGET_S = 0.05        # per level, for the texts of a few hundred characters
LONG_BUDGET_S = 1.0          # per level, for the 50,000-character runs (~0.1 s each measured)
HANG_S = 20.0                # no word from the child for this long: the text it is on hangs


def _run(cases: list[str], out: Connection) -> None:
    for i, text in enumerate(cases):
        out.send(("start", i))
        pieces = pieces_of(text)
        slowest = 0.0
        for level in (1, 2, 3, 4, 5):
            started = time.perf_counter()
            compress_pieces(pieces, level)
            slowest = max(slowest, time.perf_counter() - started)
        out.send(("done", i, slowest))
    out.send(("end",))


def test_every_adversarial_text_is_compressed_within_its_budget_at_every_level() -> None:
    cases = texts()
    assert len(cases) > 400
    receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_run, args=(cases, sending), daemon=True)
    child.start()
    slow, current = [], -1
    try:
        while True:
            if not receiving.poll(HANG_S):
                raise AssertionError(f"the rules hang on {cases[current][:100]!r} ({len(cases[current])} characters)")
            message = receiving.recv()
            if message[0] == "end":
                break
            if message[0] == "start":
                current = message[1]
                continue
            _, i, seconds = message
            if seconds > (LONG_BUDGET_S if len(cases[i]) > 10_000 else SHORT_BUDGET_S):
                slow.append((round(seconds, 3), cases[i][:80], len(cases[i])))
    finally:
        child.kill()
        child.join()
    assert slow == []
