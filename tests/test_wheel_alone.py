"""The wheel stands alone (issue 28): built with the front-end bundle inside, installed into
a fresh virtual environment with no node on PATH, it opens the editor.

The fresh environment gets the wheel alone (``--no-deps``); Keras, TensorFlow and anywidget
come from this environment's site-packages through a ``.pth`` line (TensorFlow is not
downloaded again). A ``.pth`` line does not run the ``.pth`` files of the folder it adds, so
this checkout's editable install stays out: ``risk_widgets`` can only come from the wheel.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "risk_widgets" / "static" / "widget.js"

OPEN_THE_EDITOR = """
import json, pathlib, shutil, sys
import risk_widgets as rw
from risk_widgets import demo

package = pathlib.Path(rw.__file__).parent
editor = rw.GraphEditor(demo.regression_mlp(), data=demo.plot_grid())
print(json.dumps({
    "package": str(package),
    "bundle": (package / "static" / "widget.js").stat().st_size,
    "esm_from_bundle": editor._esm == (package / "static" / "widget.js").read_text(),
    "nodes": [n["id"] for n in editor.graph["nodes"]],
    "risk_points": editor.risk["n"],
    "node": shutil.which("node"),
}))
"""


@pytest.mark.slow
def test_the_wheel_installs_alone_and_opens_the_editor(tmp_path):
    if not BUNDLE.exists():
        pytest.fail("no front-end bundle to put in the wheel: run `make setup` "
                    "(or `cd js && npm run build`) first", pytrace=False)
    no_node = os.pathsep.join([str(Path(sys.executable).parent)])
    assert shutil.which("node", path=no_node) is None, no_node
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    # -- build from the checkout as it is (tests/test_packaging.py builds from the tracked
    # files alone, bundle included); the bundle exists, so the npm step is skipped
    # (skip-if-exists): no node
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        cwd=tmp_path, env={**env, "PATH": no_node}, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = wheels.glob("risk_widgets-*.whl")

    # -- a fresh environment: the wheel alone, its dependencies seen through a .pth line
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr

    # -- open the editor from it, with no node on PATH and no checkout in sight
    run = subprocess.run(
        [python, "-c", OPEN_THE_EDITOR], cwd=tmp_path,
        env={**env, "PATH": str(fresh / "bin")}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(got["package"]).is_relative_to(site), got["package"]
    assert got["node"] is None
    assert got["bundle"] > 10_000 and got["esm_from_bundle"], got
    assert {"hidden_1", "hidden_2", "head"} <= set(got["nodes"]) and got["risk_points"] == 400
