"""Generate the bundled sample dataset (deterministic, seeded).

Usage::

    python sample_data/generate.py [--out DIR] [--seed 7] [--scale 1.0] [--end 2026-11-20]

Writes seven files in the canonical columns of ``kpis/schema.py``:

* ``deployments.csv``   one row per deployment (production, plus some staging
  rows that the KPIs must ignore)
* ``incidents.csv``     one row per incident (``resolved_at`` empty = still open)
* ``costs.parquet``     cost lines: daily inference per service, training lines
  per run (``run_id``), monthly storage and data lines
* ``predictions.parquet`` one row per service per day: volume and serving health
  (errors, good / total requests, availability, p95 / p99 latency)
* ``pipeline_runs.csv`` one row per pipeline run: a training run per ``run_id`` of
  the training cost lines (same id, service, model and days), daily data
  validation and feature runs per team, daily batch scoring of four batch
  services, and CI runs (about two per working day per team); all UTC; runs
  still going at the export are ``running`` with no ``finished_at``
* ``models.csv``        the model inventory: a snapshot on the first day of every
  quarter within the data and one at the end day (``as_of``), a row per model in
  production then and per retired model (``in_production`` false)
* ``changes.csv``       the optional changes table: the commits / pull requests each
  production deployment of the search and recommendations teams shipped
  (``change_rows``); a failed deployment's changes ship again with the next
  successful one

The default output directory is the folder of this script (``sample_data/``);
at scale 1 the seven files together are about 2.4 MB (``pipeline_runs.csv`` about
1.4 MB of it).

Time span: 18 months ending at ``--end`` (inclusive), i.e. 2025-05-20 ..
2026-11-20 by default. The data is "as exported" at the end of the ``--end``
day: nothing happens after it, and incidents still open then have no
``resolved_at``.

Timestamps in the CSVs are ISO 8601. Most services export UTC (``...Z``); a
few export local time with a fixed offset (``-05:00`` for three fraud services,
``+05:30`` for query-understanding and two forecasting services; fixed offsets,
no daylight saving). The instants are the same, so an
ingest that honours offsets and one that reads the ``Z`` rows agree.

Organisation at scale 1: 4 teams (search, recommendations, fraud, forecasting),
28 services, 32 models (four services replace their model during the period).

Stories (all placed relative to ``--end``; dates below are for the default end):

1. Rushed platform migration: in the quarter containing the month nine months
   before the end month (2026-Q1) the ``search`` and ``fraud`` teams move
   their serving to a new platform: more deployments, many failed / rolled back
   / hotfix / regression deployments and deployment incidents, higher error
   rates and latency. Their change failure rate in that quarter is far above
   15%; elsewhere it is ~5-10%.
2. Cost optimisation: from the month seven months before the end month
   (2026-04) every ``recommendations`` service moves to cheaper inference
   instances with request batching (new ``resource_id`` ending ``-inf2``):
   inference cost per 1k predictions drops ~35% while volume keeps growing
   (p95 latency rises ~10%, the price of batching).
3. Slow drift detection: a ``drift`` incident on ``demand-forecast`` starting
   on the 14th of the month four months before the end month (2026-07-14) is
   detected ~4.3 days later; a retrained model is deployed as the fix.
4. Open incidents: three incidents started in the last ~2.5 weeks before the
   end are still open (no ``resolved_at``).
5. Background: lead times mostly 1-6 weeks and slowly improving, prediction
   volume growing with weekday seasonality and a late-November / December
   peak, a holiday change freeze in late December, model replacements on
   search-ranker, autocomplete, demand-forecast and fraud-scoring.
6. Latency regression after a release: the ``recs-api`` release that is a
   successful, non-hotfix production deployment between six and two months
   before the end month, followed by the next production deployment (a
   success) 14-30 days later, closest to three weeks apart, makes p95 / p99
   latency 1.75x (~68 ms -> ~120 ms) from its day until the next release fixes
   it (by default dep-00832 on 2026-07-04 .. dep-00873 on 2026-07-27). Only
   the latency of those recs-api days changes; the deployment log is as it
   was (the slow release is not flagged caused_regression: the dashboard
   catches what the release process missed).
7. Data freshness SLA miss streak: the ``fraud`` team's upstream feed is stale
   for ten consecutive days from the 6th of the month four months before the
   end month (2026-07-06 .. 07-15): its feature and batch-scoring runs, and the
   fraud training runs started then, report ``data_fresh`` false. Freshness
   adherence is ~91% that month (~68% for fraud), ~99% otherwise.
8. CI slows down as the ``search`` test suite grows: its median CI duration
   creeps from ~12 min at the start to ~24-25 min in the month before the fix,
   then drops to ~9-10 min from the Monday on or after the 10th of the month
   two months before the end month (2026-09-14), when build caching lands.
   Other teams stay at 8-17 min.
9. Data validation failures rise with the migration (story 1): in 2026-Q1 the
   search and fraud teams' daily validation runs fail ~18% of the time (~2%
   otherwise), ~10% over all teams against ~2% in other quarters.
10. Coverage improves: production models with monitoring ~68% -> ~89%, tier-1
   drift monitoring ~64% -> 100% (demand-forecast gets drift monitoring only
   after its slowly detected drift incident, story 3), model documentation
   ~75% -> ~96%. Pipelines otherwise: success ~98% (CI ~96%), training
   on time ~95%, reproducible ~90% and improving.

``--scale N`` multiplies the number of services (and with them teams, models
and every event and cost row, roughly linearly; per-team pipeline runs follow
the number of teams). Scale 1 is the 28 base
services; scale 0.25 keeps 7 of them (spread over all four teams); scale 3 adds
two regional copies of the whole organisation (teams ``search-eu``,
``search-apac``, services ``recs-api-eu`` ...), scale 10 has 280 services.
The migration, cost, freshness, CI and validation stories apply to every copy
of the teams they name; the drift, open incidents and latency regression are
placed once, on the first copy of their service.

Determinism: every random choice comes from ``random.Random`` seeded with a
string built from ``--seed`` and the service name (string seeds are hashed with
SHA-512 by CPython, independent of PYTHONHASHSEED), so the same seed, scale and
end give byte-identical CSVs and Parquet files with identical contents.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent

DEFAULT_SEED = 7
DEFAULT_END = "2026-11-20"
SPAN_MONTHS = 18

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# --------------------------------------------------------------------------- #
# The organisation
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Service:
    team: str
    base_team: str  # team of the base organisation (stories are keyed on it)
    service: str
    base_service: str
    tier: str
    # (model, months before the end month at which it takes over; None = from the start)
    models: tuple[tuple[str, int | None], ...]
    volume: float  # predictions per day at the start
    growth: float  # volume factor over the whole period
    usd_per_1k: float  # inference cost per 1k predictions at the start
    p95: float  # latency p95 in ms
    per_request: int  # predictions per serving request
    deploys: float  # production deployments per month
    incidents: float  # incidents per month
    tz: str  # "Z" or a fixed offset such as "-05:00"
    profile: str  # weekday / yearly shape: consumer | transactions | business | batch
    train_every: int  # days between training runs
    train_usd: float  # GPU cost per training day
    cloud: str  # aws | gcp


# team, service, tier, models, volume/day, growth, $/1k, p95 ms, preds/request,
# deploys/month, incidents/month, tz, profile, train every N days, $/training day, cloud
_BASE = (
    ("search", "search-ranker", "tier-1", (("ranker-lgbm", None), ("ranker-xenc", 11)),
     9.0e6, 1.45, 0.012, 85, 40, 3.0, 0.75, "Z", "consumer", 14, 620, "aws"),
    ("search", "query-understanding", "tier-1", (("query-bert", None),),
     6.5e6, 1.40, 0.009, 35, 1, 2.6, 0.55, "+05:30", "consumer", 21, 480, "aws"),
    ("search", "autocomplete", "tier-1", (("autocomplete-lstm", None), ("autocomplete-tinylm", 6)),
     14.0e6, 1.50, 0.004, 18, 5, 2.4, 0.50, "Z", "consumer", 14, 300, "aws"),
    ("search", "spell-correct", "tier-2", (("spell-seq2seq", None),),
     3.0e6, 1.30, 0.006, 28, 1, 1.6, 0.35, "Z", "consumer", 30, 220, "aws"),
    ("search", "search-embeddings", "tier-2", (("doc-encoder", None),),
     2.2e6, 1.60, 0.015, 140, 64, 1.5, 0.35, "Z", "batch", 21, 900, "aws"),
    ("search", "query-categorizer", "tier-3", (("query-cat-fasttext", None),),
     1.6e6, 1.25, 0.003, 9, 1, 1.2, 0.20, "Z", "consumer", 30, 60, "aws"),
    ("search", "search-ads-ctr", "tier-2", (("ads-ctr-dcn", None),),
     4.5e6, 1.35, 0.008, 30, 20, 2.2, 0.40, "Z", "consumer", 7, 260, "aws"),
    ("recommendations", "recs-api", "tier-1", (("two-tower", None),),
     20.0e6, 1.85, 0.010, 60, 25, 3.6, 0.70, "Z", "consumer", 7, 850, "aws"),
    ("recommendations", "home-feed", "tier-1", (("feed-dlrm", None),),
     15.0e6, 1.80, 0.011, 75, 30, 3.2, 0.60, "Z", "consumer", 7, 780, "aws"),
    ("recommendations", "recs-candidate-gen", "tier-1", (("ann-retrieval", None),),
     18.0e6, 1.75, 0.006, 25, 100, 2.6, 0.50, "Z", "consumer", 14, 400, "aws"),
    ("recommendations", "similar-items", "tier-2", (("item2vec", None),),
     8.0e6, 1.70, 0.005, 30, 12, 2.0, 0.35, "Z", "consumer", 14, 250, "aws"),
    ("recommendations", "cart-upsell", "tier-2", (("upsell-gbdt", None),),
     3.0e6, 1.65, 0.007, 22, 8, 1.8, 0.30, "Z", "transactions", 14, 150, "aws"),
    ("recommendations", "notifications-ranker", "tier-2", (("notif-ranker", None),),
     4.0e6, 1.60, 0.006, 45, 50, 1.6, 0.30, "Z", "consumer", 14, 200, "aws"),
    ("recommendations", "email-recs", "tier-3", (("email-recs-als", None),),
     1.2e6, 1.55, 0.020, 400, 1000, 1.2, 0.20, "Z", "batch", 7, 180, "aws"),
    ("recommendations", "trending-now", "tier-3", (("trending-stats", None),),
     2.0e6, 1.50, 0.004, 12, 20, 1.2, 0.20, "Z", "consumer", 30, 40, "aws"),
    ("fraud", "fraud-scoring", "tier-1", (("gbdt-fraud", None), ("fraud-gnn", 2)),
     5.0e6, 1.40, 0.018, 40, 1, 3.0, 0.70, "-05:00", "transactions", 7, 520, "aws"),
    ("fraud", "account-takeover", "tier-1", (("ato-classifier", None),),
     3.5e6, 1.35, 0.014, 30, 1, 2.4, 0.55, "-05:00", "consumer", 14, 330, "aws"),
    ("fraud", "aml-screening", "tier-1", (("aml-graph", None),),
     0.8e6, 1.30, 0.060, 220, 200, 1.8, 0.45, "Z", "batch", 14, 700, "aws"),
    ("fraud", "chargeback-predictor", "tier-2", (("chargeback-xgb", None),),
     1.2e6, 1.40, 0.020, 25, 1, 1.6, 0.30, "-05:00", "transactions", 14, 160, "aws"),
    ("fraud", "kyc-doc-verify", "tier-2", (("doc-vision-vit", None),),
     0.25e6, 1.50, 0.250, 380, 1, 1.8, 0.35, "Z", "business", 21, 950, "aws"),
    ("fraud", "promo-abuse", "tier-3", (("promo-abuse-iforest", None),),
     0.9e6, 1.30, 0.006, 15, 1, 1.0, 0.20, "Z", "transactions", 30, 70, "aws"),
    ("forecasting", "demand-forecast", "tier-1", (("prophet-demand", None), ("tft-demand", 14)),
     0.40e6, 1.30, 0.300, 900, 500, 1.8, 0.40, "+05:30", "batch", 7, 640, "gcp"),
    ("forecasting", "delivery-eta", "tier-1", (("eta-gbdt", None),),
     6.0e6, 1.45, 0.005, 20, 1, 2.2, 0.45, "Z", "transactions", 7, 210, "gcp"),
    ("forecasting", "inventory-planner", "tier-2", (("inventory-lgbm", None),),
     0.25e6, 1.25, 0.400, 1200, 1000, 1.3, 0.30, "+05:30", "batch", 14, 240, "gcp"),
    ("forecasting", "price-elasticity", "tier-2", (("elasticity-glm", None),),
     0.15e6, 1.20, 0.250, 300, 500, 1.1, 0.20, "Z", "batch", 30, 90, "gcp"),
    ("forecasting", "capacity-forecast", "tier-3", (("capacity-arima", None),),
     0.02e6, 1.15, 2.500, 2500, 200, 0.9, 0.15, "Z", "batch", 30, 50, "gcp"),
    ("forecasting", "labor-forecast", "tier-3", (("labor-prophet", None),),
     0.05e6, 1.15, 1.200, 1800, 500, 0.9, 0.15, "Z", "batch", 30, 45, "gcp"),
    ("forecasting", "markdown-optimizer", "tier-3", (("markdown-rl", None),),
     0.08e6, 1.25, 0.900, 700, 100, 1.0, 0.20, "Z", "business", 14, 300, "gcp"),
)

TEAMS = ("search", "recommendations", "fraud", "forecasting")
REGION_SUFFIXES = ("", "-eu", "-apac", "-latam", "-mena", "-anz")

# Story parameters.
MIGRATION_TEAMS = ("search", "fraud")
COST_TEAM = "recommendations"
COST_FACTOR = 0.66  # inference cost per 1k after the optimisation
DRIFT_SERVICE = "demand-forecast"
LATENCY_SERVICE = "recs-api"  # a release slows it down until the next release fixes it
LATENCY_FACTOR = 1.75  # p95 multiplier while the slow release is live (~68 ms -> ~120 ms)
FRESHNESS_TEAM = "fraud"  # its upstream feed goes stale for FRESHNESS_DAYS days
FRESHNESS_DAYS = 10
CI_TEAM = "search"  # CI slows down as the suite grows, until build caching lands
BATCH_SCORING = ("search-embeddings", "email-recs", "aml-screening", "demand-forecast")


def _suffix(copy: int) -> str:
    if copy < len(REGION_SUFFIXES):
        return REGION_SUFFIXES[copy]
    return f"-r{copy + 1}"


def build_services(scale: float) -> list[Service]:
    """The services for ``scale``: copies of the base organisation, cut to round(28 * scale)."""
    if scale <= 0:
        raise ValueError("--scale must be positive")
    n_total = max(1, round(len(_BASE) * scale))
    # Within a copy, take services round-robin over teams so a fractional copy
    # still has every team.
    by_team = [[row for row in _BASE if row[0] == t] for t in TEAMS]
    order = []
    for i in range(max(len(rows) for rows in by_team)):
        for rows in by_team:
            if i < len(rows):
                order.append(rows[i])
    services: list[Service] = []
    copy = 0
    while len(services) < n_total:
        sfx = _suffix(copy)
        for row in order:
            if len(services) >= n_total:
                break
            (team, svc, tier, models, vol, growth, usd, p95, per_req, dep, inc, tz, profile,
             every, train_usd, cloud) = row
            services.append(Service(
                team=team + sfx, base_team=team, service=svc + sfx, base_service=svc, tier=tier,
                models=tuple((m + sfx, when) for m, when in models), volume=vol, growth=growth,
                usd_per_1k=usd, p95=p95, per_request=per_req, deploys=dep, incidents=inc, tz=tz,
                profile=profile, train_every=every, train_usd=train_usd, cloud=cloud,
            ))
        copy += 1
    # Keep the base order of the catalogue (team by team) for readability.
    base_order = [row[1] for row in _BASE]
    return sorted(services, key=lambda s: (_copy_index(s), base_order.index(s.base_service)))


def _copy_index(s: Service) -> int:
    sfx = s.service[len(s.base_service):]
    return REGION_SUFFIXES.index(sfx) if sfx in REGION_SUFFIXES else int(sfx[2:]) - 1


# --------------------------------------------------------------------------- #
# Calendar helpers
# --------------------------------------------------------------------------- #


def add_months(d: date, k: int) -> date:
    m = d.month - 1 + k
    y = d.year + m // 12
    m = m % 12 + 1
    last = (date(y + (m == 12), m % 12 + 1, 1) - DAY).day
    return date(y, m, min(d.day, last))


def month_start(d: date) -> date:
    return d.replace(day=1)


def quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def dt(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


@dataclass(frozen=True)
class Timeline:
    start: date  # first day with data
    end: date  # last day with data (inclusive)
    horizon: datetime  # export time: nothing happens at or after it
    migration: tuple[datetime, datetime]  # [start, end) of the migration quarter
    cost_cut: date  # first day of the cost-optimisation month
    drift_start: datetime

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def frac(self, when: date | datetime) -> float:
        """Position in the period, 0 at the start, 1 at the end."""
        if isinstance(when, datetime):
            when = when.date()
        return min(1.0, max(0.0, (when - self.start).days / max(1, self.days - 1)))

    def in_migration(self, when: datetime) -> bool:
        return self.migration[0] <= when < self.migration[1]

    def months(self) -> list[tuple[datetime, datetime]]:
        """Calendar months cut to the data range: [(from, to exclusive)]."""
        out = []
        m = month_start(self.start)
        while m <= self.end:
            nxt = add_months(m, 1)
            out.append((dt(max(m, self.start)), dt(min(nxt, self.end + DAY))))
            m = nxt
        return out

    def model_switch(self, months_before_end: int) -> datetime:
        return dt(add_months(month_start(self.end), -months_before_end)) + 8 * DAY + 10 * HOUR


def make_timeline(end: date) -> Timeline:
    end_month = month_start(end)
    mig = quarter_start(add_months(end_month, -9))
    return Timeline(
        start=add_months(end, -SPAN_MONTHS),
        end=end,
        horizon=dt(end + DAY),
        migration=(dt(mig), dt(add_months(mig, 3))),
        cost_cut=add_months(end_month, -7),
        drift_start=dt(add_months(end_month, -4)) + 13 * DAY + 3 * HOUR + 40 * timedelta(minutes=1),
    )


def offset(tz: str) -> timedelta:
    if tz == "Z":
        return timedelta(0)
    sign = -1 if tz[0] == "-" else 1
    hours, minutes = tz[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


def iso(ts: datetime | None, tz: str) -> str:
    """ISO 8601 text of the UTC instant ``ts`` as the service's export writes it."""
    if ts is None:
        return ""
    ts = ts.replace(microsecond=0)
    if tz == "Z":
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (ts + offset(tz)).strftime("%Y-%m-%dT%H:%M:%S") + tz


