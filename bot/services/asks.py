"""What a question asks about: an aspect of events (place, duration, seats, speakers, details), the network
(cost, membership, contact, topics), the assistant (reminders, how to cancel), or an intention to register or
cancel ("Ich möchte mich für … anmelden", "I can't make it to …").

The phrases are read on the folded text (lowercase, umlauts spelled out), in German and English. They name
what is asked, never which event: that is the parser's and the conversation's job.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.text import fold


class Ask(StrEnum):
    PLACE = "place"
    DURATION = "duration"
    DETAILS = "details"
    SEATS = "seats"
    SPEAKERS = "speakers"
    TOPICS = "topics"
    COST = "cost"
    MEMBERSHIP = "membership"
    CONTACT = "contact"
    REMINDERS = "reminders"
    HOW_TO_CANCEL = "how_to_cancel"
    REGISTER = "register"  # "Ich möchte mich anmelden": offer the registration button
    CANCEL = "cancel"  # "Ich kann nicht kommen": offer the cancel button


# Aspects of one or more events: they need events, from the question or the conversation.
EVENT_ASKS = frozenset({Ask.PLACE, Ask.DURATION, Ask.DETAILS, Ask.SEATS, Ask.SPEAKERS})
# Intentions about one event (answered with the same buttons as the commands).
ACTION_ASKS = frozenset({Ask.REGISTER, Ask.CANCEL})
# Questions about the network or the assistant, answered from the FAQ or a fixed text.
GENERAL_ASKS = frozenset(
    {Ask.COST, Ask.MEMBERSHIP, Ask.CONTACT, Ask.TOPICS, Ask.REMINDERS, Ask.HOW_TO_CANCEL}
)


def _re(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?:" + "|".join(alternatives) + r")")


_CANCEL_WORD = (
    r"(?:storn\w*|abmeld\w*|(?:melde|sage)\w*(?: \w+){1,3} ab\b|cancel\w*|zurueck(?:nehm"
    r"|zieh)\w*|absag\w*|unregister|withdraw\w*)"
)
_HOWTO = r"(?:^|\b)(?:wie|how|was muss|what do)\b"

# Checked in this order: the first that matches is what is asked.
_PATTERNS: tuple[tuple[Ask, re.Pattern[str]], ...] = (
    (Ask.REMINDERS, _re(r"\berinner\w*", r"\bremind\w*", r"\bbenachrichtig\w*", r"\bnotification\w*")),
    (Ask.HOW_TO_CANCEL, _re(_HOWTO + r".*" + _CANCEL_WORD)),
    (
        Ask.CANCEL,
        _re(
            r"\b(?:ich|wir) (?:kann|koennen|schaffe\w*|komme\w*)\b(?: \w+){0,3} nicht\b",
            r"\bkann\b.* nicht (?:kommen|teilnehmen|dabei)",
            r"\bnicht (?:kommen|teilnehmen|dabei sein)\b",
            r"\b(?:can'?t|cannot|can not|won'?t|will not|wont) (?:be able to )?(?:make|come"
            r"|attend|join|go|be there)",
            r"\b(?:cancel|unregister|withdraw) (?:me|my)\b",
            r"\bmelde\w* (?:mich|uns)\b.* ab\b",
            r"\b(?:ich|wir) (?:moechte|will|wuerde|muss)\w* (?:mich "
            r"|uns )?(?:\w+ )*(?:abmelden|absagen|stornieren)",
            r"\b(?:bitte )?(?:abmelden|absagen|stornieren) bitte\b",
        ),
    ),
    (
        Ask.REGISTER,
        _re(
            r"\b(?:ich|wir) (?:moechte|will|wuerde|moechten|wollen|wuerden)\w* (?:mich "
            r"|uns )?(?:\w+ )*(?:anmelden|teilnehmen|dabei sein|registrieren)",
            r"\bmelde\w* (?:mich|uns)\b.* an\b",
            r"\b(?:moechte|will|wuerde|moechten|wollen|wuerden)\w* (?:ich|wir) (?:mich |uns )?(?:\w+ )*"
            r"(?:anmelden|teilnehmen|dabei sein|registrieren)",
            r"\b(?:dort|da|hier|dafuer|dazu) (?:anmelden|registrieren)\b",
            r"\banmelden bitte\b",
            r"\b(?:register|sign) (?:me|us)\b",
            r"\bi'?d like to (?:register|sign up|attend|join)\b",
            r"\bi (?:want|would like|wish) to (?:register|sign up|attend|join)\b",
            r"\bcount me in\b",
        ),
    ),
    (
        Ask.COST,
        _re(
            r"\bkost\w*",
            r"\bpreis\w*",
            r"\bgebuehr\w*",
            r"\bbezahl\w*",
            r"\bzahlen\b",
            r"\bgratis\b",
            r"\bumsonst\b",
            r"\bentgelt\w*",
            r"\bprice\w*",
            r"\bcosts?\b",
            r"\bfees?\b",
            r"\bpay\w*",
            r"\bfree of charge\b",
            r"\b(?:is|are) (?:it|they|the \w+|this|that)(?: \w+)? free\b",
            r"\bfree to (?:attend|join|take part)\b",
            r"\bfor free\b",
            r"\bcharge\w*",
        ),
    ),
    (
        Ask.MEMBERSHIP,
        _re(
            r"\bmitglied\w* (?:werden|sein)\b",
            r"\bwerde\w* (?:ich|man|wir) mitglied",
            r"\bmitgliedschaft\w*",
            r"\bbeitreten\b",
            r"\bbeitritt\b",
            r"\bmitmachen\b",
            r"\bbecome a member\b",
            r"\bmembership\b",
            r"\bjoin (?:the |your )?(?:network|community|stadtretter)\b",
            r"\bhow (?:can|do) (?:i|we) join\b",
            r"\bget involved\b",
        ),
    ),
    (
        Ask.CONTACT,
        _re(
            r"\bkontakt\w*",
            r"\berreich\w*",
            r"\btelefon\w*",
            r"\bansprechp\w*",
            r"\bcontact\w*",
            r"\breach (?:you|the)\b",
            r"\bphone\b",
            r"\be-?mail\w*",
            r"\banrufen\b",
            r"\bcall you\b",
        ),
    ),
    (
        Ask.SEATS,
        _re(
            r"\bplaetze?n?\b",
            r"\bplatz\b",
            r"\bausgebucht\b",
            r"\bvoll\b",
            r"\bbelegt\b",
            r"\bseats?\b",
            r"\bplaces\b",
            r"\bplace (?:left|free|available)\b",
            r"\bspots?\b",
            r"\b(?:fully )?booked\b",
            r"\bsold out\b",
            r"\bcapacity\b",
            r"\bkapazitaet\w*",
            r"\bwie viele (?:leute|personen|teilnehm\w*)",
        ),
    ),
    (
        Ask.DURATION,
        _re(
            r"\bwie lange?\b",
            r"\bhow long\b",
            r"\bdauer\w*",
            r"\bende[nt]?\b",
            r"\bbis wann\b",
            r"\buntil when\b",
            r"\bends?\b",
            r"\bfinish\w*",
            r"\bduration\b",
            r"\bvorbei\b",
        ),
    ),
    (
        Ask.SPEAKERS,
        _re(
            r"\bwer (?:spricht|sprechen|redet|reden|leitet|moderiert|referiert|haelt|haelt"
            r"|ist der referent|sind die referenten|macht)",
            r"\breferent\w*",
            r"\bsprecher\w*",
            r"\bspeaker\w*",
            r"\bwho (?:is |are )?(?:speaking|speaks|talks|talking|runs|leads|presents"
            r"|presenting|hosts|hosting)",
        ),
    ),
    (
        Ask.DETAILS,
        _re(
            r"\bworum\b",
            r"\bwas passiert\b",
            r"\bwas erwartet\b",
            r"\binhalt\w*",
            r"\bbeschreibung\b",
            r"\bdetails?\b",
            r"\bmehr (?:dazu|darueber|infos?|informationen)\b",
            r"\bwhat(?:'s| is| are)\b.*\babout\W*$",
            r"\btell me more\b",
            r"\bmore about\b",
        ),
    ),
    (
        Ask.TOPICS,
        _re(
            r"\b(?:welche|was fuer|which|what) (?:\w+ )?(?:themen|topics|subjects)\b",
            r"^(?:themen|topics)\W*$",
        ),
    ),
    (
        Ask.PLACE,
        _re(
            r"\bwo\b",
            r"\bwhere\b",
            r"\bort\b",
            r"\blocation\b",
            r"\bvenue\b",
            r"\bwelche[mnr]? raum\b",
            r"\bwhich room\b",
        ),
    ),
)


# Words that only say what is asked, never about what: they are no topic ("Plätze" is not "Marktplatz").
ASK_WORDS = frozenset(
    """
    plaetze platz plaetzen frei freie freien ausgebucht voll belegt seat seats places spots booked sold
    capacity kapazitaet lange dauer dauert dauern endet ende enden end ends finish finishes duration
    vorbei referent
    referenten referentin referentinnen sprecher sprecherin speaker speakers worum inhalt inhalte details
    beschreibung passiert erwartet themen topics kosten kostet kostenlos kostenfrei preis preise gebuehr
    gebuehren bezahlen gratis umsonst cost costs fee fees free price pay charge mitglied mitgliedschaft
    member membership beitreten mitmachen kontakt kontaktieren contact erreichen erreiche telefon phone email
    mail erinnerung erinnerungen erinnern erinnert reminder reminders remind ort location venue storno
    stornieren storniere cancel abmelden absagen geht gehts take place leitet moderiert runs leads hosts
    """.split()
)


def what_is_asked(text: str) -> Ask | None:
    """The first thing the question asks for, by its phrases; None for a plain question about events."""
    folded = " ".join(fold(text).replace("’", "'").split())
    for ask, pattern in _PATTERNS:
        if pattern.search(folded):
            return ask
    return None
