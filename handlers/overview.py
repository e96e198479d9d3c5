"""The weekly overview: reading it, subscribing, managers' preview, sending and targets, reminders on/off."""

from __future__ import annotations

from datetime import timedelta

from babel.lists import format_list
from babel.units import format_unit

from bot.access import MANAGER_PRIVATE, OPEN, Access
from bot.chat import Button, ChatRef, Kind, Reply
from bot.context import AppContext
from bot.db.models import Role, TargetKind, TargetStatus
from bot.notices.overview import overview_renderer
from bot.router import Request, Router
from bot.services.overview import Audience, Overview, Target, assemble
from bot.text import fold
from handlers.common import consent_buttons

router: Router[AppContext] = Router()

SEND_WORDS = frozenset({"senden", "send", "verschicken"})
ON_WORDS = frozenset({"an", "ein", "on"})
OFF_WORDS = frozenset({"aus", "off"})
YES_WORDS = frozenset({"ja", "yes"})


async def this_week(ctx: AppContext) -> Overview:
    """This week's overview, with last week's impulse discussion."""
    schedule = ctx.overview.schedule
    week = schedule.week_of(ctx.clock.now())
    overview = assemble(week, schedule, ctx.events.catalog, ctx.events.items)
    return await ctx.discussion.digest(overview, lookback=schedule.lookback)


def _words(args: str) -> list[str]:
    return fold(args).split()


def _overview_access(req: Request) -> Access:
    """Reading is for everyone; sending now is a manager's private command, switching a group a manager's."""
    words = _words(req.args)
    if words and words[0] in SEND_WORDS:
        return MANAGER_PRIVATE
    if words and words[0] in ON_WORDS | OFF_WORDS and not req.chat.is_private:
        return Access(Role.MANAGER)
    return OPEN


@router.command(
    "wochenuebersicht",
    ("overview", "digest"),
    as_word=True,
    word_max_args=3,
    access=_overview_access,
    help=("die Wochenübersicht lesen", "read the weekly overview"),
)
async def overview(req: Request, ctx: AppContext) -> list[Reply]:
    """Show this week's overview; managers send it now or turn it on and off in a group or room."""
    words = _words(req.args)
    if words and words[0] in SEND_WORDS:
        return await _send(req, ctx, confirmed=bool(set(words[1:]) & YES_WORDS))
    if words and words[0] in ON_WORDS | OFF_WORDS:
        if req.chat.is_private:
            return await (subscribe if words[0] in ON_WORDS else unsubscribe)(req, ctx)
        return await _group_switch(req, ctx, on=words[0] in ON_WORDS, words=words[1:])
    audience = Audience(req.chat.platform, req.lang, private=True)
    return overview_renderer(ctx).render(await this_week(ctx), audience)


@router.command(
    "vorschau",
    "preview",
    as_word=True,
    word_max_args=0,
    managers_only=True,
    help=("die Wochenübersicht vorab sehen (Community-Management)", "preview the weekly overview (managers)"),
)
async def preview(req: Request, ctx: AppContext) -> list[Reply]:
    """Show this week's overview exactly as a member subscribed on this platform gets it."""
    week = await this_week(ctx)
    note = ctx.render(
        "overview_send", req.lang, case="preview", week=week.week, due=week.scheduled_for, count=0
    )
    audience = Audience(req.chat.platform, req.lang, private=True)
    return [Reply(note), *overview_renderer(ctx).render(week, audience)]


async def _send(req: Request, ctx: AppContext, *, confirmed: bool) -> list[Reply]:
    week = await this_week(ctx)
    targets = [t for t in await ctx.overview.targets() if t.platform in ctx.transports or not ctx.transports]
    values = {"week": week.week, "count": len(targets)}
    if not targets:
        return [Reply(ctx.render("overview_send", req.lang, case="no_targets", **values))]
    if not confirmed:
        yes = "✅ Jetzt senden" if req.lang == "de" else "✅ Send now"
        no = "❌ Abbrechen" if req.lang == "de" else "❌ Cancel"
        buttons = ((Button(yes, "/wochenuebersicht senden ja"), Button(no, "/wochenuebersicht abbrechen")),)
        return [Reply(ctx.render("overview_send", req.lang, case="confirm", **values), buttons=buttons)]
    platforms = set(ctx.transports) or None
    count = await ctx.overview.enqueue(week, overview_renderer(ctx), now=ctx.clock.now(), platforms=platforms)
    values["count"] = count or 0
    return [Reply(ctx.render("overview_send", req.lang, case="sent", **values), edit=req.incoming.is_button)]


