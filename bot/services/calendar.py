"""Calendar feeds: a member's private feed of their registrations (by token) and the public feed of events."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar
from icalendar import Event as IcsEvent
from sqlalchemy import select

from bot.chat import Person
from bot.db.models import CalendarToken, Member, Registration, RegistrationStatus
from bot.db.session import Database
from bot.services.catalog import EventView

PRODID = "-//Die Stadtretter//Stadtretter-Assistent//DE"
ACTIVE = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)
# A token is 32 URL-safe characters (192 bits): not guessable, short enough for a calendar app's field.
TOKEN_BYTES = 24


def calendar_of(events: Iterable[EventView], *, now: datetime, name: str | None = None) -> bytes:
    """An RFC 5545 calendar with these events (one VEVENT each, the same UID in every feed)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(_vevent(event, now=now))
    return cal.to_ical()


def _vevent(event: EventView, *, now: datetime) -> IcsEvent:
    item = IcsEvent()
    item.add("uid", f"{event.slug}@stadtretter-assistent")
    item.add("dtstamp", now)
    item.add("dtstart", event.starts_at)
    item.add("dtend", event.effective_end)
    item.add("summary", event.title)
    details = event.description
    header = [", ".join(event.speakers), event.organizer or ""]
    if any(header):
        details = "\n".join(h for h in header if h) + "\n\n" + details
    item.add("description", details)
    if event.location:
        item.add("location", event.location)
    if event.registration_url:
        item.add("url", event.registration_url)
    return item


class CalendarFeeds:
    """Issues, renews and resolves members' feed tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def token(self, person: Person, *, now: datetime, renew: bool = False) -> str | None:
        """The member's feed token (made on first use; a new one with `renew`, the old one stops working).

        None for someone who is not a member yet (no consent given).
        """
        async with self.db.write_lock, self.db.sessions.begin() as session:
            member = await session.scalar(
                select(Member).where(Member.platform == person.platform, Member.user_id == person.id)
            )
            if member is None or member.consent_at is None:
                return None
            row = await session.scalar(select(CalendarToken).where(CalendarToken.member_id == member.id))
            if row is None:
                row = CalendarToken(member_id=member.id, token=_new_token(), created_at=now)
                session.add(row)
            elif renew:
                row.token, row.created_at = _new_token(), now
            return row.token

    async def registered_event_ids(self, token: str) -> list[int] | None:
        """Ids of the events the token's member is registered for (or waitlisted); None for no such token."""
        if not token or len(token) > 64:
            return None
        async with self.db.sessions() as session:
            member_id = await session.scalar(
                select(CalendarToken.member_id).where(CalendarToken.token == token)
            )
            if member_id is None:
                return None
            found = await session.scalars(
                select(Registration.event_id).where(
                    Registration.member_id == member_id, Registration.status.in_(ACTIVE)
                )
            )
            return list(found)


def _new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)
