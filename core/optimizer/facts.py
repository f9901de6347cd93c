"""What a free rewrite of a prompt (the condenser's) must keep: its code and quoted passages character
for character, its numbers and names, and every negation the right way round.
"""

from __future__ import annotations

import re

from core.optimizer.rules import CODE_SIGN, pieces_of

NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
# A capitalised word inside a sentence; in capitals only if short ("AWS", "CEO"; "NUTS!" is shouting).
NAME = re.compile(r"(?:(?<=[a-z0-9,;)] )|(?<=\())(?!I\b|I'|(?:NOT|NO|AND|BUT|THE|ALL|ANY|YOU|CAN|WHY|HOW|NOW|DO|IS"
                  r"|IT|OK|SO)\b)(?:[A-Z][\w'-]*[a-z0-9][\w'-]*|[A-Z]{2,3}\b)")
NEGATION = re.compile(r"\b(?:not|no|never|without|nor|none|nothing|neither|avoid|except)\b|n't\b", re.IGNORECASE)
# Looked past for what a negation governs ("don't want a formal tone" → "formal") …
NEGATION_PASSES = {"want", "need", "like", "have", "been", "being", "able", "more", "less", "much", "very", "quite",
                   "than", "that", "this", "some", "enough", "even", "ever", "always", "anymore", "longer", "really",
                   "into"}
# … or a sign that it governs nothing the answer depends on ("not sure", "don't understand why").
NEGATION_HEDGES = {"sure", "just", "only", "certain", "entirely", "exactly", "understand", "know", "think", "believe",
                   "remember", "mind", "care", "matter", "seem", "seems"}
# A clause that says a limit says a negation's "no more than" ("max 350 words").
NEGATING = re.compile(NEGATION.pattern + r"|\b(?:max|maximum|at most|up to|under|fewer than|less than|lack\w*"
                      r"|instead of|rather than|free|non)\b", re.IGNORECASE)


def facts(text: str) -> tuple[set[str], set[str]]:
    """What any shortening of `text` must still say: its code (blocks, inline, lines and words that
    read as code) and quoted passages, character for character; and its numbers and names
    (capitalised inside a sentence), in any case. A short line the rules leave alone only because
    it is short ("Kind regards,") is no fact, nor is the punctuation after a word."""
    exact: set[str] = set()
    prose = []
    at = 0
    for verbatim, piece in pieces_of(text):
        body = piece.strip()
        whole_line = (at == 0 or text[at - 1] == "\n") and (piece.endswith("\n") or at + len(piece) == len(text))
        at += len(piece)
        if not verbatim:
            prose.append(piece)
        elif "\n" in body or body[:1] in "`\"'\u201c\u2018" or piece[:1] in " \t>":
            exact.add(body)
            prose.append("\n")
        elif CODE_SIGN.search(word := body.strip(".,;:!?()")):
            exact.add(word)
            prose.append(piece.replace(word, " "))
        else:                                      # a line or word the rules only spared ("Kind regards,")
            prose.append("\n" if whole_line else piece)
    loose = "".join(prose)
    return exact - {""}, {*NUMBER.findall(loose), *NAME.findall(loose)}


def _negated(text: str) -> set[str]:
    """What each negation says is not so: the first word of four letters or more after it, in its
    clause and before any number, looking past "want", "too" and the like; nothing for "not sure",
    "don't understand" (the writer's state of mind, not the request)."""
    found = set()
    for negation in NEGATION.finditer(text):
        clause = re.split(r"[.,;:!?()\n\d]", text[negation.end():negation.end() + 80], maxsplit=1)[0]
        for word in re.findall(r"[a-z']+", clause.casefold())[:6]:
            if word in NEGATION_HEDGES:
                break
            if len(word) >= 4 and word not in NEGATION_PASSES:
                found.add(word)
                break
    return found


def keeps_facts(original: str, rewrite: str) -> bool:
    """Whether a free rewrite (the condenser's) kept every fact of the original, and turned no
    negation around: a word the original negates ("not arrogant", "without paying"), if the
    rewrite says it at all, is in a clause there that negates or limits too ("isn't official
    financial advice", "no more than 350 words" → "max 350 words"). A clause dropped whole is the
    condenser's call, as dropping backstory is its job: its instructions and the threshold answer
    for that."""
    exact, loose = facts(original)
    folded = rewrite.casefold()
    if not (all(fact in rewrite for fact in exact) and all(fact.casefold() in folded for fact in loose)):
        return False
    clauses = [(set(re.findall(r"[a-z']+", clause)), NEGATING.search(clause) is not None)
               for clause in re.split(r"[.,;:!?()\n\u2014]+", folded)]
    # A word said not to be so, said again only where nothing negates it, was turned around.
    for target in _negated(original):
        saying = [negates for words, negates in clauses if target in words]
        if saying and not any(saying):
            return False
    return True


