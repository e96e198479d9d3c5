"""An inverted word index with the matching members expect: compounds both ways, stems, umlaut plurals, typos.

Used for events and for the newsletter's other items alike, so a question about "Leerstände" finds a
roundtable on "Leerstandsmanagement" and a best practice tagged "Leerstand" the same way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import fuzz, process

from bot.services.vocabulary import STOPWORDS
from bot.text import stem, tokens

_UMLAUT_PLURAL = re.compile(r"(a|o|u)e(?=[^aeiou]*$)")


class WordIndex:
    """word -> {document: weight}; `expand(word)` finds the documents a member's word means."""

    def __init__(self, documents: Iterable[tuple[int, Iterable[tuple[str, int]]]]) -> None:
        """`documents` yields (document id, [(text, weight), ...]); a word keeps its highest weight."""
        postings: dict[str, dict[int, int]] = defaultdict(dict)
        for doc, fields in documents:
            for text, weight in fields:
                for word in tokens(text):
                    if word in STOPWORDS or len(word) < 2:
                        continue
                    if postings[word].get(doc, 0) < weight:
                        postings[word][doc] = weight
        self._postings = dict(postings)
        self._vocabulary = sorted(self._postings)
        # Each index gets its own cache, so a content sync never serves stale expansions.
        self.expand = lru_cache(maxsize=8192)(self._expand)  # type: ignore[method-assign]

    def expand(self, word: str) -> dict[int, int]:  # replaced per instance in __init__
        return self._expand(word)

    def _expand(self, word: str) -> dict[int, int]:
        """Documents whose words match `word`: exactly, as part of a compound, by stem or with a typo."""
        matches: dict[int, int] = {}

        def take(term: str) -> None:
            for doc, weight in self._postings[term].items():
                if matches.get(doc, 0) < weight:
                    matches[doc] = weight

        if word in self._postings:
            take(word)
        if len(word) < 4:
            return matches
        # German plurals often add an umlaut: "Leerstände" -> "leerstaende" -> root "leerstand".
        roots = {stem(word), _UMLAUT_PLURAL.sub(lambda m: m.group(1), stem(word))}
        for term in self._vocabulary:
            # "leerstand" finds "leerstandsmanagement"; "leerstandsmanagement" finds "leerstand".
            if term != word and (any(root in term for root in roots) or (len(term) >= 5 and term in word)):
                take(term)
        if len(word) >= 6:
            for term, _score, _ in process.extract_iter(
                word, self._vocabulary, scorer=fuzz.ratio, score_cutoff=86
            ):
                take(term)
        return matches
