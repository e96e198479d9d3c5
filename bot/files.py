"""Private files and folders: what the assistant keeps on disk is for its owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# SQLite keeps these beside a database; they hold the same data.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create a folder only its owner may enter (0700); tighten an existing one of ours.

    A shared folder (sticky, like /tmp) or somebody else's is left as it is: that is its owner's choice.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.geteuid() and not info.st_mode & stat.S_ISVTX:
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """Create (empty) or tighten a file so only its owner may read it (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    tighten(path)


def tighten(path: Path) -> None:
    """0600 for an existing file and the SQLite journal files beside it."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        try:
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)
        except FileNotFoundError:
            continue


def tighten_tree(folder: Path) -> None:
    """0700 for the folder and 0600 for every file directly in it (e.g. a key store nio created)."""
    private_dir(folder)
    for entry in folder.iterdir():
        if entry.is_file() and entry.stat().st_mode & 0o077:
            entry.chmod(0o600)


def write_private(path: Path, data: bytes) -> None:
    """Write a file (a download, an export) readable by its owner only."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tighten(path)
