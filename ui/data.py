"""The app's only door to the database: cached reads, the write path, targets.

Design (DESIGN.md, "Running for real"):

* The app never holds a connection open between reruns. A run of app.py
  opens one **read-only** connection on its first uncached query, its other
  queries share it, and it is closed when the run ends (``begin_run`` /
  ``end_run``), so a scheduled ``python -m kpis ingest`` in another process
  can take the write lock whenever no run is querying, and the next run sees
  its data. Outside an app run each query opens and closes its own.
* Results are cached with ``st.cache_data`` keyed on ``kpis.data_version(path)``
  (file and WAL mtime + size: a ``stat``, no connection) plus the query and its
  arguments. An ingest changes the version, so its numbers show at once; an
  unchanged database is not queried again.
* In one process DuckDB refuses to open a file read-only and read-write at the
  same time, so a process-wide readers-writer lock lets any number of reads
  run together and gives the Data page's ingest (the only writer) the file
  alone.
* When another process holds the file (an ingest running), reads wait briefly,
  then the page shows the last numbers it loaded with a notice instead of a
  traceback.

Nothing here computes a KPI: it calls ``kpis`` and caches what it returns.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import duckdb
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

import kpis
from kpis import annotations, db, details, dora, drivers, engine, ingest, mapping, periods, projection
from ui import auth

try:  # the target profiles are optional: without them every KPI shows "no target"
    from kpis import targets as _targets
except ImportError:  # pragma: no cover - only while kpis/targets.py is missing
    _targets = None

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data"
# The availability objective behind error_budget_remaining when none is given (kpis.engine's default).
DEFAULT_SLO = engine.Request().slo
SAMPLE_SUFFIXES = (".csv", ".parquet")
READ_WAIT_SECONDS = 3.0
WRITE_WAIT_SECONDS = 20.0
LOCKED_NOTICE = "The database is being updated by another process; showing the last loaded numbers."


class _ReadWriteLock:
    """Many readers or one writer (in-process; DuckDB's file lock covers other processes)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def acquire_read(self):
        with self._cond:
            while self._writer:
                self._cond.wait()
            self._readers += 1

    def release_read(self):
        with self._cond:
            self._readers -= 1
            self._cond.notify_all()

    @contextmanager
    def read(self):
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self):
        with self._cond:
            while self._writer or self._readers:
                self._cond.wait()
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@st.cache_resource
def _lock() -> _ReadWriteLock:
    return _ReadWriteLock()


@st.cache_resource
def _last_good() -> dict:
    """Process-wide: the last result of each query, shown while the file is locked."""
    return {}


def db_path() -> str:
    return str(kpis.default_path())


def version() -> tuple:
    return kpis.data_version(db_path())


_run_state = threading.local()  # per script thread: has this run found the file locked; the run's connection


@contextmanager
def read_connection(path: str):
    """A read-only connection to ``path``.

    Inside an app run (app.py: between ``begin_run`` and ``end_run``) the run opens one connection, on its
    first query, and every query of the run uses it: opening the file took 20-40 ms, and a first visit asks
    a dozen queries. The run holds the in-process read lock until ``end_run`` closes the connection, at
    the end of the run, so no connection stays open between reruns (and should a run's thread end without
    it, the connection is closed and the lock released when the thread's state goes). Outside an app run
    each use opens and closes its own.
    """
    wait = 0.0 if getattr(_run_state, "locked", False) else READ_WAIT_SECONDS
    if getattr(_run_state, "active", False):
        held = getattr(_run_state, "held", None)
        if held is not None and held.path != path:
            release_run_connection()
            held = None
        if held is None:
            held = _Held(path, wait)
            _run_state.held = held
        yield held.con
        return
    with _lock().read():
        con = kpis.connect(path, read_only=True, wait_seconds=wait)
        try:
            yield con
        finally:
            con.close()


def _close_and_release(con, lock) -> None:
    try:
        con.close()
    except duckdb.Error:
        # Busy with a query: only when the server stops during a run (a run closes its connection itself when it
        # ends), this finalizer running at exit. The process, the query's thread and the file's lock go with it;
        # interrupting the query would make that run log an error on its way out.
        pass
    finally:
        lock.release_read()


