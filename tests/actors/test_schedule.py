"""Service hours (switchboard/actors/schedule.py): explicit cases, then properties against a brute force.

Instants are written as UTC ISO strings; a comment gives the local time when it helps.
"""

from __future__ import annotations

import json
import pickle
from bisect import bisect_left
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from functools import cache
from random import Random
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.actors.schedule import (
    INVALID_SCHEDULE,
    MAX_RULES,
    Dated,
    Schedule,
    ScheduleError,
    Weekly,
    Window,
    day_hours,
    intervals,
    is_open,
    merge,
    next_closing,
    next_opening,
    parse_schedule,
    week_windows,
)

WEEKDAYS = frozenset({0, 1, 2, 3, 4})
SATURDAY = frozenset({5})


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%dT%H:%M")


def isos(spans: list[tuple[float, float]]) -> list[tuple[str, str]]:
    return [(iso(start), iso(end)) for start, end in spans]


def weekly(days: frozenset[int], start: str, end: str) -> Weekly:
    return Weekly(days, Window.of(start, end))


def dated(day: str, start: str, end: str) -> Dated:
    return Dated(date.fromisoformat(day), Window.of(start, end))


def closed(day: str) -> Dated:
    return Dated(date.fromisoformat(day))


def paris(*rules: Weekly | Dated, country: str | None = None) -> Schedule:
    return Schedule("Europe/Paris", rules, holidays_country=country)


BAKERY = paris(weekly(WEEKDAYS, "09:00", "12:00"), weekly(WEEKDAYS, "13:00", "18:00"),
               weekly(SATURDAY, "09:00", "13:00"), closed("2026-12-25"), country="FR")


# --- merging ---------------------------------------------------------------------------------


def test_the_seeds_four_windows_merge_into_two() -> None:
    seed = [(9 * 60, 12 * 60), (10 * 60, 12 * 60), (13 * 60, 18 * 60), (15 * 60, 17 * 60)]

    assert merge(seed) == [(9 * 60, 12 * 60), (13 * 60, 18 * 60)]


def test_the_seeds_four_weekly_rules_open_09_12_and_13_18_on_a_monday() -> None:
    schedule = Schedule("UTC", (weekly(WEEKDAYS, "09:00", "12:00"), weekly(WEEKDAYS, "10:00", "12:00"),
                                weekly(WEEKDAYS, "13:00", "18:00"), weekly(WEEKDAYS, "15:00", "17:00")))

    monday = day_hours(schedule, date(2026, 6, 1))

    assert monday.spans == ((540, 720), (780, 1080))
    assert isos(intervals(schedule, utc("2026-06-01T00:00"), utc("2026-06-02T00:00"))) == [
        ("2026-06-01T09:00", "2026-06-01T12:00"), ("2026-06-01T13:00", "2026-06-01T18:00")]


def test_touching_windows_merge_and_empty_ones_vanish() -> None:
    assert merge([(12, 13), (9, 12), (5, 5)]) == [(9, 13)]


spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(spans, st.randoms(use_true_random=False))
def test_merge_is_idempotent_order_independent_and_keeps_the_same_minutes(
        given_spans: list[tuple[int, int]], random: Random) -> None:
    shuffled = list(given_spans)
    random.shuffle(shuffled)

    merged = merge(given_spans)

    assert merge(merged) == merged
    assert merge(shuffled) == merged
    assert all(start < end for start, end in merged)
    assert all(end < start for (_, end), (start, _) in zip(merged, merged[1:]))  # apart, not touching
    assert {m for s, e in merged for m in range(s, e)} == {m for s, e in given_spans for m in range(s, e)}


# --- crossing midnight -----------------------------------------------------------------------


