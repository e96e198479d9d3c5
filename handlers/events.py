"""Events and questions: listing, details, calendar files and free-text questions."""

from __future__ import annotations

from babel.lists import format_list

from bot.chat import Attachment, Button, Reply, about, split_subject
from bot.context import AppContext
from bot.notices import action, cancel_button, register_button
from bot.router import Request, Response, Router
from bot.services.catalog import EventView
from bot.services.followups import Shown
from bot.services.items import ItemRef
from bot.services.questions import ITEM_TYPES, SHOWS_EVENTS, Answer, Intent, Query, answer_question
from bot.text import paragraphs
from handlers.common import (
    MAX_BUTTON_ROWS,
    MAX_LISTED,
    Mine,
    event_buttons,
    list_buttons,
    mine_of,
    resolve_event,
    short,
    subject_for,
)
from handlers.overview import spoken_offset

# Answers that are one template about the assistant itself rather than about events.
_SIMPLE = (Intent.EMPTY, Intent.GREETING, Intent.THANKS, Intent.HELP, Intent.UNKNOWN, Intent.INVALID_DATE)

router: Router[AppContext] = Router()


def ask(ctx: AppContext, text: str, *, previous: Shown | None = None, lang: str | None = None) -> Answer:
    """Answer a free-text question against the current catalog."""
    return answer_question(
        text,
        now=ctx.clock.now(),
        tz=ctx.settings.tz,
        catalog=ctx.events.catalog,
        faq=ctx.events.faq,
        previous=previous,
        items=ctx.events.items,
        lang=lang,
    )


def respond(
    ctx: AppContext, answer: Answer, lang: str, *, counts: Counts | None = None, mine: Mine | None = None
) -> Response:
    """The Answer rendered, with its intent, events and items."""
    items = tuple(i.ref for i in answer.items)
    entry = ctx.events.faq_entry(answer.faq_slug) if answer.faq_slug else None
    if entry is not None:
        items = (ItemRef("faq", entry.slug, entry.questions[0]),)
    replies = answer_replies(ctx, answer, lang, counts=counts, mine=mine)
    return Response(replies, answer.intent, tuple(answer.events), items)


def answer_replies(
    ctx: AppContext,
    answer: Answer,
    lang: str,
    *,
    counts: Counts | None = None,
    mine: Mine | None = None,
) -> list[Reply]:
    """Render an Answer: the events with buttons, or an honest message about what is known."""
    if answer.intent is Intent.FAQ:
        entry = ctx.events.faq_entry(answer.faq_slug or "")
        return [Reply(ctx.render("faq", lang, answer=entry.answer if entry else ""))]
    mine = mine or {}
    special = _about_events(ctx, answer, lang, counts or {}, mine)
    if special is not None:
        return special
    if answer.intent in ITEM_TYPES:
        return [Reply(ctx.render("items", lang, answer=answer), subject=_item_subject(answer))]
    if answer.intent in _SIMPLE:
        return [Reply(ctx.render(answer.intent, lang, answer=answer, commands=ctx.router.visible_commands()))]
    if answer.intent is Intent.HOW_TO_REGISTER:
        return [
            Reply(
                ctx.render("how_to_register", lang, events=answer.events),
                buttons=list_buttons(answer.events, lang) if answer.events else (),
            )
        ]
    events = answer.events
    if not events:
        return [
            Reply(
                ctx.render("no_events", lang, answer=answer, query=answer.query, now=ctx.clock.now()),
                buttons=list_buttons([answer.next_event], lang) if answer.next_event else (),
            )
        ]
    template = "event_card" if len(events) == 1 else "event_list"
    return [
        Reply(
            ctx.render(
                template,
                lang,
                answer=answer,
                mine=mine,
                query=answer.query,
                events=events[:MAX_LISTED],
                event=events[0],
                more=max(0, len(events) - MAX_LISTED),
                now=ctx.clock.now(),
            ),
            buttons=list_buttons(events, lang, mine),
            subject=subject_for(events),
        )
    ]


Counts = dict[int, tuple[int, int]]
_ASPECTS = (Intent.PLACE, Intent.DURATION, Intent.SEATS, Intent.SPEAKERS)


