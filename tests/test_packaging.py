"""`pip wheel .` from a clean checkout runs the npm build and ships the JS bundle."""

import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_from_a_clean_checkout_contains_the_bundle(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy the tracked files from")
    checkout = tmp_path / "checkout"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:  # only what git tracks: no node_modules, no built static/
        target = checkout / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    assert not (checkout / "risk_widgets" / "static").exists()

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(tmp_path)],
        cwd=checkout, check=True, capture_output=True, text=True,
    )
    (wheel,) = tmp_path.glob("risk_widgets-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        bundle = archive.getinfo("risk_widgets/static/widget.js")
        assert bundle.file_size > 10_000  # the real bundle, elkjs and uPlot inside
        source = archive.read("risk_widgets/static/widget.js").decode()
    assert "rw-editor" in source and "node-index" in source
