"""Which language to answer a person in, decided once per message before any handler runs.

A language chosen with /sprache or /language always wins. Otherwise the language of the words a person
types: a first message sets it, later only a clearly other-language message switches it. Buttons,
reactions, command names and a short "Hi" never change it. Before a person is a member (has agreed to
storing data) the language lives only in this process's memory; a member's row keeps it, so pushes
(reminders, promotions) speak it too.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bot.chat import Incoming, Kind, Person
from bot.clock import Clock
from bot.db.models import Member
from bot.db.session import Database
from bot.text import tokens

logger = logging.getLogger(__name__)

LANGUAGES = ("de", "en")
# A typed message switches a known language only when the other language leads by this many words.
CLEAR_LEAD = 2

_ENGLISH = frozenset(
    "the what when is are there any anything next events event register how does do speak "
    "about on which who where can i my me please show list cancel today tomorrow week month "
    "time start starts upcoming of for in this thanks thank you hello help much long free it "
    "and after that would like want get reminder become member contact reach".split()
)
_GERMAN = frozenset(
    "der die das ist gibt es wann was naechste naechsten uebernaechste heute morgen ich wie am "
    "mich meine termine anmelden abmelden zum zur zu etwas welche veranstaltung veranstaltungen "
    "woche monat uhr bitte und mit spricht laeuft kann im ein eine einen danke hallo hilfe wo "
    "danach lange dauert noch sind plaetze frei kostet werde mitglied erreiche euch sie nicht "
    "moechte findet statt".split()
)
_COMMAND = re.compile(r"^[/!]\S+")


# A chunk with digits, underscores or an inner hyphen is a code, slug or token ("xY-it_Q3"), not words:
# split into parts, a random invitation token would now and then "say" "it" or "es".
_CODE = re.compile(r"[\d_]|\w-\w")


def detect(text: str) -> tuple[str | None, int]:
    """The language the words are in and by how many words it leads (None on a tie)."""
    chunks = _COMMAND.sub("", text).split()
    words = tokens(" ".join(chunk for chunk in chunks if not _CODE.search(chunk)))
    english = sum(1 for w in words if w in _ENGLISH)
    german = sum(1 for w in words if w in _GERMAN)
    if english == german:
        return None, 0
    return ("en" if english > german else "de"), abs(english - german)


def from_hint(hint: str | None) -> str | None:
    """ "en-US" -> "en": a platform's language hint, when we speak it."""
    short = (hint or "")[:2].lower()
    return short if short in LANGUAGES else None


@dataclass(frozen=True, slots=True)
class Known:
    language: str
    chosen: bool  # set with /sprache: nothing else changes it


class Languages:
    """The language per person: in memory (bounded), read from and kept on the member row."""

    def __init__(self, db: Database, clock: Clock, *, default: str, capacity: int = 100_000) -> None:
        self.db = db
        self.clock = clock
        self.default = default if default in LANGUAGES else "de"
        self.capacity = capacity
        self._known: OrderedDict[str, Known | None] = OrderedDict()
        # People with a member row: only their language is written (no row is created, no write for others).
        self._members: set[str] = set()
        # Told what the lookup learnt on the way (whether the person agreed to be stored), so that the
        # consent memory needs no query of its own for a new person; wired in the composition root.
        self.on_member_row: Callable[[Person, bool], None] | None = None

    async def settle(self, incoming: Incoming, text: str) -> str:
        """The language to answer this message in (and remember it when the typed words say so)."""
        person = incoming.sender
        known = await self._lookup(person)
        if known is not None and known.chosen:
            return known.language
        typed = incoming.kind in (Kind.MESSAGE, Kind.REPLY) and not _COMMAND.fullmatch(text.strip())
        if typed:
            language, lead = detect(text)
            if language is not None and (known is None or language == known.language or lead >= CLEAR_LEAD):
                if known is None or known.language != language:
                    await self._keep(person, Known(language, chosen=False))
                return language
        if known is not None:
            return known.language
        return from_hint(person.language) or self.default

    def knows(self, person: Person) -> bool:
        """Whether a language is known for the person (so a command's name does not decide it)."""
        return self._known.get(person.key) is not None

    async def choose(self, person: Person, language: str) -> None:
        """ "/sprache en": from now on always this language (kept on the member row if there is one)."""
        await self._keep(person, Known(language, chosen=True))

    async def member_created(self, person: Person) -> None:
        """A person just became a member (agreed to storing data): keep their language on the row."""
        self._members.add(person.key)
        known = self._known.get(person.key)
        if known is not None:
            await self._store(person, known)

    def forget(self, person: Person) -> None:
        """The person erased their data: nothing about them stays in memory either."""
        self._known.pop(person.key, None)
        self._members.discard(person.key)

    async def _lookup(self, person: Person) -> Known | None:
        key = person.key
        if key in self._known:
            self._known.move_to_end(key)
            return self._known[key]
        known = None
        try:
            async with self.db.sessions() as session:
                row = (
                    await session.execute(
                        select(Member.language, Member.language_chosen_at, Member.consent_at).where(
                            Member.platform == person.platform, Member.user_id == person.id
                        )
                    )
                ).first()
        except Exception:
            logger.exception("could not read the language of %s", person.platform)
            row = None
        else:
            if self.on_member_row is not None:
                self.on_member_row(person, row is not None and row[2] is not None)
        if row is not None:
            self._members.add(key)
        if row is not None and from_hint(row[0]) is not None:
            known = Known(from_hint(row[0]) or self.default, chosen=row[1] is not None)
        self._remember(key, known)
        return known

    def _remember(self, key: str, known: Known | None) -> None:
        self._known[key] = known
        self._known.move_to_end(key)
        while len(self._known) > self.capacity:
            forgotten, _ = self._known.popitem(last=False)
            self._members.discard(forgotten)

    async def _keep(self, person: Person, known: Known) -> None:
        self._remember(person.key, known)
        if person.key in self._members:
            await self._store(person, known)

    async def _store(self, person: Person, known: Known) -> None:
        """Write the language onto an existing member row; creates nothing (no row before consent)."""
        chosen_at: datetime | None = self.clock.now() if known.chosen else None
        try:
            async with self.db.write_lock, self.db.sessions.begin() as session:
                await session.execute(
                    update(Member)
                    .where(Member.platform == person.platform, Member.user_id == person.id)
                    .values(language=known.language, language_chosen_at=chosen_at)
                )
        except Exception:
            logger.exception("could not store the language of %s", person.platform)