async def _group_switch(req: Request, ctx: AppContext, *, on: bool, words: list[str]) -> list[Reply]:
    """A manager turns the overview (and impulses) on or off for the group or room they write in."""
    now = ctx.clock.now()
    if not on:
        await ctx.overview.remove(req.chat, now=now)
        return [Reply(ctx.render("targets", req.lang, case="room_off"))]
    language = "en" if "en" in words or "english" in words else "de"
    kind = TargetKind.ROOM if req.chat.platform == "matrix" else TargetKind.GROUP
    await ctx.overview.set_chat(
        req.chat, kind=kind, status=TargetStatus.ACTIVE, now=now, language=language, added_by=req.sender.key
    )
    return [Reply(ctx.render("targets", req.lang, case="room_on", language=language))]


@router.command(
    ("kanaele", "kanale"),
    ("channels", "targets"),
    managers_only=True,
    help=("Kanäle, Gruppen und Räume der Wochenübersicht", "channels, groups and rooms of the overview"),
)
async def channels(req: Request, ctx: AppContext) -> list[Reply]:
    """List where the overview goes; activate or remove a channel, group or room."""
    words = _words(req.args)
    if (
        len(words) >= 2
        and words[0] in ("aktivieren", "activate", "entfernen", "remove")
        and words[1].isdigit()
    ):
        target = await ctx.overview.target(int(words[1]))
        if target is None or target.kind is TargetKind.MEMBER:
            return [Reply(ctx.render("targets", req.lang, case="unknown"))]
        return await _change_target(
            req, ctx, target, activate=words[0] in ("aktivieren", "activate"), words=words
        )
    everyone = await ctx.overview.targets(statuses=(TargetStatus.ACTIVE, TargetStatus.PENDING))
    shared = [t for t in everyone if t.kind is not TargetKind.MEMBER]
    active = [t for t in shared if t.status is TargetStatus.ACTIVE]
    pending = [t for t in shared if t.status is TargetStatus.PENDING]
    members = sum(1 for t in everyone if t.kind is TargetKind.MEMBER and t.status is TargetStatus.ACTIVE)
    text = ctx.render("targets", req.lang, case="list", active=active, pending=pending, members=members)
    return [Reply(text, buttons=_target_buttons(active, pending, req.lang))]


def _target_buttons(active: list[Target], pending: list[Target], lang: str) -> tuple[tuple[Button, ...], ...]:
    rows: list[tuple[Button, ...]] = []
    for t in pending[:5]:
        rows.append(_ask_buttons(t, lang))
    for t in active[:5]:
        label = ("❌ Remove: " if lang == "en" else "❌ Entfernen: ") + (t.title or t.chat_id)[:28]
        rows.append((Button(label, f"/kanaele entfernen {t.id}"),))
    return tuple(rows)


def _ask_buttons(target: Target, lang: str) -> tuple[Button, ...]:
    name = (target.title or target.chat_id)[:20]
    return (
        Button(f"✅ {name} (de)", f"/kanaele aktivieren {target.id} de"),
        Button(f"✅ {name} (en)", f"/kanaele aktivieren {target.id} en"),
        Button("❌ Nein" if lang == "de" else "❌ No", f"/kanaele entfernen {target.id}"),
    )


async def _change_target(
    req: Request, ctx: AppContext, target: Target, *, activate: bool, words: list[str]
) -> list[Reply]:
    now = ctx.clock.now()
    if not activate:
        await ctx.overview.set_status(target.id, TargetStatus.REMOVED, now=now)
        return [
            Reply(ctx.render("targets", req.lang, case="removed", target=target), edit=req.incoming.is_button)
        ]
    language = "en" if "en" in words[2:] else "de"
    changed = await ctx.overview.set_chat(
        target.chat, kind=target.kind, status=TargetStatus.ACTIVE, now=now, language=language
    )
    return [
        Reply(ctx.render("targets", req.lang, case="activated", target=changed), edit=req.incoming.is_button)
    ]


