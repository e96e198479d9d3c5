"""Data protection: the privacy notice, one's consent, one's data as a file, erasure; typed yes and no."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime

from bot.chat import Attachment, Button, Kind, Reply
from bot.context import AppContext
from bot.router import Request, Response, Router
from bot.text import fold
from handlers.events import question

router: Router[AppContext] = Router()

YES_WORDS = frozenset({"ja", "yes", "jawohl", "gern", "gerne", "ok", "okay", "einverstanden"})
NO_WORDS = frozenset({"nein", "no", "abbrechen", "cancel"})
# A bare yes or no ("Nein, danke!") with no question asked: said so, not searched for as a topic.
_BARE_ANSWER = (
    YES_WORDS
    | NO_WORDS
    | {"danke", "thanks", "thank", "you", "bitte", "please", "/ja", "/nein", "/yes", "/no"}
)
# "Ich möchte meine Daten löschen", "delete my data", "Was wissen Sie über mich?"
_ERASE = re.compile(r"\b(daten|data|konto|account)\b.*\b(loeschen|entfernen|delete|erase|remove)\b")
_SHOW = re.compile(r"\b(meine|my)\s+(daten|data)\b|\bueber mich\b|\babout me\b|\bauskunft\b")


def privacy_request(text: str) -> str | None:
    """The command a free-text privacy request means ("/loeschen", "/meinedaten"), or None."""
    folded = fold(text)
    if _ERASE.search(folded):
        return "/loeschen"
    if _SHOW.search(folded):
        return "/meinedaten"
    return None


@router.command("datenschutz", "privacy", help=("was ich speichere und warum", "what I store and why"))
async def privacy(req: Request, ctx: AppContext) -> list[Reply]:
    """The privacy notice: what is stored, why, for how long, who is responsible, and one's rights."""
    settings = ctx.settings
    keep = {
        "pushes": settings.keep_pushes_days,
        "sent_messages": settings.keep_sent_messages_days,
        "registrations": settings.keep_registrations_days,
        "contributions": settings.keep_contributions_days,
    }
    values = {
        "contact": settings.privacy_contact,
        "url": settings.privacy_url,
        "version": settings.privacy_version,
        "keep": keep,
    }
    return [Reply(ctx.render("privacy", req.lang, case="notice", **values))]


@router.command(
    "einwilligung",
    ("myconsent",),
    private=True,
    help=("Ihre Einwilligung ansehen oder widerrufen", "see or withdraw your consent"),
)
async def consent_status(req: Request, ctx: AppContext) -> list[Reply]:
    """Show what the sender agreed to and when; withdrawing it erases their data."""
    data = await ctx.privacy.export(req.sender)
    members = data.tables.get("members", [])
    consent_at = members[0].get("consent_at") if members else None
    if not isinstance(consent_at, str):
        return [Reply(ctx.render("privacy", req.lang, case="no_consent"))]
    since = datetime.fromisoformat(consent_at)
    version = members[0].get("consent_version")
    de = req.lang == "de"
    buttons = (
        (Button("📄 Meine Daten" if de else "📄 My data", "/meinedaten"),),
        (Button("🗑 Widerrufen und löschen" if de else "🗑 Withdraw and delete", "/loeschen"),),
    )
    return [
        Reply(
            ctx.render(
                "privacy", req.lang, case="consent", since=since, version=version, counts=data.counts()
            ),
            buttons=buttons,
        )
    ]


@router.command(
    "meinedaten",
    ("mydata",),
    private=True,
    help=("alles, was über Sie gespeichert ist, als Datei", "everything stored about you, as a file"),
)
async def my_data(req: Request, ctx: AppContext) -> list[Reply]:
    """Send everything stored about the sender as a JSON file, with a short readable summary."""
    data = await ctx.privacy.export(req.sender)
    if data.empty:
        return [Reply(ctx.render("privacy", req.lang, case="nothing"))]
    now = ctx.clock.now()
    await ctx.audit.record("data_export", actor=data.key, now=now, subject=data.key)
    payload = {"person": data.key, "exported_at": now.isoformat(), "tables": data.tables}
    raw = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
    summary = ctx.render("privacy", req.lang, case="summary", counts=data.counts())
    return [Reply(summary, attachment=Attachment("meine-daten.json", "application/json", raw))]


