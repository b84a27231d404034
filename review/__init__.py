"""The operational review pack: one review model, rendered as HTML, PDF and PowerPoint.

::

    import kpis, review
    con = kpis.connect("kpi.duckdb", read_only=True)
    r = review.build_review(con, period="2026-Q3", profile="lead", filters={"team": ["search"]})
    review.export(r, "review.pdf")        # or .html, .pptx

``build_review`` computes everything once (``kpis.compute`` with the profile's
targets, ``kpis.details`` for the notable events) and formats it as the app
does; the exporters only lay the model out. PDF and slides need a headless
Chromium (``review.browser``). This package never imports streamlit.
"""

from __future__ import annotations

from pathlib import Path

from review import commentary
from review.browser import BrowserMissingError, ExportError
from review.model import Chart, KpiLine, Review, ReviewError, Section, Table, build_review, parse_period, scope_key

FORMATS = {".html": "HTML", ".pdf": "PDF", ".pptx": "PowerPoint"}
MIME = {".html": "text/html", ".pdf": "application/pdf",
        ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
NEEDS_BROWSER = (".pdf", ".pptx")

__all__ = ["build_review", "export", "render", "Review", "Section", "KpiLine", "Chart", "Table", "ReviewError",
           "BrowserMissingError", "ExportError", "export_all", "check_format", "check_outputs", "FORMATS", "MIME", "commentary", "parse_period", "scope_key", "file_name"]


def _suffix(fmt_or_path: str) -> str:
    text = str(fmt_or_path).lower()
    suffix = Path(text).suffix or f".{text.lstrip('.')}"
    if suffix not in FORMATS:
        raise ValueError(f"cannot write a review as {suffix or text!r}; use .html, .pdf or .pptx")
    return suffix


def check_format(path) -> str:
    """The format of a file name ('.pdf'); a ValueError naming the accepted ones for any other extension."""
    return _suffix(Path(path).suffix or str(path))


def check_outputs(paths) -> None:
    """Fail early, before any work, on a file name of an unknown format or a PDF / deck without a browser."""
    from review import browser

    suffixes = [check_format(p) for p in paths]
    if any(s in NEEDS_BROWSER for s in suffixes):
        browser.require()


def render(review: Review, fmt: str) -> bytes:
    """The review as the bytes of a file of format ``fmt`` (html, pdf or pptx)."""
    suffix = _suffix(fmt)
    if suffix == ".html":
        from review import html

        return html.render(review).encode("utf-8")
    if suffix == ".pdf":
        from review import pdf

        return pdf.render(review)
    from review import pptx

    return pptx.render(review)


def export(review: Review, path) -> Path:
    """Write the review to ``path``; the format comes from its extension (.html, .pdf, .pptx)."""
    path = Path(path)
    data = render(review, path.suffix or str(path))
    path.write_bytes(data)
    return path


def export_all(review: Review, paths) -> list[Path]:
    """Write the review in several formats (one browser serves the PDF and the slides)."""
    from contextlib import nullcontext

    from review import browser

    paths = [Path(p) for p in paths]
    for p in paths:
        _suffix(p.suffix or str(p))
    needs = any(p.suffix.lower() in NEEDS_BROWSER for p in paths)
    with browser.session() if needs else nullcontext():
        return [export(review, p) for p in paths]


def file_name(review: Review, fmt: str) -> str:
    """'review-2026-Q3-lead.pdf' (with the scope when the review is filtered)."""
    suffix = _suffix(fmt)
    parts = ["review", review.period, review.profile or "no-targets"]
    if review.scope != "all":
        parts.append("".join(c if c.isalnum() or c in "-_" else "-" for c in review.scope)[:60].strip("-"))
    return "-".join(parts) + suffix