def test_a_friday_night_window_is_open_at_3_on_saturday_and_closed_at_7() -> None:
    schedule = Schedule("UTC", (weekly(frozenset({4}), "22:00", "06:00"),))  # 2026-06-05 is a Friday

    assert not is_open(schedule, utc("2026-06-05T21:59"))
    assert is_open(schedule, utc("2026-06-05T22:00"))
    assert is_open(schedule, utc("2026-06-06T03:00"))
    assert not is_open(schedule, utc("2026-06-06T06:00"))
    assert not is_open(schedule, utc("2026-06-06T07:00"))
    assert not is_open(schedule, utc("2026-06-05T03:00"))  # Thursday's night is not open


def test_a_window_crossing_midnight_belongs_to_the_day_it_starts_on_even_if_the_next_is_closed() -> None:
    schedule = Schedule("UTC", (weekly(frozenset({4}), "22:00", "06:00"), closed("2026-06-06")))

    assert is_open(schedule, utc("2026-06-06T03:00"))
    assert next_closing(schedule, utc("2026-06-06T03:00")) == utc("2026-06-06T06:00")


def test_late_monday_and_early_tuesday_windows_make_one_interval() -> None:
    schedule = Schedule("UTC", (weekly(frozenset({0}), "22:00", "24:00"), weekly(frozenset({1}), "00:00", "06:00")))

    assert isos(intervals(schedule, utc("2026-06-01T00:00"), utc("2026-06-03T00:00"))) == [
        ("2026-06-01T22:00", "2026-06-02T06:00")]
    assert next_closing(schedule, utc("2026-06-01T23:00")) == utc("2026-06-02T06:00")


def test_intervals_are_clipped_to_the_range_asked() -> None:
    schedule = Schedule("UTC", (weekly(WEEKDAYS, "09:00", "18:00"),))

    assert isos(intervals(schedule, utc("2026-06-01T10:00"), utc("2026-06-01T12:00"))) == [
        ("2026-06-01T10:00", "2026-06-01T12:00")]
    assert intervals(schedule, utc("2026-06-01T12:00"), utc("2026-06-01T10:00")) == []


# --- closed dates, holidays and overrides ----------------------------------------------------


def test_a_dated_closed_rule_closes_the_whole_date() -> None:
    # 2026-12-25 is a Friday; Paris is UTC+1 in winter.
    assert not is_open(BAKERY, utc("2026-12-25T10:00"))
    assert is_open(BAKERY, utc("2026-12-24T10:00"))
    assert day_hours(BAKERY, date(2026, 12, 25)).source == "closed"


def test_french_public_holidays_are_closed_dates() -> None:
    schedule = paris(weekly(WEEKDAYS, "09:00", "18:00"), country="FR")
    without = paris(weekly(WEEKDAYS, "09:00", "18:00"))

    # 2026-07-14 (Tuesday, national day) and 2026-12-25 (Friday, Christmas) at 11:00 local.
    assert not is_open(schedule, utc("2026-07-14T09:00"))
    assert not is_open(schedule, utc("2026-12-25T10:00"))
    assert is_open(schedule, utc("2026-07-15T09:00"))
    assert is_open(without, utc("2026-07-14T09:00"))
    assert day_hours(schedule, date(2026, 7, 14)).holiday == "National Day"


def test_a_dated_window_opens_on_a_public_holiday() -> None:
    schedule = paris(weekly(WEEKDAYS, "09:00", "18:00"), dated("2026-07-14", "10:00", "12:00"), country="FR")

    assert isos(intervals(schedule, utc("2026-07-14T00:00"), utc("2026-07-15T00:00"))) == [
        ("2026-07-14T08:00", "2026-07-14T10:00")]
    assert day_hours(schedule, date(2026, 7, 14)).source == "dated"


def test_a_dated_closed_rule_wins_over_a_dated_window_for_the_same_date() -> None:
    schedule = paris(weekly(WEEKDAYS, "09:00", "18:00"), dated("2026-06-03", "10:00", "12:00"), closed("2026-06-03"))

    assert intervals(schedule, utc("2026-06-03T00:00"), utc("2026-06-04T00:00")) == []


