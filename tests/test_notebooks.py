"""Every notebook in notebooks/ runs top to bottom; its cells assert the numbers that matter.

The kernel starts with no log-related environment variable (issue 28): TensorFlow's
start-up lines (absl, oneDNN, cpu_feature_guard) must reach no cell's output all the same.
"""

import os
import pathlib
import shutil

import nbformat
import pytest

from risk_widgets.demo.run_notebook import run_notebook
from tests.notebook_helpers import kernel_env, startup_noise

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_the_three_documented_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"quickstart.ipynb", "lora_transformer.ipynb", "risk_regression.ipynb"} <= names


def test_startup_noise_finds_the_lines_in_any_output():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import keras")])
    notebook.cells[0].outputs = [nbformat.v4.new_output(
        "stream", name="stderr", text="WARNING: All log messages before absl::InitializeLog() "
        "is called are written to STDERR\nok\n")]
    assert startup_noise(notebook) == [
        "cell 0: WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR"]
    assert "TF_CPP_MIN_LOG_LEVEL" in os.environ and "TF_CPP_MIN_LOG_LEVEL" not in kernel_env()
    assert "PYTEST_CURRENT_TEST" in os.environ and "PYTEST_CURRENT_TEST" not in kernel_env()


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(notebook, tmp_path, artifacts_dir):
    # run a copy in a temp folder so that files it exports never land in the repo
    copy = tmp_path / notebook.name
    shutil.copy(notebook, copy)
    executed = artifacts_dir / "notebooks" / notebook.name
    run_notebook(copy, executed, timeout=600, env=kernel_env())
    noise = startup_noise(nbformat.read(executed, as_version=4))
    assert not noise, "TensorFlow start-up lines in the notebook's outputs:\n" + "\n".join(noise)
