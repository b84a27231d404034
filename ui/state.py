"""The shared sidebar: period grain, period, date range, team / service / model, target profile.

The widgets are created in app.py before ``pg.run()``, so their values live in
``st.session_state`` and survive page switches. They are mirrored to the URL
(``?grain=month&period=2026-10&from=...&team=search``) after every run and read
from it on a session's first run, so a copied URL reproduces the view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import streamlit as st

from kpis import engine, periods
from ui import data

GRAINS = periods.GRAINS
DIMENSIONS = engine.DIMENSIONS
NO_PROFILE = "(none)"
PREFERRED_PROFILE = "senior"
URL_KEYS = ("grain", "period", "from", "to", *DIMENSIONS, "profile")


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

    def is_partial(self, label: str) -> bool:
        """Whether the period ``label`` (of this grain) is the one in progress."""
        return label is not None and label == self.in_progress

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
        """The moment open incidents are listed at: the period's end, or now if that is earlier."""
        end = datetime.combine(self.period_end, datetime.min.time())
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        return min(end, now)


def _default_period(labels_starts: list[date], grain: str, last: date | None) -> date:
    """The latest complete period (a monthly check looks at the month that just closed)."""
    if last is None:
        return labels_starts[-1]
    complete = [s for s in labels_starts if periods.next_start(s, grain) <= last + timedelta(days=1)]
    return complete[-1] if complete else labels_starts[-1]


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
    except ValueError:
        pass
    for dim in DIMENSIONS:
        values = [v for item in qp.get_all(dim) for v in item.split(",") if v]
        if values:
            ss[dim] = values
    p = qp.get("profile")
    if p in profiles or p == NO_PROFILE:
        ss["profile"] = p


def _write_url(view: View) -> None:
    wanted = {"grain": view.grain, "period": view.period, "from": view.start.isoformat(),
              "to": view.end.isoformat(), "profile": view.profile or NO_PROFILE}
    for dim in DIMENSIONS:
        if view.filters.get(dim):
            wanted[dim] = list(view.filters[dim])
    current = {k: (st.query_params.get_all(k) if k in DIMENSIONS else st.query_params.get(k))
               for k in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)


def sidebar() -> View:
    """Create the shared sidebar widgets and return the selection (also kept in session state)."""
    data.start_run()
    ss = st.session_state
    rng = data.query("data_range")
    values = data.query("distinct_values") or {d: [] for d in DIMENSIONS}
    profiles = data.profiles()
    profile_options = [NO_PROFILE, *profiles]
    if not ss.get("_url_read"):
        _read_url(ss, GRAINS, profiles)
        ss["_url_read"] = True

    first, last = rng if rng else (None, None)
    today = datetime.now(timezone.utc).date()
    ss.setdefault("grain", "month")
    if ss.get("grain") not in GRAINS:
        ss["grain"] = "month"

    with st.sidebar:
        st.segmented_control("Period grain", GRAINS, key="grain", required=True,
                             help="Week (ISO), month or quarter: how the trends and the scorecard are cut.")
        grain = ss["grain"] or "month"

        starts = periods.spine(first, last, grain) if first else [periods.period_start(today, grain)]
        labels = [periods.label(s, grain) for s in starts]
        default_label = periods.label(_default_period(starts, grain, last), grain)
        wanted = ss.pop("_url_period", None) or ss.get("period")
        if wanted not in labels:
            mapped = None
            try:
                _, s, _ = periods.parse_label(wanted) if wanted else (None, None, None)
                if s is not None:
                    mapped = periods.label(periods.period_start(s, grain), grain)
            except ValueError:
                mapped = None
            wanted = mapped if mapped in labels else default_label
        ss["period"] = wanted
        st.selectbox("Period (scorecard and tables)", list(reversed(labels)), key="period",
                     help="The month, quarter or week the scorecard and the detail tables show.")
        period = ss["period"]

        default_range = (first, last) if first else (today, today)
        cur = ss.get("range")
        if not (isinstance(cur, (tuple, list)) and len(cur) == 2):
            ss["range"] = ss.get("_range_ok", default_range)
        st.date_input("Date range (trends)", key="range", format="YYYY-MM-DD",
                      help="The periods the trend charts show; whole periods are computed.")
        chosen = ss["range"]
        if isinstance(chosen, (tuple, list)) and len(chosen) == 2 and chosen[0] <= chosen[1]:
            ss["_range_ok"] = tuple(chosen)
        start, end = ss.get("_range_ok", default_range)

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
                st.caption(f"Targets: {info.get('title') or info.get('label')}")
            except Exception as e:  # a broken profile file: say so, carry on without targets
                st.warning(f"Profile {profile!r} cannot be used: {e}")
                profile = None
        elif not profiles:
            st.caption("No target profiles installed: every KPI shows 'no target'.")
        if first:
            st.caption(f"Data from {first} to {last} · database `{data.db_path()}`")

    p_start, p_end = data.period_bounds(period)
    view = View(grain=grain, period=period, period_start=p_start, period_end=p_end, start=start, end=end,
                filters=filters, profile=profile, lead_time_start=data.lead_time_start(profile),
                empty=rng == (), locked=rng is None, data_first=first, data_last=last,
                as_of=min(last, today) if last else None)
    ss["view"] = view
    _write_url(view)
    return view


def current() -> View:
    """The selection made in the sidebar this run (app.py builds it before running the page)."""
    view = st.session_state.get("view")
    if view is None:  # a page run on its own (tests): build the sidebar here
        view = sidebar()
    return view
