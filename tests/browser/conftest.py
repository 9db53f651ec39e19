"""Fixtures for browser tests: one Jupyter server and one headless Chromium per session,
a fresh browser context per test, screenshots and logs in ``artifacts/browser/``.

Fixtures:
    jupyter_server   (session)  JupyterServer: .base_url, .root_dir, .url(), .api()
    browser          (session)  playwright Browser on the system Chromium
    page             (function) a fresh Page (own context); screenshot saved at teardown
    notebook         (function) factory: notebook(cells, app="lab", name=None) -> Notebook
    browser_artifacts (session) Path of artifacts/browser/

Without Chromium or Playwright the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .chromium import CHROMIUM_ARGS, chromium_executable
from .jupyter_server import JupyterServer, launch_jupyter_server
from .notebook_page import App, Notebook, _safe, open_notebook, write_notebook

_FAILED_KEY = pytest.StashKey[bool]()
_REPORTS_KEY = pytest.StashKey[dict]()
_SHOT_KEY = pytest.StashKey[bool]()
_CONSOLE_KEY = pytest.StashKey[list]()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    """Skip (locally) or fail (under CI=true) because the browser stack cannot run."""
    if _in_ci():
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_REPORTS_KEY, {})[report.when] = report
    if report.failed:
        item.session.stash[_FAILED_KEY] = True
    return report


def _failed(request) -> bool:
    reports = request.node.stash.get(_REPORTS_KEY, {})
    return any(r.failed for r in reports.values())


@pytest.fixture(scope="session")
def browser_artifacts(artifacts_dir) -> Path:
    path = Path(artifacts_dir) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


_EARLY_KEY = pytest.StashKey[tuple]()


def _launch(workdir: Path) -> JupyterServer:
    return launch_jupyter_server(workdir)


def pytest_collection_finish(session):
    """Launch the server as soon as browser tests are collected, so that its start-up
    (~5-10 s) overlaps TensorFlow's import and Chromium's launch; ``jupyter_server`` then
    only waits for it."""
    here = Path(__file__).parent
    if session.config.option.collectonly or not any(
            here in Path(str(item.fspath)).parents for item in session.items):
        return
    try:
        import jupyterlab  # noqa: F401
        import notebook  # noqa: F401
    except ImportError:
        return  # the fixture reports it
    workdir = Path(tempfile.mkdtemp(prefix="rw-jupyter-"))
    try:
        session.stash[_EARLY_KEY] = (workdir, _launch(workdir))
    except Exception:  # the fixture tries again and reports the error
        shutil.rmtree(workdir, ignore_errors=True)


def pytest_sessionfinish(session):
    """Stop an early-launched server that no test used (all browser tests skipped)."""
    early = session.stash.get(_EARLY_KEY, None)
    if early is not None:
        workdir, server = early
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def jupyter_server(request, browser_artifacts):
    """A ``jupyter lab`` server (Notebook 7 included) in a temp dir; stopped at the end."""
    for module in ("jupyterlab", "notebook", "ipykernel", "nbformat"):
        try:
            __import__(module)
        except ImportError as exc:
            _unavailable(f"{module} is not installed: {exc}")
    early = request.session.stash.get(_EARLY_KEY, None)
    if early is not None:
        del request.session.stash[_EARLY_KEY]
        workdir, server = early
    else:
        workdir = Path(tempfile.mkdtemp(prefix="rw-jupyter-"))
        server = _launch(workdir)
    for attempt in range(3):
        try:
            server.wait_ready()
            break
        except RuntimeError as exc:
            shutil.copy(server.log_path, browser_artifacts / "jupyter_server.log")
            # the free port was taken between choosing it and binding it: try another
            if attempt == 2 or "already in use" not in str(exc):
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            server = _launch(workdir)
    try:
        yield server
    finally:
        server.stop()
        if request.session.stash.get(_FAILED_KEY, False):
            shutil.copy(server.log_path, browser_artifacts / "jupyter_server.log")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium driven by Playwright (it cannot download browsers here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed: {exc}")
    executable = chromium_executable()
    if executable is None:
        _unavailable("no chromium on PATH (apt-get install chromium)")
    playwright = sync_playwright().start()
    try:
        # Playwright gives the browser a fresh temp profile (user-data-dir) itself.
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:
        playwright.stop()
        _unavailable(f"chromium ({executable}) did not start under playwright: {exc}")
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()


def _final_screenshot(request, page, folder: Path) -> None:
    """Once per test: ``<test>.png``, and on failure ``<test>.console.log``."""
    if request.node.stash.get(_SHOT_KEY, False):
        return
    request.node.stash[_SHOT_KEY] = True
    console = request.node.stash.get(_CONSOLE_KEY, [])
    name = _safe(request.node.name)
    try:
        page.screenshot(path=str(folder / f"{name}.png"))
    except Exception as exc:  # a crashed page must not hide the test's own failure
        console.append(f"[harness] screenshot failed: {exc}")
    if _failed(request):
        (folder / f"{name}.console.log").write_text("\n".join(console))


@pytest.fixture
def page(request, browser, browser_artifacts):
    """A fresh page in its own browser context; at teardown a screenshot goes to
    ``artifacts/browser/<test>.png`` and, on failure, the console log beside it."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    request.node.stash[_CONSOLE_KEY] = console
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda err: console.append(f"[pageerror] {err}"))
    yield page
    _final_screenshot(request, page, browser_artifacts)
    context.close()


@pytest.fixture
def notebook(request, page, jupyter_server, browser_artifacts):
    """Factory: write a notebook of code cells, open it, wait for an idle kernel.

    ``notebook(cells, app="lab" | "notebook", name=None) -> Notebook``; its
    kernels are shut down after the test (after the screenshot). On failure the server
    log is copied to ``artifacts/browser/<test>.server.log``.
    """
    opened: list[Notebook] = []

    def make(cells, app: App = "lab", name: str | None = None) -> Notebook:
        name = name or f"{_safe(request.node.name)}_{len(opened)}.ipynb"
        write_notebook(jupyter_server.root_dir, name, list(cells))
        nb = open_notebook(page, jupyter_server, name, app, artifacts_dir=browser_artifacts)
        opened.append(nb)
        return nb

    yield make
    _final_screenshot(request, page, browser_artifacts)
    if _failed(request):
        log = browser_artifacts / f"{_safe(request.node.name)}.server.log"
        shutil.copy(jupyter_server.log_path, log)
    jupyter_server.shutdown_kernels()
