"""BERT's uncased WordPiece tokenizer (the one all-MiniLM-L6-v2 reads), in plain Python.

The same steps as Hugging Face's `BertNormalizer` + `BertPreTokenizer` + `WordPiece`: drop control
characters, space out CJK ideographs, lowercase, strip accents, split on whitespace and on each
punctuation character, then greedy longest-match subwords ("##" continues a word), `[UNK]` for a word
that cannot be spelled or runs past 100 characters. Token ids match the reference tokenizer's
(tests/core/test_embedder.py holds ids it produced).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

MAX_WORD_CHARS = 100


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def _normalize(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD:
            continue
        category = unicodedata.category(char)
        if char in "\t\n\r" or category == "Zs":
            out.append(" ")
        elif category in ("Cc", "Cf"):
            continue
        elif _is_cjk(code):
            out.append(f" {char} ")
        else:
            out.append(char)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    return "".join(char for char in text if unicodedata.category(char) != "Mn")


def _pre_tokenize(text: str) -> list[str]:
    words: list[str] = []
    for chunk in text.split():
        start = 0
        for i, char in enumerate(chunk):
            if _is_punctuation(char):
                if i > start:
                    words.append(chunk[start:i])
                words.append(char)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


class WordPiece:
    def __init__(self, vocab: list[str]) -> None:
        self.ids = {token: i for i, token in enumerate(vocab)}
        self.unk = self.ids["[UNK]"]
        self.word_ids = lru_cache(maxsize=65536)(self._word_ids)

    def _word_ids(self, word: str) -> tuple[int, ...]:
        if len(word) > MAX_WORD_CHARS:
            return (self.unk,)
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if (found := self.ids.get(piece)) is not None:
                    pieces.append(found)
                    break
                end -= 1
            else:
                return (self.unk,)
            start = end
        return tuple(pieces)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without [CLS]/[SEP]."""
        return [i for word in _pre_tokenize(_normalize(text)) for i in self.word_ids(word)]
