"""Risk wrappers resolve targets with `find_layers` and the graph offers what applying accepts.

Issue 19 item 1: the graph offered ``vote`` on groups (``block_0``) whose application then
failed ("target 'block_0' matches no layer"), because the risk wrappers resolved targets on
leaf paths only with a resolver of their own.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets import demo
from risk_widgets.graph.build import to_graph
from risk_widgets.risk import lora_ensemble, sample, vote
from tests import models as M

# one application of each kind, with the cheapest parameters
APPLY = {
    "lora": lambda model, path: rw.add_lora(model, [path], rank=1),
    "dora": lambda model, path: rw.add_dora(model, [path], rank=1),
    "svf": lambda model, path: rw.add_svf(model, [path]),
    "full": lambda model, path: rw.train_fully(model, [path]),
    "vote": lambda model, path: vote.Wrapper(n_voters=2)(model, targets=[path]),
    "sample": lambda model, path: sample.Wrapper(n_samples=2)(model, targets=[path]),
    "lora_ensemble": lambda model, path: lora_ensemble.Wrapper(n_members=2, rank=1)(
        model, targets=[path]),
}

MODELS = {
    "demo.transformer": demo.transformer,
    "demo.regression_mlp": demo.regression_mlp,
    "demo.digits_mlp": demo.digits_mlp,
    "mlp": M.mlp,
    "nested": M.nested,
    "attention": M.attention,
    "transformer": lambda: M.transformer(n_blocks=1),  # block_1 would repeat block_0's nodes
    "optional_input": M.optional_input,
}


def _patched_states():
    """Models that already carry patches: their nodes offer what stacks on a patch."""
    lora = rw.add_lora(M.transformer(n_blocks=1), ["*/attn/query", "head"], rank=1)
    voted = vote.Wrapper(n_voters=2)(M.attention(), targets=["attn/query", "head"])
    sampled = sample.Wrapper(n_samples=2)(M.mlp(units=(4, 4)), targets=["hidden_1"])
    return {"lora(transformer)": lora, "vote(attention)": voted, "sample(mlp)": sampled}


def _offers(model):
    return [(node["id"], node["kind"], node["patchable"]) for node in to_graph(model).nodes]


def _check_every_offer(name, model):
    failures, tried = [], 0
    for path, _, kinds in _offers(model):
        for kind in kinds:
            tried += 1
            try:
                APPLY[kind](model, path)
            except Exception as err:  # noqa: BLE001 - every failure is collected and shown
                failures.append(f"{name}: {kind} on {path!r}: {type(err).__name__}: {err}")
    return tried, failures


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_patch_the_graph_offers_applies(name):
    tried, failures = _check_every_offer(name, MODELS[name]())
    assert tried > 0
    assert not failures, "\n".join(failures)


def test_every_patch_the_graph_offers_on_a_patched_model_applies():
    for name, model in _patched_states().items():
        tried, failures = _check_every_offer(name, model)
        assert tried > 0
        assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", ["demo.transformer", "nested"])
def test_what_the_graph_does_not_offer_is_refused_with_a_reason(name):
    """The same rule both ways: a risk kind missing from ``patchable`` fails to apply."""
    model = MODELS[name]()
    refused = 0
    for path, node_kind, kinds in _offers(model):
        if node_kind in ("input", "output"):
            continue
        for kind in ("vote", "sample"):
            if kind in kinds:
                continue
            with pytest.raises(ValueError, match="^" + re.escape(f"{kind}: target '{path}'")):
                APPLY[kind](model, path)
            refused += 1
    assert refused > 0


def test_vote_on_a_group_ensembles_the_layers_with_weights_inside_it():
    model = M.transformer()
    x = M.sequences(n=4)[0]
    risky = vote.Wrapper(n_voters=2)(model, targets="block_0")
    voted = sorted(risky.patch_info())
    assert voted == [
        "block_0/attn/attention_output", "block_0/attn/key", "block_0/attn/query",
        "block_0/attn/value", "block_0/mlp/down", "block_0/mlp/up", "block_0/norm_1",
        "block_0/norm_2",
    ]
    assert sorted(risky.wrappers[-1]["targets"]) == voted  # the leaves, recorded
    y, std = risky(x, return_risk=True)
    assert y.shape == (4, 2) and float(np.min(std)) >= 0.0


def test_sample_on_a_group_puts_dropout_after_its_dense_layers():
    model = M.transformer()
    risky = sample.Wrapper(n_samples=2)(model, targets="block_1/mlp")
    assert sorted(risky.patch_info()) == ["block_1/mlp/down", "block_1/mlp/up"]
    opaque = sample.Wrapper(n_samples=2)(M.attention(), targets="attn")
    assert sorted(opaque.patch_info()) == [
        "attn/attention_output", "attn/key", "attn/query", "attn/value"]


def test_a_group_without_a_site_is_refused_naming_it():
    inputs = keras.Input((3,), name="x")
    inner = keras.Sequential(
        [keras.Input((3,)), keras.layers.Activation("relu", name="act")], name="inner")
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(inner(inputs)), name="m")
    assert "vote" not in dict((p, k) for p, _, k in _offers(model))["inner"]
    with pytest.raises(ValueError, match=r"^vote: target 'inner' .*no layer.*inner/act"):
        vote.Wrapper(n_voters=2)(model, targets="inner")


def test_bad_targets_keep_clear_messages():
    model = M.mlp()
    with pytest.raises(ValueError) as err:
        vote.Wrapper()(model, targets="hed")
    message = str(err.value)
    assert message.startswith("vote: target 'hed' matches no layer. Did you mean 'head'")
    assert "find_layers(model, '*')" in message  # the way out
    with pytest.raises(ValueError, match=r"^sample: target 'blok\*' matches no layer\."):
        sample.Wrapper()(model, targets="blok*")
    with pytest.raises(ValueError, match=r"^sample: no layer of class Conv2D.*Classes present"):
        sample.Wrapper()(model, targets=keras.layers.Conv2D)
    with pytest.raises(TypeError, match=r"^vote: `targets` must be None, a path"):
        vote.Wrapper()(model, targets=3)
    with pytest.raises(ValueError, match=r"^vote: `targets` is an empty list"):
        vote.Wrapper()(model, targets=[])


def test_class_targets_see_through_risk_layers_and_lists_may_mix_forms():
    model = M.mlp(units=(4, 4))
    voted = vote.Wrapper(n_voters=2)(model, targets="head")
    # the voted head still counts as a Dense layer for the next wrapper
    both = sample.Wrapper(n_samples=2)(voted, targets=keras.layers.Dense)
    assert sorted(both.patch_info()) == ["head", "hidden_1", "hidden_2"]
    mixed = vote.Wrapper(n_voters=2)(model, targets=["head", lambda p, layer: p == "hidden_1"])
    assert sorted(mixed.patch_info()) == ["head", "hidden_1"]


def test_vote_by_glob_wraps_the_matches_that_can_take_it():
    """A glob over a block also matches its weightless leaves (an Activation); the
    wrapper goes on the leaves with weights instead of refusing the call (issue 32)."""
    x = keras.Input((4,))
    h = keras.layers.Dense(8, name="block_1_dense")(x)
    h = keras.layers.Activation("relu", name="block_1_act")(h)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(h))
    risky = vote.Wrapper(2)(model, targets="block_1_*")
    assert risky.wrappers[0]["targets"] == ["block_1_dense"]
    output, risk = risky(np.ones((3, 4), "float32"), return_risk=True)
    assert np.asarray(risk).shape[0] == 3 and float(np.max(np.asarray(risk))) > 0
    with pytest.raises(ValueError, match=r"^vote: target '\*_act' matches no layer that vote "
                       r"applies to .*'block_1_act' \(Activation\) has no weights.*targets=None"):
        vote.Wrapper(2)(model, targets="*_act")


def _nested_block_model():
    """stem -> block_1 (a nested Sequential: Dense, Activation) -> head."""
    x = keras.Input((4,), name="x")
    block = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="dense"),
                              keras.layers.Activation("relu", name="act")], name="block_1")
    h = block(keras.layers.Dense(8, name="stem")(x))
    return keras.Model(x, keras.layers.Dense(1, name="head")(h), name="m")


def test_a_glob_over_a_block_and_its_layers_wraps_the_outermost_match():
    """Issue 32 part 5: ``*block_1*`` matches the block and every layer inside it; vote goes
    around the block whole (one set of voters), sample after the block's Dense layers."""
    model = _nested_block_model()
    assert rw.find_layers(model, "*block_1*") == ["block_1", "block_1/dense", "block_1/act"]
    risky = vote.Wrapper(2)(model, targets="*block_1*")
    assert risky.wrappers[0]["targets"] == ["block_1"]
    [voted] = risky.risk_layers()
    assert [type(v).__name__ for v in voted.voters] == ["Sequential", "Sequential"]
    kernels = [np.asarray(v.get_layer("dense").kernel) for v in voted.voters]
    assert not np.allclose(kernels[0], kernels[1])  # fresh copies of the whole block
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    y, risk = risky(x, return_risk=True)
    assert y.shape == (3, 1) and float(np.max(np.asarray(risk))) > 0
    # a path written out keeps its meaning: a group stands for its layers, each voted alone
    assert vote.Wrapper(2)(model, targets="block_1").wrappers[0]["targets"] == ["block_1/dense"]
    # a leaf named beside the glob is left to the block voted whole (no overlap refused)
    mixed = vote.Wrapper(2)(model, targets=["block_1/dense", "*block_1*", "head"])
    assert mixed.wrappers[0]["targets"] == ["block_1", "head"]
    # sample: dropout after the block's Dense layers, as naming the block does
    sampled = sample.Wrapper(2)(model, targets="*block_1*")
    assert sampled.wrappers[0]["targets"] == ["block_1/dense"]


