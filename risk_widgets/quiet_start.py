"""TensorFlow's start-up lines, kept out of the notebook.

While its C++ libraries load, TensorFlow 2.21 writes a few lines straight to the process's
file descriptor 2, before it reads ``TF_CPP_MIN_LOG_LEVEL``: absl's "All log messages before
absl::InitializeLog() is called are written to STDERR", oneDNN's "custom operations are on",
``cpu_feature_guard``'s "This TensorFlow binary is optimized ...". ipykernel shows everything
written to fd 2 in the cell, so the first cell that imports Keras turned red.

``install()`` (run by ``import risk_widgets`` and ``%load_ext risk_widgets``) puts a finder
on ``sys.meta_path`` that wraps only the first import of ``tensorflow``, by anyone (Keras,
this package, the user's own ``import keras`` after ours): for that import fd 2 goes to a
temporary file; then fd 2 is restored and every captured line that is not one of the known
start-up lines (``STARTUP_LINES``) is written back to it, errors included. The finder
removes itself after that import. Nothing is turned off (oneDNN stays as TensorFlow chose,
so the numbers do not change), and whatever TensorFlow writes later is left alone.

Example:
    >>> from risk_widgets.quiet_start import drop_startup_lines
    >>> text = (b"WARNING: All log messages before absl::InitializeLog() is called are "
    ...         b"written to STDERR\\nE0000 00:00:1.5  42 real.cc:1] a real error\\n")
    >>> drop_startup_lines(text)
    b'E0000 00:00:1.5  42 real.cc:1] a real error\\n'
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

# absl's prefix: severity, MMDD, time, thread id, then "file.cc:line] "
_ABSL = rb"^[IWEF]\d{4} [0-9:.]+ +\d+ "

#: The lines TensorFlow writes on fd 2 while it loads, and only those (one regex a line).
STARTUP_LINES: tuple[re.Pattern[bytes], ...] = tuple(re.compile(p) for p in (
    rb"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR$",
    _ABSL + rb"port\.cc:\d+\] oneDNN custom operations are on\. ",
    _ABSL + rb"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use ",
    rb"^To enable the following instructions: .*, in other operations, rebuild TensorFlow "
    rb"with the appropriate compiler flags\.$",
    # GPU wheels: the CUDA plugins registered twice, a known harmless start-up message
    _ABSL + rb"cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register cu\w+ factory: Attempting "
    rb"to register factory for plugin cu\w+ when one has already been registered$",
    _ABSL + rb"computation_placer\.cc:\d+\] computation placer already registered\. ",
))


def drop_startup_lines(captured: bytes) -> bytes:
    """``captured`` without the lines that match ``STARTUP_LINES``; other bytes unchanged.

    Example:
        >>> drop_startup_lines(b"I0000 00:00:17.2  7 port.cc:153] oneDNN custom operations "
        ...                    b"are on. You may see ...\\nkept\\n")
        b'kept\\n'
    """
    kept = [
        line for line in captured.splitlines(keepends=True)
        if not any(p.search(line.rstrip(b"\r\n")) for p in STARTUP_LINES)
    ]
    return b"".join(kept)


@contextlib.contextmanager
def quiet_fd2() -> Iterator[None]:
    """Sends fd 2 to a temporary file meanwhile; then writes back all but the start-up lines.

    Whatever else was written (a real error, a Python warning printed to fd 2) comes out
    on exit, also when the block raises.

    Example:
        >>> import os
        >>> with quiet_fd2():
        ...     _ = os.write(2, b"WARNING: All log messages before absl::InitializeLog() "
        ...                     b"is called are written to STDERR\\n")
    """
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (a closed stderr): nothing to quiet
        yield
        return
    _flush_stderr()
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = drop_startup_lines(capture.read())
            if kept:
                os.write(2, kept)


def _flush_stderr() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()


class _QuietLoader(importlib.abc.Loader):
    """Wraps the real loader of ``tensorflow``: its module runs inside ``quiet_fd2``."""

    def __init__(self, loader: Any, finder: QuietTensorFlowImport) -> None:
        self._loader = loader
        self._finder = finder

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            with quiet_fd2():
                self._loader.exec_module(module)
        finally:  # leave no trace: the module's loader is the real one
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader
            self._finder.remove()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """The ``sys.meta_path`` finder of ``install()``: it answers only for ``tensorflow``."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "tensorflow" or getattr(self._busy, "on", False):
            return None
        self._busy.on = True  # the other finders may look up names themselves
        try:
            for finder in list(sys.meta_path):
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy.on = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _QuietLoader(spec.loader, self)
        return spec

    def remove(self) -> None:
        """Takes this finder off ``sys.meta_path`` (it quiets one import only)."""
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)


def install() -> bool:
    """Quiets the first import of TensorFlow from now on; False if it is already imported.

    Idempotent: a second call finds the finder in place and returns True.

    Example:
        >>> import risk_widgets.quiet_start as quiet
        >>> quiet.install() == ("tensorflow" not in __import__("sys").modules)
        True
    """
    if "tensorflow" in sys.modules:
        return False
    if not any(isinstance(f, QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowImport())
    return True