class _Held:
    """A run's read-only connection and its share of the read lock, given back exactly once."""

    def __init__(self, path: str, wait: float):
        self.path = path
        lock = _lock()
        lock.acquire_read()
        try:
            self.con = kpis.connect(path, read_only=True, wait_seconds=wait)
        except BaseException:
            lock.release_read()
            raise
        # Runs at release(), or when this object goes with its thread's state, whichever comes first. Not at
        # the interpreter's exit: a server stopped mid-run would close a connection its run is still querying
        # (DuckDB refuses: "connection is busy"), and the process's end closes the read-only file anyway.
        self.release = weakref.finalize(self, _close_and_release, self.con, lock)
        self.release.atexit = False


def release_run_connection() -> None:
    """Close this run's connection and release its read lock (before a write, and at the end of the run)."""
    held = getattr(_run_state, "held", None)
    _run_state.held = None
    if held is not None:
        held.release()


# --- queries --------------------------------------------------------------------------------


def _compute(con, profile: str | None, **kw) -> pd.DataFrame:
    if profile and _targets is not None:
        kw.pop("lead_time_start", None)
        return _targets.compute_with_targets(con, profile, **kw)
    return kpis.compute(con, **kw)


def _history(con) -> pd.DataFrame:
    return ingest.history(con)


def _data_range(con, tz: str = "UTC"):
    # () for an empty database, so that None can only mean "locked, nothing loaded yet".
    return kpis.data_range(con, tz) or ()


def _outside_window(con) -> list:
    return engine.outside_window(con)


QUERIES = {
    "compute": _compute,
    "drivers": drivers.drivers,
    "deployments": details.deployments,
    "failed_deployments": details.failed_deployments,
    "changes": details.changes,
    "deployment_frequency": dora.deployment_frequency,
    "period_weeks": dora.period_weeks,
    "lead_time_distribution": details.lead_time_distribution,
    "incidents": details.incidents,
    "open_incidents": details.open_incidents,
    "worst_services": details.worst_services,
    "training_runs": details.training_runs,
    "training_run_chart": details.training_run_chart,
    "prediction_count_kinds": details.prediction_count_kinds,
    "serving_by_service": details.serving_by_service,
    "pipeline_runs": details.pipeline_runs,
    "models_inventory": details.models_inventory,
    "source_counts": details.source_counts,
    "cost_attribution": details.cost_attribution,
    "unattributed_costs": details.unattributed_costs,
    "distinct_values": details.distinct_values,
    "table_counts": details.table_counts,
    "last_event": details.last_event,
    "data_range": _data_range,
    "outside_window": _outside_window,
    "history": _history,
    "annotations": annotations.notes,
    "quantile_interval": projection.quantile_interval,
}


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw_filters(frozen) -> dict:
    return {k: list(v) for k, v in frozen} if frozen else {}


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(data_version: tuple, path: str, name: str, frozen_kwargs: tuple):
    # data_version is part of the key: a new version is a cache miss, an unchanged one never queries.
    kwargs = dict(frozen_kwargs)
    if "filters" in kwargs:
        kwargs["filters"] = _thaw_filters(kwargs["filters"])
    if "kpis" in kwargs and kwargs["kpis"] is not None:
        kwargs["kpis"] = list(kwargs["kpis"])
    with read_connection(path) as con:
        result = QUERIES[name](con, **kwargs)
    _last_good()[(path, name, frozen_kwargs)] = result
    return result


# Queries started ahead (``ahead``) run here, each on its own read-only connection (DuckDB shares the open
# database between a process's connections, so opening one costs well under a millisecond).
_AHEAD_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kpi-ahead")


