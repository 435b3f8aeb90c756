"""Files that hold health data or secrets are for the app's own user only.

The instance folder is 0700; the SQLite database with its WAL and shared-memory files, backups,
command-line exports and the mail outbox (which holds live patient links) are 0600. Files are
created with these modes from the start (never readable for a moment), and existing files are
tightened when the app opens them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """Create the folder (and parents) if needed and make it 0700; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    path.chmod(PRIVATE_DIR)
    return path


def make_private(path: Path) -> None:
    """Make an existing file 0600 (nothing happens when it does not exist)."""
    with suppress(FileNotFoundError):
        path.chmod(PRIVATE_FILE)


@contextmanager
def open_private(path: Path) -> Iterator[BinaryIO]:
    """Open a file for writing in binary, created 0600 (an existing file is truncated and made 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        yield handle


def private_sqlite(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (its WAL and shared-memory files then get the
    database file's mode), and tighten an existing database and its companion files."""
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    make_private(path)
    for suffix in SQLITE_COMPANIONS:
        make_private(path.with_name(path.name + suffix))
