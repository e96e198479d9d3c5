"""Benchmark: answering questions over 2,000 generated events, loading 2,000 event files, memory at rest.

Run: .venv/bin/python bench/core_questions.py [--events 2000] [--questions 10000]
Writes its section of docs/benchmarks.md. The baseline, measured in the same run, is the same questions
answered over the five demo events, so the ratio shows what 400 times the content costs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine, write_section  # noqa: E402

from bot.app import AppContext, build_context  # noqa: E402
from bot.config import load_settings  # noqa: E402
from handlers.events import answer_replies, ask  # noqa: E402

NOW = "2026-03-02T09:00:00+01:00"
KINDS = ["webtalk", "roundtable", "seminar", "workshop", "kickoff", "other"]
TOPICS = [
    "Leerstand",
    "Digitalisierung",
    "Mobilität",
    "Handel",
    "Förderung",
    "Stadtmarketing",
    "Logistik",
    "Gastronomie",
    "Tourismus",
    "Klimaschutz",
    "Wohnen",
    "Kultur",
    "Sicherheit",
    "Sauberkeit",
    "Events",
    "Marktplatz",
    "Wochenmarkt",
    "Parken",
    "Radverkehr",
    "Innenstadt",
    "Quartier",
    "Immobilien",
    "Frequenz",
    "Citymanagement",
    "Onlinehandel",
    "Plattform",
    "Nachvermietung",
    "Zwischennutzung",
    "Begrünung",
    "Licht",
]
FIRST = [
    "Anna",
    "Boris",
    "Clara",
    "David",
    "Eva",
    "Frank",
    "Greta",
    "Hannes",
    "Ines",
    "Jonas",
    "Katrin",
    "Lars",
]
LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hartmann",
]
STEMS = [
    "Zukunft",
    "Strategie",
    "Praxis",
    "Werkstatt",
    "Dialog",
    "Forum",
    "Check",
    "Impulse",
    "Wege",
    "Ideen",
]


def generate_content(folder: Path, count: int, rng: random.Random) -> None:
    events = folder / "events"
    events.mkdir(parents=True)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    for i in range(count):
        kind = rng.choice(KINDS)
        topics = rng.sample(TOPICS, 3)
        when = start + timedelta(days=rng.randint(0, 720), hours=rng.choice([8, 9, 12, 13, 15]))
        speakers = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(0, 2))]
        title = f"{topics[0]}-{rng.choice(STEMS)}: {topics[1]} im Quartier {i}"
        body = (
            f"Wir sprechen über {topics[0]}, {topics[1]} und {topics[2]} in Städten und Gemeinden. "
            "Mit Beispielen aus der Praxis und viel Zeit für Fragen.\n\nFür Mitglieder kostenfrei."
        )
        (events / f"event-{i:05d}.md").write_text(
            "---\n"
            f'title: "{title}"\n'
            f"kind: {kind}\n"
            f"starts_at: {when.isoformat()}\n"
            f"speakers: {speakers!r}\n".replace("'", '"')
            + f'tags: ["{topics[0]}", "{topics[1]}", "{topics[2]}"]\n'
            f"capacity: {rng.choice([20, 50, 100])}\n"
            'location: "online"\n'
            f"---\n{body}\n",
            encoding="utf-8",
        )


def questions(count: int, rng: random.Random) -> list[str]:
    templates = [
        lambda: (
            f"Wann ist der nächste {rng.choice(['WebTalk', 'Roundtable', 'Runde Tisch', 'Workshop', 'Seminar'])}?"
        ),
        lambda: f"Was läuft am {rng.randint(1, 28)}.{rng.randint(1, 12)}.?",
        lambda: f"Gibt es etwas zu {rng.choice(TOPICS)}?",
        lambda: f"Gibt es was zum Thema {rng.choice(TOPICS)}management?",
        lambda: f"Wann spricht {rng.choice(LAST)}?",
        lambda: f"When does {rng.choice(FIRST)} {rng.choice(LAST)} speak?",
        lambda: rng.choice(
            [
                "Was gibt es nächste Woche?",
                "Gibt es heute etwas?",
                "Was ist morgen?",
                "What's on next week?",
                "Gibt es diese Woche etwas?",
            ]
        ),
        lambda: (
            f"Welche {rng.choice(['WebTalks', 'Seminare', 'Workshops'])} gibt es im "
            f"{rng.choice(['März', 'April', 'Oktober', 'December'])}?"
        ),
        lambda: f"Was ist am {rng.choice(['Montag', 'Freitag', 'Mittwoch', 'Thursday'])}?",
        lambda: "Wann ist der übernächste WebTalk?",
        lambda: f"Gibt es einen Workshop zu {rng.choice(TOPICS)} und {rng.choice(TOPICS)}?",
        lambda: rng.choice(["Wie kann ich mich anmelden?", "Was sind die Stadtretter?", "asdf qwertz"]),
    ]
    return [rng.choice(templates)() for _ in range(count)]


def time_questions(ctx: AppContext, items: list[str]) -> list[float]:
    timings = []
    for question in items:
        started = time.perf_counter()
        answer = ask(ctx, question)
        answer_replies(ctx, answer, "de")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    rng = random.Random(7)
    content = workdir / "content"
    generate_content(content, args.events, rng)
    items = questions(args.questions, rng)

    import yaml

    import content.loader as loader

    started = time.perf_counter()
    loader.load_content(content)
    parse_seconds = time.perf_counter() - started
    # Baseline in the same run: the same files through PyYAML's pure-Python loader.
    fast = loader._TextDatesLoader
    slow = type("PurePythonLoader", (yaml.SafeLoader,), {})
    slow.yaml_implicit_resolvers = fast.yaml_implicit_resolvers
    loader._TextDatesLoader = slow  # type: ignore[misc]
    try:
        started = time.perf_counter()
        loader.load_content(content)
        pure_parse_seconds = time.perf_counter() - started
    finally:
        loader._TextDatesLoader = fast  # type: ignore[misc]

    settings = load_settings(data_dir=workdir / "data", now=NOW, content_dir=content)
    url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    started = time.perf_counter()
    ctx = await build_context(settings, database_url=url)
    load_seconds = time.perf_counter() - started
    assert len(ctx.events.catalog.events) == args.events
    await ctx.close()
    started = time.perf_counter()  # a restart: every file unchanged, skipped by its hash
    ctx = await build_context(settings, database_url=url)
    restart_seconds = time.perf_counter() - started
    assert len(ctx.events.catalog.events) == args.events

    demo = await build_context(
        load_settings(data_dir=workdir / "demo", now="2020-09-28T09:00:00+02:00"),
        database_url=f"sqlite+aiosqlite:///{workdir / 'demo.sqlite3'}",
    )
    time_questions(demo, items[:500])  # warm up caches and imports
    time_questions(ctx, items[:500])
    baseline = time_questions(demo, items)
    ours = time_questions(ctx, items)
    await demo.close()
    await ctx.close()
    return {
        "parse_seconds": parse_seconds,
        "pure_parse_seconds": pure_parse_seconds,
        "load_seconds": load_seconds,
        "restart_seconds": restart_seconds,
        "p50": statistics.median(ours),
        "p99": percentile(ours, 0.99),
        "max": max(ours),
        "mean": statistics.fmean(ours),
        "base_p50": statistics.median(baseline),
        "base_p99": percentile(baseline, 0.99),
    }


RSS_SCRIPT = """
import asyncio, gc, sys, psutil
sys.path.insert(0, {root!r})
from bot.app import build_context
from bot.config import load_settings
from handlers.events import ask
async def main():
    settings = load_settings(data_dir={data!r}, now={now!r}, content_dir={content!r})
    ctx = await build_context(settings, database_url={url!r}, sync={sync})
    for q in ["Wann ist der nächste WebTalk?", "Gibt es etwas zu Leerstand?", "Was läuft am 6.10.?"]:
        ask(ctx, q)
    gc.collect()
    print(psutil.Process().memory_info().rss)
    await ctx.close()
