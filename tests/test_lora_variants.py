"""LoRA variants from PEFT (issue 16): rsLoRA scaling (``use_rslora``) and the ``init`` of
A, B (``he_uniform`` / ``gaussian`` / ``pissa``): the formula, a fresh patch leaving outputs
unchanged, exact fold / `.keras` / adapter-file round trips, the editor path and clear
errors."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.adapters.lora_init import lora_scale, pissa_factors
from risk_widgets.editor.state import EditorState
from tests import models as M


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _predict(model, x):
    return np.asarray(model.predict(x, verbose=0, batch_size=len(x)))


def _perturb(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))


def test_rslora_scales_by_alpha_over_root_rank():
    model = M.mlp(units=(16,), seed=1)
    plain = rw.add_lora(model, "hidden_1", rank=4, alpha=8)
    rs = rw.add_lora(model, "hidden_1", rank=4, alpha=8, use_rslora=True)
    assert plain.get_layer("hidden_1").scale == pytest.approx(2.0)
    assert rs.get_layer("hidden_1").scale == pytest.approx(8 / math.sqrt(4))
    # the same A, B give a delta exactly sqrt(rank) times larger
    for m in (plain, rs):
        layer = m.get_layer("hidden_1")
        layer.lora_a.assign(np.ones(layer.lora_a.shape, "float32") * 0.1)
        layer.lora_b.assign(np.ones(layer.lora_b.shape, "float32") * 0.2)
    d_plain = plain.get_layer("hidden_1").delta_matrix()
    d_rs = rs.get_layer("hidden_1").delta_matrix()
    np.testing.assert_allclose(d_rs, 2.0 * d_plain, rtol=1e-6)
    assert lora_scale(16, None, True) == pytest.approx(4.0)  # alpha=None means rank


@pytest.mark.parametrize("init", ["he_uniform", "gaussian", "pissa"])
def test_every_init_starts_at_the_base_and_round_trips(init, tmp_path):
    keras.utils.set_random_seed(0)
    model = M.mlp(units=(16,), seed=2)
    x = _x((32, 4))
    base = _predict(model, x)
    lora = rw.add_lora(model, ["hidden_1", "head"], rank=2, init=init)
    np.testing.assert_allclose(_predict(lora, x), base, atol=1e-5)
    _perturb(lora, seed=3)
    patched = _predict(lora, x)
    assert np.abs(patched - base).max() > 1e-3  # the perturbation is visible
    np.testing.assert_allclose(_predict(rw.fold(lora), x), patched, atol=1e-5)
    np.testing.assert_allclose(_predict(rw.unpatch(lora), x), base, atol=1e-6)
    path = str(tmp_path / "m.keras")
    lora.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_predict(reloaded, x), patched, atol=1e-6)
    assert reloaded.get_layer("hidden_1").init == init
    files = rw.save_adapters(lora, str(tmp_path / "adapters.npz"))
    other = rw.add_lora(model, ["hidden_1", "head"], rank=2, init=init)
    rw.load_adapters(other, files)
    np.testing.assert_allclose(_predict(other, x), patched, atol=1e-6)


def test_pissa_starts_on_the_principal_directions():
    model = M.mlp(units=(16,), seed=4)
    lora = rw.add_lora(model, "hidden_1", rank=3, alpha=6, init="pissa")
    layer = lora.get_layer("hidden_1")
    w = np.asarray(model.get_layer("hidden_1").kernel.numpy(), "float64")
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    ab = layer.scale * layer.lora_a.numpy() @ layer.lora_b.numpy()
    np.testing.assert_allclose(ab, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-5)
    # the frozen copies do not train; A and B do
    assert {v.name for v in layer.trainable_weights} == {"lora_a", "lora_b"}
    assert {v.name for v in layer.non_trainable_weights} >= {"lora_a0", "lora_b0"}
    a, b = pissa_factors(np.diag([3.0, 2.0]), 4, 1.0)  # rank above the matrix pads with 0
    assert a.shape == (2, 4) and b.shape == (4, 2) and not a[:, 2:].any()


def test_gaussian_init_follows_peft():
    keras.utils.set_random_seed(5)
    model = M.mlp(units=(64,), n_in=64, seed=5)
    layer = rw.add_lora(model, "hidden_1", rank=8, init="gaussian").get_layer("hidden_1")
    assert layer.lora_a.numpy().std() == pytest.approx(1 / 8, rel=0.1)  # 512 draws
    assert not layer.lora_b.numpy().any()


def test_editor_validates_and_applies_the_variants():
    model = M.mlp(units=(8,), seed=6)
    state = EditorState(model)
    state.select(["hidden_1"])
    state.apply("lora", rank=2, use_rslora="true", init="gaussian")
    layer = state.model.get_layer("hidden_1")
    assert layer.use_rslora is True and layer.init == "gaussian"
    with pytest.raises(ValueError, match=r"`init` must be one of 'he_uniform', 'gaussian', "
                                         r"'pissa'\. Received: init='svd'"):
        state.apply("lora", rank=2, init="svd")
    with pytest.raises(ValueError, match=r"`use_rslora` must be True or False"):
        state.apply("lora", rank=2, use_rslora="yes")


def test_bad_variant_arguments_are_refused_and_change_nothing():
    model = M.mlp(units=(8,), seed=7)
    before = M.snapshot(model)
    with pytest.raises(ValueError, match=r"expected one of 'he_uniform', 'gaussian', 'pissa'"):
        rw.add_lora(model, "hidden_1", init="PiSSA")
    with pytest.raises(ValueError, match=r"expected True or False\. Received: use_rslora=1"):
        rw.add_lora(model, "hidden_1", use_rslora=1)
    with pytest.raises(ValueError, match=r"positive scale .*Pass alpha > 0"):
        rw.add_lora(model, "hidden_1", alpha=0, init="pissa")
    M.assert_same_snapshot(before, M.snapshot(model))
