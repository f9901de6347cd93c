"""The optimizer's rules: five levels of compression, each adding to the last — (1) layout: runs of
spaces and blank lines, markup emphasis, repeated punctuation, sentences said twice; (2) verbose
constructions rewritten short ("in order to" → "to"); (3) filler words, hedges and politeness ("I
was wondering if you could", "please", "basically"); (4) small talk clause by clause (greetings,
apologies, thanks, frustration: a clause that asks for something, holds a number or a question
stays) and restatements ("In other words, …" saying again what was said); (5) telegram style:
articles where nothing hangs on them. Code, quoted passages, line breaks and words that read as
code are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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
    (r"(?:that )?I(?:'m| am) hoping you (?:might|may|can|could|will) (?:be able to )?", ""),
    (r"(?:I(?:'m| am) )?hoping you (?:might|may|can|could) (?:be able to )?", ""),
    (r"shed (?:some )?light on", "explain"),
    (r"I am writing (?:in order )?to (?:request|ask for|seek) (?:your )?(?:assistance|help|advice) with",
     "I need help with"),
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
    r"\b(?:please|kindly)\s+", r"\b(?:basically|actually|really|very|quite|literally|definitely|"
    r"certainly|totally|honestly)\s+", r"\bjust\s+(?!(?:before|after|under|over|below|above|about|in time|now)\b)",
    r"\bas an AI(?: language model)?,?\s*", r"\bof course,?\s*",
    r"\bI was (?:just )?wondering (?:if|whether) "
    r"(?:it (?:might|would) be possible for you to|you (?:could|can|would))\s*",
    r"\bI would (?:really |greatly )?appreciate it if you (?:could|would)\s*", r"\bif that makes sense,?\s*",
    r",?\s*\b(?:if (?:that|it) (?:matters|helps)|for what it'?s worth|or anything(?: like that)?"
    r"|or something(?: like that)?|if you know what I mean|as (?:he|she|they) puts? it)\b(?=[.,!?;:]|$)",
    r"(?<=\w) at all\b(?=[.,!?;:]|$)",
    r"\bso,? my question is(?: basically)?(?: this)?:?\s*",
    r"\b(?:a little bit|I guess|I think maybe|more or less)\s+", r"\b(?:maybe|perhaps)\s+(?=[a-z])",
    r"\b(?:I have to be honest with you|to be (?:fair|honest)|if I'm honest|anyway|anyways),?\s*",
    r"\b(?:tbh|ngl|lol|lmao|haha|um+|uh+)\b,?\s*", r"\b(?:kinda|sorta|super|absolutely|extremely|incredibly)\s+",
    # a sentence's opening "so", "okay", "well," … ("So far" and "So that" mean something)
    r"(?:^|(?<=[.!?]\s))(?:so|okay|ok|alright)\b(?:,? (?:so|okay|ok|um+))*(?! (?:far|much|many|long|that)\b)[,!.]?\s+",
    r"(?:^|(?<=[.!?]\s))(?:well|right|now|oh|ah+|um+|uh+)(?:,? (?:so|okay|ok|um+))*,\s*",
)]
# A clause of small talk — greeting, well-wishing, apology, thanks, sign-off, frustration: dropped
# at the strongest levels wherever it stands (a sentence of nothing else goes whole). Each form is
# bounded: a clause that says anything more is not matched.
_TAIL = r"(?: (?:a bit|a lot|so much|right now|here|now|again|seriously|honestly|lol|haha|tbh))*"
SMALL_TALK = re.compile(
    r"(?:hi|hello|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening)|morning|evening|dear (?:assistant|ai))"
    r"(?: (?:there|again|all|everyone|friend|folks|guys|team|hello|hi))*"
    r"|(?:I )?hope (?:you(?:'re| are) (?:well|doing well|keeping well|having an? (?:\w+ )?(?:day|week))"
    r"|(?:this|my) (?:message|email|note) finds you (?:well|in good health)"
    r"|your (?:day|week)(?:'s| is) going (?:well|ok))"
    r"|(?:I )?hope (?:it's|it is|that's|that is) (?:ok|okay|alright|fine) (?:to ask(?: this| you this)?(?: here)?)"
    r"|(?:I'm |I am |so |really |very |terribly )*(?:sorry|apologies|I apologi[sz]e)(?: again| in advance)?"
    r"(?: (?:to|for) (?:bother|bug|disturb|trouble|pester)(?:ing)? you(?: again)?(?: (?:with|about) (?:this|that"
    r"|what is (?:probably |likely )?(?:a )?(?:dumb|stupid|silly|basic|simple|newbie) (?:one|question)))?(?: again)?"
    r"| for (?:the|this|my|such an?|a) (?:(?:long|late|lengthy|rambling|messy|huge) )?"
    r"(?:message|post|question|essay|rant|wall of text|ramble|novel|mess)"
    r"| for (?:rambling|going on|the rambling|the essay|the typos|any typos|my english|my bad english|the mistakes)"
    r"|(?: (?:if|that))? (?:this|it)(?:'s| is) (?:so |a bit |too |really )?"
    r"(?:long|rambling|a (?:dumb|stupid|silly|basic|newbie) question|obvious|basic|a lot|confusing)"
    r"| if this is (?:a |such a )?(?:dumb|stupid|silly|basic|obvious|newbie|noob|beginner) (?:one|question))?" + _TAIL +
    r"|(?:I know|I'm sure|I realise|I realize) (?:this|it|that)(?:'s| is) (?:(?:probably|prob|a bit|kind of|kinda|such"
    r"|really|very|super|pretty|quite|so) )*(?:a )?(?:(?:really|very|super|pretty|such) )?"
    r"(?:dumb|stupid|silly|basic|obvious|boring|simple|newbie|noob|long|lot|lot to (?:ask|throw at you))"
    r"(?: (?:one|question|ask))?" + _TAIL +
    r"|(?:I have |I've got |I got |got |just )?(?:a |one )?(?:quick|small|simple|silly|dumb|stupid|random|little|weird)"
    r" question(?: for you| here)?|(?:I )?(?:know|understand|realise|realize|appreciate|get) (?:that )?you(?:'re| are)"
    r" (?:not|no) (?:a |an )?(?:doctor|lawyer|solicitor|accountant|vet|therapist|(?:financial |tax |legal |medical )?"
    r"(?:advisor|adviser|professional|expert))(?: and (?:I|that)[^,;]{0,60})?"
    r"|(?:I )?(?:know|understand|realise|realize|appreciate|get) (?:that )?you (?:can't|cannot|can not|aren't able to)"
    r" (?:give|offer|provide) (?:me )?(?:proper |real |official |professional )?(?:legal|medical|financial|tax|vet)"
    r" advice(?: as such)?|not your fault|(?:so |please )?bear with me|(?:I )?hope (?:that|this|it) makes sense"
    r"|if that makes sense"
    r"|(?:I'm|I am) not sure (?:if|whether) this is the right place(?: to ask| for this)?"
    r"|first time (?:using|trying|asking) (?:one of )?(?:these|this|you|an ai)(?: ai)?(?: things?| chatbots?| tools?)?"
    r"|(?:many |thank you |thanks |so |very )*(?:thanks|thank you|thank u|thx|ty|tysm|cheers|ta)"
    r"(?: (?:so|very|a) (?:much|lot|million|bunch|ton)| sm| in advance| again| heaps| loads| x+)*"
    r"(?: for (?:your|the|any|all (?:your|the)|this|that|reading|listening|looking)(?: [\w'-]+){0,5})?"
    r"(?:,? (?:seriously|honestly|x+|!+))*(?: (?:thank you|thanks))*"
    r"|(?:much|greatly|really) appreciated"
    r"|(?:I )?(?:really |truly |greatly |would |'d )?appreciate (?:it|this|(?:any|all|your) (?:help|assistance|advice))"
    r"(?: (?:so much|a lot|very much))?"
    r"|any (?:help|advice|tips|pointers|input|thoughts|suggestions|ideas|feedback|guidance)"
    r"(?: (?:would be|is|will be|much|greatly|really|hugely|very))* appreciated" + _TAIL +
    r"|I(?:'d| would) be (?:most |so |very |really |eternally |extremely |forever )?grateful(?: for (?:any|your) "
    r"(?:help|advice|assistance|guidance)(?: (?:on|with) (?:this|that))?)?"
    r"|you(?:'re| are) (?:a )?(?:lifesaver|star|legend|the best)"
    r"|(?:kind |best |warm |warmest )?regards|best wishes|all the best|yours (?:sincerely|faithfully|truly)"
    r"|(?:this is|it's|it is) (?:so |really |absolutely )?(?:frustrating|annoying|doing my head in|driving me "
    r"(?:absolutely |completely )?(?:nuts|crazy|insane|mad|up the wall))" + _TAIL +
    r"|I(?:'ve| have) been (?:stuck|struggling|banging my head against (?:a|the) wall|going (?:a)?round in circles)"
    r"(?: (?:on|with) (?:this|it))?(?: for (?:hours|days|ages|weeks|so long|a while)| all (?:day|morning|evening|night"
    r"|week|weekend)| since (?:lunch|yesterday|this morning))?(?: and (?:I'm|I am) at my wits'? end)?"
    r"|(?:I'm|I am|im) (?:so |really |honestly |completely |totally |kind of |kinda |a bit |getting |starting to )*"
    r"(?:panicking|freaking out|stressed(?: out)?|desperate|excited|nervous|confused|lost|losing my mind"
    r"|going crazy|pulling my hair out|at my wits'? end|tearing my hair out|bricking it)" + _TAIL +
    r"|seriously|honestly|genuinely|truly|(?:to cut a )?long story short|anyway|anyways|deep breath"
    r"|lol|haha\w*|ahaha\w*|lmao|:\)|:D|xx+|(?:(?:ugh+|argh+|a+h+|oh no|omg|ffs|sigh|phew|yikes|help+)[ ,!]*)+",
    re.IGNORECASE)
SMALL_TALK_CHARS = 200     # small talk is short: a longer clause is not even tried
# A whole sentence of small talk in forms that run on past a clause ("Sorry if this is a dumb
# question, I feel like it is"): dropped at the strongest levels when it holds no question, number
# or request. Thanks and appreciation never run on here: "Thanks, the fix worked but …" says more.
SMALL_TALK_SENTENCE = re.compile(
    r"(?:I )?hope (?:you(?:'re| are)|this (?:message |email |note )?finds you|your (?:day|week)).{0,60}"
    r"|(?:I'm|I am) (?:so |really |very |terribly )?sorry (?:to|for) (?:bother|bug|keep|ask|disturb|trouble)\w*.{0,60}"
    r"|sorry (?:if|for) (?:this is |the )?(?:a |such a )?(?:dumb|stupid|silly|basic|long|newbie|noob)\b.{0,40}"
    r"|(?:sorry|apologies) (?:for (?:rambling|the rambling|going on)|(?:that )?this is so long).{0,40}"
    r"|(?:I'm|I am) not sure (?:if|whether) this is the right place (?:to ask|for this).{0,60}"
    r"|I(?:'d| would) be (?:most |so |very |really |eternally |extremely )?grateful .{0,80}"
    r"|I know this is a lot.{0,40}|let me know if you need (?:more|any|further) (?:info|information|details|context)",
    re.IGNORECASE)
# A sentence that says again what was said ("In other words, …"): dropped at the strongest levels
# when it says no number that was not said before and many of its words were.
RESTATEMENT = re.compile(r"(?:so,? )?(?:in other words|to put it (?:another way|simply|differently|plainly)"
                         r"|what I(?:'m| am) (?:really |basically )?(?:asking|looking) for(?:,? in short,?)? is"
                         r"|what I (?:really )?(?:want|need|require|mean) is|so the (?:ask|question|short version)"
                         r"|in (?:a nutshell|short|summary)|to (?:sum|summari[sz]e)(?: it)? up|i\.e\.|essentially"
                         r"|so,? basically|basically,|(?:so )?(?:again|once more),)\b", re.IGNORECASE)
# A sentence that asks for something is never small talk, however it opens.
REQUEST = re.compile(r"\b(?:need|want|write|explain|help me|create|make|give me|tell|show|fix|summari[sz]e|"
                     r"translate|draft|plan|suggest|recommend|list|compare|review|check|find|build|"
                     r"(?:could|can|would|will) you|please)\b", re.IGNORECASE)
# Never rewritten: fenced and inline code, quoted passages (text handed over to be worked on), and
# words that read as code — identifiers, calls, paths, versions, addresses.
VERBATIM = re.compile(r'```.*?(?:```|\Z)|`[^`\n]+`|(?<![\w\[(])"(?=\w)[^"]{30,}"(?![\w\])])'
                      r"|(?<![\w\[(])'(?=\w)(?:[^']|(?<=\w)'(?=\w)){30,}?'(?![\w\])])"   # apostrophes inside
                      r"|\u201c[^\u201c\u201d]{30,}\u201d|\u2018[^\u2018\u2019]{30,}\u2019", re.DOTALL)
WORD = re.compile(r"[a-z0-9]+")
SPACES = re.compile(r"[^\S\n]+")        # a run of any whitespace but line breaks (NBSP, U+2000…, tabs)
CAPITAL = "\x00"         # marks where a cut took a sentence's capital letter with it
WORDS = re.compile(r"[^\s`]+")
CODE_SIGN = re.compile(r"[{}\[\]<>=|\\;~^@#$]|\w\(|\w_\w|__\w|\w[.:/]\w|^[.~/]\w")


def _code_words(line: str) -> list[re.Match[str]]:
    """The words of a line that read as code (a word at a time: linear in the line, however long)."""
    return [word for word in WORDS.finditer(line) if CODE_SIGN.search(word.group())]


def _reads_as_code(line: str, code_words: int) -> bool:
    """Indented, quoted with ">", a third of its words code, or a few words without a sentence's end."""
    words = line.split()
    if not words:
        return False
    if line[:1] in (" ", "\t", ">") or code_words * 3 >= len(words):
        return True
    return len(words) < 4 and (not line.endswith((".", "!", "?")) or any(not w.strip(".,!?") for w in words))


