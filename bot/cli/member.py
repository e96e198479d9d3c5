"""`stadtretter member export | delete PLATFORM:ID` (written requests) and `stadtretter audit`."""

from __future__ import annotations

import argparse
import json
import sys

from bot.app import build_context
from bot.chat import Person
from bot.config import ConfigError, Settings, person_key_ok


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    member = sub.add_parser("member", help="a person's data on a written request: export it or delete it")
    actions = member.add_subparsers(dest="member_command", required=True)
    export = actions.add_parser("export", help="print everything stored about the person as JSON")
    export.add_argument("person", help="platform:id, e.g. telegram:12345 or matrix:@anna:example.org")
    delete = actions.add_parser(
        "delete", help="cancel the person's registrations (the waitlist moves up), then erase them"
    )
    delete.add_argument("person", help="platform:id, e.g. telegram:12345 or matrix:@anna:example.org")
    delete.add_argument("--yes", action="store_true", help="erase without asking (for scripts)")
    audit = sub.add_parser(
        "audit", help="the audit log: roles, invitations, exports, erasures (newest first)"
    )
    audit.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")


def _person(key: str) -> Person:
    if not person_key_ok(key):
        raise ConfigError(
            f"{key!r} is not platform:user-id (e.g. telegram:12345 or matrix:@anna:example.org)"
        )
    platform, _, user = key.partition(":")
    return Person(platform, user)


async def member(settings: Settings, args: argparse.Namespace) -> int:
    person = _person(args.person)
    ctx = await build_context(settings, sync=False)
    try:
        now = ctx.clock.now()
        data = await ctx.privacy.export(person)
        if args.member_command == "export":
            await ctx.audit.record("data_export", actor="cli", now=now, subject=data.key)
            payload = {"person": data.key, "exported_at": now.isoformat(), "tables": data.tables}
            print(json.dumps(payload, ensure_ascii=False, indent=2))
            return 0
        if data.empty:
            print(f"nothing stored about {data.key}")
            return 0
        counts = ", ".join(f"{name} {count}" for name, count in data.counts().items())
        if not args.yes:
            print(f"erase {data.key} ({counts})? [y/N] ", end="", flush=True)
            if sys.stdin.readline().strip().lower() not in ("y", "yes", "j", "ja"):
                print("nothing erased")
                return 1
        await ctx.privacy.erase(person, ctx.events.catalog.by_id, actor="cli", now=now)
        print(f"erased {data.key} ({counts}); cancelled registrations moved their waitlists")
        return 0
    finally:
        await ctx.close()


async def audit(settings: Settings, args: argparse.Namespace) -> int:
    ctx = await build_context(settings, sync=False)
    try:
        for entry in await ctx.audit.latest(max(1, args.limit)):
            subject = f" -> {entry.subject}" if entry.subject else ""
            detail = f"  {entry.detail}" if entry.detail else ""
            print(f"{entry.at.isoformat()}  {entry.action}  {entry.actor or '-'}{subject}{detail}")
    finally:
        await ctx.close()
    return 0