@router.membership
async def membership(req: Request, ctx: AppContext) -> list[Reply]:
    """The bot was added to a Telegram channel or group (asks the manager who did it) or removed."""
    now = ctx.clock.now()
    if req.incoming.kind is Kind.LEFT:
        await ctx.overview.remove(req.chat, now=now)
        return []
    if req.chat.platform != "telegram":
        return []  # Matrix rooms are turned on in the room: !wochenuebersicht an
    known = await ctx.overview.find(req.chat)
    if known is not None and known.status is TargetStatus.ACTIVE:
        return []  # e.g. promoted from member to administrator: it stays as it is
    kind = TargetKind.CHANNEL if req.chat.channel else TargetKind.GROUP
    target = await ctx.overview.set_chat(
        req.chat, kind=kind, status=TargetStatus.PENDING, now=now, title=req.text, added_by=req.sender.key
    )
    if not (await ctx.roles.role_of(req.sender.key)).covers(Role.MANAGER):
        return []  # added by someone else: a manager confirms it in /kanaele
    manager = ChatRef(req.sender.platform, req.sender.id, is_private=True)
    text = ctx.render("targets", req.lang, case="ask", target=target)
    return [Reply(text, buttons=(_ask_buttons(target, req.lang),), to=manager)]


@router.command(
    "abo", ("subscribe",), as_word=True, word_max_args=1, help=("Wochenübersicht abonnieren", "subscribe")
)
async def subscribe(req: Request, ctx: AppContext) -> list[Reply]:
    """Subscribe to the weekly overview in one's own chat (asking for consent the first time)."""
    when = ctx.overview.schedule.weekday, ctx.overview.schedule.at
    if not req.chat.is_private:
        link = ctx.chat_link(req.chat.platform)
        return [Reply(ctx.render("subscription", req.lang, case="private_only", link=link, when=when))]
    if not await ctx.registrations.has_consent(req.sender):
        if not set(_words(req.args)) & YES_WORDS:
            return [
                Reply(
                    ctx.render("subscription", req.lang, case="consent", when=when),
                    buttons=consent_buttons(req, ctx, "/abo ja"),
                )
            ]
        await ctx.registrations.give_consent(req.sender)
        if ctx.languages is not None:
            await ctx.languages.member_created(req.sender)
    done = await ctx.overview.subscribe(req.sender, language=req.lang, now=ctx.clock.now())
    case = "subscribed" if done else "already"
    return [Reply(ctx.render("subscription", req.lang, case=case, when=when), edit=req.incoming.is_button)]


@router.command(
    "abbestellen",
    ("unsubscribe",),
    as_word=True,
    word_max_args=1,
    help=("Wochenübersicht abbestellen", "unsubscribe from the weekly overview"),
)
async def unsubscribe(req: Request, ctx: AppContext) -> list[Reply]:
    """End the weekly overview in one's own chat."""
    removed = await ctx.overview.unsubscribe(req.sender, now=ctx.clock.now())
    case = "unsubscribed" if removed else "not_subscribed"
    when = ctx.overview.schedule.weekday, ctx.overview.schedule.at
    return [Reply(ctx.render("subscription", req.lang, case=case, when=when))]


async def offer(req: Request, ctx: AppContext) -> list[Reply]:
    """After a member's first registration: offer the overview, once (never pushed unasked)."""
    if not req.chat.is_private or not await ctx.overview.offer_once(req.sender, now=ctx.clock.now()):
        return []
    when = ctx.overview.schedule.weekday, ctx.overview.schedule.at
    label = "📬 Abonnieren" if req.lang == "de" else "📬 Subscribe"
    return [
        Reply(
            ctx.render("subscription", req.lang, case="offer", when=when), buttons=((Button(label, "/abo"),),)
        )
    ]


@router.command(
    "erinnerungen",
    ("reminders",),
    as_word=True,
    word_max_args=1,
    help=("Erinnerungen an oder aus", "reminders on or off"),
)
async def reminders(req: Request, ctx: AppContext) -> list[Reply]:
    """Turn reminders before one's events on or off (without an argument: say which it is)."""
    offsets = ctx.settings.reminder_offsets
    if not offsets:
        return [Reply(ctx.render("reminders", req.lang, case="none_configured"))]
    words = _words(req.args)
    wanted = True if words and words[0] in ON_WORDS else False if words and words[0] in OFF_WORDS else None
    state = await ctx.members.reminders(req.sender, turn=wanted)
    if state is None:
        return [Reply(ctx.render("reminders", req.lang, case="no_member"))]
    spoken = format_list([spoken_offset(o, req.lang) for o in offsets], locale=req.lang)
    return [Reply(ctx.render("reminders", req.lang, case="on" if state else "off", offsets=spoken))]


def spoken_offset(offset: timedelta, lang: str) -> str:
    """ "24 Stunden", "90 minutes": the largest unit that says the offset exactly."""
    minutes = int(offset.total_seconds() // 60)
    for unit, size in (("duration-day", 1440), ("duration-hour", 60), ("duration-minute", 1)):
        if minutes % size == 0:
            return format_unit(minutes // size, unit, length="long", locale=lang)
    return format_unit(minutes, "duration-minute", length="long", locale=lang)
