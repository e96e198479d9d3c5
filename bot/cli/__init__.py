"""Command line: `stadtretter run | chat | ask | db | content | overview | impulse | member | audit`."""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
from datetime import datetime, tzinfo
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging

logger = logging.getLogger(__name__)

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stadtretter", description="Stadtretter community assistant")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="start every configured platform (console chat when none is configured)")
    sub.add_parser("chat", help="chat on the console: one message per line from stdin")
    ask = sub.add_parser("ask", help="answer questions and print the answers (never changes the database)")
    ask.add_argument(
        "question",
        nargs="*",
        help="the question (several quoted questions are answered in turn); without it, each line of stdin",
    )
    ask.add_argument("--now", help="the current time, ISO 8601 (default: BOT_NOW or the clock)")
    ask.add_argument(
        "--content", type=Path, help="answer against this content folder (fresh in-memory database)"
    )
    ask.add_argument("--json", action="store_true", help="one JSON object per question and line")
    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply the Alembic migrations")
    content = sub.add_parser("content", help="content tasks")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    sync = content_sub.add_parser(
        "sync",
        help="load content files into the database (all or nothing; shows and asks before risky changes)",
    )
    sync.add_argument("directory", nargs="?", type=Path, help="content folder (default: BOT_CONTENT_DIR)")
    sync.add_argument("--dry-run", action="store_true", help="only show what would change")
    sync.add_argument("--yes", action="store_true", help="apply without asking (for scripts)")
    sync.add_argument(
        "--switch", action="store_true", help="replace content synced from another folder with this one"
    )
    from bot.cli.overview import add_parser as add_overview

    add_overview(sub, "overview")
    add_overview(sub, "digest")
    from bot.cli.impulse import add_parser as add_impulse

    add_impulse(sub)
    from bot.cli.member import add_parsers as add_member

    add_member(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _private_and_utf8()
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
        if getattr(args, "now", None):
            settings = settings.model_copy(update={"now": _parse_now(args.now, settings.tz)})
    except ConfigError as exc:
        print(f"stadtretter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    quiet = command in ("ask", "chat", "overview", "digest", "impulse", "member", "audit") or (
        command == "run" and not (settings.telegram_enabled or settings.matrix_enabled)
    )
    setup_logging(settings, level="WARNING" if quiet else None)
    try:
        return _dispatch(command, settings, args)
    except ConfigError as exc:
        print(f"stadtretter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _private_and_utf8() -> None:
    """Files the process creates are its owner's (databases, key stores, exports), whatever the umask
    it was started with; output is UTF-8 in any locale, and what cannot be written is replaced."""
    os.umask(os.umask(0o077) | 0o077)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")


def _dispatch(command: str, settings: Settings, args: argparse.Namespace) -> int:
    if command == "run":
        return _run(settings)
    if command == "chat":
        return asyncio.run(_chat(settings))
    if command == "ask":
        from bot.cli.ask import ask

        return asyncio.run(ask(settings, args))
    if command == "db":
        return asyncio.run(_db_upgrade(settings))
    if command in ("member", "audit"):
        from bot.cli import member

        return asyncio.run(
            member.member(settings, args) if command == "member" else member.audit(settings, args)
        )
    if command in ("overview", "digest"):
        from bot.cli.overview import overview

        return asyncio.run(overview(settings, args))
    if command == "impulse":
        from bot.cli.impulse import impulse

        return asyncio.run(impulse(settings, args))
    from bot.cli.content import content_sync

    return asyncio.run(content_sync(settings, args))


def _run(settings: Settings) -> int:
    """`stadtretter run`; a platform that cannot start ends it with one line, not a traceback."""
    from bot.app import run

    try:
        return asyncio.run(run(settings))
    except ConfigError:
        raise
    except Exception as exc:  # the outermost boundary: say what failed in one line
        logger.debug("start failed", exc_info=True)
        print(f"stadtretter: could not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _parse_now(value: str, tz: tzinfo) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--now: not an ISO 8601 date and time: {value!r}") from None
    if moment.tzinfo is None:
        # Without an offset the time is read in the configured time zone.
        moment = moment.replace(tzinfo=tz)
    return moment


async def _chat(settings: Settings) -> int:
    from bot.app import build_context, run_console

    ctx = await build_context(settings, ticking=True, exclusive=True)
    try:
        return await run_console(ctx)
    finally:
        await ctx.close()


async def _db_upgrade(settings: Settings) -> int:
    from bot.db.session import Database

    db = Database(settings.effective_database_url, wait=settings.db_wait.total_seconds())
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print("database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
