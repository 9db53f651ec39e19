"""LoRA / SVF adapters, PatchedModel training, unpatch, fold, save/load, reports."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import risk_widgets as rw
from risk_widgets.adapters import LoRAAdapter, SVFAdapter
from risk_widgets.adapters.kernel_views import EinsumDenseView
from risk_widgets.engine.models import PatchedModel
from tests import models as M

RNG = np.random.default_rng(0)


def _x(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype="float32")


def _patch(kind, model, targets, **params):
    return rw.add_lora(model, targets, **params) if kind == "lora" else rw.add_svf(model, targets)


def _var_values(model):
    return {id(v): np.array(v.numpy()) for v in model.weights}


def _adapter_ids(model):
    ids = set()
    for layer in rw.patch_layers(model).values():
        ids |= {id(v) for v in layer.trainable_weights}
    return ids


def _fit(model, x, y, steps=3, loss="mse", lr=0.05, run_eagerly=False):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, jit_compile=False,
                  run_eagerly=run_eagerly)
    return model.fit(x, y, epochs=steps, batch_size=len(x), verbose=0)


def _perturb(model, seed=0):
    """Moves every adapter weight as training would (cheaper than fitting)."""
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rank": 0}, "`rank`, expected a positive integer. Received: rank=0"),
        ({"rank": 1.5}, "Received: rank=1.5"),
        ({"rank": True}, "Received: rank=True"),
        ({"alpha": -1.0}, "`alpha`, expected a non-negative number or None"),
        ({"alpha": float("nan")}, "Received: alpha=nan"),
        ({"dropout": 1.0}, "`dropout`, expected a number in [0, 1). Received: dropout=1.0"),
        ({"dropout": -0.1}, "Received: dropout=-0.1"),
    ],
)
def test_invalid_arguments_are_refused_keras_style(kwargs, message):
    model = M.mlp()
    with pytest.raises(ValueError) as info:
        rw.add_lora(model, "head", **kwargs)
    assert message in str(info.value)
    dense = model.get_layer("head")
    with pytest.raises(ValueError):
        LoRAAdapter(dense, **kwargs)


def test_unsupported_layer_names_the_path_and_the_supported_types():
    model = M.transformer()
    before = M.snapshot(model)
    for add in (rw.add_lora, rw.add_svf):
        with pytest.raises(TypeError) as info:
            add(model, ["head", "pool"])
        text = str(info.value)
        assert "'pool'" in text and "GlobalAveragePooling1D" in text
        assert "Supported layer types: EinsumDense, Dense, Embedding" in text
    M.assert_same_snapshot(before, M.snapshot(model))


def test_patching_a_patched_layer_stacks_but_not_under_a_taken_name():
    lora = rw.add_lora(M.mlp(), "head", rank=2)
    with pytest.raises(ValueError, match="'head': that layer already has an adapter named "
                       "'default'.*rw.unpatch"):
        rw.add_lora(lora, "head", name="default")
    assert rw.adapter_names(rw.add_lora(lora, "head")) == ["default", "lora_1"]


def test_missing_target_is_refused_and_nothing_changes():
    model = M.attention()
    before = M.snapshot(model)
    with pytest.raises(ValueError, match="attn/query"):
        rw.add_lora(model, "attn/qery")
    M.assert_same_snapshot(before, M.snapshot(model))


# ----------------------------------------------------------------------------- fresh patch


@pytest.mark.parametrize("kind", ["lora", "svf"])
@pytest.mark.parametrize(
    "build, targets, x",
    [
        (M.mlp, ["hidden_1", "head"], _x((5, 4))),
        (M.attention, ["attn/query", "attn/value", "attn/attention_output", "head"],
         _x((3, 6, 8))),
        (M.nested, ["shared", "enc/stack/deeper", "out_2"], [_x((4, 6)), _x((4, 6), 1)]),
    ],
    ids=["mlp", "attention", "nested"],
)
def test_fresh_patch_leaves_outputs_unchanged_and_trains_only_adapters(kind, build, targets, x):
    model = build()
    ref = model(x)
    patched = _patch(kind, model, targets, rank=3)
    assert isinstance(patched, PatchedModel)
    for a, b in zip(keras.tree.flatten(patched(x)), keras.tree.flatten(ref), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    adapters = rw.patch_layers(patched)
    assert sorted(adapters) == sorted(targets)
    names = {"lora": ["lora_a", "lora_b"], "svf": ["svf_z"]}[kind]
    assert [v.name for v in patched.trainable_weights] == names * len(targets)
    report = rw.trainable_report(patched)
    assert report["trainable"] == sum(int(np.prod(v.shape)) for v in patched.trainable_weights)
    assert report["total"] == report["trainable"] + report["non_trainable"]
    assert report["total"] == sum(int(np.prod(v.shape)) for v in patched.weights)
    assert all(v.dtype == "float32" for v in patched.trainable_weights)


def test_lora_weight_shapes_and_init():
    model = M.attention(dim=8, heads=2)
    lora = rw.add_lora(model, ["attn/query", "attn/attention_output"], rank=3, alpha=6)
    query = lora.get_layer("attn")._query_dense
    out = lora.get_layer("attn")._output_dense
    assert query.lora_a.shape == (8, 3) and query.lora_b.shape == (3, 8)  # (8) -> (2, 4)
    assert out.lora_a.shape == (8, 3) and out.lora_b.shape == (3, 8)  # (2, 4) -> (8)
    assert not np.any(query.lora_b.numpy()) and np.any(query.lora_a.numpy())
    limit = np.sqrt(6.0 / 8)  # He uniform on fan_in = 8
    assert np.abs(query.lora_a.numpy()).max() <= limit
    assert query.scale == 2.0
    assert query.patch_info() == {"kind": "lora", "params": {"rank": 3, "alpha": 6.0,
                                                             "dropout": 0.0}}


@pytest.mark.parametrize(
    "equation, kernel_in, x_shape, bias_axes",
    [
        ("abc,cde->abde", None, (2, 3, 4), "de"),
        ("abcd,cde->abe", None, (2, 3, 2, 5), "e"),
        ("ab,bc->ac", None, (2, 4), "c"),
        ("...b,bc->...c", None, (2, 3, 4), None),
        ("abc,cd->abd", None, (2, 3, 4), "d"),
    ],
)
def test_einsum_kernels_are_reshaped_by_their_axes(equation, kernel_in, x_shape, bias_axes):
    """Adapter output == einsum with the merged kernel, for several equations."""
    out_letters = equation.split("->")[1].replace("...", "")
    in_spec = equation.split(",")[0]
    sizes = dict(zip(in_spec.replace("...", ""), x_shape[-len(in_spec.replace("...", "")):],
                     strict=True))
    sizes.update({c: 3 + i for i, c in enumerate("cde") if c not in sizes})
    sizes.update({c: 3 + i for i, c in enumerate("de") if c in out_letters and c not in sizes})
    output_shape = [sizes[c] for c in out_letters[1:]] if "..." not in equation else [sizes["c"]]
    layer = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes,
                                     activation="tanh")
    layer.build(x_shape)
    for kind in (LoRAAdapter, SVFAdapter):
        adapter = kind(layer, rank=2) if kind is LoRAAdapter else kind(layer)
        adapter.build(x_shape)
        if kind is SVFAdapter:
            adapter.decompose()
            adapter.svf_z.assign(RNG.random(adapter.svf_z.shape).astype("float32") + 0.5)
        else:
            adapter.lora_b.assign(RNG.normal(size=adapter.lora_b.shape).astype("float32"))
        x = _x(x_shape)
        merged = adapter.folded()
        np.testing.assert_allclose(adapter(x), merged(x), atol=1e-5)
        assert merged.get_config()["equation"] == equation
    assert isinstance(EinsumDenseView(layer, "p"), EinsumDenseView)


def test_einsum_equation_with_shared_axes_is_refused():
    layer = keras.layers.EinsumDense("abc,bc->abc", (3, 4))
    layer.build((2, 3, 4))
    with pytest.raises(ValueError, match="neither only contracted nor only output"):
        LoRAAdapter(layer, rank=1).build((2, 3, 4))


# ----------------------------------------------------------------------------- training


def test_training_moves_only_adapter_weights_and_never_the_original():
    model = M.nested()
    x = [_x((32, 6)), _x((32, 6), 1)]
    y = [_x((32, 1), 2), _x((32, 3), 3)]
    ref = [np.asarray(o) for o in model(x)]
    before = M.snapshot(model)
    lora = rw.add_lora(model, ["shared", "enc/stack/deep", "out_1"], rank=2, dropout=0.1)
    values = _var_values(lora)
    adapter_ids = _adapter_ids(lora)
    assert len(adapter_ids) == 6
    _fit(lora, x, y)
    after = _var_values(lora)
    for v in lora.weights:
        changed = not np.array_equal(values[id(v)], after[id(v)])
        assert changed == (id(v) in adapter_ids), v.path
    # BatchNormalization statistics (shared, non-trainable) were not updated either
    M.assert_same_snapshot(before, M.snapshot(model))
    for a, b in zip(model(x), ref, strict=True):
        np.testing.assert_array_equal(a, b)
    # base flags untouched, only adapters are trainable in the patched model
    assert all(v.trainable for v in model.get_layer("shared").weights)
    assert {id(v) for v in lora.trainable_variables} == adapter_ids
    assert {id(v) for v in lora.optimizer._trainable_variables} == adapter_ids


def test_trainable_flags_of_patched_model_and_adapters_never_reach_the_base():
    model = M.mlp()
    before = M.snapshot(model)
    lora = rw.add_lora(model, "head", rank=2)
    lora.trainable = False
    assert lora.trainable_weights == []
    lora.trainable = True  # like Keras: the model's flag reaches its (patch) layers
    assert len(lora.trainable_weights) == 2
    lora.get_layer("head").trainable = False
    assert lora.trainable_weights == []
    lora.get_layer("head").trainable = True
    assert len(lora.trainable_weights) == 2
    M.assert_same_snapshot(before, M.snapshot(model))


def test_summary_shows_adapters_and_the_trainable_count():
    lora = rw.add_lora(M.mlp(), ["hidden_1", "head"], rank=2)
    lines = []
    lora.summary(print_fn=lambda line, *a, **k: lines.append(line))
    text = "\n".join(lines)
    assert "hidden_1 (LoRAAdapter)" in text and "head (LoRAAdapter)" in text
    assert "Trainable params: 44" in text  # (4x2 + 2x8) + (8x2 + 2x2)


def test_fold_unpatch_after_training():
    model = M.attention()
    x, y = _x((16, 6, 8)), _x((16, 6, 2), 1)
    ref = np.asarray(model(x))
    before = M.snapshot(model)
    for kind in ("lora", "svf"):
        patched = _patch(kind, model, ["attn/query", "attn/value", "head"], rank=2)
        if kind == "lora":
            _fit(patched, x, y)
        else:
            _perturb(patched)
        out = np.asarray(patched(x))
        assert np.abs(out - ref).max() > 1e-4  # training changed the patched model
        plain = rw.fold(patched)
        assert type(plain) is keras.src.models.functional.Functional
        assert not any(isinstance(layer, (LoRAAdapter, SVFAdapter))
                       for layer in plain._flatten_layers())
        np.testing.assert_allclose(plain(x), out, atol=1e-5)
        # fold owns new weights: none is shared with the original or the patched model
        assert not {id(v) for v in plain.weights} & {id(v) for v in patched.weights}
        base = rw.unpatch(patched)
        assert type(base) is keras.src.models.functional.Functional
        assert base.get_layer("attn") is not model.get_layer("attn")
        assert base.get_layer("attn")._query_dense is model.get_layer("attn")._query_dense
        np.testing.assert_array_equal(base(x), ref)
        if kind == "lora":  # training the folded (plain) model leaves the original alone
            _fit(plain, x, y, steps=1, run_eagerly=True)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_array_equal(model(x), ref)


def test_batch_norm_base_runs_in_inference_mode_while_training():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, name="d")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    x, y = _x((64, 4)) * 5 + 3, _x((64, 1), 1)
    lora = rw.add_lora(model, "d", rank=2)
    bn = model.get_layer("bn")
    mean = bn.moving_mean.numpy().copy()
    _fit(lora, x, y)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    assert bn.trainable and bn._trainable  # flags restored after every call
    # the same model trained directly does update its statistics (the check is real)
    _fit(model, x, y, steps=1)
    assert not np.array_equal(bn.moving_mean.numpy(), mean)


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


# ----------------------------------------------------------------------------- properties


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    units=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    n_in=st.integers(1, 5),
    rank=st.integers(1, 4),
    kind=st.sampled_from(["lora", "svf"]),
    pick=st.integers(0, 10),
)
def test_unpatch_of_patch_is_the_model(units, n_in, rank, kind, pick):
    model = M.mlp(units=tuple(units), n_in=n_in, n_out=2, activation="tanh")
    names = [layer.name for layer in model.layers[1:]]
    targets = names[pick % len(names):]
    x = _x((3, n_in))
    before = M.snapshot(model)
    patched = _patch(kind, model, targets, rank=rank)
    _perturb(patched)
    base = rw.unpatch(patched)
    assert [layer.name for layer in base.layers] == [layer.name for layer in model.layers]
    assert [id(v) for v in base.weights] == [id(v) for v in model.weights]
    np.testing.assert_array_equal(base(x), model(x))
    np.testing.assert_allclose(rw.fold(patched)(x), patched(x), atol=1e-5)
    M.assert_same_snapshot(before, M.snapshot(model))


# ----------------------------------------------------------------------------- real models


def test_transformer_lora_on_query_value_trains_and_folds():
    model = M.transformer()
    tokens, labels = M.sequences(n=256)
    ref = np.asarray(model(tokens))
    before = M.snapshot(model)
    lora = rw.add_lora(model, ["*/attn/query", "*/attn/value"], rank=4, alpha=8)
    assert sorted(rw.trainable_report(lora)["patched"]) == [
        "block_0/attn/query", "block_0/attn/value", "block_1/attn/query", "block_1/attn/value"]
    np.testing.assert_allclose(np.asarray(lora(tokens)), ref, atol=1e-6)
    lora.compile(optimizer=keras.optimizers.Adam(1e-2),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    first = lora.evaluate(tokens, labels, verbose=0)
    lora.fit(tokens, labels, epochs=6, batch_size=64, verbose=0)
    last = lora.evaluate(tokens, labels, verbose=0)
    assert last < 0.95 * first
    plain = rw.fold(lora)
    np.testing.assert_allclose(np.asarray(plain(tokens)), np.asarray(lora(tokens)),
                               atol=1e-5)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_array_equal(np.asarray(model(tokens)), ref)


def test_mobilenet_v2_head():
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                           classes=10)
    x = _x((8, 32, 32, 3))
    y = np.arange(8) % 10
    ref = np.asarray(model(x))
    before = M.snapshot(model)
    lora = rw.add_lora(model, "predictions", rank=4)
    head = model.get_layer("predictions")
    n_in = head.kernel.shape[0]
    assert rw.trainable_report(lora)["trainable"] == n_in * 4 + 4 * 10
    np.testing.assert_allclose(np.asarray(lora(x)), ref, atol=1e-6)
    _fit(lora, x, y, steps=1, loss="sparse_categorical_crossentropy", run_eagerly=True)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_allclose(np.asarray(rw.fold(lora)(x)), np.asarray(lora(x)),
                               atol=1e-5)


# ----------------------------------------------------------------------------- docs


@pytest.mark.parametrize(
    "module",
    ["risk_widgets.engine.rewiring", "risk_widgets.engine.models",
     "risk_widgets.engine.operations", "risk_widgets.engine.adapter_files",
     "risk_widgets.engine.registry", "risk_widgets.adapters",
     "risk_widgets.adapters.base", "risk_widgets.adapters.lora", "risk_widgets.adapters.svf"],
)
def test_docstring_examples_run(module):
    import importlib

    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


# ----------------------------------------------------------------------------- graph, stacking


def test_graph_marks_patched_layers_and_lists_patchable_kinds():
    lora = rw.add_lora(M.attention(), ["attn/query"], rank=2)
    nodes = {n["id"]: n for n in rw.to_graph(lora).to_json()["nodes"]}
    assert nodes["attn/query"]["patch"] == {"kind": "lora", "params": {"rank": 2, "alpha": None,
                                                                       "dropout": 0.0}}
    assert nodes["attn/key"]["patch"] is None
    assert {"lora", "svf"} <= set(nodes["attn/key"]["patchable"])
    assert {"lora", "svf"} <= set(nodes["head"]["patchable"])
    assert {"lora", "svf"} <= set(nodes["attn/query"]["patchable"])  # a second one stacks
    assert not {"lora", "svf"} & set(nodes["norm"]["patchable"])


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
