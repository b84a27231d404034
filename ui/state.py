"""The shared sidebar: period grain, period, date range, team / service / model, target profile.

The widgets are created in app.py before ``pg.run()``, so their values live in
``st.session_state`` and survive page switches. They are mirrored to the URL
(``?grain=month&period=2026-10&from=...&team=search``) after every run and read
from it on a session's first run, so a copied URL reproduces the view.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from kpis import engine, lines, periods
from kpis import format as fmt
from ui import data

GRAINS = periods.GRAINS
DIMENSIONS = engine.DIMENSIONS
NO_PROFILE = "(none)"
PREFERRED_PROFILE = "senior"
DAY_RANGE_DAYS = 90  # the trend range a day grain opens on
URL_KEYS = ("grain", "period", "from", "to", *DIMENSIONS, "profile", "tz")


@dataclass(frozen=True)
class View:
    """Everything a page needs to know about the user's selection."""

    grain: str
    period: str  # label of the chosen period: 2026-10, 2026-Q3, 2026-W07
    period_start: date
    period_end: date  # exclusive
    start: date  # date range for trends, inclusive
    end: date  # inclusive
    filters: dict = field(default_factory=dict)
    profile: str | None = None
    lead_time_start: str = "change_started_at"
    tz: str = "UTC"
    empty: bool = False
    locked: bool = False  # the database was locked by another process and nothing was loaded before
    data_first: date | None = None
    data_last: date | None = None
    as_of: date | None = None  # the last day the data covers (kpis.through_date): its period is in progress

    @property
    def in_progress(self) -> str | None:
        """Label of the period (of this grain) still in progress on ``as_of``, or None."""
        if self.as_of is None:
            return None
        s = periods.period_start(self.as_of, self.grain)
        return periods.label(s, self.grain) if periods.is_partial(s, self.grain, self.as_of) else None

    @property
    def first_partial(self) -> tuple[str, str] | None:
        """(label, 'from 05-20') of the period the data begins in, when it begins after that period's first
        day (its values cover only part of it: charts mark it as they mark the period in progress), or None."""
        if self.data_first is None:
            return None
        s = periods.period_start(self.data_first, self.grain)
        if not periods.begins_late(s, self.grain, self.data_first):
            return None
        return periods.label(s, self.grain), f"from {self.data_first:%m-%d}"

    def is_partial(self, label: str) -> bool:
        """Whether the period ``label`` (of this grain) is the one in progress."""
        return label is not None and label == self.in_progress

    def span_days(self, label: str) -> int | None:
        """Days of ``label`` (any grain) elapsed on ``as_of`` while it is in progress (the equal span to compare
        it over), else None."""
        return lines.span_days(label, self.as_of)

    def period_text(self, label: str) -> str:
        """'2026-11 (to date: 20 of 30 days)' for the period in progress, else the label itself."""
        _, s, _ = periods.parse_label(label)
        return periods.to_date_label(s, self.grain, self.as_of)

    @property
    def end_exclusive(self) -> date:
        """First day after the range's last period (details queries take an exclusive end)."""
        return periods.next_start(periods.period_start(self.end, self.grain), self.grain)

    @property
    def period_last_day(self) -> date:
        return self.period_end - timedelta(days=1)

    @property
    def range_start(self) -> date:
        return periods.period_start(self.start, self.grain)

    @property
    def previous_period(self) -> str:
        return periods.label(periods.shift(self.period_start, self.grain, -1), self.grain)

    def compute_args(self, **over) -> dict:
        """Keyword arguments for ui.data.query('compute', ...) over the date range."""
        args = dict(profile=self.profile, grain=self.grain, start=self.start, end=self.end,
                    filters=self.filters, tz=self.tz, lead_time_start=self.lead_time_start, as_of=self.as_of)
        args.update(over)
        return args

    def filters_text(self) -> str:
        parts = [f"{k}: {', '.join(v)}" for k, v in self.filters.items() if v]
        return "; ".join(parts) if parts else "all teams, services and models"

    def open_at(self) -> datetime:
        """The moment open incidents are listed at: the period's end (midnight in the reporting time
        zone), or now if that is earlier. Time-zone aware, in ``tz``."""
        zone = ZoneInfo(self.tz)
        end = datetime.combine(self.period_end, datetime.min.time(), tzinfo=zone)
        return min(end, datetime.now(zone))


TIMEZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
             "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Singapore",
             "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney")


def default_tz() -> str:
    """The reporting time zone from the settings (``$KPI_TZ``), else UTC."""
    tz = os.environ.get("KPI_TZ", "UTC").strip() or "UTC"
    return tz if valid_tz(tz) else "UTC"


def valid_tz(name) -> bool:
    """An IANA time zone name this machine knows (Europe/Berlin, UTC, ...)."""
    if not isinstance(name, str) or not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def today_in(tz: str) -> date:
    return datetime.now(ZoneInfo(tz)).date()


@dataclass(frozen=True)
class Defaults:
    """The selection that follows the data: the last complete period and the data's whole extent."""

    period: str
    range: tuple[date, date]


def defaults(grain: str, first: date | None, last: date | None, today: date) -> Defaults:
    """Period and trend range for data from ``first`` to ``last`` (an empty database: today)."""
    if first is None:
        return Defaults(periods.label(periods.period_start(today, grain), grain), (today, today))
    as_of = min(last, today)
    start = periods.last_complete(grain, as_of)
    if start < periods.period_start(first, grain):  # not one whole period yet: the one in progress
        start = periods.period_start(as_of, grain)
    if grain == "day":  # a day's trend over years of data is thousands of points: the last DAY_RANGE_DAYS days
        return Defaults(periods.label(start, grain), (max(first, last - timedelta(days=DAY_RANGE_DAYS - 1)), last))
    return Defaults(periods.label(start, grain), (first, last))


def regrain(label: str, grain: str, as_of: date | None) -> str:
    """The period of ``grain`` at the same point in time as ``label`` (its last day), on a grain switch.

    A period still in progress on ``as_of`` is not landed on: the last complete one before it is.
    """
    _, _, end = periods.parse_label(label)
    day = end - timedelta(days=1)
    if as_of is not None:
        day = min(day, as_of)
    start = periods.period_start(day, grain)
    if as_of is not None and periods.is_partial(start, grain, as_of):
        start = periods.last_complete(grain, as_of)
    return periods.label(start, grain)


def clamp_range(chosen, first: date, last: date) -> tuple[date, date] | None:
    """The part of ``chosen`` that lies inside the data (None when none of it does)."""
    lo, hi = max(chosen[0], first), min(chosen[1], last)
    return (lo, hi) if lo <= hi else None


def outside_text(outside: list) -> str:
    """Which rows lie outside the plausible window (kpis.engine.outside_window), for the sidebar."""
    lo, hi = engine.plausible_window()
    total = sum(o.rows for o in outside)
    return (f"{total:,} row{'s' if total != 1 else ''} dated outside {lo} to {hi} "
            f"{'are' if total != 1 else 'is'} left out of the date range: "
            + "; ".join(o.describe() for o in outside)
            + ". Correct them at the source and ingest again, or remove them from the database.")


def _read_url(ss, grain_options, profiles) -> None:
    """Seed the widgets' state from the URL on a session's first run (invalid values are ignored)."""
    qp = st.query_params
    g = qp.get("grain")
    if g in grain_options:
        ss["grain"] = g
    if qp.get("period"):
        ss["_url_period"] = qp.get("period")
    try:
        lo, hi = date.fromisoformat(qp.get("from", "")), date.fromisoformat(qp.get("to", ""))
        if lo <= hi:
            ss["range"] = (lo, hi)
            ss["_url_range"] = True
    except ValueError:
        pass
    for dim in DIMENSIONS:
        values = [v for item in qp.get_all(dim) for v in item.split(",") if v]
        if values:
            ss[dim] = values
    p = qp.get("profile")
    if p in profiles or p == NO_PROFILE:
        ss["profile"] = p
    tz = qp.get("tz")
    if tz is not None:
        if valid_tz(tz):
            ss["tz"] = tz
        else:
            notice(f"The link's time zone {tz!r} is not a known IANA name; using {default_tz()}.")


