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


# ----------------------------------------------------------------------------- graph tests
# tests/test_graph_*.py: `pytestmark = pytest.mark.usefixtures("_fresh_names", "no_hooks")`


@pytest.fixture
def _fresh_names():
    import keras

    keras.backend.clear_session(free_memory=False)
    yield


@pytest.fixture
def no_hooks():
    """Runs each test with empty patch registries; yields the saved built-in hooks (loaded
    first, so that `to_graph` does not register them mid-test)."""
    from risk_widgets.engine import registry

    registry.load_builtin_kinds()
    saved = registry.snapshot()
    registry.restore(([], {}))
    try:
        yield saved
    finally:
        registry.restore(saved)


@pytest.fixture
def builtin_hooks(no_hooks):
    """The hooks that adapters and risk wrappers register, for integration tests."""
    from risk_widgets.engine import registry

    registry.restore(no_hooks)


# ----------------------------------------------------------------------------- risk tests


@pytest.fixture(scope="module")
def data():
    """The cubic data of tests/test_risk_*.py (tests/risk_helpers.py), once per module."""
    from tests.risk_helpers import _cubic, _ood

    x, y = _cubic(512, 0)
    x_test, y_test = _cubic(512, 1)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_ood": _ood(256, 2)}