def rng_for(seed: int, *parts: str) -> random.Random:
    return random.Random(":".join([str(seed), *parts]))


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def lognorm(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def model_at(svc: Service, tl: Timeline, when: datetime) -> str:
    current = svc.models[0][0]
    for model, months_before in svc.models[1:]:
        if when >= tl.model_switch(months_before):
            current = model
    return current


# --------------------------------------------------------------------------- #
# Deployments and incidents
# --------------------------------------------------------------------------- #

CATEGORY_WEIGHTS = (  # organic incidents; deployment incidents come from deployments
    ("infrastructure", 0.28), ("data_quality", 0.30), ("model_quality", 0.18),
    ("drift", 0.16), ("other", 0.08),
)
SEVERITY_WEIGHTS = {
    "tier-1": (0.06, 0.19, 0.45, 0.30),
    "tier-2": (0.03, 0.13, 0.49, 0.35),
    "tier-3": (0.01, 0.07, 0.48, 0.44),
}
# median hours, sigma, cap: time to detect and time from detection to resolution
TTD = {"infrastructure": (0.12, 0.8, 3), "data_quality": (2.0, 0.9, 24), "model_quality": (5.0, 0.8, 36),
       "drift": (9.0, 0.5, 36), "other": (0.5, 0.9, 8), "deployment": (0.35, 0.8, 6)}
REPAIR = {"infrastructure": (1.3, 0.8, 48), "data_quality": (2.5, 0.8, 72), "model_quality": (3.0, 0.8, 72),
          "drift": (4.5, 0.7, 96), "other": (1.5, 0.8, 24), "deployment": (0.9, 0.7, 24)}
ACK_MINUTES = {"sev1": 3, "sev2": 6, "sev3": 15, "sev4": 35}


def _severity(rng: random.Random, tier: str, bump: bool = False) -> str:
    weights = SEVERITY_WEIGHTS[tier]
    if bump:  # deployment incidents hit production hard
        weights = (weights[0] * 1.3, weights[1] * 1.3, weights[2], weights[3] * 0.6)
    return rng.choices(("sev1", "sev2", "sev3", "sev4"), weights=weights)[0]


def _incident(rng: random.Random, svc: Service, tl: Timeline, started: datetime, category: str,
              severity: str | None = None, deployment: dict | None = None, ml_related: bool = True) -> dict:
    severity = severity or _severity(rng, svc.tier, bump=category == "deployment")
    med, sig, cap = TTD[category]
    detected = started + min(cap, lognorm(rng, med, sig)) * HOUR
    acked = detected + lognorm(rng, ACK_MINUTES[severity], 0.6) * timedelta(minutes=1)
    med, sig, cap = REPAIR[category]
    scale = {"sev1": 0.8, "sev2": 1.0, "sev3": 1.1, "sev4": 1.4}[severity]
    resolved = acked + min(cap, lognorm(rng, med * scale, sig)) * HOUR
    return {
        "service": svc, "started_at": started, "detected_at": detected, "acknowledged_at": acked,
        "resolved_at": resolved, "severity": severity, "model": model_at(svc, tl, started),
        "category": category, "ml_related": ml_related,
        "deployment": deployment,
    }


def _working_time(rng: random.Random, svc: Service, lo: datetime, hi: datetime) -> datetime | None:
    """A weekday working-hours instant (local to the service's export) in [lo, hi)."""
    days = (hi - lo).days
    if days <= 0:
        return None
    for _ in range(50):
        day = lo + rng.randrange(days) * DAY
        weight = (1.0, 1.0, 1.0, 0.9, 0.45, 0.04, 0.03)[day.weekday()]
        if rng.random() < weight:
            local = day + (9 + rng.random() * 8.5) * HOUR
            return local - offset(svc.tz)
    return None


def _lead_time_days(rng: random.Random, svc: Service, tl: Timeline, when: datetime) -> float:
    median = 16.0 * (1.15 - 0.30 * tl.frac(when))  # ~18 days at the start, ~14 at the end
    if svc.base_team == "forecasting":
        median *= 1.3
    return max(2.5, min(75.0, lognorm(rng, median, 0.5)))


def _deployment(svc: Service, tl: Timeline, deployed: datetime, change_started: datetime,
                approved: datetime | None, **flags) -> dict:
    row = {
        "service": svc, "deployed_at": deployed, "model": model_at(svc, tl, deployed),
        "environment": "production", "status": "success", "change_started_at": change_started,
        "approved_at": approved, "rolled_back_at": None, "is_hotfix": False, "caused_regression": False,
        "kind": "normal",
    }
    row.update(flags)
    return row


def service_events(seed: int, svc: Service, tl: Timeline) -> tuple[list[dict], list[dict]]:
    """Deployments (production and staging) and incidents of one service."""
    rng = rng_for(seed, svc.service, "events")
    deployments: list[dict] = []
    incidents: list[dict] = []
    latest = tl.horizon - 3 * DAY  # organic events end a few days before the export

    # Production deployments, month by month.
    for lo, hi in tl.months():
        migrating = svc.base_team in MIGRATION_TEAMS and tl.in_migration(lo)
        lam = svc.deploys * (hi - lo).days / 30.4 * (1.5 if migrating else 1.0)
        for _ in range(poisson(rng, lam)):
            deployed = _working_time(rng, svc, lo, min(hi, latest))
            if deployed is None:
                continue
            # Holiday change freeze.
            if (deployed.month == 12 and deployed.day >= 20) or (deployed.month == 1 and deployed.day <= 3):
                if rng.random() < 0.85:
                    continue
            lt = _lead_time_days(rng, svc, tl, deployed) * DAY
            started = deployed - lt
            approved = max(started + lt * 0.5, deployed - (1 + rng.random() * 5) * DAY)
            deployments.append(_deployment(svc, tl, deployed, started, approved))

    # A new model goes live at each model switch.
    for model, months_before in svc.models[1:]:
        deployed = tl.model_switch(months_before)
        lt = (45 + rng.random() * 30) * DAY
        deployments.append(_deployment(svc, tl, deployed, deployed - lt, deployed - 3 * DAY, kind="launch"))

    # Outcomes: failures, rollbacks, regressions, the incidents they cause and the hotfixes.
    deployments.sort(key=lambda d: d["deployed_at"])
    hotfixes: list[dict] = []
    for dep in deployments:
        migrating = svc.base_team in MIGRATION_TEAMS and tl.in_migration(dep["deployed_at"])
        p_fail, p_rb, p_reg, p_inc = (0.06, 0.10, 0.05, 0.06) if migrating else (0.014, 0.02, 0.01, 0.008)
        r = rng.random()
        if r < p_fail:
            dep["status"] = "failed"
            continue
        if r < p_fail + p_rb:
            dep["status"] = "rolled_back"
            if rng.random() < 0.35:  # the bad release paged someone before it was rolled back
                dep["caused_regression"] = rng.random() < 0.5
                inc = _incident(rng, svc, tl, dep["deployed_at"] + lognorm(rng, 0.5, 0.8) * HOUR,
                                "deployment", deployment=dep)
                rollback = inc["detected_at"] + (inc["resolved_at"] - inc["detected_at"]) * (0.3 + 0.5 * rng.random())
                dep["rolled_back_at"] = rollback
                inc["resolved_at"] = rollback + (5 + rng.random() * 25) * timedelta(minutes=1)
                incidents.append(inc)
            else:  # canary metrics tripped the automatic rollback
                dep["rolled_back_at"] = dep["deployed_at"] + min(30.0, lognorm(rng, 1.5, 0.9)) * HOUR
            cause_at = dep["rolled_back_at"]
            if rng.random() < 0.4:
                hotfixes.append({"after": cause_at, "of": dep})
            continue
        regression = rng.random() < p_reg
        dep["caused_regression"] = regression
        if (regression and rng.random() < 0.5) or (not regression and rng.random() < p_inc):
            inc = _incident(rng, svc, tl, dep["deployed_at"] + lognorm(rng, 2.0, 1.0) * HOUR,
                            "deployment", deployment=dep)
            incidents.append(inc)
            if rng.random() < 0.5:  # fixed forward: the hotfix resolves the incident
                hotfixes.append({"after": inc["detected_at"], "resolves": inc, "of": dep})
        elif regression and rng.random() < 0.5:
            hotfixes.append({"after": dep["deployed_at"] + lognorm(rng, 20, 0.6) * HOUR, "of": dep})

    for fix in hotfixes:
        start = fix["after"] + (0.3 + rng.random() * 2) * HOUR
        if "resolves" in fix:
            deployed = max(fix["resolves"]["resolved_at"], start + 2 * HOUR)
        else:
            deployed = start + (4 + rng.random() * 40) * HOUR
        closed = deployed + (5 + rng.random() * 20) * timedelta(minutes=1)
        if deployed >= latest:
            continue
        if "resolves" in fix:
            fix["resolves"]["resolved_at"] = closed
        approved = deployed - (0.3 + rng.random() * 1.5) * HOUR
        deployments.append(_deployment(svc, tl, deployed, start, max(start, approved), is_hotfix=True,
                                       kind="hotfix"))

    # Organic incidents.
    cats, weights = zip(*CATEGORY_WEIGHTS)
    for lo, hi in tl.months():
        migrating = svc.base_team in MIGRATION_TEAMS and tl.in_migration(lo)
        lam = svc.incidents * (hi - lo).days / 30.4 * (1.5 if migrating else 1.0)
        for _ in range(poisson(rng, lam)):
            span = (min(hi, latest) - lo).total_seconds()
            if span <= 0:
                continue
            started = lo + timedelta(seconds=int(rng.random() * span))
            category = rng.choices(cats, weights=weights)[0]
            if migrating and rng.random() < 0.5:
                category = "infrastructure"
            ml = not ((category == "infrastructure" and rng.random() < 0.2)
                      or (category == "other" and rng.random() < 0.5))
            incidents.append(_incident(rng, svc, tl, started, category, ml_related=ml))

    # Staging deployments precede some production releases (and fail more often).
    staging = []
    for dep in deployments:
        if dep["kind"] != "normal" or rng.random() >= 0.12:
            continue
        lt = dep["deployed_at"] - dep["change_started_at"]
        deployed = dep["deployed_at"] - min(lt * 0.5, (0.5 + rng.random() * 2.5) * DAY)
        r = rng.random()
        status = "failed" if r < 0.2 else "rolled_back" if r < 0.3 else "success"
        staging.append(_deployment(
            svc, tl, deployed, dep["change_started_at"], None, environment="staging", status=status,
            rolled_back_at=deployed + (0.2 + rng.random() * 3) * HOUR if status == "rolled_back" else None,
            kind="staging", version_of=dep))
    deployments.extend(staging)

    # Nothing after the export; organic incidents still running at the export are dropped
    # (the open incidents at the end are the story's).
    deployments = [d for d in deployments if dt(tl.start) <= d["deployed_at"] < tl.horizon
                   and (d["rolled_back_at"] is None or d["rolled_back_at"] < tl.horizon)]
    incidents = [i for i in incidents if i["resolved_at"] < tl.horizon - HOUR]
    return deployments, incidents


def assign_versions(seed: int, svc: Service, deployments: list[dict]) -> None:
    """Semantic versions per model, in deployment order (staging rows share their release's)."""
    rng = rng_for(seed, svc.service, "versions")
    versions: dict[str, list[int]] = {}
    for i, (model, _) in enumerate(svc.models):
        versions[model] = [1, 0, 0] if i else [1 + rng.randrange(4), rng.randrange(10), 0]
    for dep in sorted((d for d in deployments if d["kind"] != "staging"), key=lambda d: d["deployed_at"]):
        v = versions[dep["model"]]
        if dep["kind"] == "launch":
            pass
        elif dep["is_hotfix"]:
            v[2] += 1
        else:
            v[1] += 1
            v[2] = 0
        dep["model_version"] = f"{v[0]}.{v[1]}.{v[2]}"
    for dep in deployments:
        if dep["kind"] == "staging":
            dep["model_version"] = dep["version_of"]["model_version"]
            dep["model"] = dep["version_of"]["model"]


def story_incidents(seed: int, services: list[Service], tl: Timeline) -> tuple[list[dict], list[dict]]:
    """The slow drift detection and the incidents still open at the export."""
    rng = rng_for(seed, "stories")
    by_base = {}
    for s in services:
        by_base.setdefault(s.base_service, s)  # the base copy when present
    incidents, deployments = [], []

    svc = by_base.get(DRIFT_SERVICE)
    if svc is not None:
        started = tl.drift_start
        detected = started + 103.2 * HOUR  # ~4.3 days: found when planners flagged stock-outs
        acked = detected + 22 * timedelta(minutes=1)
        fix = acked + 29.5 * HOUR  # retrained on recent data and redeployed
        resolved = fix + 40 * timedelta(minutes=1)
        incidents.append({
            "service": svc, "started_at": started, "detected_at": detected, "acknowledged_at": acked,
            "resolved_at": resolved, "severity": "sev2", "model": model_at(svc, tl, started),
            "category": "drift", "ml_related": True, "deployment": None,
        })
        deployments.append(_deployment(svc, tl, fix, detected + 2 * HOUR, fix - 3 * HOUR, kind="retrain"))

    opens = (  # base service, category, severity, days before the export, hours to detect
        ("recs-api", "data_quality", "sev3", 16.3, 2.6),
        ("fraud-scoring", "model_quality", "sev2", 4.6, 9.0),
        ("search-ranker", "drift", "sev3", 1.8, 14.0),
    )
    for base, category, severity, days_before, ttd in opens:
        svc = by_base.get(base)
        if svc is None:
            continue
        started = tl.horizon - days_before * DAY + rng.random() * HOUR
        detected = started + ttd * HOUR
        incidents.append({
            "service": svc, "started_at": started, "detected_at": detected,
            "acknowledged_at": detected + (8 + rng.random() * 20) * timedelta(minutes=1),
            "resolved_at": None, "severity": severity, "model": model_at(svc, tl, started),
            "category": category, "ml_related": True, "deployment": None,
        })
    return incidents, deployments


# --------------------------------------------------------------------------- #
# Predictions and costs
# --------------------------------------------------------------------------- #

WEEKDAY = {  # Monday .. Sunday
    "consumer": (0.95, 0.94, 0.95, 0.97, 1.04, 1.12, 1.08),
    "transactions": (0.93, 0.92, 0.94, 0.98, 1.10, 1.14, 0.99),
    "business": (1.12, 1.14, 1.13, 1.10, 1.02, 0.45, 0.40),
    "batch": (1.10, 1.08, 1.08, 1.08, 1.06, 0.58, 0.55),
}
YEARLY = {  # January .. December
    "consumer": (0.97, 0.95, 0.97, 0.97, 0.98, 0.97, 0.97, 0.98, 0.98, 1.00, 1.12, 1.20),
    "transactions": (0.95, 0.93, 0.96, 0.97, 0.98, 0.97, 0.97, 0.98, 0.98, 1.01, 1.16, 1.24),
    "business": (1.00, 1.02, 1.03, 1.01, 1.00, 0.97, 0.92, 0.90, 1.02, 1.03, 1.03, 0.94),
    "batch": (1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.02, 1.04, 1.08, 1.06),
}
MODEL_COST = {"ranker-xenc": 1.6, "autocomplete-tinylm": 1.3, "tft-demand": 1.35, "fraud-gnn": 1.4}
MODEL_LATENCY = {"ranker-xenc": 1.45, "autocomplete-tinylm": 1.2, "tft-demand": 1.3, "fraud-gnn": 1.25}
ACCOUNT = {"search": "411752093846", "recommendations": "537208416630", "fraud": "208664135379",
           "forecasting": ""}


def _base_model(svc: Service, model: str) -> str:
    sfx = svc.service[len(svc.base_service):]
    return model[: len(model) - len(sfx)] if sfx else model


def incident_impact(incidents: list[dict]) -> dict[tuple[str, date], float]:
    """Share of a service-day's requests that failed because of an outage-type incident."""
    impact: dict[tuple[str, date], float] = {}
    for inc in incidents:
        if inc["category"] not in ("infrastructure", "deployment") or inc["severity"] not in ("sev1", "sev2"):
            continue
        end = inc["resolved_at"] or inc["started_at"] + 6 * HOUR
        hours = (end - inc["started_at"]).total_seconds() / 3600
        share = {"sev1": 0.6, "sev2": 0.25}[inc["severity"]]
        key = (inc["service"].service, inc["started_at"].date())
        impact[key] = min(0.9, impact.get(key, 0.0) + share * min(hours, 24) / 24)
    return impact


def cost_cutover(seed: int, svc: Service, tl: Timeline) -> date | None:
    if svc.base_team != COST_TEAM:
        return None
    return tl.cost_cut + rng_for(seed, svc.service, "cutover").randrange(8) * DAY


def regression_factor(day: date, slow: tuple[datetime, datetime] | None) -> float:
    """Latency multiplier of a service-day in the latency regression window [slow[0], slow[1]).

    A daily p95 is far above normal once a sizeable share of the day's requests
    is slow, so the factor reaches its full size at 30% of the day."""
    if slow is None:
        return 1.0
    lo, hi = max(slow[0], dt(day)), min(slow[1], dt(day) + DAY)
    share = max(0.0, (hi - lo) / DAY)
    return 1.0 + (LATENCY_FACTOR - 1.0) * min(1.0, share / 0.3)


def service_series(seed: int, svc: Service, tl: Timeline, impact: dict,
                   slow: tuple[datetime, datetime] | None = None) -> tuple[list[tuple], list[tuple]]:
    """(predictions rows, cost rows) of one service; ``slow`` is its latency regression window."""
    rng = rng_for(seed, svc.service, "series")
    preds, costs = [], []
    cutover = cost_cutover(seed, svc, tl)
    base_cost = svc.volume / 1000 * svc.usd_per_1k
    err_base = lognorm(rng, 0.0012, 0.4)
    acct = ACCOUNT[svc.base_team]
    for i in range(tl.days):
        day = tl.start + i * DAY
        when = dt(day)
        t = tl.frac(day)
        model = model_at(svc, tl, when + 12 * HOUR)
        base_model = _base_model(svc, model)
        volume = (svc.volume * svc.growth ** t * WEEKDAY[svc.profile][day.weekday()]
                  * YEARLY[svc.profile][day.month - 1] * lognorm(rng, 1.0, 0.035))
        n_pred = max(1, int(round(volume)))
        requests = max(1, int(round(n_pred / svc.per_request)))
        migrating = svc.base_team in MIGRATION_TEAMS and tl.in_migration(when)
        optimised = cutover is not None and day >= cutover
        rate = err_base * lognorm(rng, 1.0, 0.3) * (2.5 if migrating else 1.0)
        rate += impact.get((svc.service, day), 0.0)
        errors = min(requests, int(round(requests * rate)))
        good = requests - errors
        p95 = (svc.p95 * MODEL_LATENCY.get(base_model, 1.0) * (1.25 if migrating else 1.0)
               * (1.1 if optimised else 1.0) * (1 + 0.08 * (volume / svc.volume - 1)) * lognorm(rng, 1.0, 0.06)
               * regression_factor(day, slow))
        p99 = p95 * (1.5 + rng.random() * 0.7)
        preds.append((day, svc.service, n_pred, model, svc.team, errors, round(p95, 1), round(p99, 1),
                      round(good / requests, 6), good, requests, "predictions"))

        # Inference: a capacity floor plus a per-prediction part, slowly cheaper over time.
        factor = MODEL_COST.get(base_model, 1.0) * (1 - 0.05 * t) * (COST_FACTOR if optimised else 1.0)
        amount = (0.45 * base_cost + 0.55 * svc.usd_per_1k * n_pred / 1000) * factor * lognorm(rng, 1.0, 0.04)
        if svc.cloud == "gcp":
            resource = f"projects/forecasting-prod/locations/europe-west4/endpoints/{svc.service}"
        else:
            resource = f"arn:aws:sagemaker:us-east-1:{acct}:endpoint/{svc.service}-prod"
            if optimised:
                resource += "-inf2"
        costs.append((day, round(amount, 2), svc.service, "USD", "inference", model, svc.team, None, resource))

    # Training runs of 1-3 days, a GPU line and a feature-pipeline line per day.
    day = tl.start + rng.randrange(svc.train_every) * DAY
    while day <= tl.end:
        length = rng.choice((1, 1, 2, 2, 3))
        if day + (length - 1) * DAY > tl.end:
            break
        model = model_at(svc, tl, dt(day) + 12 * HOUR)
        run_id = f"{rng.getrandbits(128):032x}"
        size = lognorm(rng, 1.0, 0.25) * MODEL_COST.get(_base_model(svc, model), 1.0)
        for k in range(length):
            d = day + k * DAY
            gpu = svc.train_usd * size * lognorm(rng, 1.0, 0.1) * (0.5 if k == length - 1 and length > 1 else 1.0)
            if svc.cloud == "gcp":
                job = f"projects/forecasting-prod/locations/europe-west4/customJobs/{svc.service}-{day:%Y%m%d}"
                etl = f"projects/forecasting-prod/locations/europe-west4/pipelineJobs/{svc.service}-features"
            else:
                job = f"arn:aws:sagemaker:us-east-1:{acct}:training-job/{svc.service}-{day:%Y%m%d}"
                etl = f"arn:aws:glue:us-east-1:{acct}:job/{svc.service}-features"
            costs.append((d, round(gpu, 2), svc.service, "USD", "training", model, svc.team, run_id, job))
            costs.append((d, round(gpu * 0.12 * lognorm(rng, 1.0, 0.15), 2), svc.service, "USD", "training",
                          model, svc.team, run_id, etl))
        day += max(2, int(round(svc.train_every * lognorm(rng, 1.0, 0.15)))) * DAY

    # Monthly storage (artifacts, logs) and data (warehouse / feature store), prorated
    # for the partial first and last month; dated at the charge period start.
    storage0 = 40 + base_cost * 0.6 * lognorm(rng, 1.0, 0.3)
    data0 = 60 + base_cost * 1.2 * lognorm(rng, 1.0, 0.3)
    for lo, hi in tl.months():
        t = tl.frac(lo)
        month_len = (add_months(month_start(lo.date()), 1) - month_start(lo.date())).days
        share = (hi - lo).days / month_len
        model = model_at(svc, tl, lo + 12 * HOUR)
        storage = storage0 * (1 + 0.8 * t) * share * lognorm(rng, 1.0, 0.03)
        data = data0 * (1 + 0.4 * t) * share * lognorm(rng, 1.0, 0.05)
        team = svc.base_team
        if svc.cloud == "gcp":
            bucket, warehouse = f"gs://forecasting-ml-artifacts/{svc.service}/", "bigquery:forecasting-prod"
        else:
            bucket = f"s3://ml-artifacts-prod/{team}/{svc.service}/"
            warehouse = f"snowflake:warehouse/{team.upper()}_FEATURES"
        costs.append((lo.date(), round(storage, 2), svc.service, "USD", "storage", model, svc.team, None, bucket))
        costs.append((lo.date(), round(data, 2), svc.service, "USD", "data", None, svc.team, None, warehouse))
    return preds, costs


# --------------------------------------------------------------------------- #
# Latency regression
# --------------------------------------------------------------------------- #


def latency_regression(services: list[Service], tl: Timeline,
                       deployments: list[dict]) -> tuple[Service, dict, dict] | None:
    """(service, slow release, fixing release) of the latency story, chosen among existing deployments.

    The slow release is a successful, non-hotfix production deployment of the first
    copy of LATENCY_SERVICE between six and two months before the end month whose
    next production deployment is a success 14-30 days later (that one fixes it);
    the pair closest to three weeks apart wins. None when there is no such pair.
    """
    svc = next((s for s in services if s.base_service == LATENCY_SERVICE), None)
    if svc is None:
        return None
    end_month = month_start(tl.end)
    lo, hi = dt(add_months(end_month, -6)), dt(add_months(end_month, -2))
    prod = sorted((d for d in deployments if d["service"] is svc and d["environment"] == "production"),
                  key=lambda d: d["deployed_at"])
    best = None
    for dep, nxt in zip(prod, prod[1:]):
        gap = (nxt["deployed_at"] - dep["deployed_at"]) / DAY
        if (lo <= dep["deployed_at"] < hi and dep["status"] == "success" and not dep["is_hotfix"]
                and nxt["status"] == "success" and 14 <= gap <= 30):
            if best is None or abs(gap - 21) < best[0]:
                best = (abs(gap - 21), dep, nxt)
    return None if best is None else (svc, best[1], best[2])


# --------------------------------------------------------------------------- #
# Pipeline runs
# --------------------------------------------------------------------------- #

PIPELINE_COLUMNS = ("run_id", "pipeline", "kind", "scheduled_at", "started_at", "finished_at", "status",
                    "on_time", "data_fresh", "validation_passed", "reproducible", "model", "team", "service",
                    "tier")
MINUTE = timedelta(minutes=1)
CI_MEDIAN_MINUTES = {"search": 12.0, "recommendations": 14.0, "fraud": 9.0, "forecasting": 11.0}
CI_SLOW_MINUTES = 26.0  # CI_TEAM's median just before build caching lands
CI_CACHED_MINUTES = 10.0  # and once it is on


def freshness_streak(tl: Timeline) -> tuple[date, date]:
    """[first, last] day on which FRESHNESS_TEAM's input data is stale (four months before the end month)."""
    first = add_months(month_start(tl.end), -4) + 5 * DAY
    return first, first + (FRESHNESS_DAYS - 1) * DAY


def ci_fix_day(tl: Timeline) -> date:
    """The Monday on or after the 10th of the month two months before the end month."""
    d = add_months(month_start(tl.end), -2) + 9 * DAY
    return d + ((7 - d.weekday()) % 7) * DAY


def _run(pipeline: str, kind: str, scheduled: datetime | None, started: datetime | None,
         finished: datetime | None, status: str, team: str, svc: Service | None = None, model: str | None = None,
         **flags) -> dict:
    row = {"pipeline": pipeline, "kind": kind, "scheduled_at": scheduled, "started_at": started,
           "finished_at": finished, "status": status, "team": team, "service": svc.service if svc else None,
           "tier": svc.tier if svc else None, "model": model, "on_time": None, "data_fresh": None,
           "validation_passed": None, "reproducible": None}
    row.update(flags)
    return row


def _outcome(rng: random.Random, p_fail: float, p_cancel: float) -> str:
    r = rng.random()
    return "failed" if r < p_fail else "cancelled" if r < p_fail + p_cancel else "success"


def _stale(team_base: str, day: date, streak: tuple[date, date]) -> bool:
    return team_base == FRESHNESS_TEAM and streak[0] <= day <= streak[1]


def training_runs(seed: int, services: list[Service], tl: Timeline, cost_rows: list[tuple]) -> list[dict]:
    """One training run per run_id of the training cost lines (same run_id, service, model, days)."""
    by_name = {s.service: s for s in services}
    runs: dict[str, list] = {}
    for day, _, service, _, category, model, _, run_id, _ in cost_rows:
        if category == "training" and run_id:
            r = runs.setdefault(run_id, [day, day, service, model])
            r[0], r[1] = min(r[0], day), max(r[1], day)
            if day == r[0]:
                r[3] = model
    streak = freshness_streak(tl)
    out = []
    for run_id, (first, last, service, model) in runs.items():
        svc = by_name[service]
        rng = rng_for(seed, run_id, "run")
        scheduled = dt(first) + 2 * HOUR + rng.randrange(4) * 15 * MINUTE
        late = rng.random() < 0.03  # queued behind other jobs for GPUs
        started = scheduled + (lognorm(rng, 4, 0.6) * MINUTE if not late else (3 + rng.random() * 5) * HOUR)
        if last == first:  # done the same day (its cost lines are all on that day)
            finished = min(started + lognorm(rng, 5.0, 0.4) * HOUR, dt(first) + (23 + rng.random() * 0.9) * HOUR)
        else:
            finished = dt(last) + (3 + rng.random() * 15) * HOUR
        status = _outcome(rng, 0.02, 0.004)
        if status != "success":  # stopped part-way through its last day
            finished -= (finished - max(started, dt(last))) * rng.random()
        reproducible = rng.random() < 0.86 + 0.08 * tl.frac(first)  # pinned data snapshots and seeds spread
        fresh = rng.random() < 0.99 and not _stale(svc.base_team, first, streak)
        flags = {"data_fresh": fresh}
        if last == tl.end:  # still training at the export
            status, finished = "running", None
        elif status == "success":
            flags.update(on_time=not late, reproducible=reproducible)
        else:
            flags.update(on_time=False)
        out.append(_run(f"{service}-training", "training", scheduled, started, finished, status, svc.team,
                        svc, model, run_id=run_id, **flags))
    return out


def scheduled_runs(seed: int, services: list[Service], tl: Timeline) -> list[dict]:
    """Daily runs: data validation and feature pipelines per team, batch scoring per batch service."""
    teams = list(dict.fromkeys((s.team, s.base_team) for s in services))
    streak = freshness_streak(tl)
    out = []
    for n, (team, base_team) in enumerate(teams):
        rng = rng_for(seed, team, "scheduled-runs")
        migrating_team = base_team in MIGRATION_TEAMS
        for i in range(tl.days):
            day = tl.start + i * DAY
            when = dt(day)
            # Data validation at 00:30 UTC: checks on yesterday's landed data.
            scheduled = when + 30 * MINUTE
            p_invalid = 0.02
            if migrating_team and tl.in_migration(when):  # the migration broke schemas and feeds
                p_invalid = 0.18
            status = _outcome(rng, 0.008, 0.0)
            started = scheduled + lognorm(rng, 2, 0.5) * MINUTE
            finished = started + lognorm(rng, 12, 0.3) * (0.5 if status == "failed" else 1.0) * MINUTE
            passed = rng.random() >= p_invalid if status == "success" else None
            out.append(_run(f"{team}-validation", "validation", scheduled, started, finished, status, team,
                            validation_passed=passed))
            # Feature pipeline at 01:00-01:45 UTC (staggered by team).
            scheduled = when + HOUR + (n % 4) * 15 * MINUTE
            status = _outcome(rng, 0.01, 0.003)
            started = None if status == "cancelled" else scheduled + lognorm(rng, 3, 0.5) * MINUTE
            finished = None
            if started is not None:
                finished = started + lognorm(rng, 40, 0.25) * (0.4 if status == "failed" else 1.0) * MINUTE
            fresh = None
            if started is not None:
                fresh = rng.random() < 0.992 and not _stale(base_team, day, streak)
            out.append(_run(f"{team}-features", "feature", scheduled, started, finished, status, team,
                            data_fresh=fresh))
    for svc in services:
        if svc.base_service not in BATCH_SCORING:
            continue
        rng = rng_for(seed, svc.service, "batch-scoring")
        for i in range(tl.days):
            day = tl.start + i * DAY
            scheduled = dt(day) + 3 * HOUR
            status = _outcome(rng, 0.01, 0.003)
            started = None if status == "cancelled" else scheduled + lognorm(rng, 3, 0.5) * MINUTE
            finished = fresh = None
            if started is not None:
                finished = started + lognorm(rng, 55, 0.3) * (0.5 if status == "failed" else 1.0) * MINUTE
                fresh = rng.random() < 0.992 and not _stale(svc.base_team, day, streak)
            out.append(_run(f"{svc.service}-scoring", "batch_scoring", scheduled, started, finished, status,
                            svc.team, svc, model_at(svc, tl, scheduled), data_fresh=fresh))
    # The orchestrator numbers its runs: a shared, increasing 9-digit run id.
    out.sort(key=lambda r: (r["scheduled_at"], r["pipeline"]))
    rng = rng_for(seed, "orchestrator")
    run_no = 731_000_000
    for r in out:
        run_no += 1 + rng.randrange(60)
        r["run_id"] = str(run_no)
    return out


def ci_runs(seed: int, services: list[Service], tl: Timeline) -> list[dict]:
    """CI runs: a few per working day per team; CI_TEAM's builds slow down until caching lands."""
    teams = list(dict.fromkeys((s.team, s.base_team) for s in services))
    fix = ci_fix_day(tl)
    t_fix = max(tl.frac(fix), 1e-9)
    out = []
    for team, base_team in teams:
        rng = rng_for(seed, team, "ci")
        median0 = CI_MEDIAN_MINUTES[base_team]
        for i in range(tl.days):
            day = tl.start + i * DAY
            when = dt(day)
            t = tl.frac(day)
            lam = 1.8 if day.weekday() < 5 else 0.1
            if base_team in MIGRATION_TEAMS and tl.in_migration(when):
                lam *= 1.5
            if base_team == CI_TEAM:
                median = CI_CACHED_MINUTES if day >= fix else median0 * (CI_SLOW_MINUTES / median0) ** (t / t_fix)
            else:
                median = median0 * (1 + 0.1 * t)
            for _ in range(poisson(rng, lam)):
                started = when + (8 + rng.random() * 11) * HOUR
                status = _outcome(rng, 0.035, 0.01)
                minutes = lognorm(rng, median, 0.22) * {"success": 1.0, "failed": 0.6, "cancelled": 0.3}[status]
                out.append(_run(f"{team}-ci", "ci", None, started, started + minutes * MINUTE, status, team))
    out.sort(key=lambda r: (r["started_at"], r["team"]))
    for i, r in enumerate(out, 1):
        r["run_id"] = f"ci-{i:06d}"
    return out


def pipeline_runs(seed: int, services: list[Service], tl: Timeline, cost_rows: list[tuple]) -> list[dict]:
    """Every pipeline run, in start (else schedule) order; runs still going at the export are ``running``."""
    runs = training_runs(seed, services, tl, cost_rows) + scheduled_runs(seed, services, tl) + ci_runs(
        seed, services, tl)
    runs = [r for r in runs if (r["started_at"] or r["scheduled_at"]) < tl.horizon]
    for r in runs:  # nothing finishes after the export
        if r["finished_at"] is not None and r["finished_at"] >= tl.horizon:
            r.update(status="running", finished_at=None, on_time=None, reproducible=None)
    runs.sort(key=lambda r: (r["started_at"] or r["scheduled_at"], r["pipeline"]))
    return runs


def _opt_bool(v: bool | None) -> str:
    return "" if v is None else _bool(v)


def _utc(ts: datetime | None) -> str:
    """iso(ts, "Z"), faster (pipeline runs are all UTC)."""
    return "" if ts is None else ts.isoformat(timespec="seconds") + "Z"


def pipeline_rows(runs: list[dict]) -> list[tuple]:
    return [(r["run_id"], r["pipeline"], r["kind"], _utc(r["scheduled_at"]), _utc(r["started_at"]),
             _utc(r["finished_at"]), r["status"], _opt_bool(r["on_time"]), _opt_bool(r["data_fresh"]),
             _opt_bool(r["validation_passed"]), _opt_bool(r["reproducible"]), r["model"] or "", r["team"],
             r["service"] or "", r["tier"] or "") for r in runs]


# --------------------------------------------------------------------------- #
# Model inventory
# --------------------------------------------------------------------------- #

MODEL_COLUMNS = ("as_of", "model", "service", "team", "tier", "in_production", "monitored", "drift_monitored",
                 "documented")
NEVER = datetime.max
ALWAYS = datetime.min


def _rollout(items: list, key, p0: float, p1: float, lo: datetime, hi: datetime) -> dict:
    """When each item gets a capability: the first p0 share (by key) has it from the start, the
    next ones up to a p1 share get it at evenly spread instants in [lo, hi), the rest never."""
    ordered = sorted(items, key=key)
    n = len(ordered)
    n0, n1 = round(p0 * n), round(p1 * n)
    out = {}
    for k, item in enumerate(ordered):
        if k < n0:
            out[item] = ALWAYS
        elif k < n1:
            out[item] = lo + (hi - lo) * ((k - n0 + 0.5) / (n1 - n0))
        else:
            out[item] = NEVER
    return out


def snapshot_days(tl: Timeline) -> list[date]:
    """First day of every quarter within the data, plus the end day."""
    days = []
    q = quarter_start(tl.start)
    while q <= tl.end:
        if q >= tl.start:
            days.append(q)
        q = add_months(q, 3)
    if days[-1:] != [tl.end]:
        days.append(tl.end)
    return days


def model_inventory(seed: int, services: list[Service], tl: Timeline) -> list[tuple]:
    """Quarterly snapshots of the model inventory: production models (and retired ones) with
    monitoring, drift monitoring and documentation coverage improving over time."""
    rng = rng_for(seed, "inventory")
    rank = {s.service: rng.random() for s in services}
    tier_rank = {"tier-1": 0.0, "tier-2": 0.35, "tier-3": 0.7}
    lo, hi = dt(tl.start) + 30 * DAY, dt(tl.end) - 45 * DAY
    drift_svc = next((s for s in services if s.base_service == DRIFT_SERVICE), None)

    # Drift monitoring: tier-1 from ~60% to all of them by the last full quarter; the drift
    # story's service only gets it after its slowly detected drift incident.
    tier1 = [s.service for s in services if s.tier == "tier-1" and s is not drift_svc]
    others = [s.service for s in services if s.tier != "tier-1"]
    drift = _rollout(tier1, rank.get, 0.7, 1.0, lo, dt(quarter_start(tl.end)) - 10 * DAY)
    drift.update(_rollout(others, rank.get, 0.3, 0.6, lo, hi))
    if drift_svc is not None:
        drift[drift_svc.service] = tl.drift_start + 24 * DAY
    # Monitoring (dashboards and alerts on the model's outputs): ~70% -> ~90%, tier-1 first;
    # drift monitoring implies monitoring.
    by_name = {s.service: s for s in services}
    monitored = _rollout([s.service for s in services], lambda x: tier_rank[by_name[x].tier] + rank[x],
                         0.64, 0.9, lo, hi)
    monitored = {k: min(v, drift[k]) for k, v in monitored.items()}
    # Documentation (model card): ~75% -> ~95%; a replacement model gets its card a few weeks after launch.
    documented = _rollout([s.service for s in services], lambda x: 1 - rank[x], 0.75, 0.95, lo, hi)

    rows = []
    for snap in snapshot_days(tl):
        at = dt(snap)
        for svc in services:
            for i, (model, months_before) in enumerate(svc.models):
                launched = ALWAYS if months_before is None else tl.model_switch(months_before)
                nxt = svc.models[i + 1][1] if i + 1 < len(svc.models) else None
                retired = NEVER if nxt is None else tl.model_switch(nxt)
                if at < launched:
                    continue
                doc_from = documented[svc.service]
                if months_before is not None:
                    doc_from = max(doc_from, launched + (20 + rng_for(seed, model, "docs").randrange(40)) * DAY)
                if at < retired:
                    rows.append((snap.isoformat(), model, svc.service, svc.team, svc.tier, "true",
                                 _bool(at >= monitored[svc.service]), _bool(at >= drift[svc.service]),
                                 _bool(at >= doc_from)))
                else:  # retired: kept in the inventory, no longer monitored
                    rows.append((snap.isoformat(), model, svc.service, svc.team, svc.tier, "false", "false",
                                 "false", _bool(retired >= doc_from)))
    return rows


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #

DEPLOYMENT_COLUMNS = ("deployment_id", "service", "deployed_at", "model", "model_version", "team", "tier",
                      "environment", "status", "change_started_at", "approved_at", "rolled_back_at",
                      "is_hotfix", "caused_regression")
INCIDENT_COLUMNS = ("incident_id", "service", "started_at", "detected_at", "acknowledged_at", "resolved_at",
                    "severity", "model", "team", "tier", "category", "ml_related", "deployment_id")
COST_SCHEMA = pa.schema([
    ("date", pa.date32()), ("amount", pa.float64()), ("service", pa.string()), ("currency", pa.string()),
    ("category", pa.string()), ("model", pa.string()), ("team", pa.string()), ("run_id", pa.string()),
    ("resource_id", pa.string()),
])
PREDICTION_SCHEMA = pa.schema([
    ("date", pa.date32()), ("service", pa.string()), ("predictions", pa.int64()), ("model", pa.string()),
    ("team", pa.string()), ("errors", pa.int64()), ("latency_p95_ms", pa.float64()),
    ("latency_p99_ms", pa.float64()), ("availability", pa.float64()), ("good_requests", pa.int64()),
    ("total_requests", pa.int64()), ("count_kind", pa.string()),
])


# The teams whose repositories export their pull requests: the optional changes table (lead time per change).
CHANGE_TEAMS = ("search", "recommendations")
CHANGE_COLUMNS = ("change_id", "deployment_id", "authored_at", "opened_at", "merged_at", "service", "repo")


def change_rows(seed: int, deployments: list[dict]) -> list[tuple]:
    """The changes (commits, most through a pull request) each production deployment of CHANGE_TEAMS shipped.

    A deployment with a change_started_at ships 1 + Poisson(1) changes: the first authored then (the per-deployment
    lead time's start is its first commit), the others later in its span; one in ten is pushed without a pull
    request (no opened_at or merged_at). The changes of a failed or rolled-back deployment ship again with the next
    successful one of the service (a row each: the failed one is not counted). Seeded per service, so the other
    files do not change."""
    by_service: dict[str, list[dict]] = {}
    for d in deployments:  # sorted by deployed_at
        if d["environment"] == "production" and d["service"].base_team in CHANGE_TEAMS:
            by_service.setdefault(d["service"].service, []).append(d)
    rows = []
    for name in sorted(by_service):
        svc = by_service[name][0]["service"]
        rng = rng_for(seed, name, "changes")
        repo = f"ml-{svc.base_team}/{svc.base_service}"
        pending: list[tuple] = []  # changes of failed deployments, waiting for the next successful one
        for d in by_service[name]:
            start, deployed = d["change_started_at"], d["deployed_at"]
            own = []
            if start is not None and start < deployed:
                for i in range(1 + poisson(rng, 1.0)):
                    authored = start if i == 0 else start + (deployed - start) * rng.uniform(0.0, 0.8)
                    opened = merged = None
                    if rng.random() >= 0.1:
                        opened = authored + (deployed - authored) * rng.uniform(0.15, 0.6)
                        merged = opened + (deployed - opened) * rng.uniform(0.3, 0.9)
                    own.append((f"{rng.getrandbits(40):010x}", authored, opened, merged))
            shipped = own + (pending if d["status"] == "success" else [])
            for change_id, authored, opened, merged in shipped:
                rows.append((change_id, d["id"], iso(authored, svc.tz), iso(opened, svc.tz), iso(merged, svc.tz),
                             name, repo))
            pending = [] if d["status"] == "success" else pending + own
    return rows


def _bool(v: bool) -> str:
    return "true" if v else "false"


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_parquet(path: Path, schema: pa.Schema, rows: list[tuple]) -> None:
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    table = pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(columns, schema)],
                                 schema=schema)
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)


