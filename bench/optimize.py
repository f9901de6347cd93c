"""The prompt optimizer measured on a corpus of verbose prompts (bench/optimizer_corpus.jsonl).

    python bench/optimize.py [--threshold 0.9]

Reports mean tokens saved, minimum and mean similarity, and p50/p99 latency per prompt, with the
local scorer (no upstream call: what the numbers measure is the optimizer itself).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.optimizer import Optimizer, lexical_scorer  # noqa: E402
from core.tokens import count_tokens  # noqa: E402


async def measure(threshold: float) -> dict[str, float]:
    prompts = [json.loads(line)["prompt"] for line in (ROOT / "bench" / "optimizer_corpus.jsonl").open()]
    optimizer = Optimizer(lexical_scorer, "apex-lexical-v1", cache_size=0)
    count_tokens("warm the tokenizer up")
    saved, similarities, latencies = [], [], []
    for prompt in prompts:
        started = time.perf_counter()
        result, _ = await optimizer.optimize(prompt, threshold)
        latencies.append((time.perf_counter() - started) * 1000)
        saved.append(result.tokens_saved / result.original_tokens)
        similarities.append(result.similarity)
        assert result.similarity >= threshold or result.level == 0
    latencies.sort()
    return {"prompts": len(prompts), "mean_saved_pct": 100 * statistics.mean(saved),
            "min_similarity": min(similarities), "mean_similarity": statistics.mean(similarities),
            "p50_ms": latencies[len(latencies) // 2], "p99_ms": latencies[int(len(latencies) * 0.99) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args()
    r = asyncio.run(measure(args.threshold))
    print(f"{r['prompts']} prompts at threshold {args.threshold}: mean tokens saved {r['mean_saved_pct']:.1f}%, "
          f"similarity min {r['min_similarity']:.3f} / mean {r['mean_similarity']:.3f}, "
          f"latency p50 {r['p50_ms']:.2f} ms / p99 {r['p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
