"""A small hand-made dataset whose KPI values are worked out by hand in test_engine.py.

The timeline (UTC unless an offset is written):

deployments (production unless noted)
  d1  svc-a search  2026-10-02 10:00Z  success      started 2026-10-01 10:00Z  -> lead 24 h
  d2  svc-a search  2026-10-10 10:00Z  success      started 2026-10-08 10:00Z  -> lead 48 h
  d3  svc-a search  2026-10-20 10:00Z  rolled_back  started 2026-10-19 10:00Z  (not successful: no lead time)
  d4  svc-b recs    2026-10-21 10:00Z  success      started 2026-10-17 10:00Z  -> lead 96 h, hotfix
  d5  svc-b recs    2026-10-25 10:00Z  success      no start                    caused_regression
  d6  svc-b recs    2026-10-28 10:00Z  failed
  d7  svc-b recs    2026-10-29 10:00Z  success      started 2026-10-28 22:00Z  -> lead 12 h; named by i1 and i2
  d8  svc-a search  2026-10-30 10:00Z  success      environment staging (never counts)
  d9  svc-a search  2026-10-31 23:30-04:00 = 2026-11-01 03:30Z  success  started 2026-10-31 03:30Z -> lead 24 h
      (November in UTC, October in America/New_York)

incidents (ml_related unless noted)
  i1  svc-b recs    started 2026-10-29 12:00Z  detected +0.5 h  resolved 2026-10-29 14:00Z (2 h)   sev2  deployment d7
  i2  svc-b recs    started 2026-10-29 13:00Z  detected +1 h    resolved 2026-11-02 13:00Z (96 h)  sev1  deployment d7
  i3  svc-a search  started 2026-10-05 00:00Z  detected +72 h   resolved 2026-10-08 06:00Z (78 h)  sev3  drift
  i4  svc-a search  started 2026-10-15 00:00Z  no detection     resolved +4 h                      sev4  NOT ml_related
  i5  svc-a search  started 2026-10-30 00:00Z  detected +2 h    open                               sev2
  i6  svc-a search  started 2026-09-30 22:00-05:00 = 2026-10-01 03:00Z  detected +1 h  resolved 05:00Z (2 h)  sev3
      (October in UTC, September in America/New_York)
  i7  svc-a search  started 2026-10-02 12:00Z  no detection     resolved 13:00Z (1 h)              sev4  no deployment named
      (2 h after d1: linked to d1 only with a link window of at least 2 h)

costs (USD unless noted)
  2026-10-01 100 svc-a inference search; 2026-10-31 50 svc-a inference; 2026-10-15 30 svc-a (no category -> inference)
  2026-10-12 999 svc-a storage (not inference)
  2026-10-05 200 + 2026-10-06 100 svc-b training run r1; 2026-10-20 60 svc-b training run r2;
  2026-10-21 40 svc-b training without run; 2026-10-10 70 svc-b inference recs
  2026-11-01 10 svc-a inference search
  2026-10-03 20 EUR svc-c inference fraud

predictions
  2026-10-01 svc-a 100000; 2026-10-15 svc-a 60000; 2026-10-10 svc-b 40000; 2026-10-03 svc-c 10000;
  2026-11-01 svc-a 0
"""

from __future__ import annotations

from pathlib import Path

DEPLOYMENTS = """\
deployment_id,service,deployed_at,team,model,tier,environment,status,change_started_at,is_hotfix,caused_regression
d1,svc-a,2026-10-02T10:00:00Z,search,ranker,tier-1,production,success,2026-10-01T10:00:00Z,no,no
d2,svc-a,2026-10-10T10:00:00Z,search,ranker,tier-1,production,success,2026-10-08T10:00:00Z,no,no
d3,svc-a,2026-10-20T10:00:00Z,search,ranker,tier-1,production,rolled_back,2026-10-19T10:00:00Z,no,no
d4,svc-b,2026-10-21T10:00:00Z,recs,two-tower,tier-2,production,success,2026-10-17T10:00:00Z,yes,no
d5,svc-b,2026-10-25T10:00:00Z,recs,two-tower,tier-2,prod,success,,0,1
d6,svc-b,2026-10-28T10:00:00Z,recs,two-tower,tier-2,production,failed,,false,false
d7,svc-b,2026-10-29T10:00:00Z,recs,two-tower,tier-2,production,success,2026-10-28T22:00:00Z,,
d8,svc-a,2026-10-30T10:00:00Z,search,ranker,tier-1,staging,success,2026-10-29T10:00:00Z,no,no
d9,svc-a,2026-10-31T23:30:00-04:00,search,ranker,tier-1,production,success,2026-10-31T03:30:00Z,no,no
"""

INCIDENTS = """\
incident_id,service,started_at,detected_at,resolved_at,severity,team,model,tier,category,ml_related,deployment_id
i1,svc-b,2026-10-29T12:00:00Z,2026-10-29T12:30:00Z,2026-10-29T14:00:00Z,SEV2,recs,two-tower,tier-2,deployment,true,d7
i2,svc-b,2026-10-29T13:00:00Z,2026-10-29T14:00:00Z,2026-11-02T13:00:00Z,P1,recs,two-tower,tier-2,deployment,yes,d7
i3,svc-a,2026-10-05T00:00:00Z,2026-10-08T00:00:00Z,2026-10-08T06:00:00Z,sev3,search,ranker,tier-1,drift,true,
i4,svc-a,2026-10-15T00:00:00Z,,2026-10-15T04:00:00Z,low,search,ranker,tier-1,other,false,
i5,svc-a,2026-10-30T00:00:00Z,2026-10-30T02:00:00Z,,high,search,ranker,tier-1,model_quality,true,
i6,svc-a,2026-09-30T22:00:00-05:00,2026-10-01T04:00:00Z,2026-10-01T05:00:00Z,medium,search,ranker,tier-1,data_quality,1,
i7,svc-a,2026-10-02T12:00:00Z,,2026-10-02T13:00:00Z,sev4,search,ranker,tier-1,infrastructure,true,
"""

