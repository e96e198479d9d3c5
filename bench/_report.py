"""Shared by the benchmarks: a line about the machine, and rewriting one section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import psutil

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine(load: tuple[float, float, float] | None = None) -> str:
    """Cores, CPU model, memory, Python, OS, time and the load average (the machine may be shared)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = load or os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average before the run "
        f"{', '.join(f'{x:.1f}' for x in load)}"
    )


def write_section(name: str, text: str) -> None:
    """Replace what stands between <!-- name:start --> and <!-- name:end --> with `text`."""
    content = DOCS.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", re.S)
    if not pattern.search(content):
        raise ValueError(f"docs/benchmarks.md has no section {name!r}")
    DOCS.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), content), encoding="utf-8")