def _about_events(
    ctx: AppContext, answer: Answer, lang: str, counts: Counts, mine: Mine
) -> list[Reply] | None:
    """Aspects of events, topics, reminders, cancelling and the offers to register or cancel."""
    events = answer.events
    if answer.intent in _ASPECTS and events:
        text = ctx.render(
            "event_aspect", lang, aspect=answer.intent.value, events=events[:MAX_LISTED], counts=counts
        )
        return [Reply(text, buttons=list_buttons(events, lang, mine), subject=subject_for(events))]
    if answer.intent is Intent.DETAILS and len(events) == 1:
        return [details_reply(ctx, events[0], lang, counts.get(events[0].id, (0, 0)), mine=mine)]
    if answer.intent is Intent.TOPICS:
        upcoming = ctx.events.catalog.upcoming(ctx.clock.now())[:MAX_LISTED]
        return [Reply(ctx.render("topics", lang, events=upcoming))]
    if answer.intent is Intent.HOW_TO_CANCEL:
        return [Reply(ctx.render("how_to_cancel", lang))]
    if answer.intent is Intent.REMINDERS:
        offsets = ctx.settings.reminder_offsets
        if not offsets:
            return [Reply(ctx.render("reminders", lang, case="none_configured"))]
        spoken = format_list([spoken_offset(o, lang) for o in offsets], locale=lang)
        return [Reply(ctx.render("reminders", lang, case="explain", offsets=spoken))]
    if answer.intent in (Intent.OFFER_REGISTER, Intent.OFFER_CANCEL) and events:
        return [_offer(ctx, answer, lang)]
    return None


def _offer(ctx: AppContext, answer: Answer, lang: str) -> Reply:
    """The event(s) with the command's own button: nothing changes until the member presses it."""
    register = answer.intent is Intent.OFFER_REGISTER
    events = answer.events[:MAX_BUTTON_ROWS]
    button = register_button if register else cancel_button
    if len(events) == 1:
        buttons: tuple[tuple[Button, ...], ...] = ((button(events[0].slug, lang),),)
    else:
        buttons = tuple(
            (
                Button(
                    f"{button(e.slug, lang).label}: {short(e.title)}",
                    action("anmelden" if register else "abmelden", e.slug),
                ),
            )
            for e in events
        )
    text = ctx.render("offer", lang, action="register" if register else "cancel", events=events)
    return Reply(text, buttons=buttons, subject=subject_for(events))


def details_reply(
    ctx: AppContext,
    event: EventView,
    lang: str,
    counts: tuple[int, int],
    *,
    edit: bool = False,
    mine: Mine | None = None,
) -> Reply:
    """One event in full, with its registration and calendar buttons (never a button to itself)."""
    confirmed, waitlisted = counts
    return Reply(
        ctx.render(
            "event_details",
            lang,
            event=event,
            mine=mine or {},
            paragraphs=paragraphs(event.description),
            confirmed=confirmed,
            waitlisted=waitlisted,
            now=ctx.clock.now(),
        ),
        buttons=(event_buttons(event, lang, mine=(mine or {}).get(event.slug)),),
        subject=about("event", event.slug),
        edit=edit,
    )


def _item_subject(answer: Answer) -> str | None:
    """An answer showing one impulse is about it, so replies to it can reach the impulse's discussion."""
    if len(answer.items) == 1 and answer.items[0].type == "impulse":
        return about("impulse", answer.items[0].slug)
    return None


@router.text
async def question(req: Request, ctx: AppContext) -> Response:
    """Answer a question in free German or English."""
    now = ctx.clock.now()
    previous = _replied_to(req, ctx) or ctx.conversations.get(req.chat.key, now=now)
    answer = ask(ctx, req.text, previous=previous, lang=req.lang)
    if answer.intent in SHOWS_EVENTS and answer.events:
        ctx.conversations.put(req.chat.key, Shown(answer.query, tuple(answer.events)), now=now)
    elif answer.query.kind and not (previous is not None and previous.events):
        # Only the kind to keep ("Und der übernächste?"); an empty follow-up keeps what was shown.
        ctx.conversations.put(req.chat.key, Shown(answer.query), now=now)
    counts: Counts = {}
    if answer.intent in (Intent.SEATS, Intent.DETAILS):
        for event in answer.events[:MAX_LISTED]:
            counts[event.id] = await ctx.registrations.counts(event.id)
    mine = await mine_of(req, ctx, answer.events[:MAX_LISTED]) if answer.intent in SHOWS_EVENTS else {}
    return respond(ctx, answer, req.lang, counts=counts, mine=mine)


