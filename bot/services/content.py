"""Synchronises content files into the database: upsert by slug, all or nothing, with a report."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from bot.db.models import CONTENT_REVISION, AppState, Event, Faq, Impulse
from bot.db.session import Database
from content.loader import ContentSet, Parsed, load_content

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def _event_values(item: Parsed) -> dict[str, Any]:
    return {**item.meta, "description": item.body, "content_hash": item.content_hash}


def _faq_values(item: Parsed) -> dict[str, Any]:
    return {**item.meta, "answer": item.body, "content_hash": item.content_hash}


def _impulse_values(item: Parsed) -> dict[str, Any]:
    return {**item.meta, "body": item.body, "content_hash": item.content_hash}


async def sync_content(db: Database, directory: Path) -> dict[str, SyncReport]:
    """Load `directory` and make the database match it; on any bad file nothing is changed."""
    content = load_content(directory)  # raises ContentError before anything is written
    return await apply_content(db, content)


async def apply_content(db: Database, content: ContentSet) -> dict[str, SyncReport]:
    plan: list[tuple[str, Any, Sequence[Parsed], Any]] = [
        ("events", Event, content.events, _event_values),
        ("faq", Faq, content.faq, _faq_values),
        ("impulses", Impulse, content.impulses, _impulse_values),
    ]
    reports: dict[str, SyncReport] = {}
    async with db.write_lock, db.sessions.begin() as session:
        for name, model, items, values in plan:
            report = SyncReport()
            existing = {row.slug: row for row in (await session.scalars(select(model))).all()}
            wanted = {item.slug: item for item in items}
            for slug, item in wanted.items():
                row = existing.get(slug)
                if row is None:
                    session.add(model(slug=slug, **values(item)))
                    report.added.append(slug)
                elif row.content_hash != item.content_hash:
                    for key, value in values(item).items():
                        setattr(row, key, value)
                    report.changed.append(slug)
                else:
                    report.unchanged += 1
            gone = sorted(set(existing) - set(wanted))
            if gone:
                await session.execute(delete(model).where(model.slug.in_(gone)))
                report.removed.extend(gone)
            reports[name] = report
        if any(r.touched for r in reports.values()):
            await session.merge(AppState(key=CONTENT_REVISION, value=uuid.uuid4().hex))
    logger.info(
        "content synced: %s", {k: (len(r.added), len(r.changed), len(r.removed)) for k, r in reports.items()}
    )
    return reports
