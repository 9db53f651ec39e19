"""LoRA / SVF patching: arguments refused Keras-style, a fresh patch is the identity and
trains only its adapters, weight shapes and init, EinsumDense kernels, unpatch(patch(m)) is
m (hypothesis), the graph's patch marks, the docstring examples."""

from __future__ import annotations

import doctest

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
from tests.adapter_helpers import _patch, _perturb, _x

RNG = np.random.default_rng(0)


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


# ----------------------------------------------------------------------------- graph


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
