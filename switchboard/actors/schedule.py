"""Service hours: when a schedule is open, as pure functions of an instant.

A :class:`Schedule` is a time zone (an IANA name) and at most ``MAX_RULES`` rules, with
optionally a country (and subdivision) whose public holidays are closed dates. A rule is
either weekly (:class:`Weekly`: chosen weekdays and one window) or dated (:class:`Dated`:
one local date and a window, or the whole date closed). A :class:`Window` is two local
wall-clock times in minutes since midnight; ``end <= start`` means it ends on the next day
(22:00-06:00), and ``00:00-24:00`` is a whole day.

The windows of a local day D are chosen by one precedence, most specific first:

1. a dated closed rule for D: no window starts on D;
2. otherwise dated windows for D: they replace the weekly windows (a date override, "on
   Dec 24 we open 09-13 only"), and they open even on a public holiday;
3. otherwise, if D is a public holiday of the schedule's country: no window starts on D;
4. otherwise the weekly windows whose weekdays include D's.

A window belongs to the day it starts on: Friday 22:00-06:00 runs to Saturday 06:00 even if
Saturday is closed (closing a date closes the openings that start on it). The chosen windows
are merged: overlapping and touching windows become their union (09-12, 10-12, 13-18 and
15-17 give 09-12 and 13-18), separate ones all count. Merging is only a matter of shape:
"open at t" is t in some window's half-open interval [start, end), merged or not.

Local times become instants by one rule: a local time W of day D means the first instant at
which the zone's clocks show W or later. A time in a repeated hour (a fall-back night) is its
first occurrence; a time in a skipped hour (a spring-forward night) is the instant the clocks
jump, the first instant after the gap. So a window wholly inside a skipped hour is empty, and
a window spanning a repeated hour is open through both passes of it. ``zoneinfo`` gives the
offsets and ``holidays`` the public holidays: no time-zone or holiday rule is written here.

Everything takes the instant (UTC epoch seconds, floats, like the engine's ``now``) and reads no
clock. Day computations are memoised, so :func:`is_open` on a request costs a cache lookup; a
country's holidays are built once per (country, subdivision, year).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import holidays

from switchboard.actors.errors import INVALID_SCHEDULE, Problem

__all__ = [
    "INVALID_SCHEDULE",
    "MAX_RULES",
    "WEEKDAYS",
    "DayHours",
    "Dated",
    "Rule",
    "Schedule",
    "ScheduleError",
    "Weekly",
    "Window",
    "day_hours",
    "format_hhmm",
    "intervals",
    "is_open",
    "merge",
    "next_closing",
    "next_opening",
    "parse_hhmm",
    "parse_schedule",
    "week_windows",
]

MAX_RULES = 10
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 1440

_HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SCHEDULE_KEYS = frozenset({"timezone", "rules", "holidays_country", "holidays_subdivision"})
_WEEKLY_KEYS = frozenset({"days", "start", "end"})
_DATED_KEYS = frozenset({"date", "start", "end", "closed"})

N = TypeVar("N", int, float)
Source = Literal["weekly", "dated", "closed", "holiday"]


class ScheduleError(ValueError):
    """A schedule that cannot be: ``code`` is :data:`INVALID_SCHEDULE`, ``detail`` says what and where."""

    def __init__(self, detail: str, code: str = INVALID_SCHEDULE) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    @property
    def problem(self) -> Problem:
        return Problem(self.code, self.detail)


# --- times of day ---------------------------------------------------------------------------


def parse_hhmm(text: object, where: str = "time") -> int:
    """ "HH:MM" (00:00 to 24:00) as minutes since midnight."""
    if not isinstance(text, str) or _HHMM.fullmatch(text) is None:
        raise ScheduleError(f"{where}: {text!r} is not a time HH:MM between 00:00 and 24:00")
    return int(text[:2]) * 60 + int(text[3:])


def format_hhmm(minutes: int) -> str:
    """Minutes since a midnight as "HH:MM" of that day or the next (1800 is "06:00")."""
    if minutes > DAY_MINUTES:
        minutes -= DAY_MINUTES
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Window:
    """Local wall-clock minutes since midnight: ``start`` 0..1439, ``end`` 0..1440, not equal.

    ``end <= start`` crosses midnight: the window ends at ``end`` on the next day.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < DAY_MINUTES:
            raise ScheduleError(f"window start {self.start} is not a minute of the day (0 to 1439)")
        if not 0 <= self.end <= DAY_MINUTES:
            raise ScheduleError(f"window end {self.end} is not a minute of the day (0 to 1440)")
        if self.start == self.end:
            raise ScheduleError("a window cannot start and end at the same time (a whole day is 00:00-24:00)")

    @classmethod
    def of(cls, start: str, end: str) -> Window:
        """``Window.of("22:00", "06:00")``."""
        return cls(parse_hhmm(start, "start"), parse_hhmm(end, "end"))

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def span(self) -> tuple[int, int]:
        """(start, end) in minutes since its day's midnight; end is past 1440 when it crosses midnight."""
        return (self.start, self.end + DAY_MINUTES if self.end <= self.start else self.end)

    def to_dict(self) -> dict[str, str]:
        return {"start": format_hhmm(self.start), "end": format_hhmm(self.end)}


