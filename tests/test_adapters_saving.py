"""Saving patched models: .keras round trips in safe mode, adapter configs, adapter files
(save_adapters / load_adapters), folded models that load without risk_widgets, stacked
patches inside one opaque layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.adapters import LoRAAdapter, SVFAdapter
from risk_widgets.engine.models import PatchedModel
from tests import models as M
from tests.adapter_helpers import _patch, _perturb, _var_values, _x

# ----------------------------------------------------------------------------- saving


@pytest.mark.parametrize("kind", ["lora", "svf"])
def test_keras_round_trip_safe_mode(kind, tmp_path):
    model = M.transformer()
    tokens, labels = M.sequences(n=32)
    patched = _patch(kind, model, ["*/attn/query", "*/attn/value", "*/mlp/up", "head"],
                     rank=2, dropout=0.1)
    _perturb(patched)
    path = tmp_path / "patched.keras"
    patched.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, PatchedModel)
    np.testing.assert_array_equal(np.asarray(restored(tokens)),
                                  np.asarray(patched(tokens)))
    assert rw.trainable_report(restored) == rw.trainable_report(patched)
    assert len(restored.trainable_weights) == len(patched.trainable_weights)
    np.testing.assert_array_equal(np.asarray(rw.unpatch(restored)(tokens)),
                                  np.asarray(model(tokens)))


def test_adapter_config_round_trip():
    dense = keras.layers.Dense(3, activation="relu", name="d")
    dense.build((None, 4))
    adapter = LoRAAdapter(dense, rank=2, alpha=4, dropout=0.2)
    config = adapter.get_config()
    assert config["rank"] == 2 and config["alpha"] == 4.0 and config["dropout"] == 0.2
    clone = LoRAAdapter.from_config(config)
    assert clone.name == "d" and clone.layer.get_config()["activation"] == "relu"
    assert "alpha" not in LoRAAdapter(dense, rank=2).get_config()
    again = SVFAdapter.from_config(SVFAdapter(dense).get_config())
    assert again.patch_info() == {"kind": "svf", "params": {}}


def test_save_and_load_adapters(tmp_path):
    model = M.attention()
    x = _x((16, 6, 8))
    lora = rw.add_lora(model, ["attn/query", "head"], rank=2)
    _perturb(lora)
    path = rw.save_adapters(lora, tmp_path / "lora.npz")
    with np.load(path) as data:
        keys = sorted(data.files)
        info = json.loads(str(data["__patches__"]))
    assert keys == ["__patches__", "attn/query::lora_a", "attn/query::lora_b", "head::lora_a",
                    "head::lora_b"]
    assert info["head"]["kind"] == "lora"
    fresh = rw.add_lora(model, ["attn/query", "head"], rank=2)
    assert rw.load_adapters(fresh, path) == ["attn/query", "head"]
    np.testing.assert_array_equal(fresh(x), lora(x))
    # mismatches are refused before any weight changes
    other = rw.add_lora(model, ["attn/query", "head"], rank=3)
    values = _var_values(other)
    with pytest.raises(ValueError, match="shape"):
        rw.load_adapters(other, path)
    assert all(np.array_equal(values[id(v)], v.numpy()) for v in other.weights)
    with pytest.raises(ValueError, match="paths"):
        rw.load_adapters(rw.add_lora(model, "head", rank=2), path)
    with pytest.raises(ValueError, match="'svf' patch in the model"):
        rw.load_adapters(rw.add_svf(model, ["attn/query", "head"]), path)
    svf = rw.add_svf(model, ["attn/query", "head"])
    _perturb(svf)
    svf_path = rw.save_adapters(svf, tmp_path / "svf.npz")
    fresh_svf = rw.add_svf(model, ["attn/query", "head"])
    rw.load_adapters(fresh_svf, svf_path)
    np.testing.assert_array_equal(fresh_svf(x), svf(x))


def test_folded_model_loads_without_risk_widgets(tmp_path):
    model = M.transformer(n_blocks=1)
    tokens, labels = M.sequences(n=16)
    lora = rw.add_lora(model, ["*/attn/query", "*/mlp/down", "head"], rank=2)
    _perturb(lora)
    plain = rw.fold(lora)
    path = tmp_path / "folded.keras"
    plain.save(path)
    np.save(tmp_path / "tokens.npy", tokens)
    np.save(tmp_path / "expected.npy", np.asarray(lora(tokens)))
    code = (
        "import sys, numpy as np, keras\n"
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        f"x = np.load({str(tmp_path / 'tokens.npy')!r})\n"
        f"np.testing.assert_allclose(np.asarray(m(x)), "
        f"np.load({str(tmp_path / 'expected.npy')!r}), atol=1e-5)\n"
        "assert not any(k.startswith('risk_widgets') for k in sys.modules)\n"
        "print('ok', type(m).__name__)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok Functional" in result.stdout


# ----------------------------------------------------------------------------- stacking


def test_patches_stack_inside_one_opaque_layer_and_round_trip(tmp_path):
    model = M.attention()
    x = _x((4, 6, 8))
    lora = rw.add_lora(model, ["attn/query", "head"], rank=2)
    both = rw.add_svf(lora, "attn/key")
    assert sorted(rw.trainable_report(both)["patched"]) == ["attn/key", "attn/query", "head"]
    assert both.get_layer("attn")._query_dense is lora.get_layer("attn")._query_dense
    _perturb(both)
    both.save(tmp_path / "both.keras")
    restored = keras.saving.load_model(tmp_path / "both.keras", safe_mode=True)
    np.testing.assert_array_equal(restored(x), both(x))
    np.testing.assert_array_equal(rw.unpatch(both)(x), model(x))
    np.testing.assert_allclose(rw.fold(restored)(x), both(x), atol=1e-5)
