"""Notebooks for browser tests: written on disk, then opened and driven in JupyterLab 4 or
Notebook 7 through Playwright.

Everything waits on state (kernel status, execution counts, DOM), never on sleeps. The
notebook is read through ``window.jupyterapp`` (the server runs with
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

import logging
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .editor_view import EditorView
from .jupyter_server import JupyterServer
from .notebook_js import _FIND_PANEL, _FINISHED, _SNAPSHOT, _START_RUN

App = Literal["lab", "notebook"]

_log = logging.getLogger("risk_widgets.browser_tests")

#: Default time allowed for one notebook run (the first TensorFlow import takes ~10 s).
RUN_TIMEOUT_S = 120.0
#: Default time allowed for the page to load the app and start the kernel.
OPEN_TIMEOUT_S = 90.0


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (kernel tracebacks are coloured)."""
    return _ANSI.sub("", text)


class NotebookError(AssertionError):
    """A cell raised in the kernel, the kernel died, or a notebook never finished."""


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

    def execute_until(self, code: str, expected: str, timeout: float = 15.0) -> str:
        """Runs ``code`` until it prints ``expected`` or ``timeout`` seconds pass; returns
        the last output. Page -> kernel trait writes are debounced (120 ms), so one run
        right after a page action may come too early."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.execute(code)
            if got == expected or time.monotonic() > deadline:
                return got

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


def _first_line(source: str) -> str:
    line = source.strip().splitlines()[0] if source.strip() else ""
    return line[:80]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150]
