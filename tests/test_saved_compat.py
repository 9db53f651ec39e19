"""`.keras` files saved by release 0.1.0, before the #30 layout move, still load and compute
the same outputs (the registered class names, not the module paths, are what files keep).

The files and their expected outputs are in tests/data/ (`make_release_files.py` wrote them).
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.risk.model import RiskModel

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def expected():
    return dict(np.load(DATA / "release_0_1_expected.npz"))


def test_adapters_file_from_release_0_1_loads_with_its_patches(expected):
    model = rw.load_model(DATA / "release_0_1_adapters.keras")
    assert isinstance(model, rw.PatchedModel)
    assert rw.adapter_names(model) == ["default", "dora_a"]
    kinds = {row.kind for row in rw.param_report(model).adapters}
    assert kinds == {"lora", "dora", "svf"}
    got = keras.ops.convert_to_numpy(model(expected["x_seq"]))
    np.testing.assert_allclose(got, expected["y_adapters"], rtol=1e-5, atol=1e-6)
    # still a working patched model: folding keeps the outputs
    folded = keras.ops.convert_to_numpy(rw.fold(model)(expected["x_seq"]))
    np.testing.assert_allclose(folded, expected["y_adapters"], rtol=1e-4, atol=1e-5)


def test_risk_file_from_release_0_1_loads_with_its_risk(expected):
    model = rw.load_model(DATA / "release_0_1_risk.keras")
    assert isinstance(model, RiskModel)
    y, risk = model(expected["x_reg"], return_risk=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), expected["y_risk"], atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(risk), expected["risk"], atol=1e-5)


def test_a_fresh_python_loads_a_saved_patched_model_with_rw_load_model():
    """Keras finds a custom class only once its module is imported: `rw.load_model` imports
    them all, so `import risk_widgets` is all a fresh session needs."""
    import subprocess
    import sys

    code = (
        "import risk_widgets as rw, sys; "
        f"m = rw.load_model({str(DATA / 'release_0_1_adapters.keras')!r}); "
        "print(type(m).__name__, rw.adapter_names(m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "PatchedModel ['default', 'dora_a']"
