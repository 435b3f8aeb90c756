"""The audit signing key file is made once, whole, however many processes start together.

gunicorn's workers (and pytest-xdist's) start at the same moment on a fresh instance folder: each
may find no key file and make one. Exactly one must win, and no process may read the file while the
winner is still writing it (an empty or half-written PEM is not a key: that worker would fail every
audited request).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from surveys.infra import signing

PROCESSES = 6
ROUNDS = 10


def _public_key_of(path: str, barrier: multiprocessing.synchronize.Barrier,
                   results: multiprocessing.Queue) -> None:
    barrier.wait()
    try:
        key = signing._load_or_create.__wrapped__(path)
        results.put(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    except Exception as exc:  # reported to the test, which fails on it
        results.put(repr(exc))


def test_processes_starting_together_agree_on_one_whole_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"round-{round_}" / signing.KEY_FILE_NAME)
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_public_key_of, args=(path, barrier, results))
                   for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        seen = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join()
        assert all(isinstance(key, bytes) for key in seen), seen
        assert len(set(seen)) == 1, f"round {round_}: {len(set(seen))} different keys"
        assert sorted(p.name for p in Path(path).parent.iterdir()) == [signing.KEY_FILE_NAME]
