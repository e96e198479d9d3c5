"""Registration: sign up with consent, waitlist, cancel, and the member's own registrations."""

from __future__ import annotations

from bot.access import OPEN, Access
from bot.chat import Button, Reply, about
from bot.context import AppContext
from bot.notices import action, calendar_button, cancel_button
from bot.router import Request, Router
from bot.services.registration import MyRegistration, Outcome
from bot.text import fold
from handlers.common import MAX_BUTTON_ROWS, consent_buttons, event_buttons, resolve_event, short
from handlers.overview import offer as offer_overview

router: Router[AppContext] = Router()

NO_WORDS = frozenset({"nein", "no", "nein danke", "no thanks"})


@router.command(
    "anmelden",
    "register",
    as_word=True,
    reaction="✅",
    neutral="rsvp",
    help=("zu einer Veranstaltung anmelden, z. B. /anmelden Thinius", "register, e.g. /register Thinius"),
)
async def register(req: Request, ctx: AppContext) -> list[Reply]:
    """Register the sender for an event (asking for consent the first time)."""
    event, replies = await resolve_event(req, ctx, action="anmelden")
    if event is None:
        return replies
    result = await ctx.registrations.register(req.sender, event)
    if result.outcome is Outcome.NEEDS_CONSENT:
        return [
            Reply(
                ctx.render("consent", req.lang, event=event),
                buttons=consent_buttons(req, ctx, f"/einwilligen {event.slug}"),
                subject=about("event", event.slug),
            )
        ]
    buttons: tuple[tuple[Button, ...], ...] = ()
    if result.outcome in (
        Outcome.CONFIRMED,
        Outcome.WAITLISTED,
        Outcome.ALREADY_CONFIRMED,
        Outcome.ALREADY_WAITLISTED,
    ):
        buttons = ((calendar_button(event.slug, req.lang), cancel_button(event.slug, req.lang)),)
    answer = Reply(
        ctx.render(
            "registered",
            req.lang,
            event=event,
            outcome=result.outcome.value,
            position=result.waitlist_position,
        ),
        buttons=buttons,
        subject=about("event", event.slug),
        edit=req.incoming.is_button,
    )
    if result.outcome in (Outcome.CONFIRMED, Outcome.WAITLISTED):
        return [answer, *await offer_overview(req, ctx)]
    return [answer]


@router.command(
    "warteliste",
    "waitlist",
    as_word=True,
    hidden=True,
    help=("auf die Warteliste einer ausgebuchten Veranstaltung", "join the waitlist of a full event"),
)
async def waitlist(req: Request, ctx: AppContext) -> list[Reply]:
    """Join the waitlist: the same as registering, which queues when the event is full."""
    return await register(req, ctx)


@router.command(
    "einwilligen",
    ("consent", "agree"),
    hidden=True,
    help=("der Datenspeicherung für Anmeldungen zustimmen", "agree to storing your registration data"),
)
async def consent(req: Request, ctx: AppContext) -> list[Reply]:
    """Record consent, then complete the registration it was asked for; "nein" stores nothing."""
    ctx.pending.forget(req.sender.key)
    if fold(req.args) in NO_WORDS:
        return [Reply(ctx.render("privacy", req.lang, case="refused"), edit=req.incoming.is_button)]
    await ctx.registrations.give_consent(req.sender)
    if ctx.languages is not None:
        await ctx.languages.member_created(req.sender)
    if not req.args:
        return [Reply(ctx.render("consent_given", req.lang))]
    return await register(req, ctx)


def _cancel_access(req: Request) -> Access:
    """Without an event, cancelling lists the sender's registrations: that belongs in the private chat."""
    return OPEN if req.args else Access(private=True)


@router.command(
    "abmelden",
    "cancel",
    as_word=True,
    reaction="❌",
    access=_cancel_access,
    neutral="unrsvp",
    help=("Anmeldung zurücknehmen", "cancel a registration"),
)
async def cancel(req: Request, ctx: AppContext) -> list[Reply]:
    """Cancel the sender's registration or waitlist place."""
    if not req.args:
        mine = await ctx.registrations.mine(
            req.sender, ctx.events.catalog.by_id, upcoming_after=ctx.clock.now()
        )
        if not mine:
            return [Reply(ctx.render("mine", req.lang, registrations=[]))]
        return [
            Reply(
                ctx.render("which_event", req.lang, action="abmelden", events=[r.event for r in mine]),
                buttons=_cancel_buttons(mine),
            )
        ]
    event, replies = await resolve_event(req, ctx, action="abmelden")
    if event is None:
        return replies
    result = await ctx.registrations.cancel(req.sender, event)
    buttons = () if result.outcome is not Outcome.CANCELLED else (event_buttons(event, req.lang)[:1],)
    return [
        Reply(
            ctx.render("cancelled", req.lang, event=event, outcome=result.outcome.value),
            buttons=buttons,
            edit=req.incoming.is_button,
        )
    ]


@router.command(
    ("meine", "anmeldungen"),
    ("mine", "my"),
    as_word=True,
    word_max_args=1,
    private=True,
    help=("Ihre Anmeldungen", "your registrations"),
)
async def mine(req: Request, ctx: AppContext) -> list[Reply]:
    """List the sender's upcoming registrations and waitlist places."""
    registrations = await ctx.registrations.mine(
        req.sender, ctx.events.catalog.by_id, upcoming_after=ctx.clock.now()
    )
    return [
        Reply(
            ctx.render("mine", req.lang, registrations=registrations), buttons=_cancel_buttons(registrations)
        )
    ]


def _cancel_buttons(registrations: list[MyRegistration]) -> tuple[tuple[Button, ...], ...]:
    """One ❌ button per registration (the first few), to cancel it."""
    return tuple(
        (Button(f"❌ {short(r.event.title, 40)}", action("abmelden", r.event.slug)),)
        for r in registrations[:MAX_BUTTON_ROWS]
    )
