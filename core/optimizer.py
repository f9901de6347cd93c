"""Prompt compression that keeps meaning: remove what carries none, measure what is left against the
original, and never hand back a prompt less similar than the threshold.

Four passes, each adding to the last: (1) layout — runs of spaces and blank lines, markup emphasis,
repeated punctuation, sentences said twice; (2) verbose constructions rewritten short ("in order
to" → "to"); (3) filler words and politeness ("I was wondering if you could", "please", "thank you
in advance"); (4) whole sentences of small talk (greetings, apologies, thanks, frustration) and
restatements ("In other words, …" saying again what was said). The strongest pass that stays at or
above the threshold wins; if none does, the original comes back unchanged (similarity 1.0). Code,
quoted passages, line breaks and words that read as code are never touched.

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
    r"\bI was (?:just )?wondering (?:if|whether) "
    r"(?:it (?:might|would) be possible for you to|you (?:could|can|would))\s*",
    r"\bI would (?:really |greatly )?appreciate it if you (?:could|would)\s*", r"\bif that makes sense,?\s*",
    r"(?:^|(?<=[.!?]\s))(?:okay|ok|so),? so,?\s+", r"\bso,? my question is(?: basically)?(?: this)?:?\s*",
    r"\b(?:a little bit|I guess|I think maybe|more or less)\s+", r"\b(?:maybe|perhaps)\s+(?=[a-z])",
    r"\b(?:I have to be honest with you|to be (?:fair|honest)|if I'm honest|anyway|anyways),?\s*",
    r"\b(?:tbh|ngl|lol|lmao|haha|um+|uh+)\b[,.]?\s*", r"\b(?:kinda|sorta|super|absolutely|extremely|incredibly)\s+",
    r"(?:^|(?<=[.!?]\s))(?:okay|ok)(?:,? (?:okay|ok))*[,!.]?\s+",
)]
# A whole sentence of small talk — greeting, well-wishing, apology, thanks, frustration — with no
# question or number in it: dropped at the strongest level.
SMALL_TALK = re.compile(
    r"(?:hi|hello|hey|good (?:morning|afternoon|evening))(?: there| again| hello| all| everyone| friend)?"
    r"|(?:I )?hope (?:you(?:'re| are)|this (?:message |email |note )?finds you|your (?:day|week)).{0,60}"
    r"|(?:I'm|I am) (?:so |really |very |terribly )?sorry (?:to|for) (?:bother|bug|keep|ask|disturb|trouble)\w*.{0,160}"
    r"|sorry (?:if|for) (?:this is |the )?(?:a |such a )?(?:dumb|stupid|silly|basic|long|newbie|noob)\b.{0,40}"
    r"|(?:sorry|apologies) (?:for (?:rambling|the rambling|going on)|(?:that )?this is so long).{0,40}"
    r"|(?:I'm|I am) not sure (?:if|whether) this is the right place (?:to ask|for this).{0,60}"
    r"|(?:many |thank you |thanks )*(?:thanks|thank you|thx|ty)\b.{0,80}|cheers\b.{0,40}|much appreciated"
    r"|any (?:help|advice|tips|pointers|input|thoughts|suggestions|ideas|feedback) "
    r"(?:(?:would be|is|will be) )?.{0,30}appreciated.{0,20}"
    r"|I(?:'d| would) be (?:most |so |very |really |eternally |extremely )?grateful .{0,80}"
    r"|(?:I )?hope (?:that|this|it) makes sense|sorry for the (?:long|wall of|lengthy) (?:message|text|post|question)"
    r"|I know this is a lot|let me know if you need (?:more|any|further) (?:info|information|details|context)"
    r"|(?:this is|it's|it is) driving me (?:absolutely |completely )?(?:nuts|crazy|insane|mad|up the wall)"
    r"|I (?:really |truly |greatly )?appreciate .{0,60}"
    r"|I(?:'ve| have) been (?:stuck|struggling|banging my head|going (?:a)?round in circles)\b.{0,80}"
    r"|(?:I'm|I am) (?:honestly |completely |totally |so )?"
    r"(?:at my wit'?s end|losing my mind|pulling my hair out)\b.{0,40}"
    r"|lol|haha",
    re.IGNORECASE)
# A sentence that says again what was said: dropped at the strongest level when most of its words
# were said before it.
RESTATEMENT = re.compile(r"(?:in other words|to put it (?:another way|simply|differently)|so,? basically|basically,"
                         r"|what I(?:'m| am) (?:really )?(?:asking|looking) for is|what I (?:want|need|require|mean) is"
                         r"|to (?:sum|summari[sz]e)(?: it)? up|long story short|TL;?DR)\b", re.IGNORECASE)
# A sentence that asks for something is never small talk, however it opens.
REQUEST = re.compile(r"\b(?:need|want|write|explain|help me|create|make|give me|tell|show|fix|summari[sz]e|"
                     r"translate|draft|plan|suggest|recommend|list|compare|review|check|find|build|"
                     r"(?:could|can|would|will) you|please)\b", re.IGNORECASE)
# Never rewritten: fenced and inline code, quoted passages (text handed over to be worked on), and
# words that read as code — identifiers, calls, paths, versions, addresses.
VERBATIM = re.compile(r'```.*?(?:```|\Z)|`[^`\n]+`|(?<![\w\[(])"(?=\w)[^"]{30,}"(?![\w\])])'
                      r"|(?<![\w\[(])'(?=\w)(?:[^']|(?<=\w)'(?=\w)){30,}?'(?![\w\])])"   # apostrophes inside
                      r"|\u201c[^\u201d]{30,}\u201d|\u2018[^\u2019]{30,}\u2019", re.DOTALL)
WORD = re.compile(r"[a-z0-9]+")
WORDS = re.compile(r"[^\s`]+")
CODE_SIGN = re.compile(r"[{}\[\]<>=|\\;~^@#$]|\w\(|\w_\w|__\w|\w[.:/]\w|^[.~/]\w")


def _code_words(line: str) -> list[re.Match[str]]:
    """The words of a line that read as code (a word at a time: linear in the line, however long)."""
    return [word for word in WORDS.finditer(line) if CODE_SIGN.search(word.group())]


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


def _reads_as_code(line: str, code_words: int) -> bool:
    """Indented, quoted with ">", a third of its words code, or a few words without a sentence's end."""
    words = line.split()
    if not words:
        return False
    if line[:1] in (" ", "\t", ">") or code_words * 3 >= len(words):
        return True
    return len(words) < 4 and (not line.endswith((".", "!", "?")) or any(not w.strip(".,!?") for w in words))


