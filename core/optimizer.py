"""Prompt compression that keeps meaning: remove what carries none, measure what is left against the
original, and never hand back a prompt less similar than the threshold.

Three passes, each adding to the last: (1) layout — runs of whitespace, markup emphasis, repeated
punctuation, sentences said twice; (2) verbose constructions rewritten short ("in order to" →
"to"); (3) filler and politeness ("I was wondering if you could", "please", "thank you in
advance"). The strongest pass that stays at or above the threshold wins; if none does, the
original comes back unchanged (similarity 1.0).

Similarity is a cosine of embeddings: from the configured embedding model, through the gateway's
own providers (`[gateway] optimizer_embedding_model`), or else from the local model in
`core.embedder` (all-MiniLM-L6-v2 distilled to static token vectors; offline, ~1 ms).
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.tokens import count_tokens

VERBOSE = [(re.compile(rf"\b{pattern}\b", re.IGNORECASE), short) for pattern, short in (
    (r"in order to", "to"), (r"due to the fact that", "because"), (r"owing to the fact that", "because"),
    (r"in spite of the fact that", "although"), (r"despite the fact that", "although"),
    (r"at this point in time", "now"), (r"at the present time", "now"), (r"in the event that", "if"),
    (r"for the purpose of", "for"), (r"with regard to", "about"), (r"with respect to", "about"),
    (r"in relation to", "about"), (r"a large number of", "many"), (r"a great deal of", "much"),
    (r"the majority of", "most"), (r"a majority of", "most"), (r"is able to", "can"), (r"are able to", "can"),
    (r"has the ability to", "can"), (r"have the ability to", "can"), (r"prior to", "before"),
    (r"subsequent to", "after"), (r"in close proximity to", "near"), (r"on a daily basis", "daily"),
    (r"in the near future", "soon"), (r"make sure that", "ensure"), (r"in addition to", "besides"),
    (r"as well as", "and"), (r"each and every", "every"), (r"first and foremost", "first"),
    (r"the reason why is that", "because"), (r"it is important to note that", ""),
    (r"it should be noted that", ""), (r"please note that", ""), (r"needless to say,?", ""),
    (r"in my humble opinion,?", ""), (r"for all intents and purposes", ""), (r"at the end of the day,?", ""),
    (r"in a detailed manner", "in detail"), (r"in a clear manner", "clearly"), (r"in a concise manner", "concisely"),
    (r"take into consideration", "consider"), (r"give consideration to", "consider"),
    (r"come to a conclusion", "conclude"), (r"make a decision", "decide"), (r"provide an explanation of", "explain"),
    (r"provide a description of", "describe"), (r"give me an explanation of", "explain"),
)]
FILLER = [re.compile(pattern, re.IGNORECASE) for pattern in (
    r"\bI hope (?:this|my) (?:message|email|request) finds you well[.!]?\s*",
    r"\b(?:hi|hello|hey|dear)(?: there)?(?:,| assistant,| AI,|!)\s*",
    r"\bI was (?:just )?wondering if you could\s*", r"\bI would (?:really )?(?:like|love) (?:for )?you to\s*",
    r"\bwould you (?:please |kindly )?be so kind as to\s*", r"\bcould you (?:please |kindly )?(?:possibly )?",
    r"\bcan you (?:please |kindly )?(?:possibly )?", r"\bwould you (?:please |kindly )?(?:mind )?",
    r"\bif (?:it's|it is) not too much trouble,?\s*", r"\bif you (?:don't|do not) mind,?\s*",
    r"\bthank you(?: so much| very much)?(?: in advance)?(?: for your (?:help|time|assistance))?[.!]*\s*",
    r"\bthanks(?: a lot| so much)?(?: in advance)?[.!]*\s*", r"\bI (?:really )?appreciate (?:it|your help)[.!]*\s*",
    r"\b(?:please|kindly)\s+", r"\b(?:basically|actually|really|very|quite|just|simply|literally|definitely|"
    r"certainly|totally|honestly)\s+", r"\bas an AI(?: language model)?,?\s*", r"\bof course,?\s*",
)]
WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Optimized:
    prompt: str
    original_tokens: int
    optimized_tokens: int
    similarity: float
    level: int                 # 0: unchanged

    @property
    def tokens_saved(self) -> int:
        return self.original_tokens - self.optimized_tokens


def _layout(text: str) -> str:
    text = re.sub(r"(\*\*|__|~~)(.+?)\1", r"\2", text)          # markdown emphasis
    text = re.sub(r"<[^>\n]{1,40}>", " ", text)                  # stray tags
    text = re.sub(r"([!?.,])\1+", r"\1", text)                   # "!!!" → "!"
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    seen: set[str] = set()
    sentences = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        key = " ".join(WORD.findall(sentence.lower()))
        if key and key in seen:
            continue                                             # said twice
        seen.add(key)
        sentences.append(sentence)
    return " ".join(sentences).strip()


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,.;:])(?:\s*[,.;:])+", r"\1", text)
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return text.strip(" ,")


def compress(text: str, level: int) -> str:
    if level <= 0:
        return text
    text = _layout(text)
    if level >= 2:
        for pattern, short in VERBOSE:
            text = pattern.sub(short, text)
    if level >= 3:
        for pattern in FILLER:
            text = pattern.sub("", text)
    return _tidy(text)


def cosine(u: list[float], v: list[float]) -> float:
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    norm = math.sqrt(sum(a * a for a in u)) * math.sqrt(sum(b * b for b in v))
    return dot / norm if norm else 0.0


Scorer = Callable[[str, list[str]], Awaitable[list[float]]]    # original, candidates → their similarities


class Optimizer:
    def __init__(self, scorer: Scorer, model_name: str, cache_size: int = 2048) -> None:
        self._scorer = scorer
        self.model_name = model_name
        self._cache: OrderedDict[tuple[str, float], Optimized] = OrderedDict()
        self._cache_size = cache_size

    async def optimize(self, prompt: str, threshold: float) -> tuple[Optimized, bool]:
        """The strongest compression at or above `threshold`; and whether it came from the cache."""
        key = (prompt, threshold)
        if (hit := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return hit, True
        original_tokens = count_tokens(prompt)
        levels = [3, 2, 1]
        candidates = {level: compress(prompt, level) for level in levels}
        distinct = [c for c in dict.fromkeys(candidates.values()) if c != prompt]
        scores = dict(zip(distinct, await self._scorer(prompt, distinct), strict=True)) if distinct else {}
        result = Optimized(prompt, original_tokens, original_tokens, 1.0, 0)
        for level in levels:
            text = candidates[level]
            score = scores.get(text)
            if score is not None and score >= threshold:
                tokens = count_tokens(text)
                if tokens < original_tokens:
                    result = Optimized(text, original_tokens, tokens, round(score, 4), level)
                    break
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result, False


def timed() -> Callable[[], float]:
    """Milliseconds since this was called."""
    started = time.perf_counter()
    return lambda: round((time.perf_counter() - started) * 1000, 2)
