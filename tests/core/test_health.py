"""The operator endpoints through aiohttp's test client: health, readiness and the Prometheus figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.chat import ChatRef, Person, Reply
from bot.context import AppContext
from bot.db.session import Database
from bot.web.health import Status, routes
from tests.conftest import say


async def client_for(db: Database, status: Status) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes(routes(db, status))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_readiness_follows_the_role_the_platforms_and_the_database(ctx: AppContext) -> None:
    status = Status()
    client = await client_for(ctx.db, status)
    try:
        assert (await client.get("/healthz")).status == 200
        starting = await client.get("/readyz")
        assert starting.status == 503 and (await starting.json())["role"] == "starting"
        status.role = "standby"
        assert (await client.get("/readyz")).status == 200
        status.role, status.platforms = "active", {"telegram": True, "matrix": False}
        not_yet = await client.get("/readyz")
        assert not_yet.status == 503 and (await not_yet.json())["platforms"]["matrix"] is False
        status.platforms["matrix"] = True
        ready = await client.get("/readyz")
        assert ready.status == 200 and await ready.json() == {
            "ready": True,
            "role": "active",
            "database": "ok",
            "platforms": {"telegram": True, "matrix": True},
        }
    finally:
        await client.close()


async def test_a_database_that_cannot_be_reached_is_not_ready() -> None:
    db = Database("postgresql+asyncpg://bot@127.0.0.1:9/stadtretter")
    client = await client_for(db, Status(role="standby"))
    try:
        response = await client.get("/readyz")
        assert response.status == 503
        assert json.loads(await response.text())["database"] == "unreachable"
        assert (await client.get("/healthz")).status == 200  # alive all the same
        metrics = await client.get("/metrics")
        assert metrics.status == 200 and "stadtretter_leader 0.0" in await metrics.text()
    finally:
        await client.close()
        await db.dispose()


async def test_metrics_count_outbox_messages_registrations_and_updates(ctx: AppContext) -> None:
    now = datetime.now(UTC)
    await ctx.outbox.enqueue(
        "overview:2020-W40:telegram:1", ChatRef("telegram", "1"), Reply(html="a"), now=now
    )
    await ctx.outbox.enqueue("reminder:x:1", ChatRef("telegram", "2"), Reply(html="b"), now=now)
    anna = Person("telegram", "77", display_name="Anna")
    await ctx.registrations.give_consent(anna)
    event = ctx.events.catalog.upcoming(ctx.clock.now())[0]
    await ctx.registrations.register(anna, event)
    await say(ctx, "hilfe", platform="console")
    client = await client_for(ctx.db, Status(role="active"))
    try:
        text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
    assert 'stadtretter_outbox_messages{kind="overview",status="pending"} 1.0' in text
    assert 'stadtretter_outbox_messages{kind="reminder",status="pending"} 1.0' in text
    assert 'stadtretter_registrations{status="confirmed"} 1.0' in text
    assert 'stadtretter_updates_total{platform="console"}' in text
    assert 'stadtretter_answer_seconds_count{platform="console"}' in text
    assert "stadtretter_leader 1.0" in text