def pieces_of(text: str) -> list[tuple[bool, str]]:
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


def _restates(sentence: str, said: _Said) -> bool:
    """Whether a sentence that announces a restatement ("In other words, …") says nothing new: no
    number not said before, and at least 40% of its words (past the announcement) said before."""
    marker = RESTATEMENT.match(sentence)
    if not marker or len(said.sentences) < 2:
        return False
    words = WORD.findall(sentence[marker.end():].lower())
    if any(w[0].isdigit() and w not in said.words for w in words):
        return False
    content = [w for w in words if len(w) > 3]
    return bool(content) and sum(w in said.words for w in content) >= 0.4 * len(content)


def _small_talk(clause: str, pattern: re.Pattern[str] = SMALL_TALK) -> bool:
    bare = re.sub(r"^(?:and|but|so|also|oh),?\s+", "", clause.strip().strip(".!,;:-\u2013\u2014 "), flags=re.IGNORECASE)
    return (bool(bare) and len(bare) <= SMALL_TALK_CHARS and "?" not in clause and not re.search(r"\d", bare)
            and not REQUEST.search(bare) and pattern.fullmatch(bare) is not None)


def _without_small_talk(sentence: str) -> str:
    """The sentence with its clauses of small talk left out ("Sorry, not your fault, I need …" →
    "I need …"); a conjunction left leading goes with them; the sentence keeps its end."""
    parts = re.split(r"(,\s+|;\s+|\s+[-\u2013\u2014]\s+)", sentence)
    clauses, separators = parts[0::2], ["", *parts[1::2]]
    kept = [(separators[i], clause) for i, clause in enumerate(clauses) if not _small_talk(clause)]
    if not kept or _small_talk(sentence, SMALL_TALK_SENTENCE):
        return ""
    if len(kept) == len(clauses):
        return sentence
    text = kept[0][1] + "".join(separator + clause for separator, clause in kept[1:])
    if kept[0][1] is not clauses[0]:
        text = CAPITAL + re.sub(r"^(?:but|and|so|though|although|however|because|since),?\s+", "", text,
                                flags=re.IGNORECASE)
    end = re.search(r"[.!?]+$", sentence)
    return text if not end or re.search(r"[.!?]$", text) else text.rstrip(",;: ") + end.group()


