"""The KPI digest: one period's triage (``kpis.triage``) written for a person or a machine.

``text``, ``markdown`` and ``as_json`` are what ``python -m kpis check``
prints; ``slack_body`` and ``teams_body`` are the JSON a Slack or Microsoft
Teams incoming webhook takes; ``email_message`` the e-mail. All of them list
the same things in the same order: the summary, the off-target KPIs (new
breaches marked, each with its drivers), near target, on target, where the
period in progress is heading, and a link back to the dashboard view.

Data (team names, target words, drivers) is escaped for each medium: markdown
through ``kpis.format.md_text``, Slack's mrkdwn by its three entities, HTML by
``html.escape``; a link is only ever the dashboard URL built here.
"""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from urllib.parse import urlencode, urlsplit

from kpis import format as fmt
from kpis.lines import TIER_TITLES, KpiLine
from kpis.triage import DIMENSIONS, Triage

DASHBOARD_URL_ENV = "KPI_DASHBOARD_URL"
SCORECARD_PATH = ""  # the Scorecard is app.py's default page: the app's root (/scorecard is "Page not found")


def dashboard_link(base: str | None, t: Triage) -> str:
    """The Scorecard of ``t``'s view in the app: ``BASE/?grain=month&period=2026-10&profile=lead&team=..``
    with the URL state the app reads (``ui.state``); '' without a base URL. Raises ValueError for a base that
    is not an http(s) URL."""
    if not base:
        return ""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"the dashboard URL must be an http(s) address without a query, not {base!r}")
    params = {"grain": t.grain, "period": t.period, "profile": t.profile or "(none)"}
    if t.tz != "UTC":
        params["tz"] = t.tz
    for dim in DIMENSIONS:
        if t.filters.get(dim):
            params[dim] = ",".join(t.filters[dim])
    return f"{base.rstrip('/')}/{SCORECARD_PATH}?{urlencode(params)}"


def title(t: Triage) -> str:
    """'KPI check 2026-10: 4 off target (2 new), 3 near, 11 on target · lead · all teams, services and models'."""
    judged = [s for s in t.summary.split(", ") if "without a target" not in s] or ["nothing judged"]
    new = len(t.new_breaches)
    if new and judged[0].endswith("off target"):
        judged[0] += f" ({new} new)"
    return f"KPI check {t.period_text}: {', '.join(judged)} · {t.profile or 'no profile'} · {t.filters_text}"


def _tiers(t: Triage):
    for status in ("red", "amber", "green"):
        rows = [line for line in t.lines if line.status == status]
        if rows:
            yield status, rows


def _target(line: KpiLine) -> str:
    return fmt.target_text(line.target)


def _detail(line: KpiLine) -> list[str]:
    """The lines under a KPI: its change, the verdict, the small sample, the drivers, its projections."""
    out = [line.change_line] if line.change_line else []
    if line.verdict:
        out.append(line.verdict)
    if line.sample_text:
        out.append(f"few events: {line.sample_text}")
    if line.drivers and line.status in ("red", "amber"):
        out.append(line.drivers)
    out += [f"{p.label}: {p.text}" for p in line.projections]
    return [x for x in out if x]


def _heading_rows(t: Triage) -> list[tuple[KpiLine, list[str]]]:
    """The KPIs of the period in progress worth a line: not on pace (or not judged on pace) for the period or
    its quarter; the ones on pace are named in :func:`_on_pace`."""
    return [(line, [f"{p.label}: {p.text}" for p in line.projections]) for line in t.heading
            if line.projections and not _is_on_pace(line)]


def _is_on_pace(line: KpiLine) -> bool:
    return all(p.reach == "on pace" for p in line.projections)


def _on_pace(t: Triage) -> str:
    """'On pace for the period and its quarter: Rollback rate, Cost per 1k predictions' ('' when none)."""
    names = [line.title for line in t.heading if line.projections and _is_on_pace(line)]
    return f"On pace for the target: {', '.join(names)}." if names else ""


