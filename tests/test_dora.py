"""DoRA (issue 16): ``W' = m ⊙ (W + s·AB) / ‖W + s·AB‖_c``, against a NumPy reference, on
Dense and EinsumDense (trailing and permuted output axes); fresh = base; fold, unpatch,
`.keras` and adapter-file round trips; stacking and gates; training moves only A, B, m;
the editor, code export and clear refusals."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.adapters.dora import DoRAAdapter
from risk_widgets.editor.state import EditorState
from tests import models as M


def _predict(model, x):
    return np.asarray(model.predict(x, verbose=0, batch_size=len(x)))


def _perturb(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        members = layer.named_adapters() if hasattr(layer, "named_adapters") else [layer]
        for a in members:
            for v in a.trainable_weights:
                v.assign(v.numpy() * (1 + 0.2 * rng.normal(size=v.shape)) +
                         0.3 * rng.normal(size=v.shape).astype("float32"))


def _permuted():
    """An EinsumDense whose output axes are not last (the einsum path of the update)."""
    keras.utils.set_random_seed(3)
    x = keras.Input((5, 4), name="x")
    h = keras.layers.EinsumDense("abc,cd->adb", output_shape=(3, 5), bias_axes="d",
                                 name="mix")(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(h))
    return keras.Model(x, out, name="permuted")


def _nodes(model):
    return {n["id"]: n for n in rw.to_graph(model).to_json()["nodes"]}


def _rng_x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_dora_matches_the_numpy_formula_on_a_dense_layer():
    model = M.mlp(units=(6,), seed=1)
    dora = rw.add_dora(model, "hidden_1", rank=2, alpha=4)
    _perturb(dora, seed=1)
    layer = dora.get_layer("hidden_1")
    w = model.get_layer("hidden_1").kernel.numpy().astype("float64")
    bias = model.get_layer("hidden_1").bias.numpy()
    a, b, m = (layer.lora_a.numpy(), layer.lora_b.numpy(), layer.dora_magnitude.numpy())
    combined = w + 2.0 * a @ b  # scale alpha / rank = 2
    merged = m * combined / np.linalg.norm(combined, axis=0)
    x = _rng_x((16, 4))
    expected = np.maximum(x @ merged + bias, 0)  # relu
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)
    np.testing.assert_allclose(layer.merged_kernel(), merged, atol=1e-6)
    # the folded layer's columns have exactly the trained magnitudes
    np.testing.assert_allclose(np.linalg.norm(layer.merged_kernel(), axis=0), m, rtol=1e-6)


@pytest.mark.parametrize("case", ["mlp", "attention", "permuted"])
def test_fresh_dora_is_the_base_and_every_round_trip_is_exact(case, tmp_path):
    build, targets, x = {
        "mlp": (lambda: M.mlp(units=(8,), seed=2), ["hidden_1", "head"], _rng_x((12, 4))),
        "attention": (lambda: M.attention(seed=2), ["attn/query", "attn/value", "head"],
                      _rng_x((4, 6, 8))),
        "permuted": (_permuted, ["mix", "head"], _rng_x((6, 5, 4))),
    }[case]
    model = build()
    base = _predict(model, x)
    dora = rw.add_dora(model, targets, rank=2, alpha=2)
    np.testing.assert_allclose(_predict(dora, x), base, atol=1e-5)
    _perturb(dora, seed=4)
    patched = _predict(dora, x)
    assert np.abs(patched - base).max() > 1e-2
    np.testing.assert_allclose(_predict(rw.fold(dora), x), patched, atol=1e-5)
    np.testing.assert_allclose(_predict(rw.unpatch(dora), x), base, atol=1e-6)
    dora.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(_predict(reloaded, x), patched, atol=1e-6)
    assert {type(layer) for layer in rw.patch_layers(reloaded).values()} == {DoRAAdapter}
    rw.save_adapters(dora, tmp_path / "a.npz")
    again = rw.add_dora(model, targets, rank=2, alpha=2)
    rw.load_adapters(again, tmp_path / "a.npz")
    np.testing.assert_allclose(_predict(again, x), patched, atol=1e-6)


def test_use_dora_on_add_lora_stacks_and_gates():
    model = M.mlp(units=(8,), seed=5)
    x = _rng_x((10, 4))
    lora = rw.add_lora(model, "head", rank=2)
    _perturb(lora, seed=5)
    both = rw.add_lora(lora, "head", rank=2, use_dora=True, name="dora")
    head = both.get_layer("head")
    assert [type(a).__name__ for a in head.adapters] == ["LoRAAdapter", "DoRAAdapter"]
    assert [p["kind"] for p in _nodes(both)["head"]["patches"]] == ["lora", "dora"]
    _perturb(rw.add_lora(model, "hidden_1", rank=1), seed=0)  # unrelated: nothing shared
    head.adapters[1].dora_magnitude.assign(head.adapters[1].dora_magnitude.numpy() * 1.5)
    stacked = _predict(both, x)
    rw.set_active(both, "default")
    np.testing.assert_allclose(_predict(both, x), _predict(lora, x), atol=1e-6)
    rw.set_active(both, None)
    np.testing.assert_allclose(_predict(both, x), stacked, atol=1e-6)
    np.testing.assert_allclose(_predict(rw.fold(both), x), stacked, atol=1e-5)
    only = rw.fold(both, names=["dora"])  # DoRA merged, LoRA kept
    np.testing.assert_allclose(_predict(only, x), stacked, atol=1e-5)
    assert rw.adapter_names(only) == ["default"]


def test_training_moves_only_a_b_and_the_magnitude_and_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = M.mlp(units=(16,), seed=6)
    x = _rng_x((256, 4), seed=6)
    y = np.stack([np.sin(x[:, 0]), x[:, 1] * x[:, 2]], axis=1).astype("float32")
    dora = rw.add_dora(model, ["hidden_1", "head"], rank=4, dropout=0.1)
    before = M.snapshot(model)
    names = sorted(v.name for v in dora.trainable_weights)
    assert names == sorted(["lora_a", "lora_b", "dora_magnitude"] * 2)
    dora.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    first = dora.evaluate(x, y, verbose=0)
    dora.fit(x, y, epochs=15, batch_size=32, verbose=0)
    # seeds 0-4 (model seeds 6-10): loss ratio 0.087-0.191 after 15 epochs (LoRA: 0.086-0.127)
    assert dora.evaluate(x, y, verbose=0) < 0.5 * first
    M.assert_same_snapshot(before, M.snapshot(model))  # the user's model never moved
    assert rw.param_report(dora).trainable == sum(v.numpy().size for v in dora.trainable_weights)


def test_editor_offers_dora_on_kernels_and_its_code_reproduces_it():
    model = M.transformer(seed=7)
    graph = _nodes(model)
    assert "dora" in graph["head"]["patchable"]
    assert "dora" not in graph["embed"]["patchable"]  # LoRA yes, DoRA no
    assert "lora" in graph["embed"]["patchable"]
    state = EditorState(model)
    state.select(["block_0/attn/query", "head"])
    state.apply("dora", rank="2", init="gaussian", name="d")
    namespace = {"model": model}
    exec(state.export_code(), namespace)
    tokens, _ = M.sequences(n=8)
    # He/Gaussian A is random but B = 0: fresh adapters predict the base in both
    np.testing.assert_allclose(_predict(namespace["model"], tokens), _predict(state.model, tokens),
                               atol=1e-6)
    assert rw.adapter_names(namespace["model"]) == ["d"]
    # the same kind and parameters per layer (fresh outputs alone cannot tell LoRA from DoRA)
    exported = {p: a.patch_info() for p, a in rw.patch_layers(namespace["model"]).items()}
    assert exported == {p: a.patch_info() for p, a in rw.patch_layers(state.model).items()}
    assert {i["kind"] for i in exported.values()} == {"dora"}


def test_bad_dora_targets_and_values_are_refused_and_change_nothing():
    model = M.transformer(seed=8)
    before = M.snapshot(model)
    with pytest.raises(TypeError, match=r"Cannot add DoRA to Embedding 'embed'.*rw\.add_lora"):
        rw.add_dora(model, ["embed", "head"])
    with pytest.raises(ValueError, match=r"`rank`, expected a positive integer"):
        rw.add_dora(model, "head", rank=0)
    with pytest.raises(ValueError, match=r"expected True or False\. Received: use_dora='yes'"):
        rw.add_lora(model, "head", use_dora="yes")
    quantized = M.mlp(units=(8,), seed=8)
    quantized.get_layer("hidden_1").quantize("float8")  # int8 / int4: tests/test_quantized_lora
    with pytest.raises(TypeError, match=r"'hidden_1'.*quantized \(float8\)"):
        rw.add_dora(quantized, "hidden_1", rank=2)
    M.assert_same_snapshot(before, M.snapshot(model))
