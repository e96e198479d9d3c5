"""Push notices, built once for handlers and scheduled jobs alike: reminders, waitlist promotions, buttons.

Everything the assistant sends without being asked is built here, so a handler that answers at once and a
job that pushes later show a member the same words and the same buttons.
"""

from __future__ import annotations

from datetime import datetime

from bot.chat import Button, Reply, about
from bot.render import Renderer
from bot.services.catalog import EventView

# Buttons run language-neutral command names (declared with `neutral=` on the commands), so what a button
# does never depends on, nor changes, the language of whoever presses it.
NEUTRAL_ACTIONS = {"anmelden": "rsvp", "abmelden": "unrsvp", "kalender": "ics", "details": "info"}


def action(command: str, slug: str) -> str:
    """The button action for a command on an event: "/rsvp <slug>" for "anmelden"."""
    return f"/{NEUTRAL_ACTIONS.get(command, command)} {slug}"


def calendar_button(slug: str, lang: str) -> Button:
    return Button("📅 Kalender" if lang == "de" else "📅 Calendar", action("kalender", slug))


def cancel_button(slug: str, lang: str) -> Button:
    return Button("❌ Abmelden" if lang == "de" else "❌ Cancel", action("abmelden", slug))


def register_button(slug: str, lang: str) -> Button:
    return Button("✅ Anmelden" if lang == "de" else "✅ Register", action("anmelden", slug))


class Notices:
    """Renders push notices with the app's templates."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def promotion(self, lang: str, event: EventView) -> Reply:
        """The direct message a member gets when a seat frees up for them."""
        return Reply(
            self.renderer.render("promoted", lang, event=event),
            buttons=((calendar_button(event.slug, lang), cancel_button(event.slug, lang)),),
            subject=about("event", event.slug),
        )

    def reminder(self, lang: str, event: EventView) -> Reply:
        """The reminder a registered member gets before the event."""
        return Reply(
            self.renderer.render("reminder", lang, event=event),
            buttons=((calendar_button(event.slug, lang),),),
            subject=about("event", event.slug),
        )

    def withdrawn(self, lang: str, event: EventView) -> Reply:
        """Told once to everyone registered or waiting when an event's file disappears."""
        return Reply(
            self.renderer.render("event_withdrawn", lang, event=event), subject=about("event", event.slug)
        )

    def moved(self, lang: str, event: EventView, previous_start: datetime) -> Reply:
        """Told once per change to everyone registered or waiting when an event's start moves."""
        return Reply(
            self.renderer.render("event_moved", lang, event=event, previous_start=previous_start),
            buttons=((calendar_button(event.slug, lang), cancel_button(event.slug, lang)),),
            subject=about("event", event.slug),
        )
