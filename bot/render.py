"""Renders the message templates in content/templates with Babel-formatted dates in the user's language."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time, get_day_names
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from bot.text import paragraphs, sanitize_html, teaser

_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "content" / "templates"

KIND_LABELS = {
    "de": {
        "webtalk": "WebTalk",
        "roundtable": "Roundtable",
        "seminar": "Seminar",
        "workshop": "Workshop",
        "kickoff": "Projektauftakt",
        "other": "Veranstaltung",
    },
    "en": {
        "webtalk": "WebTalk",
        "roundtable": "Roundtable",
        "seminar": "Seminar",
        "workshop": "Workshop",
        "kickoff": "Project kick-off",
        "other": "Event",
    },
}
KIND_PLURALS = {
    "de": {
        "webtalk": "WebTalks",
        "roundtable": "Roundtables",
        "seminar": "Seminare",
        "workshop": "Workshops",
        "kickoff": "Projektauftakte",
        "other": "Veranstaltungen",
    },
    "en": {
        "webtalk": "WebTalks",
        "roundtable": "roundtables",
        "seminar": "seminars",
        "workshop": "workshops",
        "kickoff": "project kick-offs",
        "other": "events",
    },
}


ORGANIZATION_KINDS = {
    "de": {
        "municipality": ("Kommune", "Kommunen"),
        "company": ("Unternehmen", "Unternehmen"),
        "partner": ("Partner", "Partner"),
        "association": ("Verband", "Verbände"),
        "other": ("Organisation", "Organisationen"),
    },
    "en": {
        "municipality": ("municipality", "municipalities"),
        "company": ("company", "companies"),
        "partner": ("partner", "partners"),
        "association": ("association", "associations"),
        "other": ("organisation", "organisations"),
    },
}


class Renderer:
    """Jinja2 with autoescape and StrictUndefined; one template per message, both languages inside."""

    def __init__(self, tz: ZoneInfo, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.tz = tz
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters.update(
            kind=self._kind,
            kinds=self._kinds,
            upfirst=lambda s: s[:1].upper() + s[1:],
            paragraphs=paragraphs,
            teaser=teaser,
            org_kind=lambda k, lang="de", plural=False: ORGANIZATION_KINDS.get(
                lang, ORGANIZATION_KINDS["de"]
            ).get(k, ("", ""))[1 if plural else 0],
        )

    def render(self, name: str, lang: str, **context: Any) -> str:
        lang = lang if lang in ("de", "en") else "de"
        helpers = {
            "lang": lang,
            "en": lang == "en",
            "date": lambda dt: self.format_date(dt, lang),
            # One date style per language: "Tuesday, 6 October 2020", "Dienstag, 6. Oktober 2020".
            "day": lambda d: format_date(
                d, format="EEEE, d MMMM y" if lang == "en" else "EEEE, d. MMMM y", locale=lang
            ),
            "month": lambda d: format_date(d, format="MMMM y", locale=lang),
            "short_day": lambda d: format_date(
                d, format="d MMMM" if lang == "en" else "d. MMMM", locale=lang
            ),
            "time": lambda dt: self.format_time(dt, lang),
            "on": lambda dt: format_date(
                self.local(dt), format="d MMMM y" if lang == "en" else "d. MMMM y", locale=lang
            ),
            "number": lambda n: format_decimal(n, locale=lang),
            "lasting": lambda start, end: spoken_duration(end - start, lang),
            "day_name": lambda weekday: get_day_names("wide", locale=lang)[weekday],
            "clock": lambda at: format_time(at, format="HH:mm", locale=lang),
            # Markup from content (an FAQ answer): sanitised to Telegram's subset, never trusted as written.
            "raw": lambda markup: Markup(sanitize_html(markup)),
        }
        text = self.env.get_template(f"{name}.j2").render(**helpers, **context)
        return _BLANK_LINES.sub("\n\n", text).strip()

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def format_date(self, moment: datetime, lang: str) -> str:
        pattern = "EEEE, d MMMM y" if lang == "en" else "EEEE, d. MMMM y"
        return format_date(self.local(moment), format=pattern, locale=lang)

    def format_time(self, moment: datetime, lang: str) -> str:
        local = self.local(moment)
        if lang == "en":
            return format_time(local, format="HH:mm", locale="en")
        return format_time(local, format="HH:mm", locale="de") + " Uhr"

    @staticmethod
    def _kind(kind: str, lang: str = "de") -> str:
        return KIND_LABELS.get(lang, KIND_LABELS["de"]).get(kind, kind)

    @staticmethod
    def _kinds(kind: str, lang: str = "de") -> str:
        return KIND_PLURALS.get(lang, KIND_PLURALS["de"]).get(kind, kind)


def spoken_duration(span: timedelta, lang: str) -> str:
    """ "1 Stunde und 30 Minuten", "2 hours": hours and minutes, in words of the language."""
    hours, minutes = divmod(max(0, int(span.total_seconds() // 60)), 60)
    parts = [format_unit(hours, "duration-hour", length="long", locale=lang)] if hours else []
    if minutes or not parts:
        parts.append(format_unit(minutes, "duration-minute", length="long", locale=lang))
    return format_list(parts, locale=lang)
