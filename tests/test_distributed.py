"""Issue 17 (2): patched and risk-wrapped models train under an existing distribution
engine, matching single-device training; only adapter (patch) weights change.

Each check runs `tests/distributed_run.py` in a fresh Python on 2 CPU devices (logical
devices must be set before TensorFlow / JAX initialise theirs): ``tf.distribute.
MirroredStrategy`` on TensorFlow, ``keras.distribution.DataParallel`` on JAX (Keras'
distribution API distributes only there). ``jax`` is in the ``test`` extra: under CI the
JAX check runs, never skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import risk_widgets as rw
from tests import models as M

SCRIPT = pathlib.Path(__file__).with_name("distributed_run.py")
TOL = 1e-5


def _run(case: str) -> dict:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(SCRIPT), case], capture_output=True, text=True,
                          env=env, timeout=300, cwd=SCRIPT.parents[1])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def _same_as_single_device(result: dict) -> None:
    assert result["max_diff"] < TOL  # every weight, distributed vs one device
    assert result["output_diff"] < TOL
    assert result["base_changed"] == 0.0  # the user's model: untouched
    assert result["moved_not_trainable"] == 0  # only the patch's weights moved
    assert result["trainable_moved"] > 0


def test_mirrored_strategy_matches_single_device():
    result = _run("mirrored")
    lora, ens, editor = result["lora"], result["vote"], result["editor"]
    for case in (lora, ens):
        assert case["replicas"] == 2
        assert case["variable_kinds"] == ["MirroredVariable"]
        _same_as_single_device(case)
    # an exported patched model loaded inside the scope: all mirrored, patches kept
    assert lora["loaded_kinds"] == ["MirroredVariable"]
    assert len(lora["loaded_patches"]) == 3
    # the editor: a patch made outside the scope is refused with the way out
    assert "created outside `strategy.scope()`" in editor["refused"]
    assert "with strategy.scope(): editor.apply(" in editor["refused"]
    assert editor["status"] == "info" and len(editor["loss"]) == 2
    assert editor["base_changed"] == 0.0 and editor["moved_not_trainable"] == 0


def test_keras_distribution_data_parallel_on_jax():
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("CI"):
            pytest.fail("jax is in the test extra; install it: pip install -e '.[test]'")
        pytest.skip("jax is not installed (pip install jax)")
    result = _run("jax_data_parallel")
    assert result["devices"] == 2 and result["sharded_on"] == 2
    assert "not created under it" in result["refused"]
    assert result["status"] == "info"
    _same_as_single_device(result)


def test_editor_fit_refuses_bad_distribution_arguments():
    """In-process (TensorFlow backend, no devices needed): clear errors, nothing trained."""
    model = M.mlp()
    editor = rw.GraphEditor(model)
    editor.apply("lora", targets=["head"], rank=1)
    x, y = np.zeros((4, 4), "float32"), np.zeros((4, 2), "float32")
    before = [v.numpy().copy() for v in editor.model.weights]
    with pytest.raises(ValueError, match="distributes only on the JAX backend"):
        editor.fit(x, y, epochs=1, distribution=object())
    with pytest.raises(ValueError, match="not both"):
        editor.fit(x, y, epochs=1, strategy=object(), distribution=object())
    with pytest.raises(ValueError, match="must be a tf.distribute.Strategy"):
        editor.fit(x, y, epochs=1, strategy="mirrored")
    assert editor.status["level"] == "error"
    for a, v in zip(before, editor.model.weights, strict=True):
        np.testing.assert_array_equal(a, v.numpy())