def text(t: Triage, link: str = "") -> str:
    """The digest as plain text (the terminal, the e-mail body)."""
    out = [title(t), f"As of {t.as_of} · targets: {t.profile_title or t.profile or 'none'}", ""]
    for status, rows in _tiers(t):
        out.append(f"{TIER_TITLES[status].upper()} ({len(rows)})")
        for line in rows:
            new = "[NEW] " if t.is_new_breach(line) else ""
            out.append(f"  {new}{line.title}: {line.value_text} ({line.status_text}"
                       + (f"; {_target(line)})" if line.target else ")"))
            out += [f"      {x}" for x in _detail(line)]
        out.append("")
    rest = [line for line in t.lines if line.status not in ("red", "amber", "green")]
    if rest:
        out += [f"{len(rest)} KPIs without a target or not judged.", ""]
    heading = _heading_rows(t)
    if (heading or _on_pace(t)) and t.heading_period != t.period_text:
        out.append(f"WHERE {t.heading_period.upper()} IS HEADING")
        for line, texts in heading:
            out.append(f"  {line.title}: {line.value_text} to date ({line.status_text})")
            out += [f"      {x}" for x in texts]
        if _on_pace(t):
            out.append(f"  {_on_pace(t)}")
        out.append("")
    if link:
        out.append(f"Open in the dashboard: {link}")
    return "\n".join(out).rstrip() + "\n"


def markdown(t: Triage, link: str = "") -> str:
    """The digest as markdown (a GitHub issue, a chat); every data value escaped."""
    e = fmt.md_text
    out = [f"## {e(title(t))}", "", f"As of {t.as_of} · targets: {e(t.profile_title or t.profile or 'none')}", ""]
    for status, rows in _tiers(t):
        out += [f"### {TIER_TITLES[status]} ({len(rows)})", ""]
        for line in rows:
            new = "**new** · " if t.is_new_breach(line) else ""
            target = f"; {e(_target(line))}" if line.target else ""
            out.append(f"- {new}**{e(line.title)}**: {e(line.value_text)} ({e(line.status_text)}{target})")
            out += [f"  - {e(x)}" for x in _detail(line)]
        out.append("")
    heading = _heading_rows(t)
    if (heading or _on_pace(t)) and t.heading_period != t.period_text:
        out += [f"### Where {e(t.heading_period)} is heading", ""]
        for line, texts in heading:
            out.append(f"- **{e(line.title)}**: {e(line.value_text)} to date ({e(line.status_text)})")
            out += [f"  - {e(x)}" for x in texts]
        if _on_pace(t):
            out.append(f"- {e(_on_pace(t))}")
        out.append("")
    if link:
        out.append(f"[Open in the dashboard]({link})")
    return "\n".join(out).rstrip() + "\n"


def _line_record(t: Triage, line: KpiLine) -> dict:
    return {
        "kpi": line.kpi, "title": line.title, "status": line.status, "value": line.value, "unit": line.unit,
        "n": line.n, "value_text": line.value_text, "target": line.target or None,
        "previous_period": line.previous_period, "previous_value": line.previous_value,
        "previous_status": t.previous_status.get(line.kpi), "new_breach": t.is_new_breach(line),
        "change": line.change_line or None, "verdict": line.verdict or None, "sample": line.sample_text or None,
        "drivers": line.drivers or None,
        "projections": [{"period": p.period, "elapsed_days": p.elapsed_days, "days": p.total_days,
                         "to_date": p.to_date, "projected": p.projected, "method": p.method,
                         "interval": list(p.interval) if p.interval else None, "reach": p.reach or None,
                         "text": p.text} for p in line.projections],
    }


def as_json(t: Triage, link: str = "", exit_code: int | None = None) -> str:
    """The digest as JSON: the period, the summary and one record per KPI in triage order."""
    doc = {"period": t.period, "period_text": t.period_text, "grain": t.grain, "as_of": str(t.as_of),
           "profile": t.profile, "filters": t.filters, "tz": t.tz, "summary": t.summary,
           "off_target": len(t.off_target), "new_breaches": [line.kpi for line in t.new_breaches],
           "kpis": [_line_record(t, line) for line in t.lines],
           "heading": {"period": t.heading_period,
                       "kpis": [_line_record(t, line) for line in t.heading]} if t.heading_period else None,
           "link": link or None}
    if exit_code is not None:
        doc["exit_code"] = exit_code
    return json.dumps(doc, indent=1)


