"""A member's language: detected from typed words, switched only by a clearly other-language message,
chosen with /sprache (then it always wins), never changed by buttons or command names, and kept on the
member row only once the member exists."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.app import build_context
from bot.config import Settings
from bot.context import AppContext
from bot.db.models import Member
from tests.conftest import actions, say, text_of

THINIUS = "webtalk-groesste-zukunft"


async def member_language(ctx: AppContext, user: str = "anna") -> tuple[str | None, bool] | None:
    async with ctx.db.sessions() as session:
        row = (
            await session.execute(
                select(Member.language, Member.language_chosen_at).where(Member.user_id == user)
            )
        ).first()
    return None if row is None else (row[0], row[1] is not None)


async def test_an_english_registration_stays_english_through_buttons(ctx: AppContext) -> None:
    consent = await say(ctx, "register Thinius")
    assert "I agree" in text_of(consent) or any(
        "I agree" in b.label for r in consent for row in r.buttons for b in row
    )
    registered = await say(ctx, f"/einwilligen {THINIUS}", button=True)
    assert "You are registered" in text_of(registered)
    assert "❌ Cancel" in [b.label for r in registered for row in r.buttons for b in row]
    cancelled = await say(ctx, f"/abmelden {THINIUS}", button=True)
    assert "cancelled" in text_of(cancelled)
    assert "Register" in " ".join(b.label for r in cancelled for row in r.buttons for b in row)


async def test_short_or_single_words_do_not_switch(ctx: AppContext) -> None:
    await say(ctx, "When is the next webtalk?")
    assert "Hello" in text_of(await say(ctx, "Hi"))
    assert "welcome" in text_of(await say(ctx, "Danke"))
    assert "Next up" in text_of(await say(ctx, "next webtalk"))


async def test_a_clearly_other_language_message_switches(ctx: AppContext) -> None:
    await say(ctx, "When is the next webtalk?")
    assert "Als Nächstes" in text_of(await say(ctx, "Wann ist der nächste WebTalk?"))
    assert "Gern geschehen" in text_of(await say(ctx, "Thanks!"))
    assert "Ihre Anmeldungen" in text_of(await say(ctx, "/mine")) or "keine anstehenden" in text_of(
        await say(ctx, "/mine")
    )


async def test_a_first_thanks_is_answered_in_english(ctx: AppContext) -> None:
    assert "welcome" in text_of(await say(ctx, "Thanks!"))


async def test_a_chosen_language_always_wins(ctx: AppContext) -> None:
    chosen = await say(ctx, "/language en")
    assert "English" in text_of(chosen)
    assert "Next up" in text_of(await say(ctx, "Wann ist der nächste WebTalk? Bitte sagen Sie es mir."))
    assert "English" not in text_of(await say(ctx, "/sprache de"))
    assert "Next up" not in text_of(await say(ctx, "When is the next webtalk? Please tell me."))


async def test_language_without_argument_offers_both(ctx: AppContext) -> None:
    replies = await say(ctx, "/sprache")
    assert actions(replies) == ["/sprache de", "/sprache en"]
    assert "Klingonisch" in text_of(await say(ctx, "/sprache Klingonisch"))


async def test_a_german_button_pressed_by_an_english_speaker_answers_in_english(ctx: AppContext) -> None:
    await say(ctx, "What is on next week?")
    replies = await say(ctx, f"/details {THINIUS}", button=True)
    assert "seats taken" in text_of(replies)


async def test_before_consent_the_language_lives_only_in_memory(ctx: AppContext) -> None:
    await say(ctx, "/language en")
    await say(ctx, "When is the next webtalk?")
    assert await member_language(ctx) is None
    await say(ctx, "register Thinius")
    await say(ctx, f"/einwilligen {THINIUS}", button=True)
    assert await member_language(ctx) == ("en", True)


async def test_a_chosen_language_survives_a_restart(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'lang.sqlite3'}"
    first = await build_context(settings, database_url=url)
    await say(first, "register Thinius")
    await say(first, f"/einwilligen {THINIUS}", button=True)
    await say(first, "/language en")
    await first.close()
    second = await build_context(settings, database_url=url)
    try:
        assert "Next up" in text_of(
            await say(second, "Wann ist der nächste WebTalk? Sagen Sie es mir bitte.")
        )
    finally:
        await second.close()


async def test_buttons_carry_language_neutral_actions(ctx: AppContext) -> None:
    card = await say(ctx, "When does Thinius speak?")
    assert actions(card)[:3] == [f"/rsvp {THINIUS}", f"/ics {THINIUS}", f"/info {THINIUS}"]
    assert "seats taken" in text_of(await say(ctx, f"/info {THINIUS}", button=True))
    await say(ctx, "Wann spricht Thinius?", user="bert")
    assert "Plätzen vergeben" in text_of(await say(ctx, f"/info {THINIUS}", user="bert", button=True))


def test_codes_slugs_and_tokens_say_nothing_about_the_language() -> None:
    """A token split at its '-' and '_' once "said" "it" and answered a German admin in English."""
    import secrets

    from bot.services.languages import detect

    assert detect("/rolle xY-it_Qm3") == (None, 0)
    assert detect("/anmelden webtalk-thinius-2020") == (None, 0)
    assert all(detect(f"/rolle {secrets.token_urlsafe(16)}") == (None, 0) for _ in range(2000))
    assert detect("Wann ist der nächste WebTalk am 6.10.?")[0] == "de"
    assert detect("When is the next event?")[0] == "en"