def test_dated_windows_replace_the_weekly_ones_for_their_date() -> None:
    # "On Dec 24 we open 09-13 only": both weekly windows give way, and two dated windows both count.
    schedule = paris(weekly(WEEKDAYS, "09:00", "12:00"), weekly(WEEKDAYS, "13:00", "18:00"),
                     dated("2026-12-24", "09:00", "11:00"), dated("2026-12-24", "11:00", "13:00"))

    assert isos(intervals(schedule, utc("2026-12-24T00:00"), utc("2026-12-25T00:00"))) == [
        ("2026-12-24T08:00", "2026-12-24T12:00")]
    assert isos(intervals(schedule, utc("2026-12-23T00:00"), utc("2026-12-24T00:00"))) == [
        ("2026-12-23T08:00", "2026-12-23T11:00"), ("2026-12-23T12:00", "2026-12-23T17:00")]


# --- daylight saving time (Europe/Paris) -----------------------------------------------------


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("01:00", "02:30", [("2026-03-29T00:00", "2026-03-29T01:00")]),  # 02:30 is skipped: the jump at 03:00 CEST
    ("02:30", "05:00", [("2026-03-29T01:00", "2026-03-29T03:00")]),
    ("02:15", "02:45", []),  # wholly inside the skipped hour
    ("00:00", "24:00", [("2026-03-28T23:00", "2026-03-29T22:00")]),  # a 23-hour day
])
def test_a_spring_forward_night_maps_skipped_times_to_the_jump(start: str, end: str,
                                                                expected: list[tuple[str, str]]) -> None:
    schedule = paris(dated("2026-03-29", start, end))

    assert isos(intervals(schedule, utc("2026-03-28T00:00"), utc("2026-03-31T00:00"))) == expected


@pytest.mark.parametrize(("start", "end", "expected"), [
    ("01:00", "02:30", [("2026-10-24T23:00", "2026-10-25T00:30")]),  # 02:30 is its first pass (CEST)
    ("02:00", "03:00", [("2026-10-25T00:00", "2026-10-25T02:00")]),  # both passes of 02:00-03:00
    ("02:15", "02:45", [("2026-10-25T00:15", "2026-10-25T00:45")]),  # first pass only
    ("00:00", "24:00", [("2026-10-24T22:00", "2026-10-25T23:00")]),  # a 25-hour day
])
def test_a_fall_back_night_maps_repeated_times_to_their_first_pass(start: str, end: str,
                                                                   expected: list[tuple[str, str]]) -> None:
    schedule = paris(dated("2026-10-25", start, end))

    assert isos(intervals(schedule, utc("2026-10-24T00:00"), utc("2026-10-27T00:00"))) == expected


def test_on_a_fall_back_night_the_second_pass_of_02_10_is_after_a_window_ending_at_02_30() -> None:
    schedule = paris(dated("2026-10-25", "01:00", "02:30"))

    assert is_open(schedule, utc("2026-10-25T00:10"))  # 02:10 CEST
    assert not is_open(schedule, utc("2026-10-25T01:10"))  # 02:10 CET


# --- next opening and closing ----------------------------------------------------------------


def test_at_3_on_a_weekday_the_next_opening_is_9_the_same_day() -> None:
    # Wednesday 2026-06-03 03:00 in Paris (UTC+2) is 01:00 UTC.
    assert next_opening(BAKERY, utc("2026-06-03T01:00")) == utc("2026-06-03T07:00")


def test_at_3_on_a_saturday_the_next_opening_of_weekday_hours_is_monday_9() -> None:
    schedule = paris(weekly(WEEKDAYS, "09:00", "18:00"))

    assert next_opening(schedule, utc("2026-06-06T01:00")) == utc("2026-06-08T07:00")


def test_when_open_the_next_opening_is_now_and_the_next_closing_the_end_of_the_window() -> None:
    at = utc("2026-06-03T08:30")  # 10:30 in Paris

    assert next_opening(BAKERY, at) == at
    assert next_closing(BAKERY, at) == utc("2026-06-03T10:00")
    assert next_closing(BAKERY, utc("2026-06-03T10:30")) is None


