"""Adversarial text for the optimizer's rules, made from the rules themselves: for every pattern, each
alternative of each repeated group said 40 times over (the input that makes an ambiguous repeat
backtrack exponentially), behind the words that open the small-talk forms; runs of every whitespace
and quote kind, and of punctuation pairs, 50,000 characters long (the input that makes a pattern
led by `\\s*` or `[,;:]+` quadratic)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]
from typing import Any

from core.optimizer import rules

REPEATS = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)
OPENERS = ("thanks", "So", "I'm", "sorry", "hi", "I know this is", "")
WHITESPACE = ("\u00a0", "\u2003", "\u3000", "\u200a", "\t", " ")
RUNS = ("\u201c", "\u2018", "\u201d", '"', "'", "`", ",:", ",;", ";:", "!?", ".,", "**", "__", "~~", "<", "-",
        " -", "(", "a ")


def _one_of(items: Any) -> str:
    for op, value in items:
        if op is c.LITERAL:
            return chr(value)
        if op is c.RANGE:
            return chr(value[0])
        if op is c.CATEGORY:
            return {c.CATEGORY_SPACE: " ", c.CATEGORY_DIGIT: "1"}.get(value, "a")
    return "a"


def sample(nodes: Any, pick: int = 0) -> str:
    """Some text the nodes match: the `pick`-th alternative of each branch, one round of each repeat."""
    out = []
    for op, value in nodes:
        if op is c.LITERAL:
            out.append(chr(value))
        elif op is c.NOT_LITERAL:
            out.append("x" if chr(value) != "x" else "y")
        elif op is c.IN:
            out.append(_one_of(value))
        elif op is c.ANY:
            out.append("a")
        elif op is c.BRANCH:
            out.append(sample(value[1][pick % len(value[1])]))
        elif op is c.SUBPATTERN:
            out.append(sample(value[-1], pick))
        elif op in REPEATS:
            out.append(sample(value[2], pick) * max(value[0], 1))
        elif op is c.ATOMIC_GROUP:
            out.append(sample(value, pick))
    return "".join(out)


def repeated_bodies(nodes: Any) -> Iterator[Any]:
    for op, value in nodes:
        if op in REPEATS:
            if value[1] > 1:
                yield value[2]
            yield from repeated_bodies(value[2])
        elif op is c.BRANCH:
            for branch in value[1]:
                yield from repeated_bodies(branch)
        elif op is c.SUBPATTERN:
            yield from repeated_bodies(value[-1])
        elif op is c.ATOMIC_GROUP:
            yield from repeated_bodies(value)


def patterns() -> Iterator[re.Pattern[str]]:
    for value in vars(rules).values():
        for item in value if isinstance(value, list) else [value]:
            item = item[0] if isinstance(item, tuple) else item
            if isinstance(item, re.Pattern):
                yield item


def texts() -> list[str]:
    """Every adversarial text, short ones first."""
    units: set[str] = set()
    for pattern in patterns():
        for body in repeated_bodies(parser.parse(pattern.pattern, pattern.flags)):
            units.update(unit for pick in range(16) if (unit := sample(body, pick)))
    short = [f"{opener}{unit * 40} zzz." for unit in sorted(units) for opener in OPENERS]
    long = [f"Please tell me about the weather{run * (50_000 // len(run))} end." for run in (*WHITESPACE, *RUNS)]
    return short + long
