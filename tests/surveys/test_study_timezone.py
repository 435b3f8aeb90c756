"""New studies take their time zone from the server's DEFAULT_TIMEZONE; a bad zone is refused."""

from __future__ import annotations

from typing import Any

import pytest

from app import create_app
from surveys.domain.protocol import ProtocolError


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"DEFAULT_TIMEZONE": "America/New_York"}


def test_a_new_study_takes_the_servers_default_time_zone(app, make_study) -> None:
    assert make_study().timezone == "America/New_York"
    assert make_study(timezone="Asia/Tokyo").timezone == "Asia/Tokyo"


@pytest.mark.parametrize("name", ["Europe/Pariss", "localtime", "Factory", "posixrules", "posix/Europe/Paris",
                                  "right/Europe/Paris"])
def test_an_unknown_time_zone_is_refused(app, make_study, name) -> None:
    with pytest.raises(ProtocolError, match="time zone"):
        make_study(timezone=name)


@pytest.mark.parametrize("name", ["Mars/Olympus", "localtime", "Factory"])
def test_the_app_refuses_a_default_zone_that_is_no_zone(monkeypatch, tmp_path, name) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", name)
    with pytest.raises(ValueError, match="DEFAULT_TIMEZONE"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"},
                   instance_path=str(tmp_path))


def test_the_app_refuses_to_start_with_an_unknown_default_zone(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="DEFAULT_TIMEZONE"):
        create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"},
                   instance_path=str(tmp_path))


def test_the_default_zone_comes_from_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DEFAULT_TIMEZONE", "America/New_York")
    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"},
                     instance_path=str(tmp_path))
    assert app.config["DEFAULT_TIMEZONE"] == "America/New_York"
