"""Issue 27 (1): patching inside a layer by a structural copy, never by `from_config`.

The blocks here are written the way KerasHub writes its layers: sub-layers made in
``build()`` (from a factory that does not serialize, in one of them), held in lists, dicts and
tuples, a bound method kept as an attribute, a sub-layer built only on the first call (as
DeBERTa's ``RelativeEmbedding``). The real KerasHub backbones are in
``tests/test_kerashub_sweep.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.core import keras_internals as ki
from risk_widgets.core.layer_copy import (
    set_sublayer,
    structural_copy,
    sublayer_at,
    sublayer_locations,
)
from risk_widgets.core.walk import get_layer_by_path
from risk_widgets.risk import sample, vote
from tests import models as M

PKG = "test_layer_copy"


def _dense(units, name):
    return keras.layers.Dense(units, activation="tanh", name=name)


@keras.saving.register_keras_serializable(package=PKG)
class ListBlock(keras.layers.Layer):
    """Sub-layers in a list, a dict and a tuple, made in ``build()``; ``make`` (a factory
    function) is not part of the config, so without it ``from_config`` cannot re-create
    the block (``strict=True``)."""

    def __init__(self, units=6, make=None, strict=False, **kwargs):
        super().__init__(**kwargs)
        if strict and make is None:
            raise TypeError("ListBlock(strict=True) needs `make`, which does not serialize")
        self.units, self.strict = units, strict
        self.make = make or _dense
        self.squash = self._squash  # a bound method kept as an attribute

    def build(self, shape):
        self.blocks = [self.make(self.units, f"dense_{i}") for i in range(2)]
        self.blocks[0].build(shape)
        self.blocks[1].build((*shape[:-1], self.units))
        self.by_name = {"gate": self.make(shape[-1], "gate")}
        self.by_name["gate"].build((*shape[:-1], self.units))
        self.pair = (keras.layers.LayerNormalization(name="norm"), self.blocks[0])
        self.pair[0].build(shape)

    def _squash(self, x):
        return x / (1.0 + keras.ops.abs(x))

    def call(self, x):
        h = self.blocks[1](self.pair[1](self.pair[0](x)))
        return x + self.squash(self.by_name["gate"](h))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "strict": self.strict}


@keras.saving.register_keras_serializable(package=PKG)
class LazyNorm(keras.layers.Layer):
    """No ``build()``: its sub-layer is built on the first call (KerasHub's DeBERTa
    ``RelativeEmbedding``); a config round trip leaves it unbuilt."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.LayerNormalization(name="lazy_norm")

    def call(self, x):
        return self.norm(x)

    def compute_output_shape(self, shape):
        return shape


def _model(strict=False, seed=0):
    keras.utils.set_random_seed(seed)
    make = (lambda units, name: _dense(units, name)) if strict else None
    x = keras.Input((5, 4), name="x")
    h = ListBlock(6, make=make, strict=strict, name="block")(x)
    h = LazyNorm(name="lazy")(h)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="m")


def _x(n=8):
    return np.random.default_rng(0).normal(size=(n, 5, 4)).astype("float32")


def _state(model):
    """Everything of the user's model a patch must leave alone, beyond the weights."""
    block = model.get_layer("block")
    return {
        "attrs": {k: id(v) for k, v in vars(block).items()},
        "blocks": [id(b) for b in block.blocks],
        "by_name": {k: id(v) for k, v in block.by_name.items()},
        "pair": [id(p) for p in block.pair],
        "tracked": [id(s) for s in ki.sublayers(block)],
        "squash": block.squash.__self__ is block,
    }


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x))


def _targets():  # the list and dict members, by path: "block/dense_0", "block/gate"
    return ["block/dense_0", "block/gate"]


def test_copy_swaps_every_holder_and_leaves_the_original_alone():
    model = _model()
    block = model.get_layer("block")
    before = _state(model)
    locations = dict(sublayer_locations(block))
    assert locations["blocks[0]"] is block.blocks[0] is locations["pair[1]"]
    assert locations["by_name['gate']"] is block.by_name["gate"]
    new_dense = _dense(6, "dense_0")
    twin = structural_copy(block, lambda sub: new_dense if sub is block.blocks[0] else sub)
    # swapped in the list, the tuple, the tracked sub-layers; the rest shared
    assert twin.blocks[0] is new_dense and twin.pair[1] is new_dense
    assert twin.blocks[1] is block.blocks[1] and twin.by_name["gate"] is block.by_name["gate"]
    assert new_dense in ki.sublayers(twin) and block.blocks[0] not in ki.sublayers(twin)
    assert twin.squash.__self__ is twin  # the bound method follows the copy
    assert ki.tracker_of(twin) is not ki.tracker_of(block)
    assert twin.blocks.tracker is ki.tracker_of(twin)
    assert twin._inbound_nodes == [] and twin.built
    assert _state(model) == before  # the original: not one attribute or list changed
    # a loaded layer is changed in place at a location
    set_sublayer(twin, "by_name['gate']", _dense(4, "gate"))
    assert sublayer_at(twin, "by_name['gate']") is twin.by_name["gate"] is not block.by_name["gate"]


