"""The tree stays clean (issue #30): running a notebook leaves nothing beside it but its
gitignored ``output/`` folder, and collecting the tests rewrites no file.

Both run on copies in ``tmp_path``, so that a failure leaves the repository clean too.
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from risk_widgets.demo.run_notebook import run_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _files(folder: pathlib.Path) -> dict[str, str]:
    """Every file under ``folder`` (``__pycache__`` aside) -> the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_writes_only_into_its_output_folder(notebook, tmp_path, artifacts_dir):
    # a copy in a folder of its own, run there as `make demo` runs it in notebooks/
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(notebook, folder / notebook.name)
    before = set(os.listdir(folder))
    run_notebook(folder / notebook.name, artifacts_dir / "clean_tree" / notebook.name,
                 timeout=600)
    left = sorted(set(os.listdir(folder)) - before - {"output"})
    assert not left, (
        f"{notebook.name} wrote {left} beside itself: write exports into output/ "
        "(os.makedirs('output', exist_ok=True)), which .gitignore ignores")


def test_the_notebooks_output_folder_is_gitignored():
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    for name in ("quickstart_folded.keras", "patch_history.py", "tuned_adapters.npz"):
        ignored = subprocess.run(["git", "check-ignore", "-q", f"notebooks/output/{name}"],
                                 cwd=ROOT, capture_output=True)
        assert ignored.returncode == 0, f"notebooks/output/{name} is not gitignored"


def test_collecting_the_tests_rewrites_no_file(tmp_path):
    """``--doctest-modules`` imports every module under tests/ while collecting; one that
    writes when imported (tests/data/make_release_files.py did) dirties the tree."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "tests", tmp_path / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = _files(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # the test modules aside (importing them is what every run does): the other modules,
    # conftest.py files and whatever collect_ignore lets through
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--ignore-glob=*/test_*.py", "tests"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    after = _files(tmp_path)
    changed = sorted(name for name in before.keys() & after.keys()
                     if before[name] != after[name])
    new = sorted(after.keys() - before.keys())
    assert not changed and not new, f"collecting the tests rewrote {changed}, wrote {new}"
