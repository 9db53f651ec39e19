"""Shared test setup: quiet TensorFlow, deterministic seeds, artifacts folder."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

ARTIFACTS = pathlib.Path(__file__).resolve().parents[1] / "artifacts"

# distributed_run.py: a script run in a fresh Python by test_distributed.py (it configures
# devices on import); data/: make_release_files.py rewrites the .keras files beside it when
# imported, which --doctest-modules would do while collecting
collect_ignore = ["distributed_run.py", "data"]


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    import keras

    keras.utils.set_random_seed(0)
    yield


@pytest.fixture(scope="session")
def artifacts_dir() -> pathlib.Path:
    """Folder for screenshots and other test outputs (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
