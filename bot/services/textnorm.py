"""Word-level normalisation for German and English questions: folding, tokens, stems and stop words."""

from __future__ import annotations

import re
from functools import lru_cache

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "á": "a", "à": "a"})
_TOKEN = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase and spell umlauts out, so 'Nächste', 'Naechste' and 'NÄCHSTE' compare equal."""
    return text.lower().translate(_FOLD)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


_SUFFIXES = ("ungen", "innen", "ern", "en", "er", "es", "em", "e", "s", "n")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Strip one common German/English inflection ending from longer words ('Seminare' -> 'seminar')."""
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
