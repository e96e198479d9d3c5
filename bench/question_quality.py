"""Benchmark: the share of exactly right answers on question sets no rule was tuned to.

Run: .venv/bin/python bench/question_quality.py [bench/questions/heldout_*.txt] [--verbose]

A set file names its content folder and clock in its head (`# content: DIR`, `# now: ISO`), then holds
conversations separated by blank lines, one turn a line: `question => expected`. Each conversation is one
chat of one new member, so follow-ups ("Und wo?") refer to the turns before. `expected` is what the answer
must be, independent of how it is found:

    events SLUG ...      the events that answer it (any event intent; `events` alone: none fits)
    place|duration|seats|details|speakers SLUG ...   that aspect of exactly these events
    faq SLUG             that FAQ entry
    offer_register SLUG / offer_cancel SLUG          the confirmation buttons for that event
    help|thanks|greeting|unknown|how_to_register|how_to_cancel|reminders|topics|speakers|news|practice|
    new_members|impulse|invalid_date                 that kind of answer
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import build_context  # noqa: E402
from bot.chat import ChatRef, Incoming, Person, Platform  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.router import Response  # noqa: E402

EVENT_INTENTS = {"next_event", "event_list", "event_time"}


@dataclass(frozen=True)
class Turn:
    question: str
    expected: str
    line: int


@dataclass(frozen=True)
class QuestionSet:
    path: Path
    content: Path
    now: str
    conversations: list[list[Turn]]


def read_set(path: Path) -> QuestionSet:
    head: dict[str, str] = {}
    conversations: list[list[Turn]] = [[]]
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() in ("content", "now"):
                head[key.strip()] = value.strip()
            continue
        if not line:
            if conversations[-1]:
                conversations.append([])
            continue
        question, _, expected = line.rpartition("=>")
        conversations[-1].append(Turn(question.strip(), expected.strip(), number))
    return QuestionSet(path, ROOT / head["content"], head["now"], [c for c in conversations if c])


def judge(expected: str, response: Response) -> bool:
    """Whether the response is exactly the expected answer."""
    what, *slugs = expected.split()
    intent = response.intent.value
    got = sorted(e.slug for e in response.events)
    if what == "events":
        return intent in EVENT_INTENTS and got == sorted(slugs)
    if what == "faq":
        return intent == "faq" and [i.slug for i in response.items] == slugs
    if slugs or what in ("place", "duration", "seats", "details", "offer_register", "offer_cancel"):
        return intent == what and got == sorted(slugs)
    return intent == what


async def run_set(qs: QuestionSet, *, verbose: bool) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), now=qs.now, content_dir=qs.content)
        ctx = await build_context(settings, database_url=f"sqlite+aiosqlite:///{tmp}/q.sqlite3")
        right = total = 0
        try:
            for number, conversation in enumerate(qs.conversations):
                chat = ChatRef(Platform.CONSOLE, f"q-{number}")
                asker = Person(Platform.CONSOLE, f"asker-{number}")
                for turn in conversation:
                    response = await ctx.answer(Incoming(chat, asker, turn.question))
                    ok = judge(turn.expected, response)
                    right += ok
                    total += 1
                    if verbose and not ok:
                        got = f"{response.intent.value} {' '.join(e.slug for e in response.events)}"
                        items = " ".join(i.slug for i in response.items)
                        print(
                            f"  {qs.path.name}:{turn.line} {turn.question!r}: want {turn.expected!r}, "
                            f"got {got.strip()!r} {items}"
                        )
        finally:
            await ctx.close()
    return right, total


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()
    paths = args.sets or sorted((ROOT / "bench" / "questions").glob("heldout_*.txt"))
    right_all = total_all = 0
    for path in paths:
        right, total = await run_set(read_set(path), verbose=args.verbose)
        right_all += right
        total_all += total
        print(f"{path.name}: {right}/{total} = {100 * right / max(total, 1):.1f} %")
    print(
        f"all: {right_all}/{total_all} = {100 * right_all / max(total_all, 1):.1f} % "
        f"({datetime.now().astimezone():%Y-%m-%d %H:%M})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