def test_a_schedule_that_never_opens_has_no_next_opening() -> None:
    assert next_opening(paris(), utc("2026-06-03T08:30")) is None
    assert next_opening(paris(closed("2026-06-04")), utc("2026-06-03T08:30")) is None
    assert next_opening(paris(dated("2027-12-01", "09:00", "10:00")), utc("2026-06-03T08:30"), horizon_days=30) is None
    assert next_opening(paris(dated("2026-12-01", "09:00", "10:00")), utc("2026-06-03T08:30")) == utc(
        "2026-12-01T08:00")


def test_a_schedule_open_around_the_clock_never_closes_within_the_horizon() -> None:
    schedule = Schedule("UTC", (weekly(frozenset(range(7)), "00:00", "24:00"),))

    assert next_closing(schedule, utc("2026-06-03T08:30"), horizon_days=30) == float("inf")


def test_a_long_chain_of_windows_closes_where_the_chain_breaks() -> None:
    schedule = Schedule("UTC", (weekly(frozenset(range(7)), "00:00", "24:00"), closed("2026-06-20")))

    assert next_closing(schedule, utc("2026-06-03T08:30")) == utc("2026-06-20T00:00")


# --- the week, for an admin page -------------------------------------------------------------


def test_the_bakerys_christmas_week_for_a_page() -> None:
    week = week_windows(BAKERY, date(2026, 12, 21))

    assert [d.to_dict()["weekday"] for d in week] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert [d.source for d in week] == ["weekly", "weekly", "weekly", "weekly", "closed", "weekly", "weekly"]
    assert week[4].holiday == "Christmas Day"
    assert week[0].to_dict()["windows"] == [
        {"start": "09:00", "end": "12:00", "crosses_midnight": False, "start_minute": 540, "end_minute": 720},
        {"start": "13:00", "end": "18:00", "crosses_midnight": False, "start_minute": 780, "end_minute": 1080}]
    assert week[6].to_dict()["windows"] == []


def test_a_crossing_window_is_drawn_on_its_first_day_with_its_end_on_the_next() -> None:
    schedule = Schedule("UTC", (weekly(frozenset({4}), "22:00", "06:00"),))

    friday = day_hours(schedule, date(2026, 6, 5)).to_dict()

    assert friday["windows"] == [
        {"start": "22:00", "end": "06:00", "crosses_midnight": True, "start_minute": 1320, "end_minute": 1800}]


# --- the JSON form and its checks ------------------------------------------------------------


def test_the_bakery_in_json() -> None:
    assert BAKERY.to_dict() == {
        "timezone": "Europe/Paris",
        "rules": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "12:00"},
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "13:00", "end": "18:00"},
            {"days": ["sat"], "start": "09:00", "end": "13:00"},
            {"date": "2026-12-25", "closed": True},
        ],
        "holidays_country": "FR",
        "holidays_subdivision": None,
    }
    assert Schedule.from_dict(json.loads(json.dumps(BAKERY.to_dict()))) == BAKERY


def _refusal(data: object) -> ScheduleError:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(data)
    assert caught.value.code == INVALID_SCHEDULE
    assert caught.value.problem == (INVALID_SCHEDULE, caught.value.detail)
    return caught.value


def test_more_than_ten_rules_are_refused() -> None:
    rule = {"days": ["mon"], "start": "09:00", "end": "10:00"}

    assert "at most 10 rules" in _refusal({"timezone": "UTC", "rules": [rule] * (MAX_RULES + 1)}).detail
    assert len(parse_schedule({"timezone": "UTC", "rules": [rule] * MAX_RULES}).rules) == MAX_RULES
    with pytest.raises(ScheduleError):
        Schedule("UTC", (weekly(WEEKDAYS, "09:00", "10:00"),) * (MAX_RULES + 1))


