"""Run a notebook headless and save it with outputs: ``python -m risk_widgets.demo.run_notebook``.

Example:
    python -m risk_widgets.demo.run_notebook notebooks/quickstart.ipynb artifacts/quickstart.ipynb
"""

from __future__ import annotations

import pathlib
import sys
import time
from collections.abc import Mapping


def run_notebook(
    source: str | pathlib.Path,
    target: str | pathlib.Path,
    timeout: int = 900,
    env: Mapping[str, str] | None = None,
) -> float:
    """Executes ``source`` top to bottom in its own folder, writes ``target``; returns seconds.

    ``env``: the kernel's whole environment (default: this process's).
    """
    import nbformat
    from nbclient import NotebookClient

    source, target = pathlib.Path(source), pathlib.Path(target)
    notebook = nbformat.read(source, as_version=4)
    started = time.perf_counter()
    try:
        NotebookClient(
            notebook, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": str(source.parent.resolve())}},
        ).execute(**({} if env is None else {"env": dict(env)}))
    finally:  # keep the outputs, failing cell included: they say what went wrong
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m risk_widgets.demo.run_notebook SOURCE.ipynb TARGET.ipynb")
        return 2
    seconds = run_notebook(argv[0], argv[1])
    print(f"Executed {argv[0]} in {seconds:.0f} s; outputs saved to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