def ahead(name: str, **kwargs) -> Callable[[], object]:
    """Start ``query(name, **kwargs)`` now on a worker thread, so that it runs while this run draws what it
    has; ``query`` with the same arguments then takes its result, waiting for it if need be. Returns that
    ``query`` call, for the section that reads it.

    A first visit asks a dozen independent queries; DuckDB runs each outside Python's lock, so on two cores
    the next ones run while this thread builds charts and tables. Nothing is computed twice: the worker fills
    the same cache ``query`` reads (a cached result comes back at once).
    """
    later = functools.partial(query, name, **kwargs)
    pending = getattr(_run_state, "pending", None)
    if pending is None:  # outside an app run (tests, scripts): query computes it when asked
        return later
    path = db_path()
    frozen = tuple(sorted((k, _freeze(v)) for k, v in kwargs.items()))
    key = (path, name, frozen)
    if key in pending:
        return later
    ctx, data_version = get_script_run_ctx(), version()

    def work():
        add_script_run_ctx(threading.current_thread(), ctx)  # the cache and the session of the run
        return _cached(data_version, path, name, frozen)

    pending[key] = _AHEAD_POOL.submit(work)
    return later


def query(name: str, **kwargs):
    """Run the allow-listed query ``name`` with ``kwargs``, cached on the data version.

    While another process holds the database, returns the last result loaded
    for the same arguments (and says so once on the page), or None.
    """
    path = db_path()
    frozen = tuple(sorted((k, _freeze(v)) for k, v in kwargs.items()))
    started = getattr(_run_state, "pending", {}).get((path, name, frozen))
    try:
        if started is not None:
            return started.result()
        return _cached(version(), path, name, frozen)
    except db.DatabaseLockedError:
        _run_state.locked = True  # the rest of this run does not wait again
        _tell_locked()
        return _last_good().get((path, name, frozen))


def fetch(name: str, **kwargs):
    """Run the allow-listed query ``name`` now, uncached, on a read-only connection of its own: all the rows of a
    table whose page fetched only the first ones (``ui.components.table``'s ``everything``). Streamlit calls a
    download's callable when its button is clicked, on a thread of its own, outside the page's run; a CSV of
    every row is asked for once, so keeping it in the cache would only hold its memory."""
    with read_connection(db_path()) as con:
        return QUERIES[name](con, **kwargs)


def _tell_locked() -> None:
    if not st.session_state.get("_locked_told_run"):
        st.session_state["_locked_told_run"] = True
        st.warning(LOCKED_NOTICE, icon="⏳")


def start_run() -> None:
    """Reset per-run notices (called once at the top of every rerun)."""
    st.session_state["_locked_told_run"] = False
    _run_state.locked = False


def begin_run() -> None:
    """From here to ``end_run`` the queries of this run share one connection (app.py, around the run)."""
    release_run_connection()
    _run_state.active = True
    _run_state.pending = {}


def end_run() -> None:
    """Close the run's connection and release its read lock (app.py calls it when the run ends, however);
    queries started ahead and not asked for (a section that stopped early) finish first."""
    _run_state.active = False
    pending, _run_state.pending = getattr(_run_state, "pending", None) or {}, None
    wait(pending.values())
    release_run_connection()


def clear_cache() -> None:
    _cached.clear()


# --- targets --------------------------------------------------------------------------------


def profiles() -> list[str]:
    if _targets is None:
        return []
    try:
        return list(_targets.list_profiles())
    except Exception:  # a broken profile file must not take the app down; the page says "no target"
        return []


@st.cache_data(show_spinner=False)
def profile_info(name: str) -> dict:
    """Title, source and lead-time start of a profile (for the sidebar caption)."""
    if _targets is None or not name:
        return {}
    p = _targets.load_profile(name)
    return {"label": p.label, "title": p.title, "source": p.source, "lead_time_start": p.lead_time_start,
            "slo": p.slo, "note": p.note}


@st.cache_resource(show_spinner=False)
def load_profile(name: str):
    """The profile ``name`` (a frozen ``kpis.targets.Profile``, loaded once per process), or None."""
    if _targets is None or not name:
        return None
    return _targets.load_profile(name)


def lead_time_start(profile: str | None) -> str:
    if not profile:
        return "change_started_at"
    try:
        return profile_info(profile).get("lead_time_start", "change_started_at")
    except Exception:
        return "change_started_at"


def slo(profile: str | None) -> float:
    """The availability objective of the profile's error budget target, else the engine's default."""
    if not profile:
        return DEFAULT_SLO
    try:
        return profile_info(profile).get("slo") or DEFAULT_SLO
    except Exception:
        return DEFAULT_SLO


# --- the write path -------------------------------------------------------------------------


