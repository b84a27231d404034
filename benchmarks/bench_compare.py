#!/usr/bin/env python
"""Compare our KPI engine with a lazy Polars script and a pandas script over the same exports.

    python benchmarks/bench_compare.py --workdir /tmp/kb --db /tmp/kb/kpi_bench.duckdb [--rounds 3] [--skip-pandas]

Ten KPIs by month, ungrouped, over the whole data range (the catalog's ids, see
``KPI_IDS``), computed three ways:

* **ours**: ``kpis.compute(con, grain="month", kpis=KPI_IDS)`` on a read-only
  connection to ``--db`` (the database our ingest built from the exports in
  ``--workdir``). *Cold* is the first call on a newly opened connection, *warm*
  a second call on it. The ``kpis`` imported is the one of the repository this
  file lives in, so the script measures whatever engine it is run with.
* **polars**: one lazy query plan from ``pl.scan_csv`` of the exports to the ten
  KPIs per month, collected; it reads the CSV files every time, as such a script
  does.
* **pandas**: ``pd.read_csv`` (the pyarrow engine, the fastest reader pandas
  offers; it also parses the ISO 8601 timestamps with their offsets to UTC) and
  ``groupby``.

Before anything is timed, the three results are compared value by value (period
x KPI x unit, relative tolerance 1e-6, null where there is no data); every
mismatch is printed with its kind. Then the contenders alternate for
``--rounds`` rounds (each goes first once in turn) and the medians of wall time
(``time.perf_counter``) and CPU time (``time.process_time``: user + system of
every thread of this process, DuckDB's and Polars' included) are compared.
Other processes share the machine: the load average is printed before and
after, and CPU seconds beside every wall time.

The definitions the scripts restate (kpis/catalog.py and kpis/sql/*.sql are the
reference):

* timestamps are ISO 8601 with ``Z`` or an offset (``+02:00``), converted to
  UTC; a month is a UTC calendar month; durations are whole seconds / 3600
  (DuckDB's ``date_diff('second', ...)``; the exports have no sub-second parts);
* deployments: ``environment = 'production'`` only (a missing environment counts
  as production, a missing status as success, as ingest does);
  deployment_count = production deployments with status success;
  deployments_per_week = that count / (days in the month / 7);
  lead_time_median_hours = exact median (linear interpolation, as
  ``quantile_cont``) of deployed_at - change_started_at over successful ones
  with a start; change_failure_rate = failed / all production deployments,
  failed = status failed or rolled_back, or is_hotfix, or caused_regression, or
  named by any incident's deployment_id (ML-related or not: the catalog's
  incident_links has no such filter); rollback_rate = rolled_back / all;
* incidents: ``ml_related`` only (missing counts as true); incident_count by the
  month started; mttr_hours = mean of resolved_at - started_at by the month
  resolved (the catalog's mean recovery; its median is mttr_median_hours,
  not in the ten);
* costs: inference_cost = sum of amount where category is inference or missing,
  per currency (a missing currency is USD); predictions = sum of predictions;
  cost_per_1k_predictions = inference_cost / predictions x 1000, null when
  predictions is 0;
* the months run from the first to the last month with any event (deployments
  of any environment, incidents started or resolved, cost lines, prediction
  rows), as ``kpis.data_range``; a KPI with no events in a month is null; money
  KPIs appear once per currency of the cost lines;
* **the same data**: the database is built from every file its ``ingest_log``
  lists as loaded, in that order; bench_engine.py also loads two overlapping
  exports (the last month's cost lines restated, the last month's incidents
  re-exported with the open ones resolved). The scripts read those files too and
  apply ingest's rule: a later incident (deployment) replaces the earlier one of
  the same id; later cost (prediction) lines replace the earlier lines of the
  same source, service and date.

What the scripts do not restate (the generated exports do not need it): ingest's
spelling normalisation (status, environment and category synonyms, boolean
spellings other than true/false, naive timestamps in a source time zone) and
its validation. They would add to the scripts' time, not to ours.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
from bench_engine import code_version, load_note  # noqa: E402

import kpis  # noqa: E402
from kpis import catalog  # noqa: E402

KPI_IDS = (
    "deployment_count", "deployments_per_week", "lead_time_median_hours", "change_failure_rate", "rollback_rate",
    "incident_count", "mttr_hours", "inference_cost", "predictions", "cost_per_1k_predictions",
)
MONEY = {k for k in KPI_IDS if catalog.get(k).unit == catalog.CURRENCY}
KINDS = ("deployments", "incidents", "costs", "predictions")
# Ingest's merge rule per kind: replace by id, or replace the lines of the same source, service and date.
REPLACE_BY = {"deployments": ("deployment_id",), "incidents": ("incident_id",),
              "costs": ("source", "service", "date"), "predictions": ("source", "service", "date")}
GOALS = {"polars": 3.0, "pandas": 20.0}  # ours at least this many times faster (the goals)
REL_TOL = 1e-6


# ---------------------------------------------------------------------------
# Which files: the ones the database was built from, in load order.


def exports_of(db: Path, workdir: Path) -> dict[str, list[Path]]:
    """The export files ingest loaded into ``db`` (from its ingest_log), found in ``workdir``, per kind."""
    con = kpis.connect(db, read_only=True)
    try:
        rows = con.execute("SELECT kind, file_name FROM ingest_log WHERE status = 'loaded' "
                           "ORDER BY batch_id").fetchall()
    finally:
        con.close()
    files: dict[str, list[Path]] = {k: [] for k in KINDS}
    for kind, name in rows:
        if kind not in files:
            raise SystemExit(f"{db} also holds {kind} ({name}); this benchmark covers only {', '.join(KINDS)}")
        path = workdir / name
        if not path.exists():
            raise SystemExit(f"{db} was built from {name}, which is not in {workdir}")
        files[kind].append(path)
    missing = [k for k, v in files.items() if not v]
    if missing:
        raise SystemExit(f"{db} has no {', '.join(missing)} loaded")
    return files


# ---------------------------------------------------------------------------
# Polars: one lazy plan, scan_csv -> ten KPIs per month.

_TS = "%Y-%m-%dT%H:%M:%S%#z"  # 'Z' or '+02:00'; %#z takes both
_SCHEMA = {
    "deployments": {"deployment_id": pl.String, "deployed_at": pl.String, "environment": pl.String,
                    "status": pl.String, "change_started_at": pl.String, "is_hotfix": pl.Boolean,
                    "caused_regression": pl.Boolean},
    "incidents": {"incident_id": pl.String, "started_at": pl.String, "resolved_at": pl.String,
                  "ml_related": pl.Boolean, "deployment_id": pl.String},
    "costs": {"date": pl.Date, "amount": pl.Float64, "currency": pl.String, "category": pl.String,
              "service": pl.String, "source": pl.String},
    "predictions": {"date": pl.Date, "predictions": pl.Int64, "service": pl.String, "source": pl.String},
}


def _pl_scan(kind: str, paths: list[Path]) -> pl.LazyFrame:
    """The export files of one kind, later files replacing earlier rows as ingest does."""
    frames = [pl.scan_csv(p, schema_overrides=_SCHEMA[kind]) for p in paths]
    key = list(REPLACE_BY[kind])
    out = frames[0]
    for later in frames[1:]:
        later = later.cache()  # read once for its keys and its rows (the optimiser scanned it twice)
        out = pl.concat([out.join(later.select(key).unique(), on=key, how="anti"), later], how="diagonal_relaxed")
    return out


def _pl_utc(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime(_TS, time_zone="UTC")


def _pl_month(expr: pl.Expr) -> pl.Expr:
    return expr.dt.date().dt.month_start()


def polars_plan(files: dict[str, list[Path]]) -> pl.LazyFrame:
    """The ten KPIs per month as one lazy plan: period, kpi, unit, value."""
    incidents = _pl_scan("incidents", files["incidents"]).with_columns(
        started=_pl_utc("started_at"), resolved=_pl_utc("resolved_at"),
        ml=pl.col("ml_related").fill_null(True)).cache()  # read once for three uses (else scanned 3x)
    links = (incidents.select("deployment_id").drop_nulls().unique()
             .with_columns(incident_named=pl.lit(True)))

    prod = pl.col("environment").fill_null("production") == "production"
    status = pl.col("status").fill_null("success")
    ok = prod & (status == "success")
    lead = (pl.col("deployed") - pl.col("start")).dt.total_seconds() / 3600.0
    failed = (status.is_in(["failed", "rolled_back"]) | pl.col("is_hotfix").fill_null(False)
              | pl.col("caused_regression").fill_null(False) | pl.col("incident_named").fill_null(False))
    deployments = (
        _pl_scan("deployments", files["deployments"])
        .with_columns(deployed=_pl_utc("deployed_at"), start=_pl_utc("change_started_at"))
        .join(links, on="deployment_id", how="left")
        .group_by(month=_pl_month(pl.col("deployed")))
        .agg(n_prod=prod.sum(), n_ok=ok.sum(), lead_median=lead.filter(ok).median(),
             n_lead=lead.filter(ok).count(), cfr=failed.filter(prod).mean(),
             rollback=(status == "rolled_back").filter(prod).mean())
    )
    started = incidents.group_by(month=_pl_month(pl.col("started"))).agg(n_inc=pl.col("ml").sum())
    recovery = (pl.col("resolved") - pl.col("started")).dt.total_seconds() / 3600.0
    resolved = (incidents.filter(pl.col("resolved").is_not_null())
                .group_by(month=_pl_month(pl.col("resolved")))
                .agg(n_res=pl.col("ml").sum(), mttr=recovery.filter(pl.col("ml")).mean()))
    is_inference = pl.col("category").fill_null("inference") == "inference"
    costs = (_pl_scan("costs", files["costs"])
             .group_by(month=pl.col("date").dt.month_start(), unit=pl.col("currency").fill_null("USD"))
             .agg(n_cost=is_inference.sum(), cost=pl.col("amount").filter(is_inference).sum()))
    predictions = (_pl_scan("predictions", files["predictions"])
                   .group_by(month=pl.col("date").dt.month_start())
                   .agg(n_pred=pl.len(), preds=pl.col("predictions").sum()))

    def kpi(frame: pl.LazyFrame, kpi_id: str, value: pl.Expr, n: str, unit: pl.Expr | None = None) -> pl.LazyFrame:
        unit = unit if unit is not None else pl.lit(catalog.get(kpi_id).unit)
        return frame.select("month", kpi=pl.lit(kpi_id), unit=unit,
                            value=pl.when(pl.col(n) > 0).then(value.cast(pl.Float64)))

    per_1k = (costs.join(predictions, on="month", how="left")
              .with_columns(n_ratio=pl.when(pl.col("preds") > 0).then(pl.col("n_cost")).otherwise(0)))
    observed = pl.concat([
        kpi(deployments, "deployment_count", pl.col("n_ok"), "n_prod"),
        kpi(deployments, "deployments_per_week",
            pl.col("n_ok") / (pl.col("month").dt.days_in_month() / 7.0), "n_prod"),
        kpi(deployments, "lead_time_median_hours", pl.col("lead_median"), "n_lead"),
        kpi(deployments, "change_failure_rate", pl.col("cfr"), "n_prod"),
        kpi(deployments, "rollback_rate", pl.col("rollback"), "n_prod"),
        kpi(started, "incident_count", pl.col("n_inc"), "n_inc"),
        kpi(resolved, "mttr_hours", pl.col("mttr"), "n_res"),
        kpi(costs, "inference_cost", pl.col("cost"), "n_cost", pl.col("unit")),
        kpi(predictions, "predictions", pl.col("preds"), "n_pred"),
        kpi(per_1k, "cost_per_1k_predictions", pl.col("cost") / pl.col("preds") * 1000.0, "n_ratio",
            pl.col("unit")),
    ])

    # The spine: every month from the first to the last event of any kind; money KPIs per currency.
    months = pl.concat([f.select("month") for f in (deployments, started, resolved, costs, predictions)])
    spine = months.select(month=pl.date_range(pl.col("month").min(), pl.col("month").max(), "1mo"))
    currencies = costs.select("unit").unique()
    units = pl.concat([
        pl.LazyFrame({"kpi": [k for k in KPI_IDS if k not in MONEY],
                      "unit": [catalog.get(k).unit for k in KPI_IDS if k not in MONEY]}),
        pl.LazyFrame({"kpi": sorted(MONEY)}).join(currencies, how="cross"),
    ])
    return (spine.join(units, how="cross")
            .join(observed, on=["month", "kpi", "unit"], how="left")
            .select(period=pl.col("month").dt.strftime("%Y-%m"), kpi="kpi", unit="unit", value="value"))


def polars_kpis(files: dict[str, list[Path]]) -> pd.DataFrame:
    return polars_plan(files).collect().to_pandas()


# ---------------------------------------------------------------------------
# pandas: read_csv + groupby.

_PD_COLUMNS = {
    "deployments": ["deployment_id", "deployed_at", "environment", "status", "change_started_at", "is_hotfix",
                    "caused_regression"],
    "incidents": ["incident_id", "started_at", "resolved_at", "ml_related", "deployment_id"],
    "costs": ["date", "amount", "currency", "category"],
    "predictions": ["date", "predictions"],
}


def _pd_read(kind: str, paths: list[Path]) -> pd.DataFrame:
    """The export files of one kind, later files replacing earlier rows as ingest does."""
    key = list(REPLACE_BY[kind])
    cols = list(dict.fromkeys(_PD_COLUMNS[kind] + (key if len(paths) > 1 else [])))
    out = pd.read_csv(paths[0], engine="pyarrow", usecols=cols)
    for p in paths[1:]:
        later = pd.read_csv(p, engine="pyarrow", usecols=cols)
        replaced = out.set_index(key).index.isin(later.set_index(key).index)
        out = pd.concat([out[~replaced], later], ignore_index=True)
    return out


def _pd_utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True, format="ISO8601")


def _pd_month(s: pd.Series) -> pd.Series:
    return s.dt.tz_localize(None).dt.to_period("M") if s.dt.tz is not None else s.dt.to_period("M")


def _pd_bool(s: pd.Series, default: bool) -> pd.Series:
    return s.fillna(default).astype(bool)


def pandas_kpis(files: dict[str, list[Path]]) -> pd.DataFrame:
    """The ten KPIs per month with pandas: period, kpi, unit, value."""
    inc = _pd_read("incidents", files["incidents"])
    inc["started"], inc["resolved"] = _pd_utc(inc["started_at"]), _pd_utc(inc["resolved_at"])
    inc["ml"] = _pd_bool(inc["ml_related"], True)

    dep = _pd_read("deployments", files["deployments"])
    dep["deployed"] = _pd_utc(dep["deployed_at"])
    dep["month"] = _pd_month(dep["deployed"])
    status = dep["status"].fillna("success")
    dep["prod"] = dep["environment"].fillna("production").eq("production")
    dep["ok"] = dep["prod"] & status.eq("success")
    dep["lead"] = (dep["deployed"] - _pd_utc(dep["change_started_at"])).dt.total_seconds().where(dep["ok"]) / 3600.0
    dep["failed"] = (status.isin(["failed", "rolled_back"]) | _pd_bool(dep["is_hotfix"], False)
                     | _pd_bool(dep["caused_regression"], False)
                     | dep["deployment_id"].isin(inc["deployment_id"].dropna().unique())).astype(float)
    dep["rolled_back"] = status.eq("rolled_back").astype(float)
    all_months = [dep["month"]]
    g = dep.groupby("month")
    prod = dep[dep["prod"]].groupby("month")
    d = pd.DataFrame({"n_prod": g["prod"].sum(), "n_ok": g["ok"].sum(), "lead_median": g["lead"].median(),
                      "n_lead": g["lead"].count(), "cfr": prod["failed"].mean(),
                      "rollback": prod["rolled_back"].mean()})

    inc["started_month"] = _pd_month(inc["started"])
    ml = inc[inc["ml"]]
    started = ml.groupby("started_month").size().rename("n_inc")
    res = inc[inc["resolved"].notna()].copy()
    res["month"] = _pd_month(res["resolved"])
    all_months += [inc["started_month"], res["month"]]
    res = res[res["ml"]]
    res["hours"] = (res["resolved"] - res["started"]).dt.total_seconds() / 3600.0
    mttr = res.groupby("month")["hours"].agg(["mean", "count"])

    costs = _pd_read("costs", files["costs"])
    costs["month"] = pd.to_datetime(costs["date"]).dt.to_period("M")
    costs["currency"] = costs["currency"].fillna("USD")
    all_months.append(costs["month"])
    inference = costs[costs["category"].fillna("inference").eq("inference")]
    cost = inference.groupby(["month", "currency"])["amount"].agg(["sum", "count"])
    currencies = sorted(costs["currency"].unique())

    preds = _pd_read("predictions", files["predictions"])
    preds["month"] = pd.to_datetime(preds["date"]).dt.to_period("M")
    all_months.append(preds["month"])
    volume = preds.groupby("month")["predictions"].agg(["sum", "count"])

    lo = min(m.min() for m in all_months if len(m))
    hi = max(m.max() for m in all_months if len(m))
    spine = pd.period_range(lo, hi, freq="M")

    def col(frame, name, n):
        s = frame[name].reindex(spine) if len(frame) else pd.Series(float("nan"), index=spine)
        count = frame[n].reindex(spine).fillna(0) if len(frame) else pd.Series(0, index=spine)
        return s.astype(float).where(count > 0)

    weeks = pd.Series(spine.days_in_month, index=spine) / 7.0
    values = {
        "deployment_count": col(d, "n_ok", "n_prod"),
        "deployments_per_week": col(d, "n_ok", "n_prod") / weeks,
        "lead_time_median_hours": col(d, "lead_median", "n_lead"),
        "change_failure_rate": col(d, "cfr", "n_prod"),
        "rollback_rate": col(d, "rollback", "n_prod"),
        "incident_count": started.reindex(spine).astype(float),
        "mttr_hours": col(mttr, "mean", "count"),
        "predictions": col(volume, "sum", "count"),
    }
    rows = [(p.strftime("%Y-%m"), k, catalog.get(k).unit, v) for k, s in values.items() for p, v in s.items()]
    den = values["predictions"]
    for cur in currencies:
        has = cur in cost.index.get_level_values("currency")
        amount = col(cost.xs(cur, level="currency") if has else cost.iloc[:0], "sum", "count")
        per_1k = (amount / den * 1000.0).where(den > 0)
        rows += [(p.strftime("%Y-%m"), "inference_cost", cur, v) for p, v in amount.items()]
        rows += [(p.strftime("%Y-%m"), "cost_per_1k_predictions", cur, v) for p, v in per_1k.items()]
    return pd.DataFrame(rows, columns=["period", "kpi", "unit", "value"])


# ---------------------------------------------------------------------------
# Ours, and the check that all agree.


def ours_kpis(con) -> pd.DataFrame:
    return kpis.compute(con, grain="month", kpis=list(KPI_IDS))


def as_values(df: pd.DataFrame) -> dict[tuple[str, str, str], float | None]:
    """(period, kpi, unit) -> value, None for null."""
    out = {}
    for period, kpi, unit, value in zip(df["period"], df["kpi"], df["unit"], df["value"]):
        v = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        out[(str(period), str(kpi), str(unit))] = v
    return out


def mismatches(ours: dict, theirs: dict, name: str) -> list[str]:
    """Every (period, kpi, unit) where ``theirs`` differs from ``ours``, with the kind of difference."""
    out = []
    for key in sorted(set(ours) | set(theirs)):
        label = f"{key[0]} {key[1]} ({key[2]})"
        if key not in theirs:
            out.append(f"{label}: missing in {name} (ours {ours[key]})")
        elif key not in ours:
            out.append(f"{label}: only in {name} ({theirs[key]})")
        else:
            a, b = ours[key], theirs[key]
            if a is None and b is None:
                continue
            if a is None or b is None:
                out.append(f"{label}: ours {a}, {name} {b} (null in one only)")
            elif not math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0):
                out.append(f"{label}: ours {a!r}, {name} {b!r} (relative difference {abs(a - b) / max(abs(a), abs(b)):.2e})")
    return out


# ---------------------------------------------------------------------------
# Timing


class Clock:
    """Wall (perf_counter) and CPU (process_time: all threads of this process) seconds of a block."""

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, time.process_time() - self.c0


def run_ours(db: Path) -> tuple[Clock, Clock, pd.DataFrame]:
    """A cold call on a newly opened read-only connection, then a warm one."""
    con = kpis.connect(db, read_only=True)
    try:
        with Clock() as cold:
            df = ours_kpis(con)
        with Clock() as warm:
            ours_kpis(con)
    finally:
        con.close()
    return cold, warm, df


def machine_line(db: Path) -> str:
    import os
    import platform

    import duckdb

    con = kpis.connect(db, read_only=True)
    try:
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    finally:
        con.close()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{code_version()}; cpu_count={os.cpu_count()}, {mem:.1f} GiB RAM, {platform.platform()}, "
            f"Python {platform.python_version()}, duckdb {duckdb.__version__} (threads={threads}), "
            f"polars {pl.__version__} (threads={pl.thread_pool_size()}), pandas {pd.__version__}")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True, help="the directory holding the CSV exports")
    p.add_argument("--db", type=Path, default=None,
                   help="our database built from those exports, opened read-only (default: WORKDIR/kpi_bench.duckdb)")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds; contenders alternate (default 3)")
    p.add_argument("--skip-pandas", action="store_true", help="leave pandas out (it takes minutes at full size)")
    args = p.parse_args(argv)
    args.db = args.db or args.workdir / "kpi_bench.duckdb"
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if not args.db.exists():
        p.error(f"{args.db} does not exist")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    files = exports_of(args.db, args.workdir)
    print(f"machine: {machine_line(args.db)}")
    print(f"db:      {args.db} (read-only)")
    for kind, paths in files.items():
        print(f"{kind + ':':13s}" + ", ".join(f"{p.name} ({p.stat().st_size / 1e6:,.0f} MB)" for p in paths))
    print(f"before:  {load_note()}", flush=True)

    contenders = {"ours": None, "polars": polars_kpis}
    if not args.skip_pandas:
        contenders["pandas"] = pandas_kpis

    # 1. The check: every contender's first call (for polars and pandas also their "cold" figure).
    print("\n[1] check: the same values from every contender", flush=True)
    cold: dict[str, Clock] = {}
    results = {}
    for name, fn in contenders.items():
        if name == "ours":
            cold[name], _, df = run_ours(args.db)
        else:
            with Clock() as cold[name]:
                df = fn(files)
        results[name] = as_values(df)
        print(f"  {name:7s} {len(results[name]):4d} values in {cold[name].wall:7.2f} s (cpu {cold[name].cpu:7.2f})",
              flush=True)
    agree = True
    for name in contenders:
        if name == "ours":
            continue
        bad = mismatches(results["ours"], results[name], name)
        agree &= not bad
        if bad:
            print(f"  {name}: {len(bad)} mismatches")
            for line in bad:
                print(f"    {line}")
        else:
            n_null = sum(v is None for v in results["ours"].values())
            print(f"  {name}: all {len(results['ours'])} values agree with ours ({n_null} null in both)")
    if not agree:
        print("  the contenders disagree: figures below compare different numbers", flush=True)

    # 2. Timed rounds, the contenders alternating (each goes first in turn).
    print(f"\n[2] {args.rounds} timed rounds (wall s; cpu s = process_time, all threads)", flush=True)
    names = list(contenders)
    warm: dict[str, list[Clock]] = {n: [] for n in names}
    ours_cold: list[Clock] = []
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        parts = []
        for name in order:
            if name == "ours":
                c, w, _ = run_ours(args.db)
                ours_cold.append(c)
                warm[name].append(w)
                parts.append(f"ours cold {c.wall:.2f} (cpu {c.cpu:.2f}) warm {w.wall:.2f} (cpu {w.cpu:.2f})")
            else:
                with Clock() as c:
                    contenders[name](files)
                warm[name].append(c)
                parts.append(f"{name} {c.wall:.2f} (cpu {c.cpu:.2f})")
        print(f"  round {rnd + 1}: " + "; ".join(parts), flush=True)

    load_after = load_note()
    print(f"\nafter:   {load_after}")
    summary = {n: {"cold": cold[n] if n != "ours" else None, "wall": median(c.wall for c in warm[n]),
                   "cpu": median(c.cpu for c in warm[n])} for n in names}
    summary["ours"]["cold_wall"] = median(c.wall for c in ours_cold)
    summary["ours"]["cold_cpu"] = median(c.cpu for c in ours_cold)
    print_summary(summary, args.rounds, agree)
    return 0 if agree else 1


def print_summary(s: dict, rounds: int, agree: bool) -> None:
    ours = s["ours"]
    lines = ["", f"## Figures (medians of {rounds} rounds)", "",
             "| contender | cold wall s | warm wall s | warm cpu s | ratio vs ours (wall) | ratio vs ours (cpu) "
             "| goal | met |", "|---|---|---|---|---|---|---|---|",
             f"| ours: kpis.compute, read-only DuckDB | {ours['cold_wall']:.2f} (cpu {ours['cold_cpu']:.2f}) | "
             f"{ours['wall']:.2f} | {ours['cpu']:.2f} | 1.0x | 1.0x | - | - |"]
    for name in ("polars", "pandas"):
        if name not in s:
            continue
        c = s[name]
        ratio, cpu_ratio = c["wall"] / ours["wall"], c["cpu"] / ours["cpu"]
        goal = GOALS[name]
        met = "met" if ratio >= goal else "MISSED"
        cpu_met = "met" if cpu_ratio >= goal else "MISSED"
        label = {"polars": "lazy Polars: scan_csv .. collect", "pandas": "pandas: read_csv + groupby"}[name]
        lines.append(f"| {label} | {c['cold'].wall:.2f} (cpu {c['cold'].cpu:.2f}) | {c['wall']:.2f} | "
                     f"{c['cpu']:.2f} | **{ratio:.1f}x** | {cpu_ratio:.1f}x | ours >= {goal:g}x faster | "
                     f"{met} (cpu: {cpu_met}) |")
    lines.append("")
    lines.append("Ratios: the contender's warm median over ours' warm median (ours cold is the first call on a "
                 "newly opened connection; a contender's cold is its first run in this process, the check).")
    if not agree:
        lines.append("**The values did not all agree (see [1]): these ratios compare different numbers.**")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
