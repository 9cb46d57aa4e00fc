"""Render a ``dvc plots show`` page in headless Chromium and report what it drew and what it fetched.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright for Python through
``executable_path``: nothing is downloaded (no ``playwright install``) and the page is opened as a
``file://`` URL. Every host name resolves to nothing (``--host-resolver-rules``), so a page that
reaches for the network fails visibly instead of depending on it, and the request is still recorded.

``check_plots_page(repo_root, dvc_output)`` is the assertion the tests use on a real pipeline's page.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

# Added to Playwright's own switches (headless, --no-first-run, --disable-background-networking,
# --disable-component-update, --disable-sync, ...): offline, no GPU, no sandbox (root in containers).
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-extensions", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DEBIAN_CHROMIUM = "/usr/bin/chromium"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:")
# DVC's renderer extensions (dvc_render ImageRenderer / VegaRenderer) for expanding plot folders.
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".gif", ".png", ".svg"}
DATA_EXTENSIONS = {".json", ".yaml", ".yml", ".csv", ".tsv"}

# Runs in the page once it has loaded: waits until no chart is still rendering (the template's
# vegaEmbed wrapper sets data-plot-status) and every image has finished, then describes each plot div.
_SURVEY_JS = """
async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  const busy = () => document.querySelector('[data-plot-status="rendering"]') !== null
      || [...document.images].some((img) => !img.complete);
  while (busy() && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 50)); }
  const painted = (canvas) => {
    try {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
    } catch (e) { return false; }
    return false;
  };
  // a visible data mark: a path with geometry (Vega leaves `d` out for NaN data), non-empty text, ...
  const visible = (el) => {
    if (el.getAttribute('opacity') === '0') return false;
    switch (el.tagName.toLowerCase()) {
      case 'path': { const d = el.getAttribute('d') || ''; return d !== '' && !d.includes('NaN'); }
      case 'text': return el.textContent.trim() !== '';
      case 'line': case 'rect': case 'circle': case 'image': return true;
      default: return false;
    }
  };
  return [...document.querySelectorAll('body > div[id]')].map((div) => {
    const marks = [...div.querySelectorAll('svg g.role-mark:not([aria-hidden="true"])')]
        .reduce((n, g) => n + [...g.children].filter(visible).length, 0);
    const images = [...div.querySelectorAll('img')];
    return {
      id: div.id,
      status: div.getAttribute('data-plot-status'),
      error: div.getAttribute('data-plot-error'),
      svgs: div.querySelectorAll('svg').length,
      marks: marks,
      canvases_painted: [...div.querySelectorAll('canvas')].filter(painted).length,
      images: images.length,
      images_loaded: images.filter((img) => img.complete && img.naturalWidth > 0).length,
      text: div.innerText.slice(0, 300),
    };
  });
}
"""


@dataclass
class PlotReport:
    """One plot div of the page: what the template's wrapper said and what is drawn in it."""

    id: str
    status: str | None  # "ok" / "error" / "rendering" for Vega charts, None for images
    error: str | None
    svgs: int
    marks: int  # visible elements in Vega's data-mark groups (not axes, legends, titles, empty paths)
    canvases_painted: int
    images: int
    images_loaded: int
    text: str

    def describe(self) -> str:
        """One line for failure messages."""
        if self.images:
            return f"{self.images_loaded} of {self.images} images loaded"
        return (f"status={self.status} error={self.error!r} svgs={self.svgs} marks={self.marks} "
                f"painted canvases={self.canvases_painted}")

    @property
    def drawn(self) -> bool:
        """True if the div holds a chart with marks or only images that all loaded."""
        if self.images:
            return self.images_loaded == self.images
        return self.status != "error" and (self.marks > 0 or self.canvases_painted > 0)


@dataclass
class PageReport:
    """What headless Chromium saw for one page: plot divs, requests, console errors, exceptions."""

    url: str
    plots: list[PlotReport]
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    @property
    def external_requests(self) -> list[str]:
        """Requests to anything but the file system (http, https, ws, ...)."""
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]

    def plot(self, plot_id: str) -> PlotReport | None:
        return next((p for p in self.plots if p.id == plot_id), None)


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``$CHROMIUM`` if set (None if it is not one), else the
    first of the usual names on PATH, else Debian's ``/usr/bin/chromium``."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    found = next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)
    return found or shutil.which(DEBIAN_CHROMIUM)


def require_chromium() -> str:
    """Return Chromium's path; skip the test when it (or Playwright) is missing, but fail when ``CI``
    is set."""
    chromium = find_chromium()
    reason = None
    if chromium is None:
        reason = "headless Chromium is needed to render the plots page (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401  only checking it is installed
        except ImportError:
            reason = "Playwright drives Chromium for the plots page (pip install -r requirements.txt)"
    if reason is not None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return chromium