@dataclass
class Upload:
    name: str
    data: bytes

    @property
    def digest(self) -> str:
        return ingest.content_hash(self.data)  # as ingest_log records a file's content

    @property
    def legacy_digest(self) -> str:
        return ingest.legacy_hash(self.data)  # as ingest_log recorded it before BLAKE3


def _records(doc, depth: int = 0) -> list | None:
    """The first list of objects in a JSON document (an API response wraps its records: data[], items[])."""
    if isinstance(doc, list):
        return doc if any(isinstance(x, dict) for x in doc[:20]) or depth == 0 else None
    if isinstance(doc, dict) and depth < 3:
        for value in doc.values():
            if isinstance(value, list) and any(isinstance(x, dict) for x in value[:20]):
                return value
        for value in doc.values():
            found = _records(value, depth + 1) if isinstance(value, dict) else None
            if found is not None:
                return found
    return None


def preview(u: Upload, rows: int = 10) -> pd.DataFrame:
    """The first rows of an upload as text columns (CSV / TSV / Parquet / JSON / NDJSON, gzipped or not).

    Only for showing: the validation reads the file for real. Raises on an
    unreadable file (the page says "no preview" and the validation reports why).
    """
    name = u.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(io.BytesIO(u.data)).head(rows)
    raw = gzip.decompress(u.data) if name.endswith(".gz") else u.data
    base = name[:-3] if name.endswith(".gz") else name
    text = raw.decode("utf-8", errors="replace")

    def lines() -> pd.DataFrame:
        first = [ln for ln in text.splitlines() if ln.strip()][:rows]
        return pd.json_normalize([json.loads(ln) for ln in first], max_level=1).astype(str)

    if base.endswith((".ndjson", ".jsonl")):
        return lines()
    if base.endswith(".json"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:  # one object per line under a .json name (BigQuery exports)
            return lines()
        records = _records(doc) or [doc]
        return pd.json_normalize([r if isinstance(r, dict) else {"value": r} for r in records[:rows]],
                                 max_level=1).astype(str)
    return pd.read_csv(io.BytesIO(raw), nrows=rows, dtype=str, sep="\t" if base.endswith(".tsv") else ",")


UPLOAD_TYPES = ("csv", "tsv", "parquet", "pq", "json", "ndjson", "jsonl", "gz")  # .csv.gz, .json.gz, ...
AUTO_DETECT = "auto-detect"


def preset_options() -> list[str]:
    """'auto-detect', then every shipped preset name (kpis/presets/)."""
    try:
        return [AUTO_DETECT, *(m.name for m in mapping.list_presets())]
    except Exception:  # a broken preset file must not take the Data page down: auto-detect still works
        return [AUTO_DETECT]


@st.cache_data(show_spinner=False)
def preset_label(name: str) -> str:
    """'pagerduty — incidents: PagerDuty incidents report CSV ...' for the preset select box."""
    if name == AUTO_DETECT:
        return "auto-detect (canonical columns, or a preset recognised from the columns)"
    try:
        m = mapping.load_preset(name)
    except Exception:
        return name
    return f"{name} — {m.kind}: {m.title}" if m.title else f"{name} — {m.kind}"


def _suffix(name: str) -> str:
    """The suffix that tells the reader the format: .csv, .parquet, .json, or .csv.gz / .ndjson.gz ..."""
    low = name.lower()
    if low.endswith(".gz") and len(Path(low).suffixes) >= 2:
        return "".join(Path(low).suffixes[-2:])
    return Path(low).suffix


def _save(uploads: list[Upload], folder: Path) -> tuple[list[Path], dict[str, str]]:
    """Write uploads under unique temporary names that keep the suffix (it tells CSV from Parquet or JSON)."""
    paths, names = [], {}
    for i, u in enumerate(uploads):
        suffix = _suffix(u.name)
        p = folder / f"upload_{i}{suffix.lower()}"
        p.write_bytes(u.data)
        paths.append(p)
        names[str(p)] = u.name
    return paths, names


def validate(uploads: list[Upload], kind: str | None = None, source_tz: str = "UTC",
             skip_bad_rows: bool = False, progress=None,
             preset: str | None = None) -> tuple[list, kpis.IngestError | None]:
    """Dry-run each upload on a scratch in-memory database: nothing is written, the file is not locked.

    Returns (file reports, None), or (reports of the good files, an IngestError
    with every problem of the bad ones). ``progress(i, n, name)`` is called
    after each file. ``preset`` (a name from kpis/presets/) reads every file
    through that preset; None detects it per file. Each report names the
    preset used (``mapping``) and what it dropped, netted or defaulted (``notes``).
    """
    reports, errors, total = [], [], 0
    with tempfile.TemporaryDirectory(prefix="kpi_upload_") as tmp:
        paths, names = _save(uploads, Path(tmp))
        for i, path in enumerate(paths, start=1):
            con = kpis.connect(":memory:")
            try:
                reports += kpis.ingest_files(con, [path], kind=kind, source_tz=source_tz,
                                             skip_bad_rows=skip_bad_rows, dry_run=True, display_names=names,
                                             preset=preset)
            except kpis.IngestError as e:
                errors += e.errors
                total += e.total
            except ValueError as e:  # an unknown time zone, kind or preset, or a preset of another kind
                errors.append(kpis.RowError(names[str(path)], None, None, str(e)))
                total += 1
            finally:
                con.close()
            if progress is not None:
                progress(i, len(paths), names[str(path)])
    return reports, (kpis.IngestError(errors, total) if errors else None)


def ingest_uploads(uploads: list[Upload], kind: str | None = None, source_tz: str = "UTC",
                   skip_bad_rows: bool = False, preset: str | None = None, append: bool = False) -> list:
    """Ingest the uploads as one batch (one transaction) through the write path (``preset`` as in validate;
    ``append``: cost, prediction and model rows are added without replacing earlier ones).

    Editors only (``auth.NotAllowed`` otherwise); the log records who.
    """
    by = auth.require_editor("ingest files")
    with tempfile.TemporaryDirectory(prefix="kpi_upload_") as tmp:
        paths, names = _save(uploads, Path(tmp))
        return _write(lambda con: kpis.ingest_files(con, paths, kind=kind, source_tz=source_tz,
                                                    skip_bad_rows=skip_bad_rows, display_names=names,
                                                    preset=preset, append=append, user=by))


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLE_DIR.glob("*") if p.suffix in SAMPLE_SUFFIXES and p.is_file())


