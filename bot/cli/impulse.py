"""`stadtretter impulse post SLUG | discussion SLUG [--json]`: the impulse of the week on the command line."""

from __future__ import annotations

import argparse
import json

from bot.app import build_context
from bot.config import ConfigError, Settings
from bot.notices.impulses import DiscussionRenderer


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    impulse = sub.add_parser("impulse", help="the impulse of the week: post it now, read its discussion")
    actions = impulse.add_subparsers(dest="impulse_command", required=True)
    post = actions.add_parser("post", help="queue the impulse for every channel, group and room now")
    post.add_argument("slug", help="the impulse's slug (its file name without .md)")
    discussion = actions.add_parser("discussion", help="print the contributions, oldest first")
    discussion.add_argument("slug", help="the impulse's slug")
    discussion.add_argument(
        "--json",
        action="store_true",
        help='a JSON list: [{"platform", "author", "text", "at", "mirrored": ["telegram:<chat>", …]}]',
    )


async def impulse(settings: Settings, args: argparse.Namespace) -> int:
    ctx = await build_context(settings)
    try:
        if args.impulse_command == "post":
            count = await ctx.discussion.post(
                args.slug, DiscussionRenderer(ctx.renderer), now=ctx.clock.now()
            )
            if count is None:
                raise ConfigError(f"no impulse {args.slug!r} (see content/impulses or /impuls neu)")
            print(f"impulse {args.slug}: queued for {count} chat(s); the running assistant delivers it")
            return 0
        contributions = await ctx.discussion.discussion(args.slug)
        if contributions is None:
            raise ConfigError(f"no impulse {args.slug!r}")
        if args.json:
            print(json.dumps(contributions, ensure_ascii=False))
        else:
            for c in contributions:
                print(f"{c['at']}  {c['author']} ({c['platform']}): {c['text']}")
            print(f"{len(contributions)} contribution(s)")
    finally:
        await ctx.close()
    return 0
