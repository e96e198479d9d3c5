"""`stadtretter overview show | send` (and `digest …`, the same): the weekly overview on the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.app import build_context
from bot.cli.ask import open_for_questions
from bot.config import ConfigError, Settings
from bot.notices.overview import overview_renderer, plain
from bot.services.overview import Audience, assemble, parse_week


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    helps = {"overview": "the weekly overview: show it, or send it now", "digest": "the same as overview"}
    overview = sub.add_parser(name, help=helps[name])
    actions = overview.add_subparsers(dest="overview_command", required=True)
    show = actions.add_parser("show", help="print the overview as if sent at --now (default: now)")
    show.add_argument("--now", help="the moment, ISO 8601 (default: BOT_NOW or the clock)")
    show.add_argument("--content", type=Path, help="from this content folder (fresh in-memory database)")
    show.add_argument("--lang", choices=["de", "en"], default="de")
    show.add_argument(
        "--json", action="store_true", help="one JSON object: the parts' slugs and the German text"
    )
    send = actions.add_parser("send", help="queue the overview for every target now (idempotent)")
    send.add_argument("--week", help="an ISO week such as 2020-W40 (default: this week)")


async def overview(settings: Settings, args: argparse.Namespace) -> int:
    if args.overview_command == "show":
        return await _show(settings, args)
    return await _send(settings, args)


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    """Never changes a database: the real one read-only, or --content in memory (as `ask` does)."""
    ctx = await open_for_questions(settings, args.content)
    try:
        schedule = ctx.overview.schedule
        week = assemble(schedule.week_of(ctx.clock.now()), schedule, ctx.events.catalog, ctx.events.items)
        week = await ctx.discussion.digest(week, lookback=schedule.lookback)
        renderer = overview_renderer(ctx)
        text = plain(renderer.render(week, Audience("console", args.lang, private=True)))
        if args.json:
            german = plain(renderer.render(week, Audience("console", "de", private=True)))
            print(json.dumps({**week.summary(), "text": german}, ensure_ascii=False))
        else:
            print(text)
    finally:
        await ctx.close()
    return 0


async def _send(settings: Settings, args: argparse.Namespace) -> int:
    ctx = await build_context(settings)
    try:
        schedule = ctx.overview.schedule
        name = args.week or schedule.week_of(ctx.clock.now())
        try:
            parse_week(name)
        except ValueError as exc:
            raise ConfigError(f"--week: {exc}") from None
        week = assemble(name, schedule, ctx.events.catalog, ctx.events.items)
        week = await ctx.discussion.digest(week, lookback=schedule.lookback)
        count = await ctx.overview.enqueue(week, overview_renderer(ctx), now=ctx.clock.now())
        print(f"weekly overview {name}: queued for {count or 0} chat(s); the running assistant delivers it")
    finally:
        await ctx.close()
    return 0
