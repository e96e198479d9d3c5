"""No input ends a program, content HTML is sanitised, CSV cells stay text, files stay private."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.chat import Reply
from bot.context import AppContext
from bot.platforms.matrix.render import notice_content
from bot.platforms.telegram.html import sanitize
from bot.services.registration import _cell

ROOT = Path(__file__).resolve().parents[2]
BAD_BYTES = (
    b"Wann ist der n\xe4chste WebTalk?\n\xff\xfe\xfd\n\xc3\n\xb2\n\xe2\x91\xa0\n" + b"9" * 5000 + b"\n"
)


def run(
    args: list[str], tmp_path: Path, stdin: bytes, *, umask: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "LC_", "LANG", "PYTHONUTF8"))}
    env.update(BOT_DATA_DIR=str(tmp_path / "data"), LC_ALL="C", LANG="C", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def test_chat_answers_every_line_of_undecodable_input_in_a_c_locale(tmp_path: Path) -> None:
    result = run(["chat"], tmp_path, BAD_BYTES)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    out = result.stdout.decode("utf-8")  # valid UTF-8 whatever the locale
    assert out.count("\n> ") == 6  # every line echoed and answered
    assert "Traceback" not in result.stderr.decode("utf-8", "replace")


def test_ask_answers_every_line_as_valid_utf8_json_in_a_c_locale(tmp_path: Path) -> None:
    result = run(["ask", "--json"], tmp_path, BAD_BYTES)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    records = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(records) == 6
    assert records[0]["question"] == "Wann ist der n\ufffdchste WebTalk?"
    assert all(r["intent"] != "error" for r in records)


def test_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    result = run(["chat"], tmp_path, b"/export Thinius\n", umask=0o022)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    data = tmp_path / "data"
    exports = list((data / "downloads").iterdir())
    assert exports and exports[0].suffix == ".csv"
    modes = {p.relative_to(data).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [data, *data.rglob("*")]}
    assert modes.pop(".") == 0o700 and modes.pop("downloads") == 0o700
    assert set(modes.values()) == {0o600}, modes


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        " =1+1",
        "\n=1+1",
        "\t@SUM(A1)",
        "＝1+1",
        "\u200b=1+1",
        "\ufeff=1+1",
        "|calc",
        "+49 170",
        "-2",
        "%x",
    ],
)
def test_csv_cells_never_start_a_formula(value: str) -> None:
    assert _cell(value).startswith("'")


def test_csv_keeps_ordinary_names() -> None:
    assert [_cell(v) for v in ("Anna Beispiel", "Müller-Lüdenscheidt", "1. FC", "")] == [
        "Anna Beispiel",
        "Müller-Lüdenscheidt",
        "1. FC",
        "",
    ]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerow([_cell('=HYPERLINK("http://x")')])
    assert buffer.getvalue().startswith("\"'=")


EVIL = (
    '<b>Kontakt</b>: <a href="mailto:info@stadtretter.de">Mail</a>, <a href="tel:+49301234">Tel</a>, '
    '<a href="https://stadtretter.de">Web</a><script>alert(1)</script><iframe src="https://evil">x</iframe>'
    '<img src="https://track.example/p.gif"><a href="javascript:alert(1)">klick</a>'
    '<a href="data:text/html,hi">d</a><style>b{}</style><p onclick="x()">Absatz</p>'
)


def test_faq_html_is_sanitised_for_telegram_and_matrix(ctx: AppContext) -> None:
    html = ctx.render("faq", "de", answer=EVIL)
    for forbidden in ("script", "iframe", "img", "javascript", "data:", "onclick", "style", "alert"):
        assert forbidden not in html
    assert '<a href="mailto:info@stadtretter.de">Mail</a>' in html
    assert '<a href="tel:+49301234">Tel</a>' in html and '<a href="https://stadtretter.de">Web</a>' in html
    assert "klick" in html and "Absatz" in html
    assert sanitize(html) == html  # already within Telegram's subset
    body = notice_content(Reply(html))["formatted_body"]
    assert "script" not in body and "javascript" not in body and "<img" not in body