asyncio.run(main())
"""

BASE_SCRIPT = """
import gc, sys, psutil
sys.path.insert(0, {root!r})
import bot.app, handlers.events, bot.platforms.console  # the same imports, no content
gc.collect()
print(psutil.Process().memory_info().rss)
"""


def rss_of(script: str) -> int:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=10000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        result = asyncio.run(measure(args, workdir))
        gc.collect()
        rss = rss_of(
            RSS_SCRIPT.format(
                root=str(ROOT),
                data=str(workdir / "data"),
                now=NOW,
                content=str(workdir / "content"),
                url=f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}",
                sync=False,
            )
        )
        base_rss = rss_of(BASE_SCRIPT.format(root=str(ROOT)))
    mib = 2**20
    text = f"""Run on {machine()}.
`python bench/core_questions.py --events {args.events} --questions {args.questions}` (SQLite, one process).

| measure | result | target |
|---|---|---|
| answer one question (parse, match, render) over {args.events:,} events, p50 | {result["p50"]:.2f} ms | |
| same, p99 | {result["p99"]:.2f} ms | < 20 ms |
| same, mean / max | {result["mean"]:.2f} ms / {result["max"]:.1f} ms | |
| baseline: same questions over the 5 demo events, p50 / p99 | {result["base_p50"]:.2f} ms / {result["base_p99"]:.2f} ms | |
| ratio p99 ({args.events:,} events / 5 events) | {result["p99"] / result["base_p99"]:.2f} | |
| parse {args.events:,} event files once (libyaml's C loader) | {result["parse_seconds"]:.2f} s | |
| baseline: the same files with PyYAML's pure-Python loader | {result["pure_parse_seconds"]:.2f} s | |
| ratio parse (C / pure Python) | {result["parse_seconds"] / result["pure_parse_seconds"]:.2f} | |
| first start: load {args.events:,} event files (parse, migrate, write to SQLite, build the index) | {result["load_seconds"]:.2f} s | < 1 s |
| restart with the files unchanged (skipped by hash) | {result["restart_seconds"]:.2f} s | |
| ratio restart / first start | {result["restart_seconds"] / result["load_seconds"]:.2f} | |
| memory at rest with {args.events:,} events loaded (RSS) | {rss / mib:.0f} MB | < 150 MB |
| baseline: the same process with only the imports (RSS) | {base_rss / mib:.0f} MB | |
| ratio (loaded / imports only) | {rss / base_rss:.2f} | |

{args.questions:,} questions from twelve templates (next of a kind, dates, weekdays, topics incl. compounds,
speakers, English, FAQ, gibberish), seeded, so every run asks the same."""
    print(text)
    if not args.no_write:
        write_section("core", text)


if __name__ == "__main__":
    main()
