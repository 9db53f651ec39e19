"""``marimo export html`` runs ``notebooks/quickstart_marimo.py`` top to bottom (issue 28).

marimo exits non-zero when a cell raises, so the notebook's own asserts (LoRA on the two
layers, outputs unchanged, the folded export reloads to the same numbers, std wider outside
the training range) are checked here too. The run starts with no log-related environment
variable, and TensorFlow's start-up lines must not reach the page (marimo keeps each cell's
stderr in it). The browser test of the same notebook is tests/browser/test_marimo.py.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebook_helpers import STARTUP_NOISE, kernel_env

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart_marimo.py"


@pytest.mark.notebook
def test_marimo_quickstart_exports_to_html(tmp_path, artifacts_dir):
    copy = tmp_path / NOTEBOOK.name  # a copy: its output/ folder lands in tmp_path
    shutil.copy(NOTEBOOK, copy)
    html = tmp_path / "quickstart_marimo.html"
    marimo = Path(sys.executable).with_name("marimo")
    run = subprocess.run(
        [str(marimo), "export", "html", str(copy), "-o", str(html), "--no-sandbox"],
        cwd=tmp_path, env=kernel_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"marimo export html failed:\n{run.stdout}\n{run.stderr}"
    shutil.copy(html, artifacts_dir / html.name)

    page = html.read_text()
    assert (tmp_path / "output" / "quickstart_folded.keras").exists()
    assert "exported and reloaded" in page
    spread = re.search(r"mean std inside the training range ([\d.]+), outside ([\d.]+)", page)
    assert spread and float(spread[2]) > float(spread[1]), spread
    noise = [w for w in STARTUP_NOISE if w in page or w in run.stdout or w in run.stderr]
    assert not noise, f"TensorFlow start-up lines in the export: {noise}\n{run.stderr}"
