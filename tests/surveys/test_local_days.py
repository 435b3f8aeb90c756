"""Windows in whole local days of the study's time zone: local midnight, both DST changes, Europe/Paris
and America/New_York, with the clock moved; "open until" is the last answerable local day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from surveys.domain.protocol import load_protocol
from surveys.domain.schedule import Anchors, compute_schedule, last_open_day, local_boundary, window_for

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")


def schedule(zone: ZoneInfo, sessions: tuple[date, ...], now: datetime, enrolled: datetime | None = None):
    protocol, _raw = load_protocol()
    enrolled = enrolled or datetime.combine(sessions[0] - timedelta(days=20), time(10), UTC)
    anchors = Anchors(enrolled, tuple(enumerate(sessions, start=1)), zone=zone.key)
    return compute_schedule(protocol, anchors, now)


def local(zone: ZoneInfo, day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A local wall time as an aware UTC instant: the moved clock of these tests."""
    return datetime.combine(day, time(hour, minute, second), zone).astimezone(UTC)


@pytest.mark.parametrize("zone", [PARIS, NEW_YORK], ids=["paris", "new-york"])
def test_a_window_is_answerable_until_23_59_59_local_on_its_last_day(zone) -> None:
    # T0 (baseline) stays open through the first session's local day (issue 18's baseline rule):
    # the session is on 2 December, so 2 December is its last day.
    first = date(2026, 12, 2)
    just_before = schedule(zone, (first,), local(zone, first, 23, 59, 59))
    t0 = window_for(just_before, "T0")
    assert t0 is not None and t0.answerable
    assert last_open_day(t0.closes_at, zone) == first
    assert t0.closes_at == local(zone, date(2026, 12, 3))  # local midnight, not UTC midnight
    at_midnight = window_for(schedule(zone, (first,), local(zone, date(2026, 12, 3))), "T0")
    assert at_midnight is not None and at_midnight.state == "closed"


def test_new_york_evening_is_still_the_same_local_day() -> None:
    """The fault reported: closing at 00:00 UTC closed New York windows at 19:00 the evening before."""
    evening = local(NEW_YORK, date(2026, 12, 1), 20, 0)  # 01:00 UTC on 2 December
    t0 = window_for(schedule(NEW_YORK, (date(2026, 12, 2),), evening), "T0")
    assert t0 is not None and t0.answerable


def test_paris_small_hours_are_already_the_next_day() -> None:
    """The other side: 00:30 in Paris is 23:30 UTC the day before; the window is closed by then."""
    small_hours = local(PARIS, date(2026, 12, 3), 0, 30)  # the day after the first session's day
    t0 = window_for(schedule(PARIS, (date(2026, 12, 2),), small_hours), "T0")
    assert t0 is not None and t0.state == "closed"


# Last Sundays of March and October in Europe; second Sunday of March and first of November in the US.
DST_CHANGES = [
    (PARIS, date(2026, 3, 29)), (PARIS, date(2026, 10, 25)),
    (NEW_YORK, date(2026, 3, 8)), (NEW_YORK, date(2026, 11, 1)),
]


@pytest.mark.parametrize(("zone", "change"), DST_CHANGES, ids=["paris-spring", "paris-autumn", "ny-spring",
                                                                "ny-autumn"])
def test_a_dst_change_neither_shortens_nor_lengthens_a_window(zone, change) -> None:
    session = change - timedelta(days=1)  # Saturday: every boundary of S1 is after the change
    s1 = window_for(schedule(zone, (session,), local(zone, change, 12)), "S1")
    assert s1 is not None
    for instant, days in ((s1.opens_at, 1), (s1.due_at, 2), (s1.overdue_at, 4), (s1.closes_at, 21)):
        wall = instant.astimezone(zone)
        assert (wall.date(), wall.time()) == (session + timedelta(days=days), time(0, 0))
    # the clock moved around the change: open from the first to the last second of its local days
    assert window_for(schedule(zone, (session,), local(zone, change, 0)), "S1").state == "open"
    assert window_for(schedule(zone, (session,), local(zone, change) - timedelta(seconds=1)),
                      "S1").state == "upcoming"
    last = session + timedelta(days=20)
    assert window_for(schedule(zone, (session,), local(zone, last, 23, 59, 59)), "S1").answerable
    after = local(zone, last + timedelta(days=1))
    assert window_for(schedule(zone, (session,), after), "S1").state == "closed"
    assert last_open_day(s1.closes_at, zone) == last


@pytest.mark.parametrize(("zone", "change"), DST_CHANGES)
def test_a_window_across_the_change_has_the_hours_of_its_local_days(zone, change) -> None:
    session = change - timedelta(days=10)
    s1 = window_for(schedule(zone, (session,), local(zone, change, 12)), "S1")
    assert s1 is not None
    hours = (s1.closes_at - s1.opens_at) / timedelta(hours=1)
    spring = change.month == 3
    assert hours == 20 * 24 - (1 if spring else -1)  # 20 local days, one of them 23 or 25 hours long


def test_local_boundary_reads_offsets_on_the_wall_clock() -> None:
    noon_after_next = local(PARIS, date(2026, 3, 29), 12)
    assert local_boundary(date(2026, 3, 28), timedelta(hours=36), PARIS) == noon_after_next
    assert local_boundary(date(2026, 3, 28), timedelta(days=-1), PARIS) == local(PARIS, date(2026, 3, 27))
    # a local midnight that does not exist (Havana springs forward at 00:00): the moment the clocks jump
    havana = ZoneInfo("America/Havana")
    jump = local_boundary(date(2026, 3, 8), timedelta(0), havana)
    assert jump.astimezone(havana).time() == time(1, 0)


def test_the_enrollment_anchor_is_the_local_day_of_enrollment() -> None:
    """Enrolled at 23:30 UTC on 1 March = 00:30 on 2 March in Paris: the local day is 2 March."""
    from surveys.domain.schedule import Anchors

    anchors = Anchors(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), (), zone="Europe/Paris")
    assert anchors.enrollment_day == date(2026, 3, 2)
    assert Anchors(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)).enrollment_day == date(2026, 3, 1)  # UTC