def render_page(page: Path, screenshot: Path | None = None, width: int = 1400,
                timeout: float = 30.0, chromium: str | None = None) -> PageReport:
    """Open ``page`` (an ``index.html`` written by DVC) in headless Chromium and survey it.

    Parameters
    ----------
    page : Path
        The HTML file to open (as a ``file://`` URL).
    screenshot : Path, optional
        Where to write a PNG of the whole page, ``width`` CSS pixels wide.
    timeout : float
        Seconds allowed for loading and for the charts to finish rendering.
    chromium : str, optional
        The browser executable; default ``find_chromium()``.

    Returns
    -------
    PageReport
        One ``PlotReport`` per top-level ``div`` with an id, every URL the page requested, console
        errors and uncaught exceptions.
    """
    from playwright.sync_api import sync_playwright

    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium executable found (set $CHROMIUM or install chromium)")
    url = Path(page).resolve().as_uri()
    report = PageReport(url=url, plots=[])

    def console(message) -> None:  # console.error() calls and Chromium's own errors (failed loads)
        if message.type == "error":
            report.console_errors.append(f"{message.location.get('url', '')}: {message.text}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS),
                                             headless=True, timeout=timeout * 1000)
        try:
            context = browser.new_context(viewport={"width": width, "height": 1000}, device_scale_factor=1)
            context.on("request", lambda request: report.requests.append(request.url))
            tab = context.new_page()
            tab.on("console", console)
            tab.on("pageerror", lambda error: report.exceptions.append(error.stack or str(error)))
            tab.goto(url, wait_until="load", timeout=timeout * 1000)
            survey = tab.evaluate(_SURVEY_JS, int(timeout * 1000))
            if screenshot is not None:  # the whole page, width CSS pixels wide
                tab.screenshot(path=str(screenshot), full_page=True, timeout=60_000)
        finally:
            browser.close()
    report.plots = [PlotReport(**item) for item in survey]
    return report


def _div_id(name: str) -> str:
    from dvc_render.base import Renderer

    return Renderer.remove_special_chars(name)


def declared_plots(repo_root: Path) -> dict[str, str]:
    """Plots that ``repo_root/dvc.yaml`` declares, as {DVC's div id: what declared it}.

    A plot whose id is a folder (top-level ``plots:`` or a stage's ``plots:`` output) becomes one
    plot per data or image file in it, as DVC renders it; any other id is one plot.
    """
    config = yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    entries = list(config.get("plots") or [])
    for stage in (config.get("stages") or {}).values():
        if isinstance(stage, dict):
            entries += stage.get("plots") or []
    expected: dict[str, str] = {}
    for item in entries:
        entry, props = next(iter(item.items())) if isinstance(item, dict) else (item, None)
        folder = repo_root / entry
        # an id is a path unless its y names files (then it is just the plot's name), as in DVC
        if folder.is_dir() and not isinstance((props or {}).get("y"), dict):
            files = sorted(p for p in folder.rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS | DATA_EXTENSIONS)
            for path in files:
                expected[_div_id(path.relative_to(repo_root).as_posix())] = f"{entry} ({path.name})"
        else:
            expected[_div_id(entry)] = entry
    return expected


def page_from_output(dvc_output: str) -> Path:
    """The ``index.html`` path in ``dvc plots show``/``diff`` output (DVC prints its file:// URL)."""
    for word in dvc_output.split():
        if word.startswith("file://") and word.endswith(".html"):
            return Path(urllib.request.url2pathname(urllib.parse.urlparse(word).path))
    raise AssertionError(f"no file:// URL of the page in DVC's output:\n{dvc_output}")


def check_plots_page(repo_root: Path, dvc_output: str, screenshot: Path | None = None) -> PageReport:
    """Assert that the page ``dvc plots show`` just wrote draws every plot ``dvc.yaml`` declares, offline.

    Parameters
    ----------
    repo_root : Path
        The repository whose ``dvc.yaml`` declares the plots.
    dvc_output : str
        What ``dvc plots show`` (or ``dvc plots diff``) printed, stdout and stderr together.
    screenshot : Path, optional
        Where to save a PNG of the page, for a person to look at.

    Raises
    ------
    AssertionError
        If DVC reported plots it failed to load, a declared plot drew no chart (no SVG/canvas with
        marks, or an image that did not load), the page requested anything outside the file system,
        or a script threw.
    """
    require_chromium()
    problems = [f"DVC: {line.strip()}" for line in dvc_output.splitlines()
                if "failed to load" in line.lower()]
    report = render_page(page_from_output(dvc_output), screenshot=screenshot)
    problems += [f"network request from the page: {url}" for url in report.external_requests]
    problems += [f"script error in the page: {error}" for error in report.exceptions]
    for div_id, declared in declared_plots(Path(repo_root)).items():
        plot = report.plot(div_id)
        if plot is None:
            problems.append(f"no chart for {declared}: no div with id {div_id!r} in the page")
        elif not plot.drawn:
            problems.append(f"no chart for {declared}: {plot.describe()}")
    assert not problems, f"{report.url}:\n" + "\n".join(problems)
    return report