def _replied_to(req: Request, ctx: AppContext) -> Shown | None:
    """A reply to our message about an event is about that event."""
    kind, slug = split_subject(req.subject)
    event = ctx.events.catalog.by_slug.get(slug or "") if kind == "event" else None
    return Shown(Query(), (event,)) if event is not None else None


@router.command(
    "termine",
    ("events", "dates"),
    as_word=True,
    help=(
        "kommende Veranstaltungen, z. B. /termine nächste Woche",
        "upcoming events, e.g. /events next week",
    ),
)
async def events(req: Request, ctx: AppContext) -> Response:
    """List upcoming events, or those the arguments ask for."""
    answer = ask(ctx, req.args) if req.args else None
    if answer is None or answer.intent in (Intent.EMPTY, Intent.GREETING, Intent.HELP):
        answer = ask(ctx, "veranstaltungen")
    return respond(ctx, answer, req.lang, mine=await mine_of(req, ctx, answer.events[:MAX_LISTED]))


@router.command(
    "details",
    ("details",),
    as_word=True,
    reaction="ℹ️",
    neutral="info",
    help=("alles zu einer Veranstaltung", "all about an event"),
)
async def details(req: Request, ctx: AppContext) -> list[Reply]:
    """Show one event in full."""
    event, replies = await resolve_event(req, ctx, action="details")
    if event is None:
        return replies
    counts = await ctx.registrations.counts(event.id)
    mine = await mine_of(req, ctx, [event])
    return [details_reply(ctx, event, req.lang, counts, edit=req.incoming.is_button, mine=mine)]


@router.command(
    "kalender",
    ("calendar",),
    as_word=True,
    reaction="📅",
    neutral="ics",
    help=(
        "Kalenderdatei (.ics) zu einer Veranstaltung; ohne: Ihr Kalender-Abo",
        "calendar file (.ics) for an event; without one: your calendar feed",
    ),
)
async def calendar(req: Request, ctx: AppContext) -> list[Reply]:
    """Send the event as an .ics calendar file; without one, the member's personal calendar feed."""
    renew = req.args.strip().lower() in RENEW_WORDS
    if renew or (not req.args and ctx.settings.public_url and req.chat.is_private):
        return [Reply(await calendar_feed(req, ctx, renew=renew))]
    event, replies = await resolve_event(req, ctx, action="kalender")
    if event is None:
        return replies
    data = ctx.events.calendar_file(event, now=ctx.clock.now())
    return [
        Reply(
            ctx.render("calendar_file", req.lang, event=event),
            attachment=Attachment(f"{event.slug}.ics", "text/calendar", data),
        )
    ]


RENEW_WORDS = ("neu", "new", "erneuern", "renew")


async def calendar_feed(req: Request, ctx: AppContext, *, renew: bool) -> str:
    """The member's private feed address (`/kalender`), a new one with `/kalender neu`."""
    base = ctx.settings.public_url
    if not base:
        return ctx.render("calendar_feed", req.lang, state="no_web")
    if not req.chat.is_private:
        return ctx.render("calendar_feed", req.lang, state="not_private")
    token = await ctx.calendars.token(req.sender, now=ctx.clock.now(), renew=renew)
    if token is None:
        return ctx.render("calendar_feed", req.lang, state="no_member")
    https = f"{base.rstrip('/')}/kalender/{token}.ics"
    webcal = "webcal://" + https.split("://", 1)[1]
    return ctx.render("calendar_feed", req.lang, state="feed", webcal=webcal, https=https, renewed=renew)
