"""Helpers for browser tests: a real Jupyter server, notebooks on disk, and a driver for a
notebook opened in JupyterLab 4 or Notebook 7 through Playwright.

Everything waits on state (server status, kernel status, execution counts, DOM), never on
sleeps. The notebook is read through ``window.jupyterapp`` (the server runs with
``expose_app_in_browser``), the same object in JupyterLab and Notebook 7.

Example (with the fixtures of conftest.py):
    nb = notebook(["import risk_widgets as rw", "m = ...", "ed = rw.GraphEditor(m)\ned"])
    nb.run_all()                        # raises NotebookError with the traceback on error
    view = nb.editor()                  # EditorView over the first .rw-editor output
    view.click_node("dense")            # clicks the node's box on the canvas
    assert view.selected() == ["dense"]
    assert nb.execute("print(ed.selection)") == "['dense']"
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

App = Literal["lab", "notebook"]

_log = logging.getLogger("risk_widgets.browser_tests")

#: Default time allowed for one notebook run (the first TensorFlow import takes ~10 s).
RUN_TIMEOUT_S = 120.0
#: Default time allowed for the page to load the app and start the kernel.
OPEN_TIMEOUT_S = 90.0

# Settings forced on both apps (JupyterLab and Notebook 7 share the same settings dir).
SETTINGS_OVERRIDES: dict[str, dict[str, Any]] = {
    # JupyterLab 4 virtualises long notebooks: keep every cell in the DOM.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    # No news, no update checks, no toasts in screenshots.
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (kernel tracebacks are coloured)."""
    return _ANSI.sub("", text)


class NotebookError(AssertionError):
    """A cell raised in the kernel, the kernel died, or a notebook never finished."""


