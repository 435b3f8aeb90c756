"""The schedule: windows computed from anchors, states at a time, re-computed when anchors move."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from surveys.domain.protocol import (
    DEFAULT_PROTOCOL,
    ProtocolError,
    load_protocol,
    parse_protocol,
    session_number,
)
from surveys.domain.schedule import Anchors, compute_schedule, window_for, window_state

UTC = UTC
PROTOCOL, RAW = load_protocol()
ENROLLED = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def at(day: date, hours: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hours)


def states(anchors: Anchors, now: datetime, completed: tuple[str, ...] = ()) -> dict[str, str]:
    return {w.timepoint: w.state for w in compute_schedule(PROTOCOL, anchors, now, completed)}


def test_baseline_is_open_from_enrollment_until_a_first_session_is_set() -> None:
    result = states(Anchors(ENROLLED), ENROLLED + timedelta(hours=1))
    assert result["T0"] == "open"
    assert result["W12"] == "not_scheduled"
    assert not any(tp.startswith("S") for tp in result)


def test_baseline_window_hangs_on_the_first_session() -> None:
    first = date(2026, 2, 10)
    anchors = Anchors(ENROLLED, ((1, first),))
    assert states(anchors, at(first - timedelta(days=20)))["T0"] == "upcoming"
    assert states(anchors, at(first - timedelta(days=14)))["T0"] == "open"
    assert states(anchors, at(first - timedelta(days=1)))["T0"] == "due"
    assert states(anchors, at(first, 1))["T0"] == "overdue"
    assert states(anchors, at(first + timedelta(days=1), 1))["T0"] == "closed"


def test_the_baseline_stays_answerable_through_the_whole_first_session_day() -> None:
    """Enrolled and treated the same day: the waiting room is the last chance for a baseline."""
    first = date(2026, 11, 30)
    anchors = Anchors(datetime(2026, 11, 30, 8, tzinfo=UTC), ((1, first),))
    # 22:00 in Paris on the session day (21:00 UTC) is still that day, in UTC and in Paris
    assert states(anchors, datetime(2026, 11, 30, 21, tzinfo=UTC))["T0"] == "overdue"
    # 01:30 in Paris the next day is past the session day everywhere
    assert states(anchors, datetime(2026, 12, 1, 0, 30, tzinfo=UTC))["T0"] == "closed"
    # the post-session checklist still opens 24 h after the session
    assert states(anchors, datetime(2026, 12, 1, 0, 30, tzinfo=UTC))["S1"] == "open"


@pytest.mark.parametrize("path", [DEFAULT_PROTOCOL, DEFAULT_PROTOCOL.with_name("scalp_mesotherapy-1.0.json")])
def test_the_baseline_rule_applies_to_the_baseline_timepoint_only_in_every_protocol_version(path) -> None:
    """Protocol 1.0 and 2.0 (W12, RF6/RF12 anchored on the last session): only T0 is a baseline."""
    from surveys.domain.schedule import baseline_closes, is_baseline

    protocol, _raw = load_protocol(path)
    assert [tp.id for tp in protocol.timepoints if is_baseline(tp)] == ["T0"]
    assert all(baseline_closes(tp) == tp.closes for tp in protocol.timepoints if tp.id != "T0")
    first = date(2026, 11, 30)
    anchors = Anchors(datetime(2026, 11, 30, 8, tzinfo=UTC), ((1, first),))
    evening = datetime(2026, 11, 30, 21, tzinfo=UTC)
    result = {w.timepoint: w.state for w in compute_schedule(protocol, anchors, evening)}
    assert result["T0"] == "overdue"  # still answerable in the evening of the first session's day


def test_a_planned_session_anchors_the_baseline_but_opens_no_checklist() -> None:
    first = date(2026, 3, 10)
    anchors = Anchors(ENROLLED, ((1, first),), planned=frozenset({1}))
    result = states(anchors, at(first - timedelta(days=3)))
    assert result["T0"] == "open"
    assert "S1" not in states(anchors, at(first + timedelta(days=2)))
    done = Anchors(ENROLLED, ((1, first),))
    assert states(done, at(first + timedelta(days=2)))["S1"] == "due"


def test_a_back_dated_first_session_leaves_the_baseline_missing_not_open() -> None:
    enrolled = datetime(2026, 5, 1, 9, tzinfo=UTC)
    anchors = Anchors(enrolled, ((1, date(2026, 3, 1)), (2, date(2026, 4, 1))))
    assert states(anchors, enrolled + timedelta(hours=1))["T0"] == "closed"


def test_an_extended_window_reopens_to_the_end_of_its_new_day_and_says_so() -> None:
    first = date(2026, 2, 10)
    later = at(first + timedelta(days=3), 10)
    plain = Anchors(ENROLLED, ((1, first),))
    extended = Anchors(ENROLLED, ((1, first),), extensions={"T0": first + timedelta(days=5)})
    assert states(plain, later)["T0"] == "closed"
    window = window_for(compute_schedule(PROTOCOL, extended, later), "T0")
    assert window.state == "overdue" and window.extended
    assert window.closes_at == at(first + timedelta(days=6))
    assert states(extended, at(first + timedelta(days=6)))["T0"] == "closed"
    # before its own close, a window is not flagged as extended
    assert not window_for(compute_schedule(PROTOCOL, extended, at(first - timedelta(days=2))), "T0").extended


def test_post_session_checklist_opens_after_24h_due_at_48h_and_closes_at_next_session() -> None:
    s1, s2 = date(2026, 2, 10), date(2026, 3, 10)
    anchors = Anchors(ENROLLED, ((1, s1), (2, s2)))
    assert states(anchors, at(s1, 12))["S1"] == "upcoming"
    assert states(anchors, at(s1, 24))["S1"] == "open"
    assert states(anchors, at(s1, 48))["S1"] == "due"
    assert states(anchors, at(s1, 96))["S1"] == "overdue"
    assert states(anchors, at(s2))["S1"] == "closed"
    assert states(anchors, at(s2, 30))["S2"] == "open"


def test_next_session_sooner_than_the_window_closes_it_early() -> None:
    s1, s2 = date(2026, 2, 10), date(2026, 2, 13)
    windows = compute_schedule(PROTOCOL, Anchors(ENROLLED, ((1, s1), (2, s2))), at(s1, 30))
    s1_window = window_for(windows, "S1")
    assert s1_window is not None and s1_window.closes_at == at(s2)
    assert s1_window.due_at <= s1_window.closes_at


def test_moving_the_first_session_moves_every_window_that_hangs_on_it() -> None:
    now = at(date(2026, 5, 1))
    before = compute_schedule(PROTOCOL, Anchors(ENROLLED, ((1, date(2026, 2, 10)),)), now)
    after = compute_schedule(PROTOCOL, Anchors(ENROLLED, ((1, date(2026, 2, 24)),)), now)
    for tp in ("T0", "W12", "EOT", "M6", "M12"):
        old, new = window_for(before, tp), window_for(after, tp)
        assert new.opens_at - old.opens_at == timedelta(days=14), tp


def test_week12_states_follow_the_offsets() -> None:
    """Protocol 2.0: the change-since-treatment rating moved from week 8 to week 12."""
    first = date(2026, 2, 1)
    anchors = Anchors(ENROLLED, ((1, first),))
    assert states(anchors, at(first + timedelta(days=76)))["W12"] == "upcoming"
    assert states(anchors, at(first + timedelta(days=77)))["W12"] == "open"
    assert states(anchors, at(first + timedelta(days=84)))["W12"] == "due"
    assert states(anchors, at(first + timedelta(days=91)))["W12"] == "overdue"
    assert states(anchors, at(first + timedelta(days=105)))["W12"] == "closed"
    assert "W8" not in states(anchors, at(first + timedelta(days=56)))
    assert [e.instrument for e in PROTOCOL.timepoint("W12").instruments] == ["hair_status", "hair_change"]


def test_red_flag_only_contacts_about_6_and_12_weeks_after_the_last_session() -> None:
    sessions = ((1, date(2026, 2, 1)), (2, date(2026, 3, 1)), (3, date(2026, 3, 29)))
    last = sessions[-1][1]
    anchors = Anchors(ENROLLED, sessions)
    for tp, due_days in (("RF6", 42), ("RF12", 84)):
        window = window_for(compute_schedule(PROTOCOL, anchors, at(last)), tp)
        assert window.due_at == at(last + timedelta(days=due_days)), tp
        assert [(e.instrument, e.section) for e in window.instruments] == [("pirc", "red_flags")]
    # a later session moves them: they hang on the last session recorded
    later = Anchors(ENROLLED, (*sessions, (4, date(2026, 4, 26))))
    moved = window_for(compute_schedule(PROTOCOL, later, at(last)), "RF6")
    assert moved.due_at == at(date(2026, 4, 26) + timedelta(days=42))


def test_existing_studies_keep_the_protocol_version_they_were_created_with() -> None:
    old, _raw = load_protocol(DEFAULT_PROTOCOL.with_name("scalp_mesotherapy-1.0.json"))
    assert (old.version, PROTOCOL.version) == ("1.0", "2.0")
    assert "W8" in [tp.id for tp in old.timepoints] and "RF6" not in [tp.id for tp in old.timepoints]


def test_completed_wins_over_time_states() -> None:
    first = date(2026, 2, 1)
    anchors = Anchors(ENROLLED, ((1, first),))
    assert states(anchors, at(first + timedelta(days=120)), ("W12",))["W12"] == "completed"


def test_red_flag_block_only_within_three_months_of_the_last_session() -> None:
    sessions = tuple((n, date(2026, 2, 1) + timedelta(days=28 * (n - 1))) for n in range(1, 5))
    windows = compute_schedule(PROTOCOL, Anchors(ENROLLED, sessions), at(date(2027, 3, 1)))
    eot, m12 = window_for(windows, "EOT"), window_for(windows, "M12")
    assert any(i.instrument == "pirc" and i.section == "red_flags" for i in eot.instruments)
    assert not any(i.instrument == "pirc" for i in m12.instruments)


@pytest.mark.parametrize(
    ("now_offset", "expected"),
    [(-1, "upcoming"), (0, "open"), (2, "due"), (4, "overdue"), (6, "closed")],
)
def test_window_state_boundaries(now_offset: int, expected: str) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    day = timedelta(days=1)
    assert (
        window_state(base + now_offset * day, base, base + 2 * day, base + 4 * day, base + 6 * day)
        == expected
    )


def test_session_numbers_parse_only_real_session_ids() -> None:
    assert session_number("S3") == 3
    assert session_number("S12") == 12
    assert session_number("S") is None
    assert session_number("S03") is None
    assert session_number("EOT") is None
    assert PROTOCOL.timepoint("S7").id == "S"


def broken(**changes: object) -> dict:
    data = json.loads(DEFAULT_PROTOCOL.read_text())
    data["timepoints"][0].update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"anchor": "moon"}, "anchor"),
        ({"opens": {"weeks": 2}}, "offset"),
        ({"due": {"days": -20}}, "opens <= due"),
        ({"instruments": []}, "instruments"),
        ({"instruments": ["nope"]}, "unknown instrument 'nope'"),
        ({"colour": "red"}, "unknown key"),
        ({"id": "T 0"}, "letters and digits"),
    ],
)
def test_a_broken_protocol_is_refused_with_the_place_and_the_problem(changes: dict, message: str) -> None:
    known = {
        name: frozenset({"red_flags", "local"})
        for name in (
            "who5",
            "rses",
            "hair_status",
            "hair_stage",
            "hair_change",
            "pgic",
            "satisfaction",
            "pirc",
        )
    }
    with pytest.raises(ProtocolError) as info:
        parse_protocol(broken(**changes), source="p.json", known_instruments=known)
    assert "p.json: timepoint" in str(info.value)
    assert message in str(info.value)


def test_an_agent_started_later_adds_no_part_to_windows_that_closed_before_it() -> None:
    """Minoxidil from session 3 on: its side-effect questions join the windows after session 3, never
    the baseline or the earlier sessions' windows (a completed baseline would turn into a missing one)."""
    days = (date(2026, 3, 2), date(2026, 4, 1), date(2026, 9, 1))
    anchors = Anchors(ENROLLED, tuple(enumerate(days, start=1)),
                      agents=("vitamins", "vitamins", "minoxidil 5%"))
    windows = {w.timepoint: w for w in compute_schedule(PROTOCOL, anchors, at(date(2026, 9, 3)))}

    def asks_minoxidil(timepoint: str) -> bool:
        return "systemic_minoxidil" in [e.instrument for e in windows[timepoint].instruments]

    assert not asks_minoxidil("T0") and not asks_minoxidil("S1") and not asks_minoxidil("S2")
    assert asks_minoxidil("S3")
    from_the_start = Anchors(ENROLLED, tuple(enumerate(days, start=1)), agents=("minoxidil",) * 3)
    baseline = compute_schedule(PROTOCOL, from_the_start, at(date(2026, 9, 3)))[0]
    assert baseline.timepoint == "T0" and "systemic_minoxidil" in [e.instrument for e in baseline.instruments]
