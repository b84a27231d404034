"""Reporting periods: days, ISO weeks, months and quarters, their labels and bounds.

Labels: days ``2026-07-14``, weeks ``2026-W07`` (ISO), months ``2026-10``, quarters ``2026-Q3``.
Bounds are dates in the reporting time zone; ``end`` is exclusive.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone

GRAINS = ("day", "week", "month", "quarter")  # finest first (kpis.targets compares their order)

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; choose one of {', '.join(GRAINS)}")
    return grain


def period_start(day: date, grain: str) -> date:
    """First day of the period of ``grain`` that contains ``day``."""
    check_grain(grain)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_start(start: date, grain: str) -> date:
    """First day of the period after the one starting at ``start``."""
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    months = 1 if grain == "month" else 3
    m = start.month - 1 + months
    return date(start.year + m // 12, m % 12 + 1, 1)


def label(start: date, grain: str) -> str:
    """The period's label: 2026-07-14, 2026-W07, 2026-10 or 2026-Q3."""
    if grain == "day":
        return start.isoformat()
    if grain == "week":
        y, w, _ = start.isocalendar()
        return f"{y}-W{w:02d}"
    if grain == "month":
        return f"{start.year}-{start.month:02d}"
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def parse_label(text: str) -> tuple[str, date, date]:
    """(grain, start, end exclusive) of a period label such as 2026-07-14, 2026-10 or 2026-Q3."""
    text = text.strip()
    if m := _DAY.match(text):
        try:
            start = date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise ValueError(f"bad day in period {text!r}") from None
        return "day", start, start + timedelta(days=1)
    if m := _QUARTER.match(text):
        start = date(int(m[1]), 3 * (int(m[2]) - 1) + 1, 1)
        return "quarter", start, next_start(start, "quarter")
    if m := _MONTH.match(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(f"bad month in period {text!r}")
        start = date(int(m[1]), month, 1)
        return "month", start, next_start(start, "month")
    if m := _WEEK.match(text):
        try:
            start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            raise ValueError(f"bad ISO week in period {text!r}") from None
        return "week", start, start + timedelta(days=7)
    raise ValueError(f"cannot read period {text!r}; write 2026-10 (month), 2026-Q3 (quarter), 2026-W07 (week) or "
                     "2026-07-14 (day)")


def spine(first: date, last: date, grain: str) -> list[date]:
    """Start dates of every period of ``grain`` that contains a day in [first, last]."""
    out = []
    s = period_start(first, grain)
    while s <= last:
        out.append(s)
        s = next_start(s, grain)
    return out


def count(first: date, last: date, grain: str) -> int:
    """How many periods ``spine(first, last, grain)`` holds, without building it (0 when last < first)."""
    a, b = period_start(first, grain), period_start(last, grain)
    if b < a:
        return 0
    if grain == "day":
        return (b - a).days + 1
    if grain == "week":
        return (b - a).days // 7 + 1
    months = (b.year - a.year) * 12 + b.month - a.month
    return months // (1 if grain == "month" else 3) + 1


def shift(start: date, grain: str, k: int) -> date:
    """Start of the period ``k`` periods after (negative: before) the one at ``start``."""
    if grain == "day":
        return start + timedelta(days=k)
    if grain == "week":
        return start + timedelta(days=7 * k)
    months = k * (1 if grain == "month" else 3)
    m = start.year * 12 + start.month - 1 + months
    return date(m // 12, m % 12 + 1, 1)


def weeks_in(start: date, grain: str) -> float:
    """Length of the period in weeks (days / 7): 1 for a week, 31/7 for October."""
    return (next_start(start, grain) - start).days / 7.0


def days_in(start: date, grain: str) -> int:
    """Length of the period starting at ``start`` in days (1, 7, 28-31 or 90-92)."""
    return (next_start(start, grain) - start).days


def elapsed_days(start: date, grain: str, as_of: date | None) -> int:
    """Days of the period starting at ``start`` that lie on or before ``as_of`` (the whole period when None).

    0 for a period that starts after ``as_of``; ``days_in`` for one that ended by then.
    """
    total = days_in(start, grain)
    if as_of is None:
        return total
    return max(0, min(total, (as_of - start).days + 1))


def is_partial(start: date, grain: str, as_of: date | None) -> bool:
    """True for the period in progress on ``as_of``: it has begun but its last day is after ``as_of``."""
    return 0 < elapsed_days(start, grain, as_of) < days_in(start, grain)


def begins_late(start: date, grain: str, first: date | None) -> bool:
    """True for the period holding ``first``, the data's first day, when that is not the period's first day:
    nothing before it was loaded, so the period's values cover only its days from ``first`` on."""
    return first is not None and start < first < next_start(start, grain)


def last_complete(grain: str, as_of: date) -> date:
    """Start of the latest period of ``grain`` whose last day is on or before ``as_of``."""
    s = period_start(as_of, grain)
    return s if next_start(s, grain) <= as_of + timedelta(days=1) else shift(s, grain, -1)


def to_date_label(start: date, grain: str, as_of: date | None) -> str:
    """'2026-11 (to date: 20 of 30 days)' for the period in progress, else the plain label."""
    text = label(start, grain)
    if not is_partial(start, grain, as_of):
        return text
    return f"{text} (to date: {elapsed_days(start, grain, as_of)} of {days_in(start, grain)} days)"


EARLIEST_PLAUSIBLE = date(2000, 1, 1)


def plausible_window(start: "date | str | None" = None, end: "date | str | None" = None, *,
                     today: date | None = None) -> tuple[date, date]:
    """The dates a timestamp or date value may fall on (both ends included).

    Each end not given comes from KPI_PLAUSIBLE_FROM / KPI_PLAUSIBLE_TO, else
    EARLIEST_PLAUSIBLE (2000-01-01) and today + 1 year. A year such as 0000, 1500 or 9999 is a typo
    or a placeholder, and would make every period query span centuries.
    """
    def parse(value, env: str, default: date) -> date:
        if value is None:
            value = os.environ.get(env, "").strip() or default
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{env} must be a date such as 2000-01-01, not {value!r}") from None

    today = today or datetime.now(timezone.utc).date()
    try:
        a_year_on = today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        a_year_on = today + timedelta(days=365)
    lo = parse(start, "KPI_PLAUSIBLE_FROM", EARLIEST_PLAUSIBLE)
    hi = parse(end, "KPI_PLAUSIBLE_TO", a_year_on)
    if lo > hi:
        raise ValueError(f"the plausible window starts ({lo}) after it ends ({hi}); "
                         f"check KPI_PLAUSIBLE_FROM and KPI_PLAUSIBLE_TO")
    if hi.year >= 9999:  # the day after the window must still be a timestamp Python can hold
        raise ValueError(f"the plausible window must end before 9999-12-31, not on {hi}")
    return lo, hi


# --- trailing windows: the last N days up to a day, and the N days before them ---------------------------------

WINDOWS = (7, 30, 90)  # the trailing windows offered (--last 7d|30d|90d; the app's Last 7 / 30 / 90 days)


def parse_window(text: str) -> int:
    """Days of a trailing window written 7d, 30d or 90d."""
    m = re.fullmatch(r"\s*(\d+)\s*d\s*", str(text))
    if not m or int(m[1]) not in WINDOWS:
        raise ValueError(f"cannot read window {text!r}; write one of {', '.join(f'{d}d' for d in WINDOWS)}")
    return int(m[1])


def window_spine(first: date, last: date, days: int) -> list[date]:
    """Start dates of the consecutive ``days``-day windows that end on ``last`` (the newest) and reach back to
    cover ``first``: for 30 days to 2026-11-20, [..., 2026-09-22, 2026-10-22]."""
    if days < 1:
        raise ValueError("a window is at least one day")
    k = max(1, -(-((last - first).days + 1) // days))  # ceil
    return [last - timedelta(days=days * i - 1) for i in range(k, 0, -1)]


def window_label(start: date, days: int) -> str:
    """A window's label: its first and last day as an ISO 8601 interval, 2026-10-22/2026-11-20."""
    return f"{start.isoformat()}/{(start + timedelta(days=days - 1)).isoformat()}"
