"""A ``marimo run`` server for the browser tests: one notebook served as an app on a free
127.0.0.1 port, no token, marimo's config isolated in a work folder.

Everything waits on state (the server's ``/health``), never on sleeps.

Example:
    server = start_marimo_app(tmp_path / "quickstart_marimo.py", tmp_path / "work")
    page.goto(server.url)
    ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

#: the longest the server may take to answer /health (it imports nothing heavy: ~5 s)
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MarimoApp:
    """A running ``marimo run`` process serving one notebook at ``url``."""

    url: str
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the server's process group (its kernels included), then SIGKILL."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def start_marimo_app(notebook: Path, workdir: Path, timeout: float = START_TIMEOUT_S
                     ) -> MarimoApp:
    """Start ``marimo run NOTEBOOK`` and wait until it answers ``/health``.

    Raises:
        RuntimeError: the server exited or did not answer within ``timeout`` seconds; the
            message ends with its log (the server is stopped).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = dict(os.environ)
    env.update(XDG_CONFIG_HOME=str(workdir / "config"), XDG_CACHE_HOME=str(workdir / "cache"),
               XDG_STATE_HOME=str(workdir / "state"), PYTHONUNBUFFERED="1")
    marimo = Path(sys.executable).with_name("marimo")
    cmd = [str(marimo) if marimo.exists() else "marimo", "run", str(notebook), "--headless",
           "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-sandbox"]
    log_path = workdir / "marimo.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            cmd, cwd=notebook.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    app = MarimoApp(f"http://127.0.0.1:{port}/", log_path, process)
    start = time.monotonic()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"marimo run exited with code {process.returncode}:\n"
                               f"{' '.join(cmd)}\n--- log ---\n{app.log()}")
        try:
            with urllib.request.urlopen(app.url + "health", timeout=2):
                return app
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() - start > timeout:
            app.stop()
            raise RuntimeError(f"marimo run did not answer /health within {timeout:.0f} s"
                               f"\n--- log ---\n{app.log()}")
        time.sleep(0.2)  # the server gives no other signal that it is ready


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies (Linux), so none is left behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
