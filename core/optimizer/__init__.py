"""Prompt compression that keeps meaning: remove what carries none, measure what is left against the
original, and never hand back a prompt less similar than the threshold.

The rules (`core.optimizer.rules`) compress at five levels; the strongest that stays at or above
the threshold wins, and if none does the original comes back unchanged (similarity 1.0). A
condenser — a chat model asked to rewrite — may offer a shorter candidate, used only when it holds
the threshold too and keeps what `core.optimizer.facts` checks.

Similarity is a cosine of embeddings: from the configured embedding model, through the gateway's
own providers (`[gateway] optimizer_embedding_model`), or else from the local model in
`core.embedder` (all-MiniLM-L6-v2 distilled to static token vectors; offline, ~1 ms).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from core.optimizer.facts import keeps_facts
from core.optimizer.rules import compress_pieces, pieces_of
from core.tokens import count_tokens


@dataclass(frozen=True, slots=True)
class Optimized:
    prompt: str
    original_tokens: int
    optimized_tokens: int
    similarity: float
    level: int                 # 0: unchanged; 1 to 5: the rules' levels; CONDENSED: the condenser's rewrite
    model: str = ""            # what made it: the rules or the condenser, and the similarity model
    receipt: object = None     # the condenser's call, when one was made for it: the caller bills it

    @property
    def tokens_saved(self) -> int:
        return self.original_tokens - self.optimized_tokens


def cosine(u: list[float], v: list[float]) -> float:
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    norm = math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v))
    return dot / norm if norm else 0.0


Scorer = Callable[[str, list[str]], Awaitable[list[float]]]    # original, candidates → their similarities
# A prompt → a shorter rewrite, and a receipt for the call that made it (for the caller to bill).
Condenser = Callable[[str, int], Awaitable[tuple[str, object]]]
LEVELS = (5, 4, 3, 2, 1)
CONDENSED = 6
RULES = "apex-rules-v2"
T = TypeVar("T")
CONDENSE_FROM_TOKENS = 40      # shorter prompts are not worth a model's call
# The rules and the token counts run on a worker thread (a 50,000-character prompt: ~0.5 s of rules,
# each pattern linear in it), a few prompts at a time per process, and within a deadline: a prompt
# whose rules have not finished by then comes back unchanged. The event loop never runs them.
CONCURRENT = 2
DEADLINE_S = 5.0
CACHE_CHARS = 16_000_000       # the cache's prompts and results, in characters, at most
log = logging.getLogger("apex.optimizer")
# Where the rules and token counts run: None, a worker thread (on Lambda an instance serves one request
# at a time, so nothing waits on it); under `apex serve`, processes of their own (handlers.serve sets
# them), so that the server's event loop never waits for the GIL while a long prompt is compressed.
WORKERS: Executor | None = None


async def _off_loop(work: Callable[[str], T], text: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(WORKERS, work, text)


def _rule_levels(prompt: str) -> tuple[int, dict[int, str]]:
    """The prompt's tokens, and its compression at every level."""
    pieces = pieces_of(prompt)
    return count_tokens(prompt), {level: compress_pieces(pieces, level) for level in LEVELS}


class Optimizer:
    def __init__(self, scorer: Scorer, scorer_name: str, cache_size: int = 2048,
                 condenser: Condenser | None = None, condenser_name: str = "") -> None:
        self._scorer = scorer
        self.scorer_name = scorer_name
        self._condenser = condenser
        self.condenser_name = condenser_name
        self._cache: OrderedDict[tuple[str, str, float], Optimized] = OrderedDict()
        self._cache_size = cache_size
        self._cache_chars = 0
        self._slots = asyncio.Semaphore(CONCURRENT)

    @property
    def model_name(self) -> str:
        return f"{RULES} + {self.scorer_name}"

    async def optimize(self, prompt: str, threshold: float, scope: str = "") -> tuple[Optimized, bool]:
        """The shortest compression at or above `threshold` — the strongest rule level that holds,
        or the condenser's rewrite when it is shorter still, kept every fact and holds too — and
        whether it came from the cache. The cache is kept per `scope` (the API key): whether a prompt
        was seen before must tell nobody whether someone else sent it."""
        key = (scope, prompt, threshold)
        if (hit := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return hit, True
        async with self._slots:
            try:
                original_tokens, candidates = await asyncio.wait_for(_off_loop(_rule_levels, prompt), DEADLINE_S)
            except TimeoutError:
                log.warning("optimizer: the rules took over %.0f s on a %d-character prompt; it goes unchanged",
                            DEADLINE_S, len(prompt))
                tokens = await _off_loop(count_tokens, prompt)
                return Optimized(prompt, tokens, tokens, 1.0, 0, self.model_name), False
        condensed, receipt = await self._condense(prompt, original_tokens, threshold)
        if condensed is not None:
            candidates[CONDENSED] = condensed
        distinct = [c for c in dict.fromkeys(candidates.values()) if c != prompt]
        scores = dict(zip(distinct, await self._scorer(prompt, distinct), strict=True)) if distinct else {}
        result = Optimized(prompt, original_tokens, original_tokens, 1.0, 0, self.model_name, receipt)
        # The strongest rule level that holds (0: none), then the condenser's rewrite if it holds and is shorter.
        strongest = next((level for level in LEVELS if scores.get(candidates[level], -1.0) >= threshold), 0)
        for level in (strongest, CONDENSED):
            text = candidates.get(level)
            if text is not None and scores.get(text, -1.0) >= threshold:
                tokens = await _off_loop(count_tokens, text)
                if tokens < result.optimized_tokens:
                    name = f"{self.condenser_name} + {self.scorer_name}" if level == CONDENSED else self.model_name
                    result = Optimized(text, original_tokens, tokens, round(scores[text], 4), level, name, receipt)
        self._remember(key, result)
        return result, False

    def _remember(self, key: tuple[str, str, float], result: Optimized) -> None:
        """Kept for the next asking, the least recently used going first past either bound."""
        self._cache[key] = result
        self._cache_chars += len(key[1]) + len(result.prompt)
        while len(self._cache) > self._cache_size or self._cache_chars > CACHE_CHARS:
            (_, prompt, _), dropped = self._cache.popitem(last=False)
            self._cache_chars -= len(prompt) + len(dropped.prompt)

    async def _condense(self, prompt: str, tokens: int, threshold: float) -> tuple[str | None, object]:
        """The condenser's rewrite if it kept every fact (else None), and the receipt for its call.
        A failed call is logged and leaves the rules' result to stand: optimizing never fails a request."""
        if self._condenser is None or tokens < CONDENSE_FROM_TOKENS or threshold >= 1:
            return None, None
        try:
            text, receipt = await self._condenser(prompt, tokens)
        except Exception as err:                      # any failure means "the rules only"
            log.warning("condenser %s failed (%s: %s); the rules' result stands", self.condenser_name,
                        type(err).__name__, getattr(err, "code", "") or "no code")
            return None, None
        text = text.strip()
        if not text or text == prompt or not keeps_facts(prompt, text):
            return None, receipt
        return text, receipt


def timed() -> Callable[[], float]:
    """Milliseconds since this was called."""
    started = time.perf_counter()
    return lambda: round((time.perf_counter() - started) * 1000, 2)
