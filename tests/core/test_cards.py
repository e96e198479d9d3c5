"""Event cards and texts: a member's own status and ❌ on cards (private chats only), /details without a
button to itself, unknown events answered with titles and buttons (never slugs), Markdown paragraphs."""

from __future__ import annotations

from bot.context import AppContext
from tests.conftest import actions, say, text_of
from tests.core.test_registration import set_capacity

THINIUS = "webtalk-groesste-zukunft"
ROUNDTABLE = "roundtable-leerstand-bid-isg"
SLUGS = (
    "webtalk-vitale-standorte",
    THINIUS,
    ROUNDTABLE,
    "webtalk-willkommen",
    "projektauftakt-innenstadt-2030",
)


async def register(ctx: AppContext, user: str = "anna") -> None:
    await say(ctx, "anmelden Thinius", user=user)
    await say(ctx, f"/einwilligen {THINIUS}", user=user, button=True)


async def test_a_registered_member_sees_status_and_cancel_on_the_card(ctx: AppContext) -> None:
    await register(ctx)
    card = await say(ctx, "Wann spricht Thinius?")
    assert "Sie sind angemeldet" in text_of(card)
    assert f"/unrsvp {THINIUS}" in actions(card)
    assert f"/rsvp {THINIUS}" not in actions(card)
    details = await say(ctx, f"/details {THINIUS}")
    assert "Sie sind angemeldet" in text_of(details)
    assert f"/unrsvp {THINIUS}" in actions(details)


async def test_a_waitlisted_member_sees_the_place(ctx: AppContext) -> None:
    await set_capacity(ctx, ROUNDTABLE, 1)
    for user in ("bert", "anna"):
        await say(ctx, "anmelden Roundtable", user=user)
        await say(ctx, f"/einwilligen {ROUNDTABLE}", user=user, button=True)
    card = await say(ctx, "Wann ist der nächste Roundtable?")
    assert "Warteliste, Platz 1" in text_of(card)
    assert f"/unrsvp {ROUNDTABLE}" in actions(card)


async def test_in_a_group_nobody_sees_their_status(ctx: AppContext) -> None:
    await register(ctx)
    assert "Sie sind angemeldet" in text_of(await say(ctx, "/termine Thinius"))
    card = await say(ctx, "/termine Thinius", private=False)
    assert "angemeldet" not in text_of(card)
    assert f"/rsvp {THINIUS}" in actions(card)


async def test_others_still_see_register(ctx: AppContext) -> None:
    await register(ctx)
    assert f"/unrsvp {THINIUS}" in actions(await say(ctx, "Wann spricht Thinius?"))
    card = await say(ctx, "Wann spricht Thinius?", user="bert")
    assert f"/rsvp {THINIUS}" in actions(card)
    assert "angemeldet" not in text_of(card)


async def test_details_has_no_button_to_itself(ctx: AppContext) -> None:
    replies = await say(ctx, f"/details {THINIUS}")
    assert not [a for a in actions(replies) if a.startswith(("/details", "/info"))]


async def test_an_unknown_event_gets_titles_and_buttons_never_slugs(ctx: AppContext) -> None:
    replies = await say(ctx, "/anmelden xyz")
    text = text_of(replies)
    assert "xyz" in text
    assert not [slug for slug in SLUGS if slug in text]
    assert "Die größte Zukunft aller Zeiten" in text
    assert f"/rsvp {THINIUS}" in actions(replies)


async def test_faq_and_impulse_are_paragraphs_not_hard_lines(ctx: AppContext) -> None:
    faq = text_of(await say(ctx, "Was sind die Stadtretter?"))
    assert "Best-Practice-Netzwerk für lebendige Innenstädte. Kommunen," in faq
    assert "\n" not in faq.strip()
    impulse = text_of(await say(ctx, "/impuls"))
    for paragraph in impulse.split("\n\n")[1:]:
        assert "\n" not in paragraph.strip(), paragraph