def _write_url(view: View) -> None:
    wanted = {"grain": view.grain, "period": view.period, "from": view.start.isoformat(),
              "to": view.end.isoformat(), "profile": view.profile or NO_PROFILE, "tz": view.tz}
    for dim in DIMENSIONS:
        if view.filters.get(dim):
            wanted[dim] = list(view.filters[dim])
    current = {k: (st.query_params.get_all(k) if k in DIMENSIONS else st.query_params.get(k))
               for k in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)


def notice(text: str) -> None:
    """A correction of the selection, told once at the top of the page (ui.components.page_header)."""
    st.session_state.setdefault("_notices", []).append(text)


def take_notices() -> list[str]:
    return st.session_state.pop("_notices", [])


def _follow_data(ss, grain: str, first: date | None, last: date | None, today: date, labels: list[str]) -> None:
    """Keep the period and range in step with the data (see the module docstring).

    A selection still at the old defaults moves to the new ones when the data
    changes (sample data loaded, an upload, another process's ingest); one the
    user or a link chose stays unless it lies outside the data, which is
    corrected with a notice. A grain switch keeps the same point in time.
    """
    new = defaults(grain, first, last, today)
    extent = (first, last)
    old_extent = ss.get("_extent", "unset")
    old = ss.get("_defaults")
    data_changed = old_extent != "unset" and old_extent != extent
    as_of = min(last, today) if last else None

    # The period.
    grain_was = ss.get("_grain_was")
    wanted = ss.pop("_url_period", None) or ss.get("period")
    if grain_was is not None and grain_was != grain and wanted:
        try:
            wanted = regrain(wanted, grain, as_of)
        except ValueError:
            wanted = None
    elif data_changed and old is not None and wanted == old.period:
        wanted = new.period
    if wanted not in labels:
        if wanted and first is not None:
            notice(f"Period {wanted} is outside the data ({first} to {last}); showing {new.period}, "
                   "the last complete period.")
        wanted = new.period
    ss["period"] = wanted

    # The trend range.
    cur = ss.get("range")
    cur = tuple(cur) if isinstance(cur, (tuple, list)) and len(cur) == 2 else None
    if cur is None:
        cur = ss.get("_range_ok")
    regrained = grain_was is not None and grain_was != grain  # a range still at the defaults follows the grain's
    if cur is None or ((data_changed or regrained) and old is not None and cur == old.range) or (
            old is None and not ss.get("_url_range")):
        cur = new.range
    if first is not None:
        inside = clamp_range(cur, first, last)
        if inside is None:
            notice(f"The date range {cur[0]} to {cur[1]} is outside the data ({first} to {last}); "
                   "showing all of the data.")
            inside = new.range
        elif inside != cur and not (old is not None and cur == old.range):
            notice(f"The date range {cur[0]} to {cur[1]} reaches beyond the data; showing {inside[0]} to "
                   f"{inside[1]}.")
        cur = inside
    ss["range"] = cur
    ss["_range_ok"] = cur
    ss.pop("_url_range", None)
    ss["_extent"] = extent
    ss["_defaults"] = new
    ss["_grain_was"] = grain