def load_sample() -> list:
    """Ingest the bundled sample data (the one-click start for an empty database). Editors only."""
    by = auth.require_editor("load the sample data")
    files = sample_files()
    if not files:
        raise FileNotFoundError(f"no sample files in {SAMPLE_DIR} (run python sample_data/generate.py)")
    return _write(lambda con: kpis.ingest_files(con, files, user=by))


def _write(fn):
    path = db_path()
    release_run_connection()  # this run's reads wait for the write, and see it (they reopen)
    with _lock().write():
        con = kpis.connect(path, wait_seconds=WRITE_WAIT_SECONDS)
        try:
            return fn(con)
        finally:
            con.close()


def add_annotation(note: annotations.Note) -> int:
    """Store one annotation (editors only); 1 when added, 0 when the same note was there already."""
    by = auth.require_editor("add annotations")
    added = _write(lambda con: annotations.add(con, [note], by=by))
    clear_cache()
    return added


def is_empty() -> bool:
    counts = query("table_counts")
    return counts is not None and not any(counts.values())


def period_bounds(label: str) -> tuple[date, date]:
    """(start, exclusive end) of a period label."""
    _, start, end = periods.parse_label(label)
    return start, end




def severity_args(view) -> dict:
    """The compute behind ``incidents_by_severity``."""
    return view.compute_args(kpis=["incident_count"], profile=None, by="severity")


def incidents_by_severity(view) -> pd.DataFrame | None:
    """incident_count per period for each severity (one compute grouped by severity; the incidents without
    a severity as 'unspecified'), periods without incidents of a severity left out."""
    out = query("compute", **severity_args(view))
    if out is None:
        return None
    out = out[out["n"] > 0].copy()
    out["severity"] = out["severity"].where(out["severity"].notna(), "unspecified")
    return out.reset_index(drop=True)