"""Every notebook in notebooks/ runs top to bottom; its cells assert the numbers that matter."""

import pathlib
import shutil

import pytest

from risk_widgets.demo.run_notebook import run_notebook

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_documented_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "lora_transformer.ipynb", "risk_regression.ipynb"} <= names


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(notebook, tmp_path, artifacts_dir):
    # run a copy in a temp folder so that files it exports never land in the repo
    copy = tmp_path / notebook.name
    shutil.copy(notebook, copy)
    run_notebook(copy, artifacts_dir / "notebooks" / notebook.name, timeout=600)
