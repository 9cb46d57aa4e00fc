"""Render a ``dvc plots show`` page in headless Chromium and report what it drew and what it fetched.

Chromium is driven over the Chrome DevTools Protocol on ``--remote-debugging-pipe`` (file descriptors
3 and 4, NUL-terminated JSON messages), so no Python package beyond the standard library is needed.
Every host name resolves to nothing (``--host-resolver-rules``), so a page that reaches for the
network fails visibly instead of depending on it, and the request is still recorded.

``check_plots_page(repo_root, dvc_output)`` is the assertion the tests use on a real pipeline's page.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe",
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome-error:")
# DVC's renderer extensions (dvc_render ImageRenderer / VegaRenderer) for expanding plot folders.
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".gif", ".png", ".svg"}
DATA_EXTENSIONS = {".json", ".yaml", ".yml", ".csv", ".tsv"}

# Runs in the page once it has loaded: waits until no chart is still rendering (the template's
# vegaEmbed wrapper sets data-plot-status) and every image has finished, then describes each plot div.
_SURVEY_JS = """
(async () => {
  const deadline = Date.now() + %(timeout_ms)d;
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
})()
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
    first of the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def require_chromium() -> str:
    """Return Chromium's path; skip the test when it is missing, but fail when ``CI`` is set."""
    chromium = find_chromium()
    if chromium is None:
        reason = "headless Chromium is needed to render the plots page (apt-get install chromium)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return chromium


# Chromium reads commands from fd 3 and writes replies to fd 4: this trampoline moves the two pipe
# ends there (via fresh copies, so that ends already numbered 3 or 4 cannot clobber each other) and
# then becomes Chromium. POSIX sh cannot name file descriptors above 9, hence Python.
_MOVE_FDS = """
import os, sys
commands, replies = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))
os.dup2(commands, 3)
os.dup2(replies, 4)
os.set_inheritable(3, True)  # dup2 onto itself (a copy that landed on 3 or 4) keeps close-on-exec
os.set_inheritable(4, True)
for fd in {int(sys.argv[1]), int(sys.argv[2]), commands, replies} - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


class _DevTools:
    """A minimal Chrome DevTools Protocol client over Chromium's ``--remote-debugging-pipe``."""

    def __init__(self, chromium: str, profile: Path):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _MOVE_FDS, str(to_browser_r), str(from_browser_w), chromium,
             *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                self._log.seek(0)
                raise RuntimeError(f"Chromium exited:\n{self._log.read().decode(errors='replace')[-3000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        """Send one command and return its result; events that arrive meanwhile go to ``events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        """Return the first event named ``method`` (already received or arriving within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._read_message(deadline))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()


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
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium executable found (set $CHROMIUM or install chromium)")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        tools = _DevTools(chromium, Path(profile))
        try:
            target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Network", "Page", "Runtime", "Log"):
                tools.send(f"{domain}.enable", session=session)
            tools.send("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session)
            tools.events.clear()
            tools.send("Page.navigate", {"url": url}, session)
            tools.wait_for("Page.loadEventFired", timeout)
            survey = tools.send("Runtime.evaluate", {
                "expression": _SURVEY_JS % {"timeout_ms": int(timeout * 1000)},
                "awaitPromise": True, "returnByValue": True}, session, timeout=timeout + 10)
            if "exceptionDetails" in survey:
                raise RuntimeError(f"survey script failed: {survey['exceptionDetails']}")
            if screenshot is not None:
                size = tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
                tools.send("Emulation.setDeviceMetricsOverride", {
                    "width": width, "height": int(size["height"]) + 1, "deviceScaleFactor": 1,
                    "mobile": False}, session)
                shot = tools.send("Page.captureScreenshot", {"format": "png"}, session, timeout=60)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        finally:
            tools.close()
    report = PageReport(url=url, plots=[PlotReport(**item) for item in survey["result"]["value"]])
    for event in tools.events:
        params = event.get("params", {})
        method = event.get("method")
        if method == "Network.requestWillBeSent":
            report.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            report.exceptions.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            report.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                  for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            report.console_errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
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
