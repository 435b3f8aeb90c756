"""The benchmark's essentials floor does the essentials for real, or its ceiling means nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from bench.bare_app import create_table
from bench.floor_app import create_app
from bench.patient_load import FLOOR_CSRF, seed
from surveys.infra.db import make_engine

World = tuple[str, list[str]]  # the database URL and the patients' link tokens


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    url = f"sqlite:///{tmp_path_factory.mktemp('floor') / 'floor.sqlite3'}"
    tokens = seed(url, 2)
    create_table(url)
    return url, tokens


@pytest.fixture
def client(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("BENCH_DATABASE_URL", world[0])
    app = create_app()
    app.config["TESTING"] = True
    yield app.test_client()


def stored(url: str, item: str) -> list[tuple[str, int]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT patient, code FROM bench_answer WHERE item_id = :i"), {"i": item})
        found = [(patient, code) for patient, code in rows]
    engine.dispose()
    return found


def csrf_of(client: FlaskClient, token: str) -> str:
    page = client.get(f"/f/{token}")
    assert page.status_code == 200
    found = FLOOR_CSRF.search(page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def test_floor_stores_an_answer_once_and_shows_the_page_again(client: FlaskClient, world: World):
    url, tokens = world
    csrf = csrf_of(client, tokens[0])
    for code in ("3", "4"):  # a resend with another choice updates the same row
        reply = client.post(f"/f/{tokens[0]}", data={"csrf_token": csrf, "item": "t-once", "answer": code})
        assert reply.status_code == 303 and reply.location.endswith(f"/f/{tokens[0]}")
    assert [code for _patient, code in stored(url, "t-once")] == [4]


def test_floor_refuses_an_answer_without_its_csrf_token(client: FlaskClient, world: World):
    url, tokens = world
    reply = client.post(f"/f/{tokens[0]}", data={"item": "t-csrf", "answer": "3"})
    assert reply.status_code == 400
    assert stored(url, "t-csrf") == []


def test_floor_refuses_a_code_outside_the_choices(client: FlaskClient, world: World):
    url, tokens = world
    csrf = csrf_of(client, tokens[0])
    for code in ("6", "-1", "", "three"):
        reply = client.post(f"/f/{tokens[0]}", data={"csrf_token": csrf, "item": "t-range", "answer": code})
        assert reply.status_code == 400
    assert stored(url, "t-range") == []


def test_floor_limits_guessed_links_like_the_patient_pages(client: FlaskClient, world: World):
    guesses = [client.get(f"/f/not-a-token-{n}").status_code for n in range(11)]
    assert guesses == [404] * 10 + [429]
    assert client.get(f"/f/{world[1][1]}").status_code == 429  # the limit holds for every link address