def generate(out: Path, seed: int = DEFAULT_SEED, scale: float = 1.0, end: date | str = DEFAULT_END) -> dict:
    """Write the seven files into ``out``; returns {file name: row count}."""
    if isinstance(end, str):
        end = date.fromisoformat(end)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tl = make_timeline(end)
    services = build_services(scale)

    deployments: list[dict] = []
    incidents: list[dict] = []
    per_service: dict[str, list[dict]] = {}
    for svc in services:
        deps, incs = service_events(seed, svc, tl)
        per_service[svc.service] = deps
        deployments.extend(deps)
        incidents.extend(incs)
    story_incs, story_deps = story_incidents(seed, services, tl)
    incidents.extend(story_incs)
    for dep in story_deps:
        per_service[dep["service"].service].append(dep)
        deployments.append(dep)
    for svc in services:
        assign_versions(seed, svc, per_service[svc.service])

    deployments.sort(key=lambda d: (d["deployed_at"], d["service"].service, d["environment"]))
    for i, dep in enumerate(deployments, 1):
        dep["id"] = f"dep-{i:05d}"
    dep_rows = [
        (d["id"], d["service"].service, iso(d["deployed_at"], d["service"].tz), d["model"], d["model_version"],
         d["service"].team, d["service"].tier, d["environment"], d["status"],
         iso(d["change_started_at"], d["service"].tz), iso(d["approved_at"], d["service"].tz),
         iso(d["rolled_back_at"], d["service"].tz), _bool(d["is_hotfix"]), _bool(d["caused_regression"]))
        for d in deployments
    ]

    incidents.sort(key=lambda x: (x["started_at"], x["service"].service))
    inc_rows = []
    for i, inc in enumerate(incidents, 1001):
        s = inc["service"]
        inc_rows.append((
            f"INC-{i}", s.service, iso(inc["started_at"], s.tz), iso(inc["detected_at"], s.tz),
            iso(inc["acknowledged_at"], s.tz), iso(inc["resolved_at"], s.tz), inc["severity"], inc["model"],
            s.team, s.tier, inc["category"], _bool(inc["ml_related"]),
            inc["deployment"]["id"] if inc["deployment"] else "",
        ))

    impact = incident_impact(incidents)
    slow = {}
    story = latency_regression(services, tl, deployments)
    if story is not None:
        svc, bad, fix = story
        slow[svc.service] = (bad["deployed_at"], fix["deployed_at"])
    pred_rows, cost_rows = [], []
    for svc in services:
        p, c = service_series(seed, svc, tl, impact, slow.get(svc.service))
        pred_rows.extend(p)
        cost_rows.extend(c)
    pred_rows.sort(key=lambda r: (r[0], r[1]))
    cost_rows.sort(key=lambda r: (r[0], r[2], r[4], r[8], r[7] or ""))

    write_csv(out / "deployments.csv", DEPLOYMENT_COLUMNS, dep_rows)
    write_csv(out / "incidents.csv", INCIDENT_COLUMNS, inc_rows)
    write_parquet(out / "costs.parquet", COST_SCHEMA, cost_rows)
    write_parquet(out / "predictions.parquet", PREDICTION_SCHEMA, pred_rows)

    run_rows = pipeline_rows(pipeline_runs(seed, services, tl, cost_rows))
    model_rows = model_inventory(seed, services, tl)
    write_csv(out / "pipeline_runs.csv", PIPELINE_COLUMNS, run_rows)
    write_csv(out / "models.csv", MODEL_COLUMNS, model_rows)
    chg_rows = change_rows(seed, deployments)
    write_csv(out / "changes.csv", CHANGE_COLUMNS, chg_rows)
    return {"deployments.csv": len(dep_rows), "incidents.csv": len(inc_rows),
            "costs.parquet": len(cost_rows), "predictions.parquet": len(pred_rows),
            "pipeline_runs.csv": len(run_rows), "models.csv": len(model_rows), "changes.csv": len(chg_rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: sample_data/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 7)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the number of services (and teams, models, rows); default 1")
    parser.add_argument("--end", default=DEFAULT_END, help="last day of data, YYYY-MM-DD (default 2026-11-20)")
    args = parser.parse_args(argv)
    try:
        end = date.fromisoformat(args.end)
    except ValueError:
        parser.error(f"--end must be a date like 2026-11-20, not {args.end!r}")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    counts = generate(args.out, seed=args.seed, scale=args.scale, end=end)
    for name, n in counts.items():
        size = (args.out / name).stat().st_size
        print(f"{args.out / name}: {n} rows, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
