"""Feature handlers, one module per feature; `build_router` collects their commands."""

from __future__ import annotations

from bot.router import Router


def build_router() -> Router:
    from handlers import admin, events, help, registration

    router = Router()
    for module in (help, events, registration, admin):
        router.include(module.router)
    return router
