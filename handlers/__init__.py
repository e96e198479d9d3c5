"""Feature handlers, one module per feature; `build_router` collects what they declare."""

from __future__ import annotations

from bot.context import AppContext
from bot.router import Router
from handlers import (
    admin,
    events,
    help,
    impulse_new,
    impulses,
    language,
    overview,
    privacy,
    registration,
    roles,
)


def build_router() -> Router[AppContext]:
    router: Router[AppContext] = Router()
    for module in (
        help,
        events,
        impulses,
        impulse_new,
        registration,
        overview,
        admin,
        roles,
        privacy,
        language,
    ):
        router.include(module.router)
    return router
