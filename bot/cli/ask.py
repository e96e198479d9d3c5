"""`stadtretter ask`: answers questions as a chat would, without ever changing the database."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.app import build_context
from bot.chat import ChatRef, Incoming, Person, Platform
from bot.config import ConfigError, Settings
from bot.context import AppContext
from bot.platforms.console import read_line
from bot.router import Response
from content.loader import ContentError, check_folder

MEMORY = "sqlite+aiosqlite:///:memory:"


async def ask(settings: Settings, args: argparse.Namespace) -> int:
    """Answer each question through the router and print text or one JSON object per line."""
    try:
        ctx = await open_for_questions(settings, args.content)
    except ContentError as exc:
        for path, reason in exc.problems:
            print(f"{path}: {reason}", file=sys.stderr)
        return 1
    try:
        for number, question in enumerate(_questions(args.question)):
            # Each question in a chat of its own, from an asker of its own: one answer (nor its language)
            # never depends on the question before.
            chat = ChatRef(Platform.CONSOLE, f"ask-{number}")
            asker = Person(Platform.CONSOLE, f"ask-{number}")
            response = await ctx.answer(Incoming(chat, asker, question))
            plain = "\n\n".join(reply.plain for reply in response.replies)
            if args.json:
                print(
                    json.dumps(_record(question, response, plain, settings), ensure_ascii=False), flush=True
                )
            else:
                print(plain + "\n", flush=True)
    finally:
        await ctx.close()
    return 0


async def open_for_questions(settings: Settings, content: Path | None) -> AppContext:
    """`--content DIR`: that folder in a fresh in-memory database. Otherwise the real database, read-only,
    when it holds content; else BOT_CONTENT_DIR (or the demo) in memory."""
    if content is not None:
        check_folder(content)
        return await build_context(settings, database_url=MEMORY, content_dir=content)
    if _has_database(settings):
        try:
            ctx = await build_context(settings, read_only=True, sync=False)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"BOT_DATABASE_URL: cannot read the database ({type(exc).__name__})") from None
        if ctx.events.catalog.events or ctx.events.withdrawn:
            return ctx
        await ctx.close()
    return await build_context(settings, database_url=MEMORY)


def _has_database(settings: Settings) -> bool:
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        return True
    url = settings.effective_database_url
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return bool(path) and ":memory:" not in path and Path(path).is_file()


def _record(question: str, response: Response, plain: str, settings: Settings) -> dict[str, Any]:
    return {
        "question": question,
        "intent": response.intent.value,
        "events": [
            {
                "slug": e.slug,
                "title": e.title,
                "kind": e.kind,
                "starts_at": e.starts_at.astimezone(settings.tz).isoformat(),
            }
            for e in response.events
        ],
        "items": [{"type": i.type, "slug": i.slug, "title": i.title} for i in response.items],
        "text": plain,
    }


def _questions(given: list[str]) -> Iterator[str]:
    """Several arguments with spaces are several questions; single words are one question's words."""
    if given:
        if len(given) > 1 and any(" " in q.strip() for q in given):
            yield from given
        else:
            yield " ".join(given)
        return
    while line := read_line(sys.stdin):
        line = line.rstrip("\r\n")
        if line.strip():
            yield line
