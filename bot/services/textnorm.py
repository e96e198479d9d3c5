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


# Words that carry no topic: articles, pronouns, question words, fillers and generic verbs, folded.
STOPWORDS = frozenset(
    """
    a ab aber alle alles also am an and any anything are as at auch auf aus bald be bei beim bin bis bitte
    bzw can da dabei dafuer damit dann das dass dem den denen der des dich die dies diese diesem diesen dieser
    dieses dir do does doch dort du durch ein eine einem einen einer eines einfach es etwas etwa euch for from
    fuer gibt geben gern gerne gehts gehabt gut habe haben hallo hast hat hello hey hi hier how i ich ihr ihre
    im in info infos information informationen interessiert ist is it ja je jemand jetzt kann kannst koennen
    koennte kommt kommende kommenden kommender kommendes laeuft lauft laufen liegt los mal man me mehr
    mein meine
    mich mir mit moechte moin nach nicht noch nur ob oder of on or please schon sein seine sich sie sind so
    soll some something statt stattfinden findet finden stehen steht tell than thanks that the there this to
    ueber um und uns unser unsere vom von vor war waere wann was we welche welchem welchen welcher welches
    wenn wer werden wie wieder will wird wo woche what when where which who will with would wuerde you your
    zu zum zur zwischen danke dank is are anything something happening happen planned geplant plant gemacht
    spricht sprechen redet reden speak speaks speaking talks talking give gives hold holds held there's thing
    veranstaltung veranstaltungen event events termin termine angebot angebote thema themen topic topics
    about regarding bezueglich betreffend bzgl zu zum rund runde around anstehend anstehende anstehenden
    upcoming coming soon demnaechst naechstens uhr time uhrzeit beginnt beginn start starts startet anfang
    begin begins wieviel viel zeit datum date day tag tage tagen tages am ort wo online dabei teilnehmen
    mitmachen zeig zeige zeigen show list liste alle all gib give nenne nennen sag sagen tell kannst koenntest
    wissen weisst know suche suchen looking finde interessiere interested bald soon irgendwas irgendetwas
    ansteht anstehen los
    """.split()
)

GREETINGS = frozenset(
    "hallo hello hi hey moin servus gruezi guten tag morgen abend good morning evening".split()
)