# --------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` server; Notebook 7 is served by the same process."""

    base_url: str  # "http://127.0.0.1:PORT/" (always ends with "/")
    root_dir: Path  # the server's root: notebooks written here can be opened
    log_path: Path  # server stdout + stderr
    process: subprocess.Popen = field(repr=False)
    command: list[str] = field(default_factory=list, repr=False)
    ready: bool = False

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until ``/api/status`` answers; on failure stop the server and raise.

        Raises:
            RuntimeError: the server exited or did not answer in time; the message ends
                with the server log.
        """
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(timeout=5)  # never leave an orphan server behind
            raise

    def _wait_ready(self, timeout: float) -> None:
        start = time.monotonic()
        while not self.ready:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with code {self.process.returncode} before "
                    f"answering /api/status.\ncommand: {' '.join(self.command)}"
                    f"\n--- server log ---\n{self.log()}")
            try:
                self.api("api/status", timeout=2)
                self.ready = True
                _log.info("jupyter lab ready at %s after %.1f s more", self.base_url,
                          time.monotonic() - start)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() - start > timeout:
                raise RuntimeError(
                    f"jupyter lab did not answer /api/status within {timeout:.0f} s."
                    f"\n--- server log ---\n{self.log()}")
            # Poll the port: the server gives no other signal that it is ready.
            time.sleep(0.2)

    def url(self, path: str = "") -> str:
        """Absolute URL of ``path`` (relative to the server's base URL)."""
        return self.base_url + path.lstrip("/")

    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 10.0):
        """Call the REST API (``path`` like ``"api/kernels"``); returns parsed JSON or None."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url(path), data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def log(self) -> str:
        """The server's log so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def shutdown_kernels(self) -> None:
        """Shut down every session and kernel (frees the memory TensorFlow kernels hold)."""
        with contextlib.suppress(Exception):
            for session in self.api("api/sessions"):
                with contextlib.suppress(Exception):
                    self.api(f"api/sessions/{session['id']}", method="DELETE")
        with contextlib.suppress(Exception):
            for kernel in self.api("api/kernels"):
                with contextlib.suppress(Exception):
                    self.api(f"api/kernels/{kernel['id']}", method="DELETE")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop kernels and the server (``/api/shutdown``, then SIGTERM, then SIGKILL)."""
        if self.process.poll() is not None:
            return
        self.shutdown_kernels()
        with contextlib.suppress(Exception):
            self.api("api/shutdown", method="POST", timeout=5)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_jupyter_server(workdir: Path, *, timeout: float = 90.0) -> JupyterServer:
    """Start a server (``launch_jupyter_server``) and wait until it answers; see there."""
    server = launch_jupyter_server(workdir)
    server.wait_ready(timeout)
    return server


def launch_jupyter_server(workdir: Path) -> JupyterServer:
    """Launch ``python -m jupyter lab`` on a free 127.0.0.1 port, isolated in ``workdir``;
    returns at once (call ``.wait_ready()`` before using it).

    ``workdir`` gets ``root/`` (the server's root dir), ``settings/`` (app settings with
    ``overrides.json``), ``user-settings/``, ``workspaces/``, ``config/``, ``runtime/`` and
    ``server.log``. No token, no password, no browser, no news or update checks, windowing
    mode ``none``, ``window.jupyterapp`` exposed in JupyterLab and Notebook 7.
    """
    workdir = Path(workdir)
    dirs = {name: workdir / name for name in (
        "root", "settings", "user-settings", "workspaces", "config", "runtime", "data")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    (dirs["settings"] / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES, indent=1))

    port = free_port()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),  # ignore the user's ~/.jupyter config
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["user-settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        JUPYTER_PLATFORM_DIRS="1",
        TF_CPP_MIN_LOG_LEVEL=env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        KERAS_BACKEND=env.get("KERAS_BACKEND", "tensorflow"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    app_options = [
        "expose_app_in_browser=True",
        f"app_settings_dir={dirs['settings']}",
        f"user_settings_dir={dirs['user-settings']}",
        f"workspaces_dir={dirs['workspaces']}",
    ]
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={dirs['root']}",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *(f"--LabApp.{opt}" for opt in app_options),
        *(f"--JupyterNotebookApp.{opt}" for opt in app_options),
    ]
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=dirs["root"], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
    return JupyterServer(f"http://127.0.0.1:{port}/", dirs["root"], log_path, process, cmd)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies (Linux), so a killed pytest
    leaves no server behind (the server shuts its kernels down on SIGTERM)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# ------------------------------------------------------------------------ notebooks


def write_notebook(root_dir: Path, name: str, cells: Sequence[str]) -> Path:
    """Write a notebook of code cells (their sources) at ``root_dir/name``; returns its path.

    The kernelspec is ``python3``, so neither app asks which kernel to start.
    """
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = Path(root_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def outputs_text(outputs: Iterable[dict]) -> str:
    """Plain text of nbformat outputs: streams, ``text/plain`` results, error tracebacks."""
    parts: list[str] = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_join(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            parts.append(_join(out.get("data", {}).get("text/plain", "")))
        elif kind == "error":
            parts.append(strip_ansi("\n".join(out.get("traceback", [])))
                         or f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts if p).rstrip("\n")


def _join(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


# JS: find the NotebookPanel for `path` in the app shell (JupyterLab and Notebook 7).
_FIND_PANEL = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  const ok = (w) => w && w.context && w.context.path === path && w.content && w.content.model;
  try {
    for (const w of app.shell.widgets('main')) { if (ok(w)) return w; }
  } catch (e) { /* shells without widgets('main') */ }
  return ok(app.shell.currentWidget) ? app.shell.currentWidget : null;
}
"""

# JS: a JSON-able snapshot of a notebook: kernel status and each cell's state and outputs.
_SNAPSHOT = (
    "(path) => { const panel = (" + _FIND_PANEL + ")(path);\n"
    """
  if (!panel) return null;
  const ctx = panel.sessionContext;
  const kernel = ctx && ctx.session ? ctx.session.kernel : null;
  const cells = [];
  const list = panel.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    const c = list.get(i);
    const code = c.type === 'code';
    cells.push({
      type: c.type,
      source: c.sharedModel.getSource(),
      execution_count: code ? c.executionCount : null,
      running: code && c.executionState === 'running',
      outputs: code ? c.outputs.toJSON() : [],
    });
  }
  return {
    ready: Boolean(panel.context.isReady && ctx && ctx.isReady),
    kernel: kernel ? kernel.status : null,
    connection: kernel ? kernel.connectionStatus : null,
    busy: Boolean(ctx && ctx.session && kernel && kernel.status !== 'idle'),
    run: window.__rwRuns ? window.__rwRuns[path] || null : null,
    cells,
  };
}
"""
)

