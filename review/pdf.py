"""The review as a PDF: its HTML printed by headless Chromium, one section per 16:9 page.

The PDF is the HTML export printed (``review.html``'s print stylesheet), so the
two cannot disagree; the charts are drawn by plotly.js in the browser before
printing, sized to their cell on the page.
"""

from __future__ import annotations

from pathlib import Path

from review import browser, html
from review.model import Review


def render(review: Review) -> bytes:
    """The PDF's bytes. Raises browser.BrowserMissingError without a Chromium."""
    return browser.html_to_pdf(html.render(review), html.PAGE_WIDTH_IN, html.PAGE_HEIGHT_IN)


def write(review: Review, path) -> None:
    Path(path).write_bytes(render(review))
