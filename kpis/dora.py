"""DORA's way of reading the delivery KPIs: the deployment frequency bucket of a period.

DORA asks teams how often they deploy (on demand / daily / weekly / monthly / yearly); event data answers
it from deployment *days*: the ``deployment_days_per_week`` KPI (kpis/catalog.py) and, per period, the
median over its weeks. The rule is written once here (``FREQUENCY_RULE``) and shown wherever a bucket is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from kpis import engine, periods

# (bucket, least median deployment days per week): on demand is DevLake's rule (a deployment on every
# working day of the median week), daily and weekly Four Keys' (3 and 1 deployment days in the median week).
MEDIAN_WEEK_BUCKETS: tuple[tuple[str, float], ...] = (("on demand", 5.0), ("daily", 3.0), ("weekly", 1.0))
# Below weekly: monthly while the period averages at least one deployment day a month (Four Keys: the median
# month has one), yearly below that. A month is 31 days here, so one deployment day in any calendar month is
# monthly (the same edge as the dora profile's 7 / 31 per week).
DAYS_PER_MONTH = 31
BUCKETS = ("on demand", "daily", "weekly", "monthly", "yearly")

# DORA's current grouping of its five delivery metrics (dora-benchmarks.md, "DORA's current framing"): the KPI
# each is read from here.
THROUGHPUT: tuple[str, ...] = ("lead_time_median_hours", "deployments_per_week",
                               "failed_deployment_recovery_median_hours")
INSTABILITY: tuple[str, ...] = ("change_failure_rate", "deployment_rework_rate")
PAIR_TEXT = ("DORA groups its five delivery metrics in two: throughput (change lead time, deployment frequency, "
             "failed deployment recovery time) and instability (change fail rate, deployment rework rate).")

FREQUENCY_RULE = (
    "DORA bucket from the median week: the weeks of a period are the ISO weeks (Monday to Sunday) whose Thursday "
    "falls in it, each counted by its days with a successful production deployment (a week without any counts "
    "0). Median week of 5 or more deployment days: on demand (DevLake's rule); 3 or more: daily; 1 or more: "
    "weekly (Four Keys' rules); fewer: monthly while the period averages at least one deployment day a month "
    "(deployment days per week x 31 / 7 >= 1: one in a 31-day month), else yearly. A day is shorter than a week: "
    "no bucket."
)


FREQUENCY_RULE_SHORT = ("median week's deployment days: on demand ≥ 5, daily ≥ 3, weekly ≥ 1, else monthly with "
                        "one a month, else yearly")


def frequency_bucket(median_week_days: float | None, days_per_week: float | None) -> str | None:
    """The DORA deployment frequency bucket of a period (``FREQUENCY_RULE``); None without a median week."""
    if median_week_days is None or pd.isna(median_week_days):
        return None
    for name, least in MEDIAN_WEEK_BUCKETS:
        if median_week_days >= least:
            return name
    rate = 0.0 if days_per_week is None or pd.isna(days_per_week) else float(days_per_week)
    return "monthly" if rate * DAYS_PER_MONTH / 7 >= 1 else "yearly"


def weeks_of(start: date, grain: str, window_days: int | None = None) -> list[date]:
    """The Mondays of the ISO weeks whose Thursday falls in the period of ``grain`` (or the trailing window of
    ``window_days``) starting at ``start``."""
    end = periods.next_start(start, grain) if window_days is None else start + timedelta(days=window_days)
    monday = start - timedelta(days=start.weekday())
    out = []
    for k in range(-1, (end - start).days // 7 + 2):
        m = monday + timedelta(days=7 * k)
        if start <= m + timedelta(days=3) < end:
            out.append(m)
    return out


@dataclass(frozen=True)
class _Weeks:
    mondays: list[date]
    period_of: dict[date, date]  # Monday -> start of the period it belongs to


def _weeks(spine: list[date], grain: str, as_of: date | None, window_days: int | None) -> _Weeks:
    period_of = {}
    for s in spine:
        for m in weeks_of(s, grain, window_days):
            if as_of is None or m <= as_of:  # a week that has not begun by as_of is not a week without deployments
                period_of[m] = s
    return _Weeks(sorted(period_of), period_of)


def deployment_frequency(con: duckdb.DuckDBPyConnection, grain: str = "month", by: str | None = None,
                         start: date | None = None, end: date | None = None, filters: dict | None = None,
                         tz: str = "UTC", as_of: date | None = None,
                         window_days: int | None = None) -> pd.DataFrame:
    """Per period (and ``by`` group): deployment days per week, its median week and the DORA bucket.

    Columns: period, the ``by`` column (when given), deployment_days_per_week (the catalog KPI: distinct
    deployment days / weeks in the period), n (production deployments), weeks (how many weeks the median is
    over), median_week_days (interpolated median of deployment days per week over them) and bucket
    (``frequency_bucket``; None for a day, or a period without production deployments). ``as_of``: weeks
    beginning after it are left out (the period in progress). ``window_days``: trailing windows instead of
    calendar periods (``kpis.engine.compute``), each bucketed from the ISO weeks whose Thursday falls in it.
    """
    days = engine.compute(con, grain=grain, by=by, start=start, end=end, filters=filters, tz=tz, as_of=as_of,
                          kpis=["deployment_days_per_week"], window_days=window_days)
    weekly = None
    if not days.empty and not (grain == "day" and window_days is None):
        weekly = period_weeks(con, list(dict.fromkeys(days["period"])), grain, by=by, filters=filters, tz=tz,
                              as_of=as_of, window_days=window_days)
    return with_buckets(days, weekly, by=by)


def period_weeks(con: duckdb.DuckDBPyConnection, labels: list[str], grain: str = "month", by: str | None = None,
                 filters: dict | None = None, tz: str = "UTC", as_of: date | None = None,
                 window_days: int | None = None) -> pd.DataFrame:
    """The weeks a bucket is the median of (``FREQUENCY_RULE``), of each period in ``labels``: columns period (its
    label), the ``by`` column (when given) and days (the week's deployment days: deployment_days_per_week of a
    week; 0 for a week without any). A group appears in the weeks it deployed in."""
    cols = ["period"] + ([by] if by else []) + ["days"]
    starts = {lab: _first_day(lab) for lab in labels}
    weeks = _weeks(list(starts.values()), grain, as_of, window_days)
    out = pd.DataFrame({c: pd.Series(dtype="float64" if c == "days" else object) for c in cols})
    if not weeks.mondays:
        return out
    label_of = {v: k for k, v in starts.items()}
    weekly = engine.compute(con, grain="week", by=by, start=weeks.mondays[0],
                            end=weeks.mondays[-1] + timedelta(days=6), filters=filters, tz=tz,
                            kpis=["deployment_days_per_week"])
    weekly = weekly[weekly["period"].map(lambda lab: periods.parse_label(lab)[1] in weeks.period_of)].copy()
    # weeks_in_period is 1 for a week: its value is its deployment days; a week without deployments is 0
    weekly["days"] = weekly["value"].fillna(0.0)
    weekly["period"] = [label_of[weeks.period_of[periods.parse_label(lab)[1]]] for lab in weekly["period"]]
    out = weekly[cols].reset_index(drop=True)
    # how many weeks each period has (kept in the frame's attrs, which a pickle keeps too), for a group without a deployment in any of them
    out.attrs["weeks"] = pd.Series([label_of[s] for s in weeks.period_of.values()]).value_counts().to_dict()
    return out


def with_buckets(days: pd.DataFrame, weekly: pd.DataFrame | None, by: str | None = None) -> pd.DataFrame:
    """``deployment_frequency``'s frame from ``kpis.compute``'s deployment_days_per_week rows (``days``: columns
    period, the ``by`` column, value, n) and their periods' weeks (``period_weeks``; None for a day's grain)."""
    cols = ["period"] + ([by] if by else []) + ["deployment_days_per_week", "n", "weeks", "median_week_days",
                                                "bucket"]
    if days.empty:
        return pd.DataFrame(columns=cols)
    days = days.rename(columns={"value": "deployment_days_per_week"})
    days["weeks"] = 0
    days["median_week_days"] = float("nan")
    days["bucket"] = None
    if weekly is None:
        return days[cols]
    keys = ["period"] + ([by] if by else [])
    med = weekly.groupby(keys, dropna=False)["days"].agg(["median", "count"]).reset_index()
    if by:  # a filter that keeps no deployment leaves a group column of nothing but NaN (float)
        days[by], med[by] = days[by].astype(object), med[by].astype(object)
    days = days.drop(columns=["weeks", "median_week_days"]).merge(
        med.rename(columns={"median": "median_week_days", "count": "weeks"}), on=keys, how="left")
    # a group with no deployment in any of the period's weeks (only on its first or last days) has 0 in each
    per_period = pd.Series(weekly.attrs.get("weeks", {}), dtype="float64")
    missing = days["weeks"].isna()
    days["weeks"] = days["weeks"].astype("float64").where(~missing, days["period"].map(per_period))
    days["median_week_days"] = days["median_week_days"].where(~(missing & days["weeks"].notna()), 0.0)
    days["weeks"] = days["weeks"].fillna(0).astype("int64")
    has = days["n"] > 0
    days["bucket"] = pd.Series([frequency_bucket(m, v) if ok else None for m, v, ok in
                                zip(days["median_week_days"], days["deployment_days_per_week"], has)],
                               index=days.index, dtype=object)
    days.loc[~has, "median_week_days"] = float("nan")
    return days[cols].reset_index(drop=True)


def _first_day(label: str) -> date:
    """The first day of a period label, or of a trailing window's (2026-10-22/2026-11-20)."""
    if "/" in label:
        return date.fromisoformat(label.split("/", 1)[0])
    return periods.parse_label(label)[1]


def attach_buckets(df: pd.DataFrame, freq: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """``df`` (kpis.compute's frame) with the columns median_week_days and bucket, filled on the
    deployment_days_per_week rows from ``deployment_frequency``'s frame and empty elsewhere."""
    keys = ["period"] + ([by] if by else [])
    extra = freq[keys + ["median_week_days", "bucket"]].assign(kpi="deployment_days_per_week")
    out = df.merge(extra, on=[*keys, "kpi"], how="left")
    out["bucket"] = pd.Series([b if isinstance(b, str) else None for b in out["bucket"]], index=out.index,
                              dtype=object)
    return out