# JS predicate for wait_for_function: the run's command settled, kernel idle, and every
# cell it ran has a new execution count (above the highest one before the run) and is not
# running; also true as soon as a cell shows an error or the kernel is dead (the caller
# then reports it).
_FINISHED = (
    "(path) => { const s = (" + _SNAPSHOT + ")(path);\n"
    """
  if (!s) return false;
  if (s.kernel === 'dead' || s.kernel === 'autorestarting') return true;
  const run = s.run;
  if (!run) return false;
  if (run.error) return true;
  const ran = run.cells === null ? s.cells : run.cells.map(i => s.cells[i]);
  if (ran.some(c => c && c.outputs.some(o => o.output_type === 'error'))) return true;
  if (!run.done || s.kernel !== 'idle') return false;
  return ran.every(c => !c || c.type !== 'code'
    || (c.execution_count !== null && c.execution_count > run.after && !c.running));
}
"""
)

# JS: record a run (what it executes, the highest execution count before it) and start it,
# by an app command (its promise settles when the cells are done) or by clicking the menu.
_START_RUN = """([path, command, cells, menu]) => {
  const app = window.jupyterapp;
  let panel = null;
  for (const w of app.shell.widgets('main')) {
    if (w && w.context && w.context.path === path) panel = w;
  }
  panel = panel || app.shell.currentWidget;
  let after = 0;
  const list = panel.content.model.cells;
  for (let i = 0; i < list.length; i++) {
    const c = list.get(i);
    if (c.type === 'code' && c.executionCount) after = Math.max(after, c.executionCount);
  }
  const run = {command, cells, after, done: Boolean(menu), error: null};
  (window.__rwRuns = window.__rwRuns || {})[path] = run;
  if (menu) return after;
  app.shell.activateById(panel.id);
  app.commands.execute(command).then(
    () => { run.done = true; },
    (e) => { run.done = true; run.error = String((e && e.stack) || e); });
  return after;
}"""