@router.command(
    "loeschen",
    ("delete", "erase"),
    private=True,
    help=("alle Ihre Daten löschen", "delete all your data"),
)
async def erase(req: Request, ctx: AppContext) -> list[Reply]:
    """Erase the sender after they confirm: registrations are cancelled first, then every row about them."""
    words = set(fold(req.args).split())
    if words & NO_WORDS:
        ctx.pending.forget(req.sender.key)
        return [Reply(ctx.render("privacy", req.lang, case="kept"), edit=req.incoming.is_button)]
    data = await ctx.privacy.export(req.sender)
    if data.empty:
        return [Reply(ctx.render("privacy", req.lang, case="nothing"), edit=req.incoming.is_button)]
    if not words & YES_WORDS:
        ctx.pending.ask(req.sender.key, "/loeschen ja", now=ctx.clock.now())
        de = req.lang == "de"
        buttons = (
            (
                Button("🗑 Ja, alles löschen" if de else "🗑 Yes, delete everything", "/loeschen ja"),
                Button("❌ Abbrechen" if de else "❌ Cancel", "/loeschen abbrechen"),
            ),
        )
        return [Reply(ctx.render("privacy", req.lang, case="confirm", counts=data.counts()), buttons=buttons)]
    changed = await ctx.privacy.erase(req.sender, ctx.events.catalog.by_id, actor="self", now=ctx.clock.now())
    ctx.pending.forget(req.sender.key)
    ctx.conversations.forget(req.chat.key)
    if ctx.languages is not None:
        ctx.languages.forget(req.sender)
    return [
        Reply(
            ctx.render("privacy", req.lang, case="erased", changed=bool(changed)), edit=req.incoming.is_button
        )
    ]


async def _answer_pending(req: Request, ctx: AppContext, *, yes: bool) -> Response:
    """A typed "ja" or "nein": the answer to the question asked last (within 30 minutes), else a question."""
    action = ctx.pending.take(req.sender.key, now=ctx.clock.now())
    if action is None:
        if set(fold(req.text).replace(",", " ").replace("!", " ").split()) <= _BARE_ANSWER:
            return Response([Reply(ctx.render("privacy", req.lang, case="nothing_asked"))])
        return _response(await question(req, ctx))
    if not yes:
        action = "/loeschen abbrechen" if action.startswith("/loeschen") else "/einwilligen nein"
    moved = dataclasses.replace(req.incoming, text=action, kind=Kind.MESSAGE)
    return await ctx.router.answer(moved, ctx)


def _response(result: Response | list[Reply]) -> Response:
    return result if isinstance(result, Response) else Response(result)


@router.text
async def text(req: Request, ctx: AppContext) -> Response:
    """Free text: a request about one's data ("Ich möchte meine Daten löschen") runs that command; the rest
    is a question (this module's text handler replaces the events module's, which it calls)."""
    line = privacy_request(req.text)
    if line is None:
        return await question(req, ctx)
    return await ctx.router.answer(dataclasses.replace(req.incoming, text=line, kind=Kind.MESSAGE), ctx)


@router.command("ja", ("yes",), as_word=True, word_max_args=2, hidden=True)
async def yes(req: Request, ctx: AppContext) -> Response:
    """A typed yes answers the pending consent or deletion question."""
    return await _answer_pending(req, ctx, yes=True)


@router.command("nein", ("no",), as_word=True, word_max_args=2, hidden=True)
async def no(req: Request, ctx: AppContext) -> Response:
    """A typed no declines the pending consent or deletion question (nothing is stored)."""
    return await _answer_pending(req, ctx, yes=False)
