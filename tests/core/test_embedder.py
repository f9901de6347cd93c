"""The local embedding model: BERT's tokenizer reproduced exactly, and similarities that follow the
full all-MiniLM-L6-v2 it was distilled from (the reference figures below were computed with the full
model, by tools/distill_minilm.py's numpy encoder, which reproduces sentence-transformers' published
similarities to four decimals)."""

from __future__ import annotations

import pytest

from core.embedder import DATA, StaticEmbedder
from core.embedder.wordpiece import WordPiece

EMBEDDER = StaticEmbedder()
VOCAB = (DATA / "vocab.txt").read_text(encoding="utf-8").splitlines()

# Token ids from Hugging Face's `tokenizers` with the model's tokenizer.json (no special tokens).
REFERENCE_IDS = [
    ("Héllo, Wörld! naïve café — 東京 is tall.",
     [7592, 1010, 2088, 999, 15743, 7668, 1517, 1879, 1755, 2003, 4206, 1012]),
    ('I\'m can\'t "quoted" $100.50 @user', [1045, 1005, 1049, 2064, 1005, 1056, 1000, 9339, 1000, 1002, 2531, 1012,
                                            2753, 1030, 5310]),
    ("unaffable xyzzyqqq " + "a" * 101, [14477, 20961, 3468, 1060, 2100, 28753, 4160, 4160, 4160, 100]),
    ("tab\there\u200b\x00 \uff21\uff22\uff23 \ufb01", [21628, 2182, 100, 1984]),   # fullwidth ABC, fi ligature
]
# (a, b, cosine of the full model's mean-pooled embeddings); each even row is a paraphrase or a
# compression of its prompt, the odd row after it the same prompt beside something unrelated.
FULL_MODEL = [
    ("How do I reset my password?", "I forgot my password, how can I change it?", 0.894),
    ("How do I reset my password?", "What is the capital of France?", 0.075),
    ("A man is eating food.", "A man is eating a piece of bread.", 0.755),
    ("A man is eating food.", "A man is riding a horse.", 0.247),
    ("Could you please explain why Postgres ignores my index? Thank you so much!",
     "Explain why Postgres ignores my index.", 0.971),
    ("Could you please explain why Postgres ignores my index? Thank you so much!",
     "Write a poem about autumn leaves.", 0.028),
    ("Summarize the main causes of the French Revolution.",
     "Give a short summary of why the French Revolution happened.", 0.856),
    ("Summarize the main causes of the French Revolution.", "List the ingredients of a chocolate cake.", 0.123),
]


@pytest.mark.parametrize(("text", "ids"), REFERENCE_IDS)
def test_wordpiece_matches_the_reference_tokenizer(text: str, ids: list[int]) -> None:
    assert WordPiece(VOCAB).encode(text) == ids


def test_similarities_follow_the_full_model() -> None:
    ours = [EMBEDDER.similarities(a, [b])[0] for a, b, _ in FULL_MODEL]
    for i in range(0, len(FULL_MODEL), 2):
        assert ours[i] > ours[i + 1] + 0.3, FULL_MODEL[i]           # related well above unrelated
    errors = [abs(o - full) for o, (_, _, full) in zip(ours, FULL_MODEL, strict=True)]
    assert sum(errors) / len(errors) < 0.15 and max(errors) < 0.4


def test_the_model_is_the_whole_vocabulary() -> None:
    assert len(VOCAB) == 30522
    assert EMBEDDER.embed("hello").shape == (256,)


def test_a_text_without_tokens_is_similar_to_nothing() -> None:
    assert EMBEDDER.similarities("", ["hello", ""]) == [0.0, 0.0]
    assert EMBEDDER.similarities("hello", ["hello"]) == pytest.approx([1.0])
