"""Events and questions: listing, details, calendar files and free-text questions."""

from __future__ import annotations

import re

from bot.chat import Attachment, Reply, about
from bot.context import AppContext
from bot.router import Request, Response, Router
from bot.services.items import ItemRef
from bot.services.questions import EVENT_INTENTS, ITEM_TYPES, Answer, Intent, Query, answer_question
from handlers.common import MAX_LISTED, list_buttons, resolve_event, subject_for

# Answers that are one template about the assistant itself rather than about events.
_SIMPLE = (Intent.EMPTY, Intent.GREETING, Intent.THANKS, Intent.HELP, Intent.UNKNOWN, Intent.INVALID_DATE)

router: Router[AppContext] = Router()


def ask(ctx: AppContext, text: str, *, previous: Query | None = None) -> Answer:
    """Answer a free-text question against the current catalog."""
    return answer_question(
        text,
        now=ctx.clock.now(),
        tz=ctx.settings.tz,
        catalog=ctx.events.catalog,
        faq=ctx.events.faq,
        previous=previous,
        items=ctx.events.items,
    )


def respond(ctx: AppContext, answer: Answer, lang: str) -> Response:
    """The Answer rendered, with its intent, events and items."""
    items = tuple(i.ref for i in answer.items)
    entry = ctx.events.faq_entry(answer.faq_slug) if answer.faq_slug else None
    if entry is not None:
        items = (ItemRef("faq", entry.slug, entry.questions[0]),)
    return Response(answer_replies(ctx, answer, lang), answer.intent, tuple(answer.events), items)


def answer_replies(ctx: AppContext, answer: Answer, lang: str) -> list[Reply]:
    """Render an Answer: the events with buttons, or an honest message about what is known."""
    if answer.intent is Intent.FAQ:
        entry = ctx.events.faq_entry(answer.faq_slug or "")
        return [Reply(ctx.render("faq", lang, answer=entry.answer if entry else ""))]
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
                query=answer.query,
                events=events[:MAX_LISTED],
                event=events[0],
                more=max(0, len(events) - MAX_LISTED),
                now=ctx.clock.now(),
            ),
            buttons=list_buttons(events, lang),
            subject=subject_for(events),
        )
    ]


def _item_subject(answer: Answer) -> str | None:
    """An answer showing one impulse is about it, so replies to it can reach the impulse's discussion."""
    if len(answer.items) == 1 and answer.items[0].type == "impulse":
        return about("impulse", answer.items[0].slug)
    return None


@router.text
async def question(req: Request, ctx: AppContext) -> Response:
    """Answer a question in free German or English."""
    answer = ask(ctx, req.text, previous=ctx.conversations.get(req.chat.key))
    if answer.query.kind or answer.intent in EVENT_INTENTS:
        ctx.conversations.put(req.chat.key, answer.query)
    return respond(ctx, answer, req.lang)


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
    return respond(ctx, answer, req.lang)


@router.command(
    "details",
    ("info",),
    as_word=True,
    reaction="ℹ️",
    help=("alles zu einer Veranstaltung", "all about an event"),
)
async def details(req: Request, ctx: AppContext) -> list[Reply]:
    """Show one event in full."""
    event, replies = await resolve_event(req, ctx, action="details")
    if event is None:
        return replies
    confirmed, waitlisted = await ctx.registrations.counts(event.id)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", event.description) if p.strip()]
    return [
        Reply(
            ctx.render(
                "event_details",
                req.lang,
                event=event,
                paragraphs=paragraphs,
                confirmed=confirmed,
                waitlisted=waitlisted,
                now=ctx.clock.now(),
            ),
            buttons=list_buttons([event], req.lang)[:1],
            subject=about("event", event.slug),
            edit=req.incoming.is_button,
        )
    ]


@router.command(
    "kalender",
    ("calendar", "ics"),
    as_word=True,
    reaction="📅",
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
