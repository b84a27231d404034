"""The command line: python -m kpis ingest | compute | export | presets | report | check | annotate.

Errors a user can act on (a bad file, a locked database, an unknown option
value) are printed as messages with exit status 2, never as tracebacks.
``check`` exits 0 when no judged KPI is off target, 1 when one is (so a
scheduler can act on it), 3 when a digest could not be delivered.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import date, timedelta

from kpis import catalog, db, engine, ingest, periods, schema
from kpis import format as fmt
from kpis.periods import GRAINS


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _window(text: str) -> int:
    try:
        return periods.parse_window(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _as_of(text: str) -> date | str:
    if text in ("data", "none"):
        return text
    return _date(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kpis", description="ML engineering KPIs from your exports.")
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("ingest", help="load CSV / Parquet exports into the database (one transaction)")
    i.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                   help="files, or folders of .csv / .parquet files; or s3:// (gs://, az://) objects or prefixes")
    i.add_argument("--db", help="database file (default: $KPI_DB or kpi.duckdb)")
    i.add_argument("--kind", choices=sorted(schema.TABLES), help="what the files hold (default: from the columns)")
    how = i.add_mutually_exclusive_group()
    how.add_argument("--preset", metavar="NAME",
                     help="read the files as this tool's export (default: recognised from the header; "
                          "python -m kpis presets lists them)")
    how.add_argument("--mapping", metavar="FILE",
                     help="read the files through a mapping file (TOML, see docs/exports.md)")
    i.add_argument("--source-tz", default="UTC", help="time zone of timestamps written without an offset (default UTC)")
    i.add_argument("--skip-bad-rows", action="store_true",
                   help="load the good rows; keep the bad ones in the quarantine table")
    i.add_argument("--delimiter", help="CSV field delimiter (default ',' ; tab for .tsv)")
    i.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
    i.add_argument("--append", action="store_true",
                   help="add cost, prediction and model rows without replacing the earlier rows of their "
                        "source and period (default: a file replaces them; deployments and incidents "
                        "always replace by id)")
    i.add_argument("--strict", action="store_true",
                   help="reject the batch when a preset's filters dropped every row of a file (default: such a "
                        "file loads nothing and its summary says why)")
    i.add_argument("--cost-measure", metavar="NAME",
                   help="how a cost preset reads amount: amortised (FOCUS EffectiveCost, CUR effective costs; the "
                        "default) or billed (FOCUS BilledCost, CUR unblended cost)")
    i.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a locked database (default 60)")

    pr = sub.add_parser("presets", help="list the export presets, or show how one maps its columns")
    pr.add_argument("name", nargs="?", metavar="NAME_OR_FILE", help="a preset name or a mapping file to show in full")

    c = sub.add_parser("compute", help="compute KPIs per period (and per team / service / model)")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--db", help="database file (default: $KPI_DB or kpi.duckdb)")
    src.add_argument("--lake", metavar="DIR|URL",
                     help="read the Parquet tables that python -m kpis export wrote (a folder, or s3:// ...), "
                          "read-only, in place")
    c.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                   help="run the KPI SQL on DuckDB (default) or Spark (local mode, or --spark-remote)")
    c.add_argument("--spark-remote", metavar="sc://HOST:PORT",
                   help="with --engine spark: the Spark Connect address of a cluster (default: local mode)")
    c.add_argument("--grain", choices=GRAINS, default="month")
    c.add_argument("--last", type=_window, metavar="7d|30d|90d",
                   help="trailing windows instead of calendar periods: the last N days up to --to (default: the "
                        "data's last day, or --as-of) and the N days before them (back to --from when given); "
                        "labelled 2026-10-22/2026-11-20")
    c.add_argument("--from", dest="start", type=_date, help="first day (YYYY-MM-DD); whole periods are computed")
    c.add_argument("--to", dest="end", type=_date, help="last day (YYYY-MM-DD)")
    c.add_argument("--by", choices=engine.DIMENSIONS, help="one value per team, service or model")
    c.add_argument("--kpi", action="append", choices=catalog.KPI_IDS, help="only this KPI (repeatable)")
    c.add_argument("--team", action="append", help="only this team (repeatable)")
    c.add_argument("--service", action="append", help="only this service (repeatable)")
    c.add_argument("--model", action="append", help="only this model (repeatable)")
    c.add_argument("--tz", default="UTC", help="reporting time zone that assigns events to periods (default UTC)")
    c.add_argument("--link-window", type=float, metavar="HOURS",
                   help="link an incident without deployment_id to the service's last deployment within HOURS")
    c.add_argument("--slo", type=float, default=None,
                   help="availability objective for error_budget_remaining (default: the profile's, else 0.999)")
    c.add_argument("--lead-time-start", choices=engine.LEAD_TIME_STARTS,
                   help="start of lead time (default: change_started_at, or the profile's)")
    c.add_argument("--profile", help="target profile: senior, mle, lead, dora, or a path to a TOML file")
    c.add_argument("--as-of", type=_as_of, default="data", metavar="DATE|data|none",
                   help="the last day the data covers: the period holding it is in progress (marked in_progress; "
                        "deployments per week over the weeks elapsed). Default 'data': the data's last day, or "
                        "today if earlier; 'none': every period whole")
    c.add_argument("--format", choices=("table", "csv", "json"), default="table")

    e = sub.add_parser("export", help="write the canonical tables as Parquet partitioned by month (for Spark, "
                                      "compute --lake)")
    e.add_argument("--db", help="database file (default: $KPI_DB or kpi.duckdb)")
    e.add_argument("--to", required=True, metavar="DIR|URL", help="a folder, or s3:// (gs://, az://) prefix")

    r = sub.add_parser("report", help="write the review pack of a month or quarter (HTML, PDF or PowerPoint)")
    r.add_argument("--db", help="database file (default: $KPI_DB or kpi.duckdb)")
    r.add_argument("--period", required=True, help="the month (2026-10) or quarter (2026-Q3) to review")
    r.add_argument("--profile", default="lead",
                   help="target profile: senior, mle, lead (default), dora, a TOML file, or none")
    r.add_argument("--team", action="append", help="only this team (repeatable)")
    r.add_argument("--service", action="append", help="only this service (repeatable)")
    r.add_argument("--model", action="append", help="only this model (repeatable)")
    r.add_argument("--tz", default="UTC", help="reporting time zone that assigns events to periods (default UTC)")
    r.add_argument("--out", action="append", required=True, metavar="FILE",
                   help="file to write; the format comes from the extension: .html, .pdf or .pptx (repeatable)")

    k = sub.add_parser("check", help="the period's triage (off target first, with drivers); exit 1 when a KPI is "
                                     "off target; optionally sent to a webhook or by e-mail")
    k.add_argument("--db", help="database file (default: $KPI_DB or kpi.duckdb)")
    k.add_argument("--profile", default="lead",
                   help="target profile: senior, mle, lead (default), dora, a TOML file, or none")
    k.add_argument("--period", default="last-complete", metavar="last-complete|PERIOD",
                   help="the period to check: last-complete (default: the last whole period of --grain in the "
                        "data), or a label such as 2026-10, 2026-Q3, 2026-W07")
    k.add_argument("--grain", choices=GRAINS, default="month", help="the grain of last-complete (default month)")
    k.add_argument("--team", action="append", help="only this team (repeatable)")
    k.add_argument("--service", action="append", help="only this service (repeatable)")
    k.add_argument("--model", action="append", help="only this model (repeatable)")
    k.add_argument("--tz", default="UTC", help="reporting time zone that assigns events to periods (default UTC)")
    k.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    k.add_argument("--fail-on", choices=("red", "amber"), default="red",
                   help="exit 1 when a KPI is off target (red, default) or also near target (amber)")
    k.add_argument("--notify", nargs="?", const="", metavar="URL",
                   help="post the digest to this webhook (default: $KPI_WEBHOOK_URL; a webhook URL holds a "
                        "token: prefer the variable)")
    k.add_argument("--webhook-format", choices=("slack", "teams"), default="slack",
                   help="the webhook's JSON body: Slack (blocks, default) or Microsoft Teams (Adaptive Card)")
    k.add_argument("--email", action="append", metavar="TO",
                   help="e-mail the digest to this address (repeatable) through $KPI_SMTP_HOST and friends")
    k.add_argument("--dashboard-url", default=None, metavar="URL",
                   help="the app's address, for the link back to this view (default: $KPI_DASHBOARD_URL)")
    k.add_argument("--force", action="store_true",
                   help="send even if this period's digest already went to the same place")
    k.add_argument("--as-of", type=_date, default=None, metavar="DATE",
                   help="the last day the data covers (default: the data's last day, or today if earlier)")

    a = sub.add_parser("annotate", help="add dated notes (a reorg, a freeze) marked on the trend charts, from a CSV "
                                        "or one at a time; or list them")
    a.add_argument("csv", nargs="?", metavar="FILE", help="a CSV with the columns date, text and optionally team, "
                                                          "service (all rows or none are added)")
    a.add_argument("--db", help="database file (default: $KPI_DB or kpi.duckdb)")
    a.add_argument("--date", type=_date, help="the note's day (YYYY-MM-DD), with --text")
    a.add_argument("--text", help="the note, with --date")
    a.add_argument("--team", default="", help="the team it is about (default: everyone)")
    a.add_argument("--service", default="", help="the service it is about (default: every service)")
    a.add_argument("--list", action="store_true", help="list the notes")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "ingest":
            return _ingest(args)
        if args.command == "presets":
            return _presets(args)
        if args.command == "report":
            return _report(args)
        if args.command == "export":
            return _export(args)
        if args.command == "check":
            return _check(args)
        if args.command == "annotate":
            return _annotate(args)
        return _compute(args)
    except notify_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except ingest.IngestError as e:
        print(str(e), file=sys.stderr)
        return 2
    except (ValueError, KeyError, db.DatabaseLockedError, FileNotFoundError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2


def _ingest(args) -> int:
    chosen = None
    if args.preset or args.mapping:  # a bad preset name or mapping file fails before the database is opened
        from kpis import mapping

        chosen = mapping.load_preset(args.preset) if args.preset else mapping.load_mapping(args.mapping)
    con = db.connect(args.db, wait_seconds=args.wait, on_wait=lambda m: print(m, file=sys.stderr))
    try:
        reports = ingest.ingest(con, args.paths, kind=args.kind, source_tz=args.source_tz,
                                skip_bad_rows=args.skip_bad_rows, delimiter=args.delimiter,
                                progress=sys.stderr.isatty(), dry_run=args.dry_run, mapping=chosen,
                                append=args.append, strict=args.strict, cost_measure=args.cost_measure)
    finally:
        con.close()
    rows = [(r.file, r.kind or "-", r.mapping or "-", r.status, r.rows_read, r.inserted, r.replaced, r.removed,
             r.rejected, r.message) for r in reports]
    print(_table(("file", "kind", "mapping", "status", "read", "inserted", "replaced", "removed", "rejected", "note"),
                 rows))
    for r in reports:
        if r.status == "skipped":  # the table's row says so
            continue
        print(r.summary)
        for w in r.warnings:
            print(f"  warning: {w}")
        if r.hint and not r.loaded:
            print(f"  hint: {' '.join(r.hint.split())}")
    for r in reports:
        if r.removed:
            print(f"{r.file}: removed {r.removed:,} earlier row(s) of the {r.kind} it restates that it no longer "
                  f"lists; to add a file's rows without replacing, ingest it with --append")
        if r.notes:
            print(f"{r.file}:")
            for n in r.notes:
                print(f"  {n}")
        for e in r.errors[:ingest.MAX_REPORTED_ERRORS]:
            print(f"  quarantined: {e}")
    if args.dry_run:
        print("dry run: nothing was written")
    return 0


def _presets(args) -> int:
    from kpis import mapping

    if args.name:
        m = mapping.load_mapping(args.name)
        print("\n".join(m.describe()))
        if m.notes:
            print()
            print(m.notes.strip())
        return 0
    rows = [(m.name, m.kind, "JSON" if m.format == "json" else "CSV / Parquet", m.title)
            for m in mapping.list_presets()]
    print(_table(("preset", "kind", "file", "export"), rows))
    print("\nShow one in full: python -m kpis presets NAME. Write your own: docs/exports.md.")
    return 0


def _export(args) -> int:
    from kpis import lake

    con = db.connect(args.db, read_only=True, wait_seconds=30)
    try:
        counts = lake.export(con, args.to)
    finally:
        con.close()
    print(_table(("table", "rows", "written to"), [(t, f"{n:,}", lake.table_url(args.to, t)) for t, n in counts.items()]))
    return 0


def _open_for_compute(args):
    """The DuckDB connection the request reads (a database file, or views over a lake), and the engine that
    computes: the same connection, or a Spark runner over the same tables. Returns (con, runner, spark)."""
    from kpis import lake, runners

    if args.spark_remote and args.engine != "spark":
        raise ValueError("--spark-remote needs --engine spark")
    if args.engine == "duckdb":
        con = lake.connect(args.lake) if args.lake else db.connect(args.db, read_only=True, wait_seconds=30)
        return con, con, None
    running = None if args.spark_remote else runners.active_spark()
    spark = running or runners.spark_session(args.spark_remote)
    owned = None if running else spark  # a session this command started is stopped at its end
    if args.lake:
        return None, runners.spark_from_lake(spark, args.lake), owned
    con = db.connect(args.db, read_only=True, wait_seconds=30)
    return con, runners.spark_from_db(spark, con, local=not args.spark_remote), owned


def _compute(args) -> int:
    con, run, spark = _open_for_compute(args)
    try:
        return _compute_on(args, run)
    finally:
        if con is not None:
            con.close()
        if spark is not None:
            spark.stop()


def _compute_on(args, con) -> int:
    filters = {k: getattr(args, k) for k in ("team", "service", "model") if getattr(args, k)}
    as_of = engine.through_date(con, args.tz) if args.as_of == "data" else None if args.as_of == "none" else args.as_of
    kwargs = dict(grain=args.grain, by=args.by, start=args.start, end=args.end, filters=filters, kpis=args.kpi,
                  tz=args.tz, link_window_hours=args.link_window, as_of=as_of)
    if args.last:
        if args.profile:  # targets per month / quarter and trends are written for calendar periods
            raise ValueError("--last cannot be combined with --profile: targets are judged per calendar period")
        end = args.end or as_of or (engine.data_range(con, args.tz) or (None, None))[1]
        if end is None:
            raise ValueError("the database holds no data: no trailing window to compute")
        start = args.start or end - timedelta(days=2 * args.last - 1)  # the window and the one before it
        kwargs.update(start=start, end=end, window_days=args.last, as_of=None)
    if args.slo is not None:  # else the profile's error budget SLO, or the engine's 0.999
        kwargs["slo"] = args.slo
    if args.profile:
        from kpis import targets

        profile = targets.load_profile(args.profile)
        if profile.note:  # DORA 2025: no clusters to judge against, and what stands instead (stderr: JSON stays JSON)
            print(f"note: {profile.note}", file=sys.stderr)
        # Lead time starts where the profile's document says, unless the user overrides it.
        df = targets.compute_with_targets(con, profile, lead_time_start=args.lead_time_start, **kwargs)
        # JSON keeps DESIGN.md's record shape; the table and CSV also say how each status was reached.
        extra = ("target", "status", "cluster") if args.format == "json" else (
            "target", "status", "status_text", "cluster", "rule", "scope", "scoped_value", "note", "outside")
        df = df[[c for c in df.columns if c in (*engine.OUTPUT_COLUMNS, args.by, *extra)]]
    else:
        df = engine.compute(con, lead_time_start=args.lead_time_start or "change_started_at", **kwargs)
    bucketed = "deployment_days_per_week" in set(df["kpi"])
    if bucketed:  # DORA's bucket beside the deployment days (kpis.dora.FREQUENCY_RULE)
        from kpis import dora

        freq = dora.deployment_frequency(con, grain=args.grain, by=args.by, start=kwargs["start"],
                                         end=kwargs["end"], filters=filters, tz=args.tz, as_of=kwargs["as_of"],
                                         window_days=args.last)
        df = dora.attach_buckets(df, freq, by=args.by)
    df = engine.mark_in_progress(df, args.grain, as_of)
    records = engine.to_records(df)
    if bucketed and args.format == "json":  # the other KPIs' records keep DESIGN.md's shape
        for r in records:
            if r["kpi"] != "deployment_days_per_week":
                del r["bucket"], r["median_week_days"]
    if args.format == "json":
        print(json.dumps(records, indent=1))
    elif args.format == "csv":
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=list(df.columns), lineterminator="\n")
        w.writeheader()
        w.writerows({k: fmt.neutralise(v) for k, v in r.items()} for r in records)  # values stay in base units
        print(out.getvalue(), end="")
    else:
        # The table is for reading: each value written as the cards write it, in its unit, with its decimals.
        cols = list(df.columns)
        print(_table(cols, [[fmt.fmt_value(r["value"], r["unit"], r["kpi"]) if c == "value" else _fmt(r[c])
                             for c in cols] for r in records]))
    return 0


def _report(args) -> int:
    import review  # lazy: plotly, the exporters and the browser are loaded for this command only

    try:
        review.check_outputs(args.out)  # a bad extension or a missing browser fails before any work
    except review.BrowserMissingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    filters = {k: getattr(args, k) for k in ("team", "service", "model") if getattr(args, k)}
    profile = None if args.profile.lower() in ("none", "(none)", "") else args.profile
    con = db.connect(args.db, read_only=True, wait_seconds=30, on_wait=lambda m: print(m, file=sys.stderr))
    try:
        pack = review.build_review(con, period=args.period, profile=profile, filters=filters, tz=args.tz)
    finally:
        con.close()
    try:
        written = review.export_all(pack, args.out)
    except (review.BrowserMissingError, review.ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path} ({review.FORMATS[path.suffix.lower()]}, {path.stat().st_size:,} bytes)")
    return 0


def _annotate(args) -> int:
    from kpis import annotations

    if args.csv and (args.date or args.text):
        raise ValueError("give a CSV file or --date and --text, not both")
    if (args.date is None) != (args.text is None):
        raise ValueError("--date and --text go together")
    if args.csv:
        notes = annotations.read_csv(args.csv)  # every bad row reported before the database is opened
    elif args.date is not None:
        notes = [annotations.Note(args.date, args.text, args.team, args.service)]
    elif not args.list:
        raise ValueError("give a CSV file, or --date and --text, or --list")
    else:
        notes = []
    if notes:
        con = db.connect(args.db, wait_seconds=60, on_wait=lambda m: print(m, file=sys.stderr))
        try:
            added = annotations.add(con, notes)
        finally:
            con.close()
        print(f"added {added} of {len(notes)} note(s)" + (f"; {len(notes) - added} were there already"
                                                           if added < len(notes) else ""))
    if args.list:
        con = db.connect(args.db, read_only=True, wait_seconds=30)
        try:
            rows = annotations.notes(con)
        finally:
            con.close()
        print(_table(("date", "team", "service", "text", "added by"),
                     [(f"{r['day']:%Y-%m-%d}", r["team"] or "—", r["service"] or "—", r["text"], r["added_by"] or "")
                      for r in rows.to_dict("records")]))
    return 0


def notify_errors():
    from kpis.notify import DeliveryError

    return DeliveryError


def _check(args) -> int:
    from kpis import digest, notify, triage

    filters = {k: getattr(args, k) for k in ("team", "service", "model") if getattr(args, k)}
    profile = None if args.profile.lower() in ("none", "(none)", "") else args.profile
    if profile:
        from kpis import targets

        profile = targets.load_profile(profile)  # a bad profile fails before anything else
    # Where it goes, checked before any work: a missing setting is a usage error (exit 2).
    webhook = None
    if args.notify is not None:
        webhook = notify.check_webhook_url(args.notify or notify.setting("webhook_url") or "")
    smtp = notify.smtp_settings() if args.email else None
    base = args.dashboard_url if args.dashboard_url is not None else notify.setting("dashboard_url")
    targets_ = ([(args.webhook_format, notify.redact_url(webhook))] if webhook else []) + \
        [("email", to.strip()) for to in (args.email or [])]
    for _, to in targets_:
        if not to:
            raise ValueError("--email needs an address")

    con = db.connect(args.db, read_only=True, wait_seconds=30, on_wait=lambda m: print(m, file=sys.stderr))
    try:
        t = triage.build(con, args.period, profile=profile, grain=args.grain, filters=filters, tz=args.tz,
                         as_of=args.as_of)
        scope = triage.scope_key(t.filters, t.tz)
        done = {(ch, to): notify.sent_at(con, t.period, t.profile, scope, ch, to) for ch, to in targets_}
    finally:
        con.close()
    link = digest.dashboard_link(base, t)
    failing = ("red", "amber") if args.fail_on == "amber" else ("red",)
    code = 1 if any(line.status in failing for line in t.lines) else 0
    if args.format == "json":
        print(digest.as_json(t, link, exit_code=code))
    elif args.format == "markdown":
        print(digest.markdown(t, link), end="")
    else:
        print(digest.text(t, link), end="")

    sent, failed = [], []
    for channel, to in targets_:
        when = done[(channel, to)]
        if when is not None and not args.force:
            print(f"not sent to {to} ({channel}): the {t.period} digest went there on {when:%Y-%m-%d %H:%M} UTC "
                  "(--force sends it again)", file=sys.stderr)
            continue
        try:
            if channel == "email":
                notify.send_email(smtp, digest.email_message(t, smtp.sender, [to], link))
            else:
                body = digest.slack_body(t, link) if channel == "slack" else digest.teams_body(t, link)
                notify.post_json(webhook, body)
        except notify.DeliveryError as e:
            failed.append(str(e))
            continue
        sent.append((channel, to))
        print(f"sent the {t.period} digest to {to} ({channel})", file=sys.stderr)
    if sent:
        con = db.connect(args.db, wait_seconds=60, on_wait=lambda m: print(m, file=sys.stderr))
        try:
            for channel, to in sent:
                notify.record(con, t.period, t.profile, scope, channel, to)
        finally:
            con.close()
    if failed:
        for message in failed:
            print(f"error: {message}", file=sys.stderr)
        return 3
    return code


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def _table(header, rows) -> str:
    rows = [[str(x) for x in r] for r in rows]
    widths = [max([len(str(h))] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(x.ljust(w) for x, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
