"""Headless Chromium, driven by Playwright: prints the review's HTML to PDF and draws its charts as PNG.

Charts become images inside the browser with ``Plotly.toImage``, the call
plotly's own image export (kaleido) makes in its headless Chrome, so a chart on
a slide is drawn by the same plotly.js that draws it in the app and the HTML.
One browser serves a whole export.

The browser is Debian's Chromium (``apt-get install -y chromium``), found at
``$KPI_CHROMIUM``, else ``/usr/bin/chromium`` or a chromium / chrome on the
PATH; Playwright's own browser download is not needed (it is launched with
``executable_path``).
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

ENV = "KPI_CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
              "/usr/bin/google-chrome-stable")
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
INSTALL_HINT = ("install Debian's Chromium (sudo apt-get install -y chromium) or point $KPI_CHROMIUM at a "
                "Chrome / Chromium binary")
RENDER_TIMEOUT_MS = 60_000
BASIC_MARK = "plotly.js (basic - minified)"  # the banner of plotly.js's basic build (review/static)


class ExportError(RuntimeError):
    """The browser could not print the PDF or draw a chart (the message says what happened)."""


class BrowserMissingError(ExportError):
    """No headless browser to print the PDF or draw chart images with; the message says how to get one."""


def find_chromium() -> str | None:
    """Path of the Chromium (or Chrome) to use, or None."""
    env = os.environ.get(ENV)
    if env:
        return env if Path(env).exists() else None
    for path in CANDIDATES:
        if Path(path).exists():
            return path
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def available() -> tuple[bool, str]:
    """(True, path) when PDF and slide export can run, else (False, what to install)."""
    path = find_chromium()
    if path is None:
        where = f"${ENV} points at {os.environ[ENV]!r}, which does not exist" if os.environ.get(ENV) else \
            "no Chromium found"
        return False, f"PDF and slide export need a headless Chromium: {where}; {INSTALL_HINT}."
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False, "PDF and slide export need the playwright package: pip install -r requirements.txt."
    return True, path


def require() -> str:
    ok, what = available()
    if not ok:
        raise BrowserMissingError(what)
    return what


class Browser:
    """One headless Chromium for a whole export: PDF pages and chart images share it."""

    def __init__(self, path: str):
        self.path = path
        self._pw = None
        self._browser = None
        self._image_page = None
        self._image_page_basic = False  # its plotly.js is the basic build (review.html.plotly_js)
        self._tmp = None

    def __enter__(self) -> Browser:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        self._tmp = tempfile.TemporaryDirectory(prefix="kpi_review_")
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=self.path, args=ARGS, headless=True)
        except PlaywrightError as err:
            self.__exit__(None, None, None)
            raise BrowserMissingError(
                f"could not start {self.path}: {str(err).strip().splitlines()[0]}; {INSTALL_HINT}.") from None
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._pw is not None:
                self._pw.stop()
            if self._tmp is not None:
                self._tmp.cleanup()
            self._browser = self._pw = self._tmp = self._image_page = None

    def new_page(self, viewport: dict | None = None, media: str | None = None):
        pg = self._browser.new_page(viewport=viewport or {"width": 1280, "height": 720})
        pg.set_default_timeout(RENDER_TIMEOUT_MS)
        if media:
            pg.emulate_media(media=media)
        return pg

    def open_html(self, pg, html: str) -> None:
        """Load an HTML document of the review and wait until its charts are drawn."""
        # A file URL rather than set_content: the document carries 1.2 MB (basic build) to 4.8 MB of plotly.js.
        f = Path(self._tmp.name) / f"page-{id(pg)}.html"
        f.write_text(html, encoding="utf-8")
        pg.goto(f.as_uri(), wait_until="load")
        pg.wait_for_function("window.reviewReady === true")
        error = pg.evaluate("window.reviewError || ''")
        if error:
            raise ExportError(f"a chart failed to draw: {error}")

    def pdf(self, html: str, width_in: float, height_in: float) -> bytes:
        """Print an HTML document of the review to PDF, pages of width_in x height_in inches."""
        # Print media and the page's size before the charts are drawn, so plotly sizes each chart to its
        # cell on the printed page.
        pg = self.new_page(viewport={"width": round(width_in * 96), "height": round(height_in * 96)}, media="print")
        self.open_html(pg, html)
        data = pg.pdf(width=f"{width_in}in", height=f"{height_in}in", print_background=True,
                      prefer_css_page_size=True, margin={"top": "0", "right": "0", "bottom": "0", "left": "0"})
        if self._image_page is None:
            self._image_page = pg  # plotly.js is loaded there: the chart images can use it
            self._image_page_basic = BASIC_MARK in html[:200_000]  # the basic build's banner, in the <head>
        else:
            pg.close()
        return data

    def pngs(self, specs: list[dict], scale: float = 2.0) -> list[bytes]:
        """PNG images of plotly figure specs (``{"data": ..., "layout": ...}``, each layout with its
        ``width`` and ``height`` in CSS px), drawn at ``scale`` times that size."""
        if not specs:
            return []
        from review.html import basic_enough, plotly_js

        if self._image_page is not None and not basic_enough(specs) and self._image_page_basic:
            self._image_page.close()  # its plotly.js is the basic build: these figures need the full one
            self._image_page = None
        if self._image_page is None:
            basic = basic_enough(specs)
            f = Path(self._tmp.name) / "plotly.js"
            f.write_text(plotly_js(basic), encoding="utf-8")
            (Path(self._tmp.name) / "images.html").write_text(
                "<!DOCTYPE html><html><head><meta charset='utf-8'><script src='plotly.js'></script></head>"
                "<body></body></html>", encoding="utf-8")
            self._image_page = self.new_page()
            self._image_page_basic = basic
            self._image_page.goto((Path(self._tmp.name) / "images.html").as_uri(), wait_until="load")
        out = []
        for spec in specs:
            opts = {"format": "png", "width": spec["layout"]["width"], "height": spec["layout"]["height"],
                    "scale": scale}
            url = self._image_page.evaluate(
                "([spec, opts]) => Plotly.toImage({data: spec.data, layout: spec.layout}, opts)", [spec, opts])
            out.append(base64.b64decode(url.split(",", 1)[1]))
        return out

    def screenshot(self, html: str, path, viewport: dict | None = None) -> None:
        """A PNG of an HTML document of the review (for looking at the output by eye)."""
        pg = self.new_page(viewport=viewport)
        try:
            self.open_html(pg, html)
            pg.screenshot(path=str(path), full_page=True)
        finally:
            pg.close()


_local = threading.local()  # Playwright's sync objects belong to the thread that made them


@contextmanager
def session():
    """Share one browser among the exports made inside the block, in this thread (``review.export_all``)."""
    current = getattr(_local, "browser", None)
    if current is not None:
        yield current
        return
    from playwright.sync_api import Error as PlaywrightError

    with Browser(require()) as b:
        _local.browser = b
        try:
            yield b
        except PlaywrightError as err:  # a timeout or a crashed page: a message, not a traceback
            raise ExportError(f"the browser failed while exporting: {str(err).strip().splitlines()[0]}") from None
        finally:
            _local.browser = None


def html_to_pdf(html: str, width_in: float, height_in: float) -> bytes:
    """Print an HTML document (the review's) to PDF, pages of width_in x height_in inches, charts drawn."""
    with session() as b:
        return b.pdf(html, width_in, height_in)


def figures_to_png(specs: list[dict], scale: float = 2.0) -> list[bytes]:
    """PNG images of plotly figure specs, each layout with its width and height (see Browser.pngs)."""
    if not specs:
        return []
    with session() as b:
        return b.pngs(specs, scale)