@pytest.mark.parametrize("name", ["Europe/Nowhere", "", "../etc/passwd", "utc", 7])
def test_a_bad_time_zone_is_refused_with_the_code(name: object) -> None:
    assert "timezone" in _refusal({"timezone": name, "rules": []}).detail


@pytest.mark.parametrize(("rule", "words"), [
    ({"days": ["monday"], "start": "09:00", "end": "10:00"}, "'monday' is not a weekday"),
    ({"days": [], "start": "09:00", "end": "10:00"}, "non-empty list"),
    ({"days": ["mon"], "start": "9:00", "end": "10:00"}, "rules[0].start: '9:00' is not a time HH:MM"),
    ({"days": ["mon"], "start": "09:00", "end": "24:30"}, "rules[0].end"),
    ({"days": ["mon"], "start": "24:00", "end": "10:00"}, "cannot start at 24:00"),
    ({"days": ["mon"], "start": "10:00", "end": "10:00"}, "same time"),
    ({"days": ["mon"], "start": "09:00"}, "rules[0].end: None"),
    ({"date": "2026-13-01", "start": "09:00", "end": "10:00"}, "not a date YYYY-MM-DD"),
    ({"date": "20261201", "closed": True}, "not a date YYYY-MM-DD"),
    ({"date": "2026-12-01", "closed": True, "start": "09:00"}, "closed date has no start"),
    ({"date": "2026-12-01", "closed": "yes"}, "true or false"),
    ({"days": ["mon"], "start": "09:00", "end": "10:00", "tz": "UTC"}, "unknown fields ['tz']"),
    ({"start": "09:00", "end": "10:00"}, "either days (weekly) or date (dated)"),
])
def test_a_malformed_rule_is_refused_saying_where(rule: dict[str, object], words: str) -> None:
    assert words in _refusal({"timezone": "UTC", "rules": [{"days": ["tue"], "start": "09:00", "end": "10:00"},
                                                          rule][1:]}).detail


def test_an_unknown_country_or_subdivision_is_refused() -> None:
    assert "holidays_country: 'XX'" in _refusal({"timezone": "UTC", "holidays_country": "XX"}).detail
    assert "not a subdivision of FR" in _refusal(
        {"timezone": "UTC", "holidays_country": "FR", "holidays_subdivision": "ZZ"}).detail
    assert "needs a holidays country" in _refusal({"timezone": "UTC", "holidays_subdivision": "NSW"}).detail
    assert "unknown fields ['hours']" in _refusal({"timezone": "UTC", "hours": []}).detail
    assert parse_schedule({"timezone": "Australia/Lord_Howe", "holidays_country": "AU",
                           "holidays_subdivision": "NSW"}).holidays_subdivision == "NSW"


def test_a_schedule_survives_pickling_with_its_hash() -> None:
    copy = pickle.loads(pickle.dumps(BAKERY))

    assert copy == BAKERY and hash(copy) == hash(BAKERY)


# --- properties against a brute force --------------------------------------------------------

ZONES = ["Europe/Paris", "America/New_York", "Asia/Shanghai", "Australia/Lord_Howe", "UTC", "Asia/Kathmandu"]
COUNTRIES: Mapping[str, tuple[str, str | None]] = {"Europe/Paris": ("FR", None), "America/New_York": ("US", "NY"),
                                                   "Australia/Lord_Howe": ("AU", "NSW"), "Asia/Shanghai": ("CN", None)}
# Each zone's local dates with a clock change (Lord Howe moves by 30 minutes) and a few public holidays, drawn often.
SPECIAL_DATES: Mapping[str, list[date]] = {
    "Europe/Paris": [date(2026, 3, 29), date(2026, 10, 25), date(2026, 7, 14), date(2026, 12, 25)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1), date(2026, 7, 3), date(2026, 12, 25)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4), date(2027, 4, 4), date(2026, 12, 25)],
    "Asia/Shanghai": [date(2026, 10, 1), date(2026, 2, 17)],
    "UTC": [date(2026, 3, 29)],
    "Asia/Kathmandu": [date(2026, 3, 29)],
}
# Times of day near the clock changes (01:30 to 03:00), midnight and noon, drawn often.
SPECIAL_MINUTES = [0, 60, 90, 105, 120, 135, 150, 165, 180, 720, 1439]