def test_vote_by_glob_wraps_an_opaque_layer_whole_or_says_how_to_reach_inside():
    model = M.attention()  # attn: a MultiHeadAttention, called on (query, value)
    risky = vote.Wrapper(2)(model, targets="attn*")
    assert risky.wrappers[0]["targets"] == ["attn"]
    assert [type(v).__name__ for v in risky.risk_layers()[0].voters] == ["MultiHeadAttention"] * 2
    y, risk = risky(np.ones((2, *model.inputs[0].shape[1:]), "float32"), return_risk=True)
    assert y.shape == (2, 6, 2) and float(np.max(np.asarray(risk))) > 0

    class Holder(keras.layers.Layer):  # a layer argument: no config to copy it from
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    x = keras.Input((3,))
    held = Holder(keras.layers.Dense(4, name="d"), name="hold")
    model = keras.Model(x, keras.layers.Dense(1, name="head")(held(x)))
    with pytest.raises(ValueError, match=r"^vote: target 'hold' \(Holder\) cannot be copied from "
                       r"its config .*targets='hold/\*'"):
        vote.Wrapper(2)(model, targets="hold*")
    assert vote.Wrapper(2)(model, targets="hold/*").wrappers[0]["targets"] == ["hold/d"]


def test_a_glob_over_an_already_patched_block_takes_its_layers():
    """Re-creating a block from its config would drop an earlier wrapper inside it."""
    model = _nested_block_model()
    sampled = sample.Wrapper(2)(model, targets="block_1/dense")
    both = vote.Wrapper(2)(sampled, targets="*block_1*")
    assert both.wrappers[-1]["targets"] == ["block_1/dense"]
    assert both.members == 4