@dataclass
class Notebook:
    """A notebook open in a Playwright page, in JupyterLab (``app="lab"``) or Notebook 7."""

    page: Any  # playwright.sync_api.Page
    server: JupyterServer
    path: str  # notebook path relative to the server root
    app: App
    artifacts_dir: Path | None = None

    # ---- state

    def snapshot(self) -> dict:
        """Kernel status and every cell's type, source, execution count and outputs."""
        snap = self.page.evaluate(_SNAPSHOT, self.path)
        if snap is None:
            raise NotebookError(f"notebook {self.path!r} is not open in the page")
        return snap

    def cell_count(self) -> int:
        return len(self.snapshot()["cells"])

    def outputs(self, index: int) -> list[dict]:
        """nbformat outputs of cell ``index`` (negative counts from the end)."""
        return self.snapshot()["cells"][index]["outputs"]

    def output_text(self, index: int) -> str:
        """Plain text of cell ``index``'s outputs (streams, ``text/plain``, tracebacks)."""
        return outputs_text(self.outputs(index))

    def errors(self, cells: Sequence[int] | None = None) -> list[str]:
        """The text of every error output (of ``cells``, default all) as
        ``"cell N (first line):\ntraceback"``."""
        found = []
        snapshot = self.snapshot()["cells"]
        for i, cell in enumerate(snapshot):
            if cells is not None and i not in cells and i - len(snapshot) not in cells:
                continue
            for out in cell["outputs"]:
                if out.get("output_type") == "error":
                    found.append(f"cell {i} ({_first_line(cell['source'])}):\n"
                                 + outputs_text([out]))
        return found

    def raise_errors(self, cells: Sequence[int] | None = None) -> None:
        """Raise ``NotebookError`` with the tracebacks if any output (of ``cells``, default
        all) is an error."""
        errors = self.errors(cells)
        if errors:
            raise NotebookError("a cell raised in the kernel:\n\n" + "\n\n".join(errors))

    # ---- waiting

    def wait_kernel_idle(self, timeout: float = OPEN_TIMEOUT_S) -> None:
        """Wait until the notebook's session is ready and its kernel is idle."""
        start = time.monotonic()
        self.page.wait_for_function(
            "(path) => { const s = (" + _SNAPSHOT + ")(path);"
            " return Boolean(s && s.ready && s.kernel === 'idle'"
            " && s.connection === 'connected'); }",
            arg=self.path, timeout=timeout * 1000,
        )
        _log.info("%s: kernel idle after %.1f s", self.path, time.monotonic() - start)

    def wait_finished(self, timeout: float = RUN_TIMEOUT_S) -> None:
        """Wait for the last run: command settled, kernel idle, every code cell executed.

        Raises ``NotebookError`` with the traceback as soon as a cell of the run shows an
        error (errors left in other cells by earlier runs are ignored), or
        when the kernel dies or the run does not finish in time (with the cells' state).
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        start = time.monotonic()
        try:
            self.page.wait_for_function(_FINISHED, arg=self.path, timeout=timeout * 1000)
        except PlaywrightTimeout:
            self.raise_errors(self._run_cells())
            raise NotebookError(
                f"notebook {self.path!r} did not finish within {timeout:.0f} s:\n"
                + self._describe()) from None
        _log.info("%s: run finished after %.1f s", self.path, time.monotonic() - start)
        self.raise_errors(self._run_cells())
        snap = self.snapshot()
        if snap["kernel"] in ("dead", "autorestarting"):
            raise NotebookError(f"the kernel died ({snap['kernel']}):\n" + self._describe())
        if snap["run"] and snap["run"].get("error"):
            raise NotebookError(f"{snap['run']['command']} failed: {snap['run']['error']}")

    # ---- running

    def run_all(self, timeout: float = RUN_TIMEOUT_S, *, via: str = "command") -> None:
        """Run every cell and wait until all have executed (see ``wait_finished``).

        ``via="command"`` runs ``notebook:run-all-cells`` through ``window.jupyterapp``;
        ``via="menu"`` clicks *Run > Run All Cells* in the menu bar (both apps have it).
        """
        self.wait_kernel_idle()
        if via == "command":
            self.page.evaluate(_START_RUN, [self.path, "notebook:run-all-cells", None, False])
        elif via == "menu":
            self.page.evaluate(_START_RUN, [self.path, "menu: Run All Cells", None, True])
            self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            self.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        else:
            raise ValueError(f"via must be 'command' or 'menu'. Received: via={via!r}")
        self.wait_finished(timeout)

    def execute(self, code: str, timeout: float = RUN_TIMEOUT_S) -> str:
        """Append a code cell with ``code``, run it, and return its output text.

        Use it to assert on kernel state after interacting with the page, e.g.
        ``nb.execute("print(editor.selection)")``. Raises ``NotebookError`` if it raises.
        """
        self.wait_kernel_idle()
        index = self.page.evaluate(
            "([path, code]) => { const panel = (" + _FIND_PANEL + ")(path);\n"
            """
  const nb = panel.content;
  const n = nb.model.cells.length;
  nb.model.sharedModel.insertCell(n, {cell_type: 'code', source: code});
  nb.deselectAll();
  nb.activeCellIndex = n;
  return n;
}
""",
            [self.path, code],
        )
        self.page.evaluate(_START_RUN, [self.path, "notebook:run-cell", [index], False])
        self.wait_finished(timeout)
        return self.output_text(index)

    # ---- page

    def widget_views(self):
        """Locator of every rendered GraphEditor view (``.rw-editor``) in the outputs."""
        return self.page.locator(".jp-OutputArea-output .rw-editor")

    def editor(self, index: int = 0, timeout: float = 30.0) -> EditorView:
        """The ``index``-th GraphEditor view in the notebook, once its graph is laid out."""
        view = EditorView(self.page, self.widget_views().nth(index))
        view.wait_ready(timeout)
        return view

    def screenshot(self, name: str) -> Path | None:
        """Save a screenshot of the page as ``artifacts/browser/<name>.png``."""
        if self.artifacts_dir is None:
            return None
        path = Path(self.artifacts_dir) / f"{_safe(name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path

    # ---- internals

    def _run_cells(self) -> list[int] | None:
        """Indices of the cells the last run executes (None: all)."""
        run = self.snapshot()["run"]
        return None if not run else run.get("cells")

    def _describe(self) -> str:
        try:
            snap = self.snapshot()
        except Exception as exc:  # the page itself may be gone
            return f"(no snapshot: {exc})"
        lines = [f"kernel={snap['kernel']} connection={snap['connection']} run={snap['run']}"]
        for i, cell in enumerate(snap["cells"]):
            lines.append(f"  [{i}] count={cell['execution_count']} running={cell['running']} "
                         f"{_first_line(cell['source'])!r}")
        return "\n".join(lines)


class EditorView:
    """Reads and drives one GraphEditor view through its DOM hooks.

    The graph is drawn on a canvas; its nodes are mirrored in a hidden list
    ``[data-role=node-index] [data-node-id]`` whose ``data-*`` attributes (name, kind,
    class-name, selected, patch, expanded, x/y/w/h in canvas CSS pixels, onscreen) are read
    here. Toolbar buttons are ``[data-action=...]``; other parts ``[data-role=...]``.
    """

    def __init__(self, page: Any, root: Any) -> None:
        self.page = page
        self.root = root  # Locator of the .rw-editor element

    @property
    def canvas(self):
        return self.root.locator("[data-role=graph-canvas]")

    def node_rows(self):
        """Locator of the node-index rows (one per visible node)."""
        return self.root.locator("[data-role=node-index] [data-node-id]")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the view exists and lists at least one laid-out node."""
        from playwright.sync_api import expect

        expect(self.root).to_be_attached(timeout=timeout * 1000)
        expect(self.node_rows().first).to_be_attached(timeout=timeout * 1000)

    def wait_nodes(self, ids: Sequence[str], timeout: float = 30.0) -> None:
        """Wait until the node index lists exactly ``ids`` (in any order)."""
        self.page.wait_for_function(
            """([root, ids]) => {
  const got = [...root.querySelectorAll('[data-role=node-index] [data-node-id]')]
    .map(e => e.dataset.nodeId).sort();
  const want = [...ids].sort();
  return got.length === want.length && got.every((v, i) => v === want[i]);
}""",
            arg=[self.root.element_handle(timeout=timeout * 1000), list(ids)],
            timeout=timeout * 1000,
        )

    def nodes(self) -> list[dict]:
        """Every listed node as a dict: ``id``, ``name``, ``kind``, ``class_name``,
        ``selected`` (bool), ``patch`` (str or None), ``expanded``, ``onscreen``,
        ``x``/``y``/``w``/``h`` (floats, canvas CSS pixels)."""
        rows = self.node_rows().evaluate_all("els => els.map(e => ({...e.dataset}))")
        return [_node_dict(row) for row in rows]

    def node_ids(self) -> list[str]:
        return [n["id"] for n in self.nodes()]

    def node(self, node_id: str) -> dict:
        for n in self.nodes():
            if n["id"] == node_id:
                return n
        raise AssertionError(f"node {node_id!r} is not in the view; listed: {self.node_ids()}")

    def selected(self) -> list[str]:
        return [n["id"] for n in self.nodes() if n["selected"]]

    def point(self, node_id: str, fx: float = 0.5, fy: float = 0.5) -> tuple[float, float]:
        """Page coordinates of a point inside node ``node_id`` (default: its centre)."""
        n = self.node(node_id)
        box = self.canvas.bounding_box()
        if box is None:
            raise AssertionError("the graph canvas is not visible")
        return box["x"] + n["x"] + fx * n["w"], box["y"] + n["y"] + fy * n["h"]

    def click_node(self, node_id: str, *, shift: bool = False) -> None:
        """Click a node on the canvas (shift-click adds to the selection)."""
        self.canvas.scroll_into_view_if_needed()
        x, y = self.point(node_id)
        if shift:
            self.page.keyboard.down("Shift")
        try:
            self.page.mouse.click(x, y)
        finally:
            if shift:
                self.page.keyboard.up("Shift")

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        """Drag on the canvas between two points in canvas CSS pixels (rubber band)."""
        self.canvas.scroll_into_view_if_needed()
        box = self.canvas.bounding_box()
        self.page.mouse.move(box["x"] + start[0], box["y"] + start[1])
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + end[0], box["y"] + end[1], steps=steps)
        self.page.mouse.up()

    def button(self, action: str):
        """Locator of the toolbar button ``[data-action=<action>]`` (apply, undo, ...)."""
        return self.root.locator(f"[data-action={action}]")

    def click(self, action: str) -> None:
        self.button(action).click()

    def role(self, name: str):
        """Locator of ``[data-role=<name>]`` inside the view (status, patch-kind, ...)."""
        return self.root.locator(f"[data-role={name}]")

    def status(self) -> str:
        return self.role("status").inner_text()