def _pieces(text: str) -> list[tuple[bool, str]]:
    """The text in order, each piece marked verbatim or prose; only prose is ever compressed.
    Verbatim: code fenced or in backticks, quoted passages (VERBATIM); whole lines that read as code
    or logs; and, inside prose, words that read as code."""
    pieces: list[tuple[bool, str]] = []
    start = 0
    for match in [*VERBATIM.finditer(text), None]:
        end = match.start() if match else len(text)
        position = start
        for line in text[start:end].splitlines(keepends=True):
            body = line.rstrip("\n")
            starts = position == 0 or text[position - 1] == "\n"
            whole = starts and (line != body or position + len(line) == len(text))
            position += len(line)
            code_words = _code_words(line)
            if whole and _reads_as_code(body, len(code_words)):
                pieces.append((True, line))
                continue
            at = 0
            for word in code_words:
                pieces += [(False, line[at:word.start()]), (True, word.group())]
                at = word.end()
            pieces.append((False, line[at:]))
        if match:
            pieces.append((True, match.group()))
            start = match.end()
    return [(verbatim, piece) for verbatim, piece in pieces if piece]


@dataclass(slots=True)
class _Said:
    """What the text has said so far, as it is read: its sentences and its words."""
    sentences: set[str]
    words: set[str]


def _restates(words: list[str], said: _Said) -> bool:
    content = [w for w in words if len(w) > 3]
    return bool(content) and sum(w in said.words for w in content) >= 0.6 * len(content)


