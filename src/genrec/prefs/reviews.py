"""What a user's own reviews say that the items' IDs do not: uses, needs and complaints.

The ``attributes`` generator reads the reviews of the step's window (the user's reviews of the
items before the step; never the target's or a later one) with plain rules a reader can check:

- use: "for my ukulele", "on my strat" -> "Shops for their ukulele";
- need: "needs a case", "wish it had a power switch", "wish it were longer" -> "Needs a case",
  "Wants a power switch", "Wants a longer one";
- complaint: "the action was too high" -> "Does not want the action too high", "too bright" ->
  "Avoids anything too bright", and a problem word in a sentence that is not praise ("there is
  a constant hum") -> "Wants no hum".

A phrase that names a thing must be made of the catalog's descriptive words
(``Catalog.vocabulary``: item-text words that are neither stop, generic nor opinion words), so
"for my money" or "needs a little coaxing" say nothing; the people a user buys for ("for my
son") are allowed as they are.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import NamedTuple

from genrec.prefs.polarity import sentiment
from genrec.prefs.words import GENERIC_WORDS, PEOPLE, STOPWORDS

# Words skipped between a trigger and the thing ("needs a good tuner", "for my new guitar").
FILLERS = frozenset(
    "new old little good great nice own first second other cheap".split()  # noqa: SIM905
)
# What follows "for my" or "needs a" without naming a thing ("for my money", "needs a variety").
NOT_THINGS = frozenset(
    """
    money taste tastes needs purpose purposes liking ears preference style use application
    playing opinion budget variety setting settings hands fingers job way
    """.split()  # noqa: SIM905
)
# "too <word>" that is no complaint about the item ("too much", "too bad", "too easily").
NOT_COMPLAINTS = frozenset(
    """
    much many bad far often soon early late well little good nice great easy easily quickly
    careful close happy glad sure excited worried
    """.split()  # noqa: SIM905
)
# Problem words of musical gear and other goods -> what the statement avoids.
PROBLEMS = {
    **dict.fromkeys(("buzz", "buzzes", "buzzing", "buzzy"), "buzz"),
    **dict.fromkeys(("hum", "hums", "humming"), "hum"),
    **dict.fromkeys(("noise", "noisy"), "noise"),
    **dict.fromkeys(("hiss", "hissing", "hissy"), "hiss"),
    **dict.fromkeys(("static", "crackle", "crackles", "crackling"), "crackling"),
    **dict.fromkeys(("rattle", "rattles", "rattling"), "rattling"),
    **dict.fromkeys(("squeak", "squeaks", "squeaky"), "squeaks"),
    **dict.fromkeys(("broke", "broken", "breakage"), "breakage"),
    **dict.fromkeys(("rust", "rusted", "rusty"), "rust"),
    **dict.fromkeys(("slips", "slipping", "slippage"), "slipping"),
    **dict.fromkeys(("wobble", "wobbles", "wobbly"), "wobble"),
    "flimsy": "flimsy parts",
    "tinny": "tinny sound",
    "muddy": "muddy sound",
    "feedback": "feedback",
}

_SENTENCE = re.compile(r"[.!?;:\n]+|\s\bbut\b\s")
_WORDS = re.compile(r"[a-z]+(?:'[a-z]+)?|\S")  # words; any other character ends a phrase
_USE = re.compile(r"\b(?:for|on) (?:my|our) ")
_NEED = re.compile(
    r"\bneeds? (?:a|an|another|some) "
    r"|\bwish (?:it|they|this|these) (?:had|has|came with|included) (?:a |an )?"
)
_WISH_MORE = re.compile(
    r"\bwish (?:it|they|this|these) (?:was|were|is|are|could be) "
    r"(?:a little |a bit |slightly |just )?([a-z]+er)\b"
)
_TOO = re.compile(
    r"(?:\b([a-z]+)(?:'s|'re| is| was| are| were| seems| seemed| feels| felt| sounds| sounded"
    r"| looks| looked| gets| got| runs| sits) )?"
    r"(?:a little |a bit |slightly |way |just |much |far |simply |a tad )?\btoo ([a-z]+)\b"
)
_PROBLEM = re.compile(rf"\b({'|'.join(PROBLEMS)})\b")
_ADVERB = re.compile(r"^[a-z]{3,}[^bp]ly$")


class Finding(NamedTuple):
    """One thing a review says: ``kind`` (use, need, complaint), the template to word it with
    and the values it fills in."""

    kind: str
    template: str
    values: tuple[tuple[str, str], ...]


def read_review(text: str, vocabulary: Collection[str]) -> list[Finding]:
    """The uses, needs and complaints ``text`` states, in reading order, without repeats."""
    found: dict[Finding, None] = {}
    for sentence in _SENTENCE.split(text.lower()):
        for match in _USE.finditer(sentence):
            thing = _thing(sentence[match.end() :], vocabulary, people=True)
            if thing:
                found[Finding("use", "use", (("thing", thing),))] = None
        for match in _NEED.finditer(sentence):
            thing = _thing(sentence[match.end() :], vocabulary)
            if thing:
                found[Finding("need", "need", (("thing", with_article(thing)),))] = None
        for match in _WISH_MORE.finditer(sentence):
            if _is_quality(match.group(1)):
                found[Finding("need", "need", (("thing", f"a {match.group(1)} one"),))] = None
        for match in _TOO.finditer(sentence):
            subject, quality = match.groups()
            if not _is_quality(quality) or quality in NOT_COMPLAINTS | GENERIC_WORDS:
                continue
            if subject in vocabulary and subject not in PROBLEMS:
                values = (("subject", subject), ("quality", quality))
                found[Finding("complaint", "too_subject", values)] = None
            else:
                found[Finding("complaint", "too", (("quality", quality),))] = None
        problems = [PROBLEMS[m] for m in _PROBLEM.findall(sentence)]
        if problems and sentiment([sentence])[0] <= 0:  # not praise ("no hum at all, love it")
            for problem in problems:
                found[Finding("complaint", "problem", (("problem", problem),))] = None
    return list(found)


def _thing(rest: str, vocabulary: Collection[str], people: bool = False) -> str | None:
    """The up to three descriptive words that open ``rest`` ("acoustic guitar" of "acoustic
    guitar and it"), after fillers ("new"); None when the first is not descriptive."""
    words: list[str] = []
    for word in _WORDS.findall(rest)[:6]:
        if not words and word in FILLERS:
            continue
        if people and not words and word in PEOPLE:
            return word
        if word in STOPWORDS or word in GENERIC_WORDS or word not in vocabulary:
            break
        if not words and word in NOT_THINGS:
            return None
        words.append(word)
        if len(words) == 3:
            break
    return " ".join(words) or None


def _is_quality(word: str) -> bool:
    """Whether ``word`` can be a quality ("bright", "longer"): a word, not an adverb or a
    function word."""
    return len(word) >= 3 and word not in STOPWORDS and not _ADVERB.match(word)


def with_article(thing: str) -> str:
    """ "a case", "an amp", "strings": ``thing`` with the article it takes (a plural none)."""
    if thing.endswith("s") and not thing.endswith("ss"):
        return thing
    return f"{'an' if thing[0] in 'aeiou' else 'a'} {thing}"
