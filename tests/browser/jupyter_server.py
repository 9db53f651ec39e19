"""A real ``jupyter lab`` server for the browser tests (Notebook 7 is served by the same
process), isolated in a work folder: launch, wait until it answers, REST API, stop.

Everything waits on state (server status), never on sleeps."""

from __future__ import annotations

import contextlib
import json
import logging
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
from typing import Any

_log = logging.getLogger("risk_widgets.browser_tests")


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
