"""`/healthz` (the process answers), `/readyz` (database, platforms, role) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import case, func, select, text

from bot.db.models import OutboxMessage, Registration
from bot.db.session import Database
from bot.metrics import LEADER, OUTBOX_MESSAGES, REGISTRATIONS, REGISTRY

logger = logging.getLogger(__name__)

DB_TIMEOUT = 3.0
OUTBOX_KINDS = ("overview", "reminder", "impulse", "promotion")


@dataclass
class Status:
    """What the running application tells the health endpoints about itself."""

    role: str = "starting"  # starting, standby, active, stopping
    # Platform -> connected; only the active instance connects its platforms.
    platforms: dict[str, bool] = field(default_factory=dict)


def routes(db: Database, status: Status) -> list[web.RouteDef]:
    """The operator routes, for the application's HTTP server."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": status.role})

    async def readyz(request: web.Request) -> web.Response:
        database = await _database_ok(db)
        connected = all(status.platforms.values())
        ready = database and (status.role == "standby" or (status.role == "active" and connected))
        body = {
            "ready": ready,
            "role": status.role,
            "database": "ok" if database else "unreachable",
            "platforms": status.platforms,
        }
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(request: web.Request) -> web.Response:
        LEADER.set(1 if status.role == "active" else 0)
        try:
            await asyncio.wait_for(_database_gauges(db), DB_TIMEOUT)
        except Exception as exc:  # the process's own counters are still worth reporting
            logger.warning("metrics: database figures unavailable (%s)", type(exc).__name__)
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]


async def _database_ok(db: Database) -> bool:
    try:
        async with asyncio.timeout(DB_TIMEOUT), db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


async def _database_gauges(db: Database) -> None:
    """Outbox messages by kind and status, registrations by status: the same figures on every instance."""
    kind = case(*((OutboxMessage.key.like(f"{name}:%"), name) for name in OUTBOX_KINDS), else_="other").label(
        "kind"
    )
    async with db.sessions() as session:
        outbox = await session.execute(
            select(kind, OutboxMessage.status, func.count(OutboxMessage.id)).group_by(
                kind, OutboxMessage.status
            )
        )
        registrations = await session.execute(
            select(Registration.status, func.count(Registration.id)).group_by(Registration.status)
        )
        OUTBOX_MESSAGES.clear()
        for name, state, count in outbox:
            OUTBOX_MESSAGES.labels(name, str(state)).set(count)
        REGISTRATIONS.clear()
        for state, count in registrations:
            REGISTRATIONS.labels(str(state)).set(count)
