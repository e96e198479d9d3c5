"""Finds the FAQ entry that answers a question: one of its question variants reads alike, or it answers
the same kind of question (cost, membership, contact) as the member asks, in the member's language first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from bot.services.asks import Ask, what_is_asked
from bot.text import tokens


@dataclass(frozen=True, slots=True)
class FaqEntry:
    slug: str
    language: str
    questions: tuple[str, ...]
    answer: str


# Below these scores a variant does not read like the question; stricter when topics matched events.
LOOSE, STRICT = 78, 86


def _similarity(folded: str, variant: str) -> float:
    v = " ".join(tokens(variant))
    return max(fuzz.ratio(folded, v), fuzz.token_sort_ratio(folded, v))


def match_faq(text: str, faq: Sequence[FaqEntry], *, strict: bool) -> FaqEntry | None:
    """The FAQ entry one of whose question variants reads like `text`."""
    folded = " ".join(tokens(text))
    if not folded:
        return None
    best: tuple[float, FaqEntry | None] = (0.0, None)
    for entry in faq:
        for variant in entry.questions:
            score = _similarity(folded, variant)
            if score > best[0]:
                best = (score, entry)
    return best[1] if best[0] >= (STRICT if strict else LOOSE) else None


@lru_cache(maxsize=4096)
def _asks_of(questions: tuple[str, ...]) -> frozenset[Ask]:
    return frozenset(a for a in (what_is_asked(q) for q in questions) if a is not None)


def faq_for_ask(text: str, ask: Ask, faq: Sequence[FaqEntry], *, lang: str | None) -> FaqEntry | None:
    """The entry whose own questions ask what the member asks (e.g. cost): the member's language first,
    then the closest wording."""
    fitting = [entry for entry in faq if ask in _asks_of(entry.questions)]
    if not fitting:
        return None
    folded = " ".join(tokens(text))

    def rank(entry: FaqEntry) -> tuple[bool, float]:
        return (entry.language == lang, max(_similarity(folded, v) for v in entry.questions))

    return max(fitting, key=rank)