minutes = st.one_of(st.sampled_from(SPECIAL_MINUTES), st.integers(0, 1439))


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(minutes)
    end = draw(st.one_of(minutes, st.just(1440)).filter(lambda end: end != start))
    return Window(start, end)


@st.composite
def schedules(draw: st.DrawFn, zone: str | None = None, near: date = date(2026, 6, 1)) -> Schedule:
    """Up to ten rules in one of ZONES; dated rules fall within three days of `near`, mostly within one."""
    zone = draw(st.sampled_from(ZONES)) if zone is None else zone
    rules: list[Weekly | Dated] = []
    for _ in range(draw(st.integers(0, MAX_RULES))):
        if draw(st.integers(0, 2)):
            rules.append(Weekly(draw(st.frozensets(st.integers(0, 6), min_size=1)), draw(windows())))
        else:
            offset = draw(st.one_of(st.integers(-1, 1), st.integers(-3, 3)))
            rules.append(Dated(near + timedelta(days=offset), draw(st.one_of(st.none(), windows()))))
    country, subdivision = COUNTRIES.get(zone, (None, None))
    with_holidays = draw(st.booleans())
    return Schedule(zone, tuple(rules), country if with_holidays else None, subdivision if with_holidays else None)


@st.composite
def schedules_and_instants(draw: st.DrawFn) -> tuple[Schedule, int]:
    """A schedule and an instant (a whole UTC minute) near a date of its zone's clock changes or holidays,
    or a random date; its dated rules fall near that date."""
    zone = draw(st.sampled_from(ZONES))
    near = draw(st.one_of(st.sampled_from(SPECIAL_DATES[zone]), st.dates(date(2025, 1, 1), date(2027, 12, 31))))
    noon = int(datetime.combine(near, datetime.min.time(), timezone.utc).timestamp()) // 60 + 720
    return draw(schedules(zone, near)), noon + draw(st.integers(-720, 720))


@cache
def brute_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def brute_windows_starting(schedule: Schedule, day: date) -> list[Window]:
    """The rule windows that start on local date `day`, by the precedence docs/hours.md states."""
    on_day = [rule for rule in schedule.rules if isinstance(rule, Dated) and rule.day == day]
    if any(rule.window is None for rule in on_day):
        return []
    if on_day:
        return [rule.window for rule in on_day if rule.window is not None]
    country = schedule.holidays_country
    if country is not None and day in brute_holidays(country, schedule.holidays_subdivision, day.year):
        return []
    return [rule.window for rule in schedule.rules if isinstance(rule, Weekly) and day.weekday() in rule.days]


def brute_open_minutes(schedule: Schedule, first: int, last: int) -> list[bool]:
    """For each UTC minute first..last-1: open by the definition, minute by minute, no merging.

    A local wall time W means the first minute at which the clocks show W or later: read off a table
    of every minute's local time (its running maximum, since the clocks go back on fall-back nights).
    """
    zone = ZoneInfo(schedule.timezone)
    scan_from = first - 3 * 1440
    walls = [datetime.fromtimestamp(m * 60, zone).replace(tzinfo=None) for m in range(scan_from, last + 3 * 1440)]
    highest: list[datetime] = []
    for wall in walls:
        highest.append(max(wall, highest[-1]) if highest else wall)

    def reached(wall: datetime) -> int:
        return scan_from + bisect_left(highest, wall)

    opened = [False] * (last - first)
    day, last_day = walls[3 * 1440].date() - timedelta(days=2), walls[last - scan_from].date()
    while day <= last_day:
        midnight = datetime.combine(day, datetime.min.time())
        for window in brute_windows_starting(schedule, day):
            start = midnight + timedelta(minutes=window.start)
            end = midnight + timedelta(days=1 if window.end <= window.start else 0, minutes=window.end)
            for m in range(max(reached(start), first), min(reached(end), last)):
                opened[m - first] = True
        day += timedelta(days=1)
    return opened