def _sentences(prose: str, said: _Said, strongest: bool, cut: tuple[bool, bool]) -> str:
    """The prose with sentences said twice left out, and at the strongest level small talk and
    restatements. `cut` says whether code interrupts its first or last sentence: a part of a
    sentence is never taken for either."""
    kept = []
    sentences = re.split(r"(?<=[.!?])\s+", prose)
    for i, sentence in enumerate(sentences):
        whole = not ((i == 0 and cut[0]) or (i == len(sentences) - 1 and cut[1]))
        words = WORD.findall(sentence.lower())
        key = " ".join(words)
        if whole and len(words) >= 3:
            if key in said.sentences:
                continue                                         # said twice
            said.sentences.add(key)
        restated = strongest and whole and RESTATEMENT.match(sentence.strip()) and _restates(words, said)
        said.words.update(words)
        if restated:
            continue
        bare = sentence.strip().rstrip(".!?,; ")
        if (strongest and whole and "?" not in sentence and not re.search(r"\d", bare) and not REQUEST.search(bare)
                and SMALL_TALK.fullmatch(bare)):
            continue
        kept.append(sentence)
    return " ".join(kept)


def _prose(text: str, level: int, said: _Said, cut: tuple[bool, bool]) -> str:
    if not text.strip():
        return text
    text = re.sub(r"(\*\*|__|~~)(.+?)\1", r"\2", text)          # markdown emphasis
    text = re.sub(r"<[^>\n]{1,40}>", " ", text)                  # stray tags
    text = re.sub(r"([!?.,])\1+", r"\1", text)                   # "!!!" → "!"
    text = re.sub(r"[ \t]+", " ", text)
    text = _sentences(text, said, level >= 4, cut)
    if level >= 2:
        for pattern, short in VERBOSE:
            text = pattern.sub(short, text)
    if level >= 3:
        for pattern in FILLER:
            text = pattern.sub("", text)
    return _tidy(text, cut[0])


def _tidy(text: str, cut: bool) -> str:
    """Spaces and punctuation put right after words went; a sentence's first letter capital (not
    that of a part of a sentence that follows code)."""
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\s+([,.!?;:])(?=\s|$)", r"\1", text)
    text = re.sub(r"[,;:]+\s*([.!?])", r"\1", text)              # "plan, ." → "plan."
    text = re.sub(r"([,.;:])(?:\s*[,.;:])+", r"\1", text)
    text = re.sub(r"([.!?]\s+)([a-z])" if cut else r"(^|[.!?]\s+)([a-z])",
                  lambda m: m.group(1) + m.group(2).upper(), text)
    return text.strip(" ") if cut else text.strip(" ,")


def compress(text: str, level: int) -> str:
    """`text` compressed at `level` (1: layout; 2: and verbose constructions; 3: and filler words;
    4: and sentences of small talk or restatement); code, quoted passages and line breaks are kept
    as they are."""
    return _compress(_pieces(text), level) if level > 0 else text


def _compress(pieces: list[tuple[bool, str]], level: int) -> str:
    said = _Said(set(), set())
    out = []
    for i, (verbatim, piece) in enumerate(pieces):
        if verbatim:
            out.append(piece)
            continue
        body = piece.rstrip("\n")
        if not body.strip():
            out.append(piece)                      # the spaces between two pieces of code
            continue
        cut = (i > 0 and pieces[i - 1][0] and not pieces[i - 1][1].endswith("\n"),
               piece == body and i + 1 < len(pieces))
        short = _prose(body.strip(), level, said, cut)
        if short:                                  # the spaces that part it from code beside it stay
            short = body[:len(body) - len(body.lstrip())] + short + body[len(body.rstrip()):]
        out.append(short + piece[len(body):])
    text = re.sub(r"\n[ \t]*(?:\n[ \t]*)+\n", "\n\n", "".join(out))     # at most one blank line
    return text.strip("\n").rstrip()


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
        levels = [4, 3, 2, 1]
        pieces = _pieces(prompt)
        candidates = {level: _compress(pieces, level) for level in levels}
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
