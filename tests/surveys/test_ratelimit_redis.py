"""With several app servers the rate-limit counters must be shared: Redis keeps them.

Two app instances stand for two servers. Failed logins counted by the first must count for the
second; with in-memory counters (the single-server default) they do not, which the control
case shows. Needs the Redis on 127.0.0.1:6379 that this project's machines run.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from surveys.infra.db import db
from tests.conftest import app_config, fresh_database_url

REDIS = "redis://127.0.0.1:6379/15"


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def server(url: str, storage: str, prefix: str, tmp_path: Path) -> Any:
    app = create_app(
        app_config(url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=storage, RATELIMIT_KEY_PREFIX=prefix),
        instance_path=str(tmp_path / "instance"),
    )
    return app.test_client()


def failed_logins(client: Any, count: int) -> list[int]:
    return [client.post("/login", data={"email": f"guess{i}@clinic.test", "password": "wrong"}).status_code
            for i in range(count)]


@pytest.mark.parametrize(("storage", "shared"), [(REDIS, True), ("memory://", False)])
def test_failed_logins_count_across_app_servers_only_with_shared_storage(
    storage: str, shared: bool, tmp_path: Path
) -> None:
    if storage.startswith("redis") and not redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")
    url = fresh_database_url("sqlite", tmp_path)
    prefix = f"test-{uuid.uuid4().hex}"
    try:
        first = server(url, storage, prefix, tmp_path)
        assert failed_logins(first, 6) == [401] * 6
        second = server(url, storage, prefix, tmp_path)
        expected = [401] * 4 + [429] if shared else [401] * 5
        assert failed_logins(second, 5) == expected
    finally:
        db.session.remove()
        if storage.startswith("redis"):
            import redis

            client = redis.Redis.from_url(REDIS)
            for key in client.scan_iter(f"*{prefix}*"):
                client.delete(key)