def agrees_with_the_brute_force(schedule: Schedule, around: int) -> None:
    """Two days of minutes around `around`: every minute's is_open, the intervals, and next opening and
    closing from every 97th minute and from each minute where the brute force changes and the one before."""
    first, checked, last = around - 1440, 2 * 1440, around + 2 * 1440  # check two days, look one more ahead
    brute = brute_open_minutes(schedule, first, last)

    assert [is_open(schedule, (first + i) * 60.0) for i in range(checked)] == brute[:checked]

    runs = merge((first + i, first + i + 1) for i in range(checked) if brute[i])
    assert intervals(schedule, first * 60.0, (first + checked) * 60.0) == [(s * 60.0, e * 60.0) for s, e in runs]

    changes = {i + d for i in range(1, checked) if brute[i] != brute[i - 1] for d in (-1, 0)}
    for i in sorted(changes | set(range(0, checked, 97))):
        at = (first + i) * 60.0
        opening = next(((first + j) * 60.0 for j in range(i, i + 1440) if brute[j]), None)
        assert next_opening(schedule, at, horizon_days=1) == opening
        closing = next(((first + j) * 60.0 for j in range(i, len(brute)) if not brute[j]), None)
        if not brute[i]:
            assert next_closing(schedule, at) is None
        elif closing is not None:
            assert next_closing(schedule, at) == closing
        else:
            still_open = next_closing(schedule, at)
            assert still_open is not None and still_open >= last * 60.0


@settings(max_examples=60, deadline=None)
@given(schedules_and_instants())
def test_is_open_next_opening_next_closing_and_intervals_agree_with_a_minute_by_minute_brute_force(
        case: tuple[Schedule, int]) -> None:
    agrees_with_the_brute_force(*case)


CLOCK_CHANGES = [("Europe/Paris", date(2026, 3, 29)), ("Europe/Paris", date(2026, 10, 25)),
                 ("America/New_York", date(2026, 3, 8)), ("America/New_York", date(2026, 11, 1)),
                 ("Australia/Lord_Howe", date(2026, 4, 5)), ("Australia/Lord_Howe", date(2026, 10, 4))]
night = st.one_of(st.integers(0, 16).map(lambda quarter: quarter * 15), st.integers(0, 240))


@st.composite
def clock_change_nights(draw: st.DrawFn) -> tuple[Schedule, int]:
    """One to three windows at night (00:00 to 04:00, or to 24:00) on or around a Sunday the clocks change."""
    zone, day = draw(st.sampled_from(CLOCK_CHANGES))
    rules: list[Weekly | Dated] = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(night)
        window = Window(start, draw(st.one_of(night, st.just(1440)).filter(lambda end: end != start)))
        if draw(st.booleans()):
            rules.append(Weekly(draw(st.sampled_from([frozenset({6}), frozenset({5}), frozenset(range(7))])), window))
        else:
            rules.append(Dated(day + timedelta(days=draw(st.integers(-1, 0))), window))
    noon = int(datetime.combine(day, datetime.min.time(), timezone.utc).timestamp()) // 60 + 720
    return Schedule(zone, tuple(rules)), noon + draw(st.integers(-720, 720))


@settings(max_examples=60, deadline=None)
@given(clock_change_nights())
def test_on_clock_change_nights_the_module_agrees_with_the_brute_force(case: tuple[Schedule, int]) -> None:
    agrees_with_the_brute_force(*case)


@settings(max_examples=100, deadline=None)
@given(schedules())
def test_the_json_form_round_trips(schedule: Schedule) -> None:
    data = json.loads(json.dumps(schedule.to_dict()))

    assert Schedule.from_dict(data) == schedule
    assert Schedule.from_dict(data).to_dict() == data
