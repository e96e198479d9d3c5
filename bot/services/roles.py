"""Roles: member, manager, admin, stored per person; the settings' lists are applied again at every start."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.db.models import Invitation, Role, RoleGrant, RoleSource
from bot.db.session import Database
from bot.services.audit import record_in

logger = logging.getLogger(__name__)

# Roles change seldom: every instance reads the whole (small) table at most this often.
CACHE_SECONDS = 5.0
INVITATION_VALID = timedelta(hours=24)


class Redeemed(StrEnum):
    GRANTED = "granted"
    ALREADY = "already"  # the person has this role (or a higher one) already: the invitation stays unused
    INVALID = "invalid"  # unknown, used or expired: the same answer for each, so tokens cannot be probed


class Revoked(StrEnum):
    REVOKED = "revoked"
    FROM_SETTINGS = "from_settings"  # listed in BOT_ADMINS/BOT_MANAGERS: change the settings instead
    NO_ROLE = "no_role"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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
        # Told after roles changed here (adapters update the people's command menus).
        self.listeners: list[Callable[[], Awaitable[None]]] = []
        self._cache: dict[str, Role] = {}
        self._read_at: float | None = None

    async def apply_settings(self, *, now: datetime) -> None:
        """Store the settings' roles; settings roles no longer listed end, invited roles stay."""
        try:
            await self._apply_settings(now=now)
        except IntegrityError:
            # Another instance starting at the same moment stored the same rows first: look again.
            await self._apply_settings(now=now)
        self.forget()

    async def _apply_settings(self, *, now: datetime) -> None:
        roles = settings_roles(self.settings.admins, self.settings.managers)
        async with self.db.write_lock, self.db.sessions.begin() as session:
            rows = {f"{r.platform}:{r.user_id}": r for r in await session.scalars(select(RoleGrant))}
            for key, row in rows.items():
                if row.source is RoleSource.SETTINGS and key not in roles:
                    await session.delete(row)
                    record_in(
                        session, "revoke", actor="settings", now=now, subject=key, detail=row.role.value
                    )
                    logger.info("role from settings ended: %s", key)
            for key, role in roles.items():
                platform, _, user = key.partition(":")
                found = rows.get(key)
                if found is None or found.role is not role:
                    record_in(session, "grant", actor="settings", now=now, subject=key, detail=role.value)
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
        configured = self._configured(key)
        return stored if stored.covers(configured) else configured

    def _configured(self, key: str) -> Role:
        if key in self.settings.admins:
            return Role.ADMIN
        return Role.MANAGER if key in self.settings.managers else Role.MEMBER

    async def holders(self) -> list[Holder]:
        async with self.db.sessions() as session:
            rows = await session.scalars(select(RoleGrant).order_by(RoleGrant.role, RoleGrant.granted_at))
            return [
                Holder(f"{r.platform}:{r.user_id}", r.role, r.source, r.granted_by, r.granted_at)
                for r in rows
            ]

    async def invite(self, role: Role, *, by: str, now: datetime) -> str:
        """A one-time token for `role`, valid 24 hours; only its hash is stored."""
        token = secrets.token_urlsafe(16)
        async with self.db.write_lock, self.db.sessions.begin() as session:
            session.add(
                Invitation(
                    token_hash=token_hash(token),
                    role=role,
                    created_by=by,
                    created_at=now,
                    expires_at=now + INVITATION_VALID,
                )
            )
            record_in(session, "invite", actor=by, now=now, detail=role.value)
        return token

    async def redeem(self, token: str, *, key: str, now: datetime) -> tuple[Redeemed, Role | None]:
        """Give the invitation's role to the person "platform:id" (once, within 24 hours)."""
        platform, _, user = key.partition(":")
        async with self.db.write_lock, self.db.sessions.begin() as session:
            query = select(Invitation).where(Invitation.token_hash == token_hash(token.strip()))
            if not self.db.is_sqlite:
                query = query.with_for_update()
            invitation = await session.scalar(query)
            if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
                return Redeemed.INVALID, None
            row = await session.scalar(
                select(RoleGrant).where(RoleGrant.platform == platform, RoleGrant.user_id == user)
            )
            if (row.role if row else self._configured(key)).covers(invitation.role):
                return Redeemed.ALREADY, invitation.role
            if row is None:
                row = RoleGrant(platform=platform, user_id=user, granted_at=now)
                session.add(row)
            row.role, row.source, row.granted_by, row.granted_at = (
                invitation.role,
                RoleSource.INVITATION,
                invitation.created_by,
                now,
            )
            invitation.used_at, invitation.used_by = now, key
            record_in(
                session,
                "grant",
                actor=invitation.created_by,
                now=now,
                subject=key,
                detail=invitation.role.value,
            )
        await self.changed()
        return Redeemed.GRANTED, invitation.role

    async def revoke(self, key: str, *, by: str, now: datetime) -> Revoked:
        """Take back an invited role (roles from the settings are changed in the settings)."""
        if key in self.settings.admins or key in self.settings.managers:
            return Revoked.FROM_SETTINGS
        platform, _, user = key.partition(":")
        async with self.db.write_lock, self.db.sessions.begin() as session:
            row = await session.scalar(
                select(RoleGrant).where(RoleGrant.platform == platform, RoleGrant.user_id == user)
            )
            if row is None:
                return Revoked.NO_ROLE
            record_in(session, "revoke", actor=by, now=now, subject=key, detail=row.role.value)
            await session.delete(row)
        await self.changed()
        return Revoked.REVOKED

    def forget(self) -> None:
        """Read the table again at the next lookup (after this instance changed it)."""
        self._read_at = None

    async def changed(self) -> None:
        """Tell the listeners that roles changed (a failing listener is logged, never raised)."""
        self.forget()
        for listener in self.listeners:
            try:
                await listener()
            except Exception:
                logger.exception("a listener for role changes failed")