def test_patches_inside_a_block_from_config_cannot_recreate():
    """`strict` blocks need a factory that does not serialize: no `from_config`, yet every
    adapter, unpatch, fold, adapter files and risk wrappers work, and the user's model is
    untouched."""
    model = _model(strict=True)
    with pytest.raises(TypeError, match="does not serialize"):
        ListBlock.from_config(model.get_layer("block").get_config())
    x = _x()
    y0, snap, state = _out(model, x), M.snapshot(model), _state(model)
    for add in (rw.add_lora, rw.add_dora, rw.add_svf):
        kwargs = {} if add is rw.add_svf else {"rank": 2}
        patched = add(model, _targets(), **kwargs)
        assert sorted(rw.patch_layers(patched)) == sorted(_targets())
        np.testing.assert_allclose(_out(patched, x), y0, atol=1e-5)  # fresh: the base
        _perturb(patched)
        y = _out(patched, x)
        assert np.abs(y - y0).max() > 1e-3
        np.testing.assert_allclose(_out(rw.fold(patched), x), y, atol=1e-5)
        np.testing.assert_array_equal(_out(rw.unpatch(patched), x), y0)
    lora = rw.add_lora(model, _targets(), rank=2)
    lora.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    lora.fit(x, np.ones((len(x), 2), "float32"), epochs=2, verbose=0)
    assert np.abs(_out(lora, x) - y0).max() > 1e-4
    voted = vote.Wrapper(n_voters=2)(model, "block/gate")
    assert keras.ops.convert_to_numpy(voted(x, return_risk=True)[1]).mean() > 0
    mc = sample.Wrapper(n_samples=3)(model, "block/dense_1")
    assert mc(x, return_risk=True)[1].shape == (len(x), 2)
    M.assert_same_snapshot(snap, M.snapshot(model))
    assert _state(model) == state
    np.testing.assert_array_equal(_out(model, x), y0)


def test_keras_files_adapter_files_and_fold_round_trip(tmp_path):
    model = _model()
    x = _x()
    lora = rw.add_lora(model, _targets(), rank=2)
    _perturb(lora)
    y = _out(lora, x)
    lora.save(tmp_path / "lora.keras")  # patches at "blocks[0]" and "by_name['gate']"
    again = rw.load_model(tmp_path / "lora.keras")
    np.testing.assert_array_equal(_out(again, x), y)
    loaded = get_layer_by_path(again, "block")
    assert loaded.blocks[0] is loaded.pair[1]  # one sub-layer at two places stays one
    assert ki.unbuilt_layers(again) == []  # LazyNorm's sub-layer built on load
    rw.save_adapters(lora, tmp_path / "a.npz")
    fresh = rw.add_lora(model, _targets(), rank=2)
    rw.load_adapters(fresh, tmp_path / "a.npz")
    np.testing.assert_array_equal(_out(fresh, x), y)
    folded = rw.fold(lora)
    assert not rw.patch_layers(folded)
    np.testing.assert_allclose(_out(folded, x), y, atol=1e-5)
    assert not {id(v) for v in folded.weights} & {id(v) for v in model.weights}  # own copies
    assert type(get_layer_by_path(folded, "block")) is ListBlock
    # (a plain Keras model holding LazyNorm does not load from .keras: Keras leaves its
    # sub-layer unbuilt; the user's own model has the same limit)


class _Holder:
    def __init__(self, layer):
        self.layer = layer


@keras.saving.register_keras_serializable(package=PKG)
class HiddenBlock(keras.layers.Layer):
    """Calls a sub-layer through a helper object: a copy cannot swap it there."""

    def build(self, shape):
        self.inner = keras.layers.Dense(shape[-1], name="inner")
        self.inner.build(shape)
        self.helper = _Holder(self.inner)

    def call(self, x):
        return self.helper.layer(x)


def test_a_block_that_cannot_be_copied_is_refused_with_the_way_out():
    keras.utils.set_random_seed(0)
    x = keras.Input((3,), name="x")
    model = keras.Model(x, HiddenBlock(name="hidden")(x))
    snap = M.snapshot(model)
    with pytest.raises(ValueError) as err:
        rw.add_lora(model, "hidden/inner", rank=1)
    text = str(err.value)
    for part in ("'hidden'", "HiddenBlock", "'helper'", "Nothing was changed",
                 "Target the whole layer"):
        assert part in text, text
    M.assert_same_snapshot(snap, M.snapshot(model))
    assert model.get_layer("hidden").helper.layer is model.get_layer("hidden").inner