# --- rules and schedules ---------------------------------------------------------------------


@dataclass(frozen=True)
class Weekly:
    """Open during ``window`` on each of ``days`` (0 is Monday, 6 Sunday, as ``date.weekday()``)."""

    days: frozenset[int]
    window: Window

    def __post_init__(self) -> None:
        if not self.days:
            raise ScheduleError("a weekly rule needs at least one weekday")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.days):
            raise ScheduleError(f"weekdays are 0 (Monday) to 6 (Sunday), got {sorted(self.days)}")

    def to_dict(self) -> dict[str, Any]:
        return {"days": [WEEKDAYS[d] for d in sorted(self.days)], **self.window.to_dict()}


@dataclass(frozen=True)
class Dated:
    """On the local date ``day``: open during ``window`` (an override), or closed all day if it is None."""

    day: date
    window: Window | None = None

    def __post_init__(self) -> None:
        if type(self.day) is not date:  # a datetime is a date too, and would never equal one
            raise ScheduleError(f"a dated rule's day is a date, got {self.day!r}")

    @property
    def closed(self) -> bool:
        return self.window is None

    def to_dict(self) -> dict[str, Any]:
        if self.window is None:
            return {"date": self.day.isoformat(), "closed": True}
        return {"date": self.day.isoformat(), **self.window.to_dict()}


Rule = Weekly | Dated