def test_a_glob_matching_only_weightless_layers_is_refused_naming_it():
    model = _nested_block_model()
    with pytest.raises(ValueError, match=r"^vote: target '\*act' matches no layer that vote "
                       r"applies to \(it matches 'block_1/act'\).*Target a layer with weights"):
        vote.Wrapper(2)(model, targets="*act")
    with pytest.raises(ValueError, match=r"^vote: target '\*act' matches no layer"):
        vote.Wrapper(2)(model, targets=["head", "*act"])  # each glob must give a site
    weightless = keras.Sequential(
        [keras.Input((3,)), keras.layers.Activation("relu", name="act")], name="inner")
    x = keras.Input((3,))
    nested = keras.Model(x, keras.layers.Dense(1, name="head")(weightless(x)))
    with pytest.raises(ValueError, match=r"^sample: target 'inn\*' matches no layer that sample "
                       r"applies to.*'inner' holds no layer.*find_layers\(model, '\*'\)"):
        sample.Wrapper(2)(nested, targets="inn*")


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("keras_hub", reason="keras-hub is installed by `make setup`")
    from tests.kerashub_cases import build_case

    return build_case("GPT2Backbone")


def test_vote_by_glob_on_a_kerashub_backbone_votes_the_transformer_block(gpt2):
    backbone, data = gpt2
    block = "transformer_layer_0"
    matched = rw.find_layers(backbone, f"*{block}*")
    assert len(matched) > 10 and any("softmax" in p for p in matched)  # weightless ones too
    risky = vote.Wrapper(2)(backbone, targets=f"*{block}*")
    assert risky.wrappers[0]["targets"] == [block]
    [voted] = risky.risk_layers()
    assert [type(v).__name__ for v in voted.voters] == ["TransformerDecoder"] * 2
    y, risk = risky(data, return_risk=True)
    assert np.asarray(y).shape == (2, 5, 4) and float(np.max(np.asarray(risk))) > 0
    sampled = sample.Wrapper(2)(backbone, targets=f"*{block}*")
    layers = {p.rsplit("/", 1)[-1] for p in sampled.wrappers[0]["targets"]}
    assert layers == {"query", "key", "value", "attention_output",
                      "feedforward_intermediate_dense", "feedforward_output_dense"}
    with pytest.raises(ValueError, match=r"^vote: target '\*dropout\*' matches no layer that "
                       r"vote applies to.*has no weights"):
        vote.Wrapper(2)(backbone, targets="*dropout*")