COSTS = """\
date,amount,service,category,team,model,run_id,currency
2026-10-01,100,svc-a,inference,search,ranker,,USD
2026-10-31,50,svc-a,inference,search,ranker,,USD
2026-10-15,30,svc-a,,search,ranker,,USD
2026-10-12,999,svc-a,storage,search,ranker,,USD
2026-10-05,200,svc-b,training,recs,two-tower,r1,USD
2026-10-06,100,svc-b,training,recs,two-tower,r1,USD
2026-10-20,60,svc-b,training,recs,two-tower,r2,USD
2026-10-21,40,svc-b,training,recs,two-tower,,USD
2026-10-10,70,svc-b,inference,recs,two-tower,,USD
2026-11-01,10,svc-a,inference,search,ranker,,USD
2026-10-03,20,svc-c,inference,fraud,gbdt,,EUR
"""

PREDICTIONS = """\
date,service,predictions,team,model
2026-10-01,svc-a,100000,search,ranker
2026-10-15,svc-a,60000,search,ranker
2026-10-10,svc-b,40000,recs,two-tower
2026-10-03,svc-c,10000,fraud,gbdt
2026-11-01,svc-a,0,search,ranker
"""

FILES = {
    "deployments.csv": DEPLOYMENTS,
    "incidents.csv": INCIDENTS,
    "costs.csv": COSTS,
    "predictions.csv": PREDICTIONS,
}


# --- DORA's delivery metrics (issue 15): a second small dataset, worked by hand in test_engine.py -------------
#
# deployments (all production, UTC)
#   x1  svc-x ops  2026-03-02 09:00  success
#   x2  svc-x ops  2026-03-31 22:00  failed        -> recovered by x3 on 04-01 02:00: 4 h, in MARCH (its own period)
#   x3  svc-x ops  2026-04-01 02:00  success       is_hotfix, names no incident (rework all the same)
#   x4  svc-x ops  2026-04-10 12:00  rolled_back   rolled_back_at 12:30 -> recovered by the rollback: 0.5 h
#                                                  (before x5, the next success)
#   x5  svc-x ops  2026-04-15 08:00  success       fixes_incident_id j1 (rework)
#   x6  svc-x ops  2026-04-20 10:00  success       named by j2, still open, no later success on svc-x:
#                                                  NEVER recovered (listed with its age, not in the median)
#   y1  svc-y ml   2026-04-06 10:00  failed        named by j3 (resolved 04-07 10:00) and followed by y2 (04-08):
#                                                  the first of the two -> 24 h
#   y2  svc-y ml   2026-04-08 10:00  success       j3's fix_deployment_id (rework)
#   y3  svc-y ml   2026-04-25 10:00  rolled_back   no rolled_back_at -> recovered by y4: 72 h
#   y4  svc-y ml   2026-04-28 10:00  success
#
# incidents
#   j1  svc-x  2026-04-14 00:00 - 06:00      names no deployment (x5 names it as the incident it fixes)
#   j2  svc-x  2026-04-20 11:00, open        deployment_id x6
#   j3  svc-y  2026-04-06 11:00 - 04-07 10:00  deployment_id y1, fix_deployment_id y2

DORA_DEPLOYMENTS = """\
deployment_id,service,deployed_at,team,status,rolled_back_at,is_hotfix,fixes_incident_id
x1,svc-x,2026-03-02T09:00:00Z,ops,success,,,
x2,svc-x,2026-03-31T22:00:00Z,ops,failed,,,
x3,svc-x,2026-04-01T02:00:00Z,ops,success,,yes,
x4,svc-x,2026-04-10T12:00:00Z,ops,rolled_back,2026-04-10T12:30:00Z,,
x5,svc-x,2026-04-15T08:00:00Z,ops,success,,,j1
x6,svc-x,2026-04-20T10:00:00Z,ops,success,,,
y1,svc-y,2026-04-06T10:00:00Z,ml,failed,,,
y2,svc-y,2026-04-08T10:00:00Z,ml,success,,,
y3,svc-y,2026-04-25T10:00:00Z,ml,rolled_back,,,
y4,svc-y,2026-04-28T10:00:00Z,ml,success,,,
"""

DORA_INCIDENTS = """\
incident_id,service,started_at,resolved_at,deployment_id,fix_deployment_id
j1,svc-x,2026-04-14T00:00:00Z,2026-04-14T06:00:00Z,,
j2,svc-x,2026-04-20T11:00:00Z,,x6,
j3,svc-y,2026-04-06T11:00:00Z,2026-04-07T10:00:00Z,y1,y2
"""

DORA_FILES = {"deployments.csv": DORA_DEPLOYMENTS, "incidents.csv": DORA_INCIDENTS}


def write(folder: Path, files: dict[str, str] | None = None) -> Path:
    """Write the golden CSVs (or ``files``) into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or FILES).items():
        (folder / name).write_text(text)
    return folder