def sidebar() -> View:
    """Create the shared sidebar widgets and return the selection (also kept in session state)."""
    data.start_run()
    ss = st.session_state
    profiles = data.profiles()
    profile_options = [NO_PROFILE, *profiles]
    if not ss.get("_url_read"):
        _read_url(ss, GRAINS, profiles)
        ss["_url_read"] = True
    if not valid_tz(ss.get("tz")):
        ss["tz"] = default_tz()
    tz = ss["tz"]
    rng = data.query("data_range", tz=tz)
    values = data.query("distinct_values") or {d: [] for d in DIMENSIONS}

    first, last = rng if rng else (None, None)
    today = today_in(tz)
    as_of = min(last, today) if last else None
    ss.setdefault("grain", "month")
    if ss.get("grain") not in GRAINS:
        ss["grain"] = "month"

    with st.sidebar:
        st.segmented_control("Period grain", GRAINS, key="grain", required=True,
                             help="Day, week (ISO), month or quarter: how the trends and the scorecard are cut. "
                                  "A day opens on the last 90 days of trends.")
        grain = ss["grain"] or "month"

        starts = periods.spine(first, last, grain) if first else [periods.period_start(today, grain)]
        labels = [periods.label(s, grain) for s in starts]
        _follow_data(ss, grain, first, last, today, labels)
        in_progress = {periods.label(s, grain): periods.to_date_label(s, grain, as_of) for s in starts}
        st.selectbox("Period (scorecard and tables)", list(reversed(labels)), key="period",
                     format_func=lambda p: in_progress.get(p, p),
                     help="The month, quarter or week the scorecard and the detail tables show. It opens on the "
                          "last complete one; the one in progress is marked 'to date'.")
        period = ss["period"]

        bounds = dict(min_value=first, max_value=last) if first else {}
        st.date_input("Date range (trends)", key="range", format="YYYY-MM-DD", **bounds,
                      help="The periods the trend charts show; whole periods are computed.")
        chosen = ss["range"]
        if isinstance(chosen, (tuple, list)) and len(chosen) == 2 and chosen[0] <= chosen[1]:
            ss["_range_ok"] = tuple(chosen)
        start, end = ss["_range_ok"]

        filters = {}
        for dim in DIMENSIONS:
            options = values.get(dim, [])
            if dim != "team" and filters.get("team"):
                # the chosen teams' services and models, and whatever is already selected (a shared link
                # keeps its meaning even when it names a service of another team)
                narrowed = data.query("distinct_values", teams=tuple(filters["team"]))
                if narrowed is not None:
                    kept = [v for v in ss.get(dim) or [] if v in options]
                    options = sorted(set(narrowed.get(dim, [])) | set(kept))
            if dim in ss:
                ss[dim] = [v for v in ss[dim] if v in options]
            st.multiselect(dim.capitalize(), options, key=dim, placeholder=f"all {dim}s")
            if ss.get(dim):
                filters[dim] = list(ss[dim])

        if ss.get("profile") not in profile_options:
            ss["profile"] = PREFERRED_PROFILE if PREFERRED_PROFILE in profiles else NO_PROFILE
        st.selectbox("Target profile", profile_options, key="profile",
                     help="Whose targets colour the numbers: the senior / mle / lead documents, or DORA.")
        profile = None if ss["profile"] == NO_PROFILE else ss["profile"]
        if profile:
            try:
                info = data.profile_info(profile)
                st.caption(f"Targets: {fmt.md_text(info.get('title') or info.get('label'))}")
                if info.get("note"):  # DORA 2025: no clusters, and what is shown instead
                    st.caption(fmt.md_text(info["note"]))
            except Exception as e:  # a broken profile file: say so, carry on without targets
                st.warning(fmt.md_text(f"Profile {profile!r} cannot be used: {e}"))
                profile = None
        elif not profiles:
            st.caption("No target profiles installed: every KPI shows 'no target'.")

        zones = list(dict.fromkeys([default_tz(), *TIMEZONES, tz]))
        st.selectbox("Reporting time zone", zones, key="tz",
                     help="Events fall into days, weeks, months and quarters in this time zone; times in the "
                          "tables are shown in it. The default comes from $KPI_TZ.")
        if first:
            st.caption(f"Data from {first} to {last} ({tz}) · database {fmt.md_text(data.db_path())}")
        outside = data.query("outside_window") or []
        if outside:
            st.warning(fmt.md_text(outside_text(outside)), icon=":material/event_busy:")

    p_start, p_end = data.period_bounds(period)
    view = View(grain=grain, period=period, period_start=p_start, period_end=p_end, start=start, end=end,
                filters=filters, profile=profile, lead_time_start=data.lead_time_start(profile), tz=tz,
                empty=rng == (), locked=rng is None, data_first=first, data_last=last, as_of=as_of)
    ss["view"] = view
    _write_url(view)
    return view


def current() -> View:
    """The selection made in the sidebar this run (app.py builds it before running the page)."""
    view = st.session_state.get("view")
    if view is None:  # a page run on its own (tests): build the sidebar here
        view = sidebar()
    return view