@dataclass(frozen=True)
class Schedule:
    """A time zone's service hours; constructing one validates it (raises :class:`ScheduleError`)."""

    timezone: str
    rules: tuple[Rule, ...] = ()
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if len(self.rules) > MAX_RULES:
            raise ScheduleError(f"a schedule has at most {MAX_RULES} rules, got {len(self.rules)}")
        if not all(isinstance(rule, (Weekly, Dated)) for rule in self.rules):
            raise ScheduleError("rules are Weekly or Dated")
        if self.holidays_subdivision is not None and self.holidays_country is None:
            raise ScheduleError("a holidays subdivision needs a holidays country")
        if self.holidays_country is not None:
            _check_country(self.holidays_country, self.holidays_subdivision)
        object.__setattr__(self, "_hash", hash((self.timezone, self.rules, self.holidays_country,
                                                self.holidays_subdivision)))

    def __hash__(self) -> int:  # computed once: the day caches hash a schedule on every call
        return self._hash

    def __reduce__(self) -> tuple[type[Schedule], tuple[str, tuple[Rule, ...], str | None, str | None]]:
        # Rebuilt, not copied: a string's hash differs from one process to another.
        return (Schedule, (self.timezone, self.rules, self.holidays_country, self.holidays_subdivision))

    @classmethod
    def from_dict(cls, data: object) -> Schedule:
        """The :meth:`to_dict` form back, checked field by field."""
        return parse_schedule(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (see docs/hours.md)."""
        return {
            "timezone": self.timezone,
            "rules": [rule.to_dict() for rule in self.rules],
            "holidays_country": self.holidays_country,
            "holidays_subdivision": self.holidays_subdivision,
        }


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ScheduleError(f"timezone: {name!r} is not an IANA time zone name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError; malformed keys are ValueErrors
        raise ScheduleError(f"timezone: {name!r} is not an IANA time zone name such as Europe/Paris") from None


@lru_cache(maxsize=1)
def _countries() -> Mapping[str, frozenset[str]]:
    return {country: frozenset(subdivs) for country, subdivs in holidays.list_supported_countries().items()}


def _check_country(country: str, subdivision: str | None) -> None:
    known = _countries()
    if not isinstance(country, str) or country not in known:
        raise ScheduleError(f"holidays_country: {country!r} is not a country code the holidays library knows "
                            "(ISO 3166-1, e.g. FR or US)")
    if subdivision is not None and (not isinstance(subdivision, str) or subdivision not in known[country]):
        raise ScheduleError(f"holidays_subdivision: {subdivision!r} is not a subdivision of {country} "
                            f"(one of {', '.join(sorted(known[country])) or 'none'})")


def _window_of(data: Mapping[str, Any], where: str) -> Window:
    start = parse_hhmm(data.get("start"), f"{where}.start")
    end = parse_hhmm(data.get("end"), f"{where}.end")
    if start == DAY_MINUTES:
        raise ScheduleError(f"{where}.start: a window cannot start at 24:00")
    if start == end:
        raise ScheduleError(f"{where}: a window cannot start and end at the same time (a whole day is 00:00-24:00)")
    return Window(start, end)


def _rule_of(data: object, where: str) -> Rule:
    if not isinstance(data, dict):
        raise ScheduleError(f"{where}: a rule is an object with either days or date")
    if "days" in data:
        if extra := set(data) - _WEEKLY_KEYS:
            raise ScheduleError(f"{where}: unknown fields {sorted(extra, key=str)} in a weekly rule")
        days = data["days"]
        if not isinstance(days, list) or not days:
            raise ScheduleError(f"{where}.days: a non-empty list of weekdays ({', '.join(WEEKDAYS)})")
        for day in days:
            if day not in WEEKDAYS:
                raise ScheduleError(f"{where}.days: {day!r} is not a weekday ({', '.join(WEEKDAYS)})")
        return Weekly(frozenset(WEEKDAYS.index(day) for day in days), _window_of(data, where))
    if "date" in data:
        if extra := set(data) - _DATED_KEYS:
            raise ScheduleError(f"{where}: unknown fields {sorted(extra, key=str)} in a dated rule")
        try:
            day = date.fromisoformat(data["date"]) if _DATE.fullmatch(str(data["date"])) else None
        except ValueError:
            day = None
        if day is None:
            raise ScheduleError(f"{where}.date: {data['date']!r} is not a date YYYY-MM-DD")
        closed = data.get("closed", False)
        if closed is True:
            if "start" in data or "end" in data:
                raise ScheduleError(f"{where}: a closed date has no start or end")
            return Dated(day)
        if closed is not False:
            raise ScheduleError(f"{where}.closed: true or false, got {closed!r}")
        return Dated(day, _window_of(data, where))
    raise ScheduleError(f"{where}: a rule has either days (weekly) or date (dated)")


def parse_schedule(data: object) -> Schedule:
    """A schedule from its JSON form; raises :class:`ScheduleError` (``.problem`` for a refusal)."""
    if not isinstance(data, dict):
        raise ScheduleError("a schedule is an object with timezone and rules")
    if extra := set(data) - _SCHEDULE_KEYS:
        raise ScheduleError(f"unknown fields {sorted(extra, key=str)} in a schedule")
    if "timezone" not in data:
        raise ScheduleError("timezone: missing (an IANA time zone name such as Europe/Paris)")
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise ScheduleError("rules: a list of rules")
    if len(rules) > MAX_RULES:
        raise ScheduleError(f"a schedule has at most {MAX_RULES} rules, got {len(rules)}")
    return Schedule(
        timezone=data["timezone"],
        rules=tuple(_rule_of(rule, f"rules[{i}]") for i, rule in enumerate(rules)),
        holidays_country=data.get("holidays_country"),
        holidays_subdivision=data.get("holidays_subdivision"),
    )


# --- merging ---------------------------------------------------------------------------------


def merge(spans: Iterable[tuple[N, N]]) -> list[tuple[N, N]]:
    """The union of half-open spans as sorted, disjoint, non-touching spans; empty spans vanish.

    Overlapping and touching spans become one ([9, 12) and [12, 13) give [9, 13)). Idempotent and
    independent of the order of its input.
    """
    merged: list[tuple[N, N]] = []
    for start, end in sorted(span for span in spans if span[0] < span[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# --- days ------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year))


def _holiday(schedule: Schedule, day: date) -> str | None:
    if schedule.holidays_country is None:
        return None
    return _public_holidays(schedule.holidays_country, schedule.holidays_subdivision, day.year).get(day)


@dataclass(frozen=True)
class DayHours:
    """The merged windows starting on one local date, and why they are those.

    ``spans`` are local minutes since the date's midnight (end past 1440 when crossing midnight);
    ``source`` is "closed" (a dated closed rule), "dated" (an override), "holiday" or "weekly".
    """

    day: date
    spans: tuple[tuple[int, int], ...]
    source: Source
    holiday: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """For an admin page: each window as local "HH:MM" and as minutes, to draw."""
        return {
            "date": self.day.isoformat(),
            "weekday": WEEKDAYS[self.day.weekday()],
            "source": self.source,
            "holiday": self.holiday,
            "windows": [
                {"start": format_hhmm(start), "end": format_hhmm(end),
                 "crosses_midnight": end > DAY_MINUTES, "start_minute": start, "end_minute": end}
                for start, end in self.spans
            ],
        }


def day_hours(schedule: Schedule, day: date) -> DayHours:
    """The windows that start on local date ``day``, merged, by the precedence in the module's doc."""
    dated = [rule for rule in schedule.rules if isinstance(rule, Dated) and rule.day == day]
    holiday = _holiday(schedule, day)
    if any(rule.window is None for rule in dated):
        return DayHours(day, (), "closed", holiday)
    if dated:
        return DayHours(day, tuple(merge(rule.window.span for rule in dated if rule.window is not None)),
                        "dated", holiday)
    if holiday is not None:
        return DayHours(day, (), "holiday", holiday)
    weekday = day.weekday()
    return DayHours(day, tuple(merge(rule.window.span for rule in schedule.rules
                                     if isinstance(rule, Weekly) and weekday in rule.days)), "weekly")


def week_windows(schedule: Schedule, from_day: date, days: int = 7) -> list[DayHours]:
    """:func:`day_hours` of ``days`` local dates from ``from_day``, for a page that draws them."""
    return [day_hours(schedule, from_day + timedelta(days=i)) for i in range(days)]


# --- instants --------------------------------------------------------------------------------


def _instant(zone: ZoneInfo, wall: datetime) -> float:
    """The first instant at which the zone's clocks show ``wall`` (naive) or later."""
    first = wall.replace(tzinfo=zone).timestamp()  # fold=0: the first of a repeated time
    if datetime.fromtimestamp(first, zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=0 read it with the offset before the jump (an instant after it), fold=1 with the
    # offset after (an instant before it); the jump is the first second in between showing wall or later.
    low, high = int(wall.replace(tzinfo=zone, fold=1).timestamp()), int(first)
    while low < high:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid + 1
    return float(high)


@lru_cache(maxsize=4096)
def _day_intervals(schedule: Schedule, day: date) -> tuple[tuple[float, float], ...]:
    """The UTC intervals of the windows starting on local date ``day`` (possibly empty ones dropped)."""
    zone = ZoneInfo(schedule.timezone)
    midnight = datetime.combine(day, time())
    return tuple(merge((_instant(zone, midnight + timedelta(minutes=start)),
                        _instant(zone, midnight + timedelta(minutes=end)))
                       for start, end in day_hours(schedule, day).spans))


def _local_day(schedule: Schedule, at: float) -> date:
    return datetime.fromtimestamp(at, ZoneInfo(schedule.timezone)).date()


def _days_intervals(schedule: Schedule, first: date, last: date) -> list[tuple[float, float]]:
    """Merged intervals of the windows starting on local dates first..last."""
    spans: list[tuple[float, float]] = []
    day = first
    while day <= last:
        spans.extend(_day_intervals(schedule, day))
        day += timedelta(days=1)
    return merge(spans)


# A window starting on day D ends on D+1 at the latest, so an instant of local date D is covered only
# by windows of D-1 and D; one more day on each side covers a jump of the clocks across midnight.
_BEFORE, _AFTER = timedelta(days=2), timedelta(days=1)


@lru_cache(maxsize=4096)
def _around(schedule: Schedule, day: date) -> tuple[tuple[float, float], ...]:
    return tuple(_days_intervals(schedule, day - _BEFORE, day + _AFTER))


def is_open(schedule: Schedule, at: float) -> bool:
    """Whether ``at`` (UTC epoch seconds) lies in one of the schedule's windows."""
    return any(start <= at < end for start, end in _around(schedule, _local_day(schedule, at)))


def intervals(schedule: Schedule, start: float, end: float) -> list[tuple[float, float]]:
    """The open intervals within [start, end): UTC epoch seconds, half-open, sorted, disjoint, clipped.

    Windows that touch or overlap merge, across midnight too (Monday 22:00-24:00 and Tuesday
    00:00-06:00 give one interval).
    """
    if end <= start:
        return []
    spans = _days_intervals(schedule, _local_day(schedule, start) - _BEFORE, _local_day(schedule, end) + _AFTER)
    return [(max(s, start), min(e, end)) for s, e in spans if s < end and e > start]


def _has_windows(schedule: Schedule) -> bool:
    return any(isinstance(rule, Weekly) or rule.window is not None for rule in schedule.rules)


def next_opening(schedule: Schedule, at: float, horizon_days: int = 366) -> float | None:
    """The first instant from ``at`` on at which the schedule is open: ``at`` itself if open now.

    None if it does not open before ``at + horizon_days`` days.
    """
    limit = at + horizon_days * 86400.0
    if not _has_windows(schedule):
        return None
    day = _local_day(schedule, at)
    for start, end in _around(schedule, day):
        if end > at:
            return max(start, at) if start < limit else None
    day += _AFTER + timedelta(days=1)
    while True:  # days past _around's: every window of theirs starts after `at`
        for start, _ in _day_intervals(schedule, day):
            return start if start < limit else None
        if _instant(ZoneInfo(schedule.timezone), datetime.combine(day + timedelta(days=1), time())) >= limit:
            return None
        day += timedelta(days=1)


def next_closing(schedule: Schedule, at: float, horizon_days: int = 366) -> float | None:
    """When the open interval holding ``at`` ends; None if closed at ``at``.

    ``float("inf")`` if it is still open ``horizon_days`` days after ``at`` (open around the clock).
    """
    day = _local_day(schedule, at)
    around = _around(schedule, day)
    current = next(((start, end) for start, end in around if start <= at < end), None)
    if current is None:
        return None
    closing = current[1]
    if closing < around[-1][1] or closing < _instant(ZoneInfo(schedule.timezone),
                                                     datetime.combine(day + _AFTER, time())):
        return closing  # a later opening is apart from it, or days past _around's cannot reach it
    limit = at + horizon_days * 86400.0
    day += _AFTER + timedelta(days=1)
    while closing < limit:
        following = _day_intervals(schedule, day)
        if not following or following[0][0] > closing:
            return closing
        for start, end in following:  # sorted: extend the chain while the next one touches it
            if start <= closing:
                closing = max(closing, end)
        day += timedelta(days=1)
    return float("inf")