def _node_dict(data: dict) -> dict:
    def num(key: str) -> float | None:
        return float(data[key]) if data.get(key) not in (None, "") else None

    return {
        "id": data.get("nodeId"),
        "name": data.get("name"),
        "kind": data.get("kind"),
        "class_name": data.get("className"),
        "selected": data.get("selected") == "true",
        "patch": data.get("patch") or None,
        "expanded": data.get("expanded") == "true",
        "onscreen": data.get("onscreen") == "true",
        "x": num("x"), "y": num("y"), "w": num("w"), "h": num("h"),
        "toggle_x": num("toggleX"), "toggle_y": num("toggleY"),
    }


def open_notebook(
    page: Any,
    server: JupyterServer,
    path: str | Path,
    app: App = "lab",
    *,
    artifacts_dir: Path | None = None,
    timeout: float = OPEN_TIMEOUT_S,
) -> Notebook:
    """Open ``path`` (relative to the server root) in JupyterLab or Notebook 7 and wait
    until its kernel is idle.

    JupyterLab opens in a fresh workspace each time (``/lab/workspaces/<id>/tree/<path>``),
    so notebooks of earlier tests are not restored; Notebook 7 opens ``/notebooks/<path>``.
    """
    rel = Path(path).as_posix() if not Path(path).is_absolute() else \
        Path(path).relative_to(server.root_dir).as_posix()
    if app == "lab":
        url = server.url(f"lab/workspaces/rw-{uuid.uuid4().hex[:8]}/tree/{rel}")
    elif app == "notebook":
        url = server.url(f"notebooks/{rel}")
    else:
        raise ValueError(f"app must be 'lab' or 'notebook'. Received: app={app!r}")
    start = time.monotonic()
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_function("() => Boolean(window.jupyterapp)", timeout=timeout * 1000)
    _log.info("%s: %s app loaded after %.1f s", rel, app, time.monotonic() - start)
    nb = Notebook(page, server, rel, app, artifacts_dir)
    nb.wait_kernel_idle(timeout)
    return nb


def chromium_executable() -> str | None:
    """``$RW_CHROMIUM`` if set, else the system Chromium (Debian ``chromium``), or None."""
    if os.environ.get("RW_CHROMIUM"):
        return os.environ["RW_CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _first_line(source: str) -> str:
    line = source.strip().splitlines()[0] if source.strip() else ""
    return line[:80]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150]