def _sentences(prose: str, said: _Said, strongest: bool, cut: tuple[bool, bool]) -> str:
    """The prose with sentences said twice left out, and at the strongest levels small talk and
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
        restated = strongest and whole and _restates(sentence.strip(), said)
        said.words.update(words)
        if restated:
            continue
        if strongest and whole:
            sentence = _without_small_talk(sentence)
        if sentence:
            kept.append(sentence)
    return " ".join(kept)


# The strongest level writes like a telegram: articles go where nothing hangs on them ("the query
# is slow" → "query is slow"), never before a name ("the Consumer Rights Act"), in a measure ("once
# a week", "a few", "a lot") or where "a" may be a letter ("group A", "a and b").
ARTICLE = re.compile(r"(?:(?<=^)|(?<=[.!?:]\s)|(?<=\n))(?:The|An?)\s+(?=[a-z0-9])|(?<=\s)(?:the|an?)\s+(?=[a-z0-9])")
ARTICLE_STAYS_BEFORE = {"few", "little", "lot", "lots", "bit", "couple", "number", "while", "half", "dozen", "and",
                        "or", "is", "are", "was", "were", "be", "to", "of", "in", "on", "at", "by", "for", "with",
                        "as", "day", "week", "month", "year", "hour", "minute", "second", "night", "time", "piece",
                        "pinch", "bunch", "kind", "sort", "one", "other"}
ARTICLE_STAYS_AFTER = {"once", "twice", "thrice", "times", "per", "such", "what", "quite", "rather", "half", "many",
                       "all", "than"}
HEDGES = [re.compile(pattern, re.IGNORECASE) for pattern in (
    r"(?<!\bwhat )(?<!\bthe )(?<!\bsame )(?<!\bthis )(?<!\bthat )(?<!\bany )(?<!\bsome )(?<!\bwhich )"
    r"(?<!\ba )\b(?:kind|sort) of\s+(?=[a-z])",
    r"\ba (?:little )?bit\s+(?!of\b)(?=[a-z])", r"\s+a (?:little )?bit(?=[.,!?])",
    r"(?:^|(?<=[.!?]\s))like,?\s+(?=(?:i|we|you|it|how|what|whats|what's|why|when|is|can)\b)",
)]


NEXT_WORD = re.compile(r"[\w'-]+")
LAST_WORD = re.compile(r"([\w$£€%'-]+)\s*$")


def _telegram(text: str) -> str:
    def article(match: re.Match[str]) -> str:
        after = NEXT_WORD.match(match.string, match.end())
        before = LAST_WORD.search(match.string[max(0, match.start() - 40):match.start()])   # a bounded look back
        if after and after.group().lower() in ARTICLE_STAYS_BEFORE:
            return match.group()
        if before and (before.group(1).lower() in ARTICLE_STAYS_AFTER or re.search(r"\d", before.group(1))):
            return match.group()
        return ""

    for pattern in HEDGES:
        text = _cut(pattern, "", text)
    return _cut(ARTICLE, article, text)


def _prose(text: str, level: int, said: _Said, cut: tuple[bool, bool]) -> str:
    if not text.strip():
        return text
    text = SPACES.sub(" ", text)              # first: every rule after it meets one space at a time
    text = re.sub(r"(\*\*|__|~~)(.+?)\1", r"\2", text)          # markdown emphasis
    text = re.sub(r"<[^>\n]{1,40}>", " ", text)                  # stray tags
    text = re.sub(r"([!?.,])\1+", r"\1", text)                   # "!!!" → "!"
    text = _sentences(text, said, level >= 4, cut)
    if level >= 2:
        for pattern, short in VERBOSE:
            text = _cut(pattern, short, text)
    if level >= 3:
        for pattern in FILLER:
            text = _cut(pattern, "", text)
    if level >= 5:
        text = _telegram(text)
    return _tidy(text, cut)


def _cut(pattern: re.Pattern[str], short: str | Callable[[re.Match[str]], str], text: str) -> str:
    """`pattern` replaced by `short` in `text`; where a sentence's capitalised opening goes, what
    follows is marked to take its capital (the case of words not at a cut is left as written)."""
    def replace(match: re.Match[str]) -> str:
        out = short(match) if callable(short) else short
        opens = match.group()[:1].isupper() and re.search(r"(?:^|[.!?:]\s+|\n)$", text[:match.start()]) is not None
        return CAPITAL + out if opens and out != match.group() else out

    return pattern.sub(replace, text)


def _tidy(text: str, cut: tuple[bool, bool]) -> str:
    """Spaces and punctuation put right after words went; the first letter after a cut opening
    capital. A comma left at an end goes unless code stands there."""
    text = SPACES.sub(" ", text)
    text = re.sub(r"\s+([,.!?;:])(?=\s|$)", r"\1", text)
    text = re.sub(r"(?<![,;:])[,;:]+\s*([.!?])", r"\1", text)    # "plan, ." → "plan." (a run tried once)
    text = re.sub(r"([,.;:])(?:\s*[,.;:])+", r"\1", text)
    text = re.sub(r"\b(and|but|or),\s+(?=\w)", r"\1 ", text)                 # "and, honestly, close" → "and close"
    text = re.sub(CAPITAL + r"([^\w\n]*)(\w)", lambda m: m.group(1) + m.group(2).upper(), text).replace(CAPITAL, "")
    text = text.strip(" ")
    text = text if cut[0] else text.lstrip(", ")
    return text if cut[1] else text.rstrip(", ")


def compress(text: str, level: int) -> str:
    """`text` compressed at `level` (1: layout; 2: and verbose constructions; 3: and filler words;
    4: and sentences of small talk or restatement); code, quoted passages and line breaks are kept
    as they are."""
    return compress_pieces(pieces_of(text), level) if level > 0 else text


def compress_pieces(pieces: list[tuple[bool, str]], level: int) -> str:
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