def _slack_escape(s: str) -> str:
    """Slack mrkdwn's control characters (a '<' starts a link or a mention)."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(t: Triage, link: str = "") -> dict:
    """A Slack incoming-webhook body: ``text`` (the notification) and mrkdwn section blocks."""
    e = _slack_escape
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": f"KPI check · {t.period_text}"[:150]}},
              {"type": "section", "text": {"type": "mrkdwn", "text": e(title(t))}}]
    for status, rows in _tiers(t):
        if status == "green":
            names = ", ".join(line.title for line in rows)
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"*{TIER_TITLES[status]} ({len(rows)})*: {e(names)}"}})
            continue
        body = [f"*{TIER_TITLES[status]} ({len(rows)})*"]
        for line in rows:
            new = ":new: " if t.is_new_breach(line) else ""
            body.append(f"• {new}*{e(line.title)}*: {e(line.value_text)}" + (f" ({e(_target(line))})" if line.target
                                                                               else ""))
            body += [f"    {e(x)}" for x in _detail(line)]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(body)[:2900]}})
    heading = _heading_rows(t)
    if (heading or _on_pace(t)) and t.heading_period != t.period_text:
        body = [f"*Where {e(t.heading_period)} is heading*"]
        for line, texts in heading:
            body.append(f"• *{e(line.title)}*: {e(line.value_text)} to date")
            body += [f"    {e(x)}" for x in texts]
        if _on_pace(t):
            body.append(e(_on_pace(t)))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(body)[:2900]}})
    if link:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{link}|Open in the dashboard>"}})
    return {"text": title(t), "blocks": blocks}


def _teams_escape(s: str) -> str:
    """The characters that make emphasis, links or HTML in an Adaptive Card's markdown, backslash-escaped (the
    rest, such as '-' and ':', left as they are so the card reads cleanly)."""
    return re.sub(r"([\\`*_\[\]<>])", r"\\\1", str(s))


def teams_body(t: Triage, link: str = "") -> dict:
    """A Microsoft Teams webhook body (a Workflows 'post to a channel when a webhook request is received'
    flow, or an incoming webhook): a message with one Adaptive Card."""
    e = _teams_escape

    def block(s: str, **kw) -> dict:
        return {"type": "TextBlock", "text": s, "wrap": True, **kw}

    body = [block(f"KPI check · {e(t.period_text)}", size="Large", weight="Bolder"), block(e(title(t)))]
    for status, rows in _tiers(t):
        body.append(block(f"{TIER_TITLES[status]} ({len(rows)})", weight="Bolder", separator=True))
        for line in rows:
            new = "NEW · " if t.is_new_breach(line) else ""
            body.append(block(f"{new}**{e(line.title)}**: {e(line.value_text)}"
                              + (f" ({e(_target(line))})" if line.target else "")))
            if status != "green":
                body += [block(e(x), isSubtle=True, spacing="None") for x in _detail(line)]
    heading = _heading_rows(t)
    if (heading or _on_pace(t)) and t.heading_period != t.period_text:
        body.append(block(f"Where {e(t.heading_period)} is heading", weight="Bolder", separator=True))
        for line, texts in heading:
            body.append(block(f"**{e(line.title)}**: {e(line.value_text)} to date"))
            body += [block(e(x), isSubtle=True, spacing="None") for x in texts]
        if _on_pace(t):
            body.append(block(e(_on_pace(t))))
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the dashboard", "url": link}]
    return {"type": "message", "summary": title(t),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def email_message(t: Triage, sender: str, to: list[str], link: str = "") -> EmailMessage:
    """The digest as an e-mail: the plain-text digest as its body."""
    msg = EmailMessage()
    msg["Subject"] = title(t).replace("\n", " ")
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg.set_content(text(t, link))
    return msg
