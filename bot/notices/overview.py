"""The weekly overview as messages: one template per part, packed into as few messages as the platform allows.

Telegram allows 4,096 characters per message: parts are packed in order and a message ends at a part boundary
(a part longer than that alone is split by the Telegram sender, never inside a tag). The registration buttons
ride on the message with the events: on Telegram they are t.me deep links (which also work from a channel),
elsewhere the command to type.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.chat import Button, Reply
from bot.context import AppContext
from bot.notices import action as rsvp_action
from bot.render import Renderer
from bot.services.overview import Audience, Overview
from bot.text import html_to_plain

# Characters per message, as the platform counts them (UTF-16 code units on Telegram).
LIMITS = {"telegram": 4096, "matrix": 30_000}
MAX_EVENT_BUTTONS = 8
PARTS = ("header", "impulse", "news", "events", "practices", "members", "footer")


def _units(html: str) -> int:
    return len(html_to_plain(html).encode("utf-16-le")) // 2


class OverviewRenderer:
    """Renders an Overview for an audience (platform, language, a member's own chat or not)."""

    def __init__(
        self,
        renderer: Renderer,
        *,
        links: Callable[[str, str], str | None] = lambda platform, payload: None,
        online_url: Callable[[str], str | None] = lambda week: None,
    ) -> None:
        """`links(platform, payload)`: a link opening the bot's private chat (Telegram: /start payload)."""
        self.renderer = renderer
        self.links = links
        self.online_url = online_url

    def render(self, overview: Overview, audience: Audience) -> list[Reply]:
        parts = self._parts(overview, audience)
        buttons = self._buttons(overview, audience)
        messages: list[list[str]] = []
        with_events: int | None = None
        limit = LIMITS.get(audience.platform)
        for name, html in parts:
            last = messages[-1] if messages else None
            if last is None or (limit is not None and _units("\n\n".join([*last, html])) > limit):
                messages.append([html])
            else:
                last.append(html)
            if name == "events":
                with_events = len(messages) - 1
        return [
            Reply("\n\n".join(message), buttons=buttons if index == with_events else ())
            for index, message in enumerate(messages)
        ]

    def parts(self, overview: Overview, audience: Audience) -> list[tuple[str, str]]:
        """(part name, HTML in Telegram's subset) in the newsletter's order; the web page shows them."""
        return self._parts(overview, audience)

    def registration_links(self, overview: Overview, audience: Audience) -> list[tuple[str, str]]:
        """(label, link or command) per event, as the buttons under the overview show them."""
        return [(button.label, button.action) for row in self._buttons(overview, audience) for button in row]

    def _parts(self, overview: Overview, audience: Audience) -> list[tuple[str, str]]:
        wanted = {
            "header": True,
            "impulse": overview.impulse is not None or overview.discussion is not None,
            "news": bool(overview.news),
            "events": bool(overview.events),
            "practices": bool(overview.practices),
            "members": bool(overview.members),
            "footer": True,
        }
        values = {
            "overview": overview,
            "private": audience.private,
            "telegram": audience.platform == "telegram" and self._deep_links(overview, audience),
            "bot_link": self.links(audience.platform, ""),
            "online_url": self.online_url(overview.week),
        }
        return [
            (name, self.renderer.render(f"overview_{name}", audience.language, **values))
            for name in PARTS
            if wanted[name]
        ]

    def _deep_links(self, overview: Overview, audience: Audience) -> bool:
        return bool(overview.events) and self.links(audience.platform, "x") is not None

    def _buttons(self, overview: Overview, audience: Audience) -> tuple[tuple[Button, ...], ...]:
        """One registration button per event (the first few): a deep link on Telegram, else the command."""
        label = "✅ Register" if audience.language == "en" else "✅ Anmelden"
        rows = []
        for event in overview.events[:MAX_EVENT_BUTTONS]:
            link = self.links(audience.platform, f"anmelden-{event.slug}")
            action = link if link is not None else rsvp_action("anmelden", event.slug)
            rows.append((Button(f"{label}: {_short(event.title)}", action),))
        return tuple(rows)


def _short(title: str, limit: int = 32) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def plain(replies: list[Reply]) -> str:
    """The overview as plain text, buttons as the command or link they stand for (CLI and tests)."""
    blocks = []
    for reply in replies:
        lines = [reply.plain]
        lines += [f"• {button.label}: {button.action}" for row in reply.buttons for button in row]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def overview_renderer(ctx: AppContext) -> OverviewRenderer:
    """The overview renderer of a running application (deep links once the adapters announced the bot);
    with BOT_PUBLIC_URL the footer links to the online edition."""
    base = ctx.settings.public_url

    def online_url(week: str) -> str | None:
        return f"{base.rstrip('/')}/wochenuebersicht/{week}" if base else None

    return OverviewRenderer(ctx.renderer, links=ctx.chat_link, online_url=online_url)
