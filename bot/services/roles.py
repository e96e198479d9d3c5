"""Roles: member, manager, admin, stored per person; the settings' lists are applied again at every start."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.config import Settings
from bot.db.models import Role, RoleGrant, RoleSource
from bot.db.session import Database

logger = logging.getLogger(__name__)

# Roles change seldom: every instance reads the whole (small) table at most this often.
CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Holder:
    """A person with a role above member."""

    key: str
    role: Role
    source: RoleSource
    granted_by: str | None
    granted_at: datetime


def settings_roles(admins: Iterable[str], managers: Iterable[str]) -> dict[str, Role]:
    """The roles the settings give (an admin listed among managers too stays admin)."""
    roles = {key: Role.MANAGER for key in managers}
    roles.update({key: Role.ADMIN for key in admins})
    return roles


class RoleService:
    """Who has which role; lookups come from a short-lived copy of the table, so they cost no query."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        # The settings' lists count even before (and between) database reads.
        self.settings = settings
        self._cache: dict[str, Role] = {}
        self._read_at: float | None = None

    async def apply_settings(self, *, now: datetime) -> None:
        """Store the settings' roles; settings roles no longer listed end, invited roles stay."""
        roles = settings_roles(self.settings.admins, self.settings.managers)
        async with self.db.write_lock, self.db.sessions.begin() as session:
            rows = {f"{r.platform}:{r.user_id}": r for r in await session.scalars(select(RoleGrant))}
            for key, row in rows.items():
                if row.source is RoleSource.SETTINGS and key not in roles:
                    await session.delete(row)
                    logger.info("role from settings ended: %s", key)
            for key, role in roles.items():
                platform, _, user = key.partition(":")
                found = rows.get(key)
                if found is None:
                    session.add(
                        RoleGrant(
                            platform=platform,
                            user_id=user,
                            role=role,
                            source=RoleSource.SETTINGS,
                            granted_by="settings",
                            granted_at=now,
                        )
                    )
                elif found.role is not role or found.source is not RoleSource.SETTINGS:
                    found.role, found.source, found.granted_by = role, RoleSource.SETTINGS, "settings"
        self.forget()

    async def role_of(self, key: str) -> Role:
        """The role of the person "platform:id" (member when none is stored)."""
        now = time.monotonic()
        if self._read_at is None or now - self._read_at > CACHE_SECONDS:
            async with self.db.sessions() as session:
                rows = (
                    await session.execute(select(RoleGrant.platform, RoleGrant.user_id, RoleGrant.role))
                ).all()
            self._cache = {f"{platform}:{user}": role for platform, user, role in rows}
            self._read_at = now
        stored = self._cache.get(key, Role.MEMBER)
        if key in self.settings.admins:
            return Role.ADMIN
        if key in self.settings.managers and stored is Role.MEMBER:
            return Role.MANAGER
        return stored

    async def holders(self) -> list[Holder]:
        async with self.db.sessions() as session:
            rows = await session.scalars(select(RoleGrant).order_by(RoleGrant.role, RoleGrant.granted_at))
            return [
                Holder(f"{r.platform}:{r.user_id}", r.role, r.source, r.granted_by, r.granted_at)
                for r in rows
            ]

    def forget(self) -> None:
        """Read the table again at the next lookup (after this instance changed it)."""
        self._read_at = None
