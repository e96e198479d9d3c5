"""`stadtretter content sync`: shows what a sync will do, asks before it withdraws or removes much."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Settings
from bot.db.session import Database
from bot.notices import Notices
from bot.render import Renderer
from bot.services.content import (
    ContentSourceMismatch,
    EventChange,
    SyncResult,
    prepare_content,
    sync_content,
)
from content.loader import ContentError

FEW = 3  # removing more items than this asks for a confirmation


async def content_sync(settings: Settings, args: argparse.Namespace) -> int:
    directory = args.directory or settings.content_dir
    db = Database(settings.effective_database_url, wait=settings.db_wait.total_seconds())
    try:
        await db.upgrade()
        notices = Notices(Renderer(settings.tz))
        now = Clock(settings.now).now()
        try:
            content = await prepare_content(db, directory)
            plan = await sync_content(
                db, directory, now=now, notices=notices, apply=False, switch=args.switch, content=content
            )
        except ContentError as exc:
            print(f"content not synced, nothing changed ({len(exc.problems)} problem(s)):", file=sys.stderr)
            for path, reason in exc.problems:
                print(f"  {path}: {reason}", file=sys.stderr)
            return 1
        except ContentSourceMismatch as exc:
            print(f"stadtretter: {exc}", file=sys.stderr)
            return 2
        if args.dry_run:
            _print(plan, settings.tz)
            print("dry run: nothing changed")
            return 0
        if (plan.risky(few=FEW) or plan.switching) and not args.yes:
            _print(plan, settings.tz)
            if not _confirmed():
                return 1
        result = await sync_content(
            db, directory, now=now, notices=notices, switch=args.switch, content=content
        )
        _print(result, settings.tz)
        told = f"; {result.notices} member notice(s) queued" if result.notices else ""
        print(f"content synced from {result.source}{told}")
        return 0
    finally:
        await db.dispose()


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        print(
            "not applied: this withdraws events with registrations, removes more than "
            f"{FEW} items or switches the folder; check it with --dry-run, apply it with --yes",
            file=sys.stderr,
        )
        return False
    answer = input("Apply these changes? [y/N] ").strip().lower()
    if answer not in ("y", "yes", "j", "ja"):
        print("nothing changed")
        return False
    return True


def _print(result: SyncResult, tz: ZoneInfo) -> None:
    if result.switching:
        print(f"switching content from {result.previous_source} to {result.source}")
    withdrawn = {e.slug: e for e in result.withdrawn}
    moved = {e.slug: e for e in result.moved}
    for name, report in result.sections.items():
        if not (report.touched or report.unchanged or report.refused):
            continue
        restored = f", {len(report.restored)} restored" if report.restored else ""
        print(
            f"{name}: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed{restored}, {report.unchanged} unchanged"
        )
        for slug in report.added:
            print(f"  + {slug}")
        for slug in report.restored:
            print(f"  + {slug} (live again)")
        for slug in report.changed:
            change = moved.get(slug) if name == "events" else None
            print(f"  ~ {slug}" + (_moved(change, tz) if change else ""))
        for slug in report.removed:
            gone = withdrawn.get(slug) if name == "events" else None
            print(f"  - {slug}" + (_withdrawn(gone.registrations) if gone else ""))
        for slug in report.refused:
            print(f"  ! {slug}: not loaded, an impulse made in a chat has this name; rename the file")


def _moved(change: EventChange, tz: ZoneInfo) -> str:
    people = change.registrations
    told = f"; {people} registered member(s) are told" if people else ""
    return f" (moved: {_local(change.previous_start, tz)} → {_local(change.new_start, tz)}{told})"


def _withdrawn(registrations: int) -> str:
    if not registrations:
        return " (withdrawn)"
    return f" (withdrawn: {registrations} registration(s) kept, the members are told)"


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else "?"
