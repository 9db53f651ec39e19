"""Bring your own technique (issue #33, parts 1-2): `rw.Adapter` + `rw.register_adapter` make a
user's adapter kind first-class (add_adapter, fold, unpatch, adapter files, .keras, stacking,
param_report, the editor's catalog / patchable / export), and `rw.rewire` with any user layer
never trains the shared original."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.adapters import LoRAAdapter, SVFAdapter
from risk_widgets.editor.catalog import CATALOG, catalog_json
from risk_widgets.editor.state import EditorState
from tests import models as M


class IA3(rw.Adapter):
    """(IA)³: one learned factor per output unit, W' = W diag(l)."""

    def build_adapter(self):
        self.l = self.add_weight(name="ia3_l", shape=(self.output_dim,), initializer="ones")

    def delta(self, inputs, training=None):
        return self.apply_matrix(inputs, self.kernel_tensor() * (self.l * self.gain - 1.0))

    def delta_matrix(self):
        return self.kernel_matrix() * (self.value(self.l) * self.gain - 1.0)


class NoFold(rw.Adapter):
    """A bias shift: trains, cannot be folded (no delta_matrix)."""

    def build_adapter(self):
        self.shift = self.add_weight(name="shift", shape=(self.output_dim,), initializer="zeros")

    def delta(self, inputs, training=None):
        return keras.ops.zeros_like(self.apply_matrix(inputs, self.kernel_tensor())) + self.shift


@pytest.fixture
def ia3():
    rw.register_adapter("ia3", IA3, params={"gain": 1.0}, applies_to=keras.layers.Dense)
    yield "ia3"
    rw.unregister_adapter("ia3")


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _move(model, seed=1):
    """Moves every trainable weight as training would."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_weights:
        v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))


def _same(a, b, atol=1e-5):
    return np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=atol)


def test_a_registered_kind_patches_trains_only_its_weights_and_leaves_the_model(ia3):
    model = M.mlp(units=(8,))
    before = M.snapshot(model)
    patched = rw.add_adapter(model, "ia3", ["hidden_1", "head"])
    x = _x((16, 4))
    assert _same(patched(x), model(x), atol=0)  # l = 1: a fresh patch changes nothing
    assert sorted(v.name for v in patched.trainable_weights) == ["ia3_l", "ia3_l"]
    assert rw.trainable_report(patched)["trainable"] == 8 + 2
    patched.compile(keras.optimizers.Adam(0.05), "mse")
    history = patched.fit(x, _x((16, 2), 1), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    M.assert_same_snapshot(before, M.snapshot(model))
    layer = patched.get_layer("head")
    assert layer.patch_info() == {"kind": "ia3", "params": {"gain": 1.0}}
    assert rw.adapter_names(patched) == ["default"]


def test_fold_unpatch_keras_file_and_adapter_file_round_trips(ia3, tmp_path):
    model = M.mlp(units=(8,))
    patched = rw.add_adapter(model, "ia3", ["hidden_1", "head"], gain=1.0)
    _move(patched)
    x = _x((8, 4))
    assert not _same(patched(x), model(x))
    folded = rw.fold(patched)
    assert not rw.patch_layers(folded) and _same(folded(x), patched(x))
    assert _same(rw.unpatch(patched)(x), model(x), atol=0)
    patched.save(tmp_path / "ia3.keras")
    loaded = rw.load_model(tmp_path / "ia3.keras")
    assert _same(loaded(x), patched(x), atol=0)
    assert loaded.get_layer("head").patch_info()["kind"] == "ia3"
    assert [v.name for v in loaded.trainable_weights] == ["ia3_l", "ia3_l"]
    rw.save_adapters(patched, tmp_path / "ia3.npz")
    fresh = rw.add_adapter(model, "ia3", ["hidden_1", "head"])
    rw.load_adapters(fresh, tmp_path / "ia3.npz")
    assert _same(fresh(x), patched(x), atol=0)


def test_a_user_kind_stacks_with_lora_by_name_and_shows_in_param_report(ia3):
    model = M.mlp(units=(8,))
    both = rw.add_lora(rw.add_adapter(model, "ia3", "head", name="scale"), "head", rank=2,
                       name="low")
    assert rw.adapter_names(both) == ["scale", "low"]
    _move(both)
    x = _x((8, 4))
    only_lora = rw.unpatch(both, names=["scale"])
    assert rw.adapter_names(only_lora) == ["low"]
    assert _same(rw.fold(both)(x), both(x))
    half = rw.fold(both, names=["scale"])
    assert rw.adapter_names(half) == ["low"] and _same(half(x), both(x))
    rows = {(r.path, r.kind, r.name) for r in rw.param_report(both).adapters}
    assert rows == {("head", "ia3", "scale"), ("head", "lora", "low")}


def test_a_user_kind_on_the_einsum_dense_inside_attention(ia3):
    rw.register_adapter("ia3_any", IA3, params={"gain": 1.0})  # applies_to: any kernel layer
    try:
        model = M.attention()
        patched = rw.add_adapter(model, "ia3_any", ["attn/query", "attn/value"])
        _move(patched)
        x = _x((2, 6, 8))
        assert _same(rw.fold(patched)(x), patched(x))
        with pytest.raises(TypeError, match="does not apply to 'attn/query'"):
            rw.add_adapter(model, "ia3", "attn/query")  # ia3 applies to Dense only
    finally:
        rw.unregister_adapter("ia3_any")


def test_an_adapter_without_delta_matrix_trains_and_unpatches_but_fold_says_why():
    rw.register_adapter("shift", NoFold)
    try:
        model = M.mlp(units=(8,))
        patched = rw.add_adapter(model, "shift", "head")
        _move(patched)
        x = _x((4, 4))
        assert not _same(patched(x), model(x))
        with pytest.raises(TypeError, match="defines no delta_matrix.*rw.unpatch"):
            rw.fold(patched)
        assert _same(rw.unpatch(patched)(x), model(x), atol=0)
    finally:
        rw.unregister_adapter("shift")


def test_the_editor_offers_a_registered_kind_on_the_layers_it_applies_to(ia3):
    assert list(catalog_json())[:4] == ["lora", "dora", "svf", "ia3"]
    assert catalog_json()["ia3"]["params"][0] == {
        "name": "gain", "type": "float", "default": 1.0, "optional": False, "help": ""}
    model = M.attention()
    nodes = {n["id"]: n for n in rw.to_graph(model).to_json()["nodes"]}
    assert "ia3" in nodes["head"]["patchable"]
    assert "ia3" not in nodes["attn/query"]["patchable"]  # EinsumDense: not its layers
    state = EditorState(model)
    state.select(["head"])
    patched = state.apply("ia3", gain="1.0")  # typed in the browser: text
    assert patched.get_layer("head").patch_info()["kind"] == "ia3"
    code = state.export_code()
    assert "rw.add_adapter(model, 'ia3', targets=['head'], gain=1.0, name=None)" in code
    assert "your adapter kind" in code
    with pytest.raises(ValueError, match="needs target layers"):
        state.select([])
        state.apply("ia3")


def test_exported_code_reproduces_the_patch(ia3):
    model = M.mlp(units=(8,))
    state = EditorState(model)
    state.apply("ia3", targets=["head"], gain=2.0)
    scope = {"model": model}
    exec(state.export_code(), scope)  # noqa: S102 - the script the editor writes
    x = _x((4, 4))
    assert _same(scope["model"](x), state.model(x), atol=0)


def test_built_in_kinds_go_through_the_same_api():
    model = M.mlp(units=(8,))
    kinds = rw.adapter_kinds()
    assert [k for k in kinds if k in ("lora", "dora", "svf")] == ["lora", "dora", "svf"]
    assert kinds["lora"].cls is LoRAAdapter and kinds["svf"].cls is SVFAdapter
    by_name = rw.add_adapter(model, "lora", "head", rank=2)
    assert rw.trainable_report(by_name) == rw.trainable_report(rw.add_lora(model, "head", rank=2))
    assert set(CATALOG) >= {"lora", "dora", "svf", "vote", "sculpt"}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: rw.register_adapter("vote", IA3), ValueError, "not a risk kind"),
        (lambda: rw.register_adapter("my kind", IA3), ValueError, "letters, digits"),
        (lambda: rw.register_adapter("x", keras.layers.Dense), TypeError, "subclass of rw.Adapter"),
        (lambda: rw.register_adapter("x", IA3, params={"gain": [1]}), TypeError, "Cannot infer"),
        (lambda: rw.register_adapter("x", IA3, params={"name": "a"}), ValueError, "reserved"),
        (lambda: rw.register_adapter("x", IA3, applies_to=3), TypeError, "applies_to"),
        (lambda: rw.add_adapter(M.mlp(), "nope", "head"), ValueError, "Unknown adapter kind"),
        (lambda: rw.unregister_adapter("lora"), ValueError, "built-in"),
    ],
)
def test_bad_registrations_and_calls_say_what_to_do(call, error, match):
    with pytest.raises(error, match=match):
        call()
    assert "x" not in rw.adapter_kinds()


def test_an_unknown_parameter_is_refused_naming_the_known_ones(ia3):
    model = M.mlp()
    with pytest.raises(ValueError, match="no parameter.*'rank'.*gain"):
        rw.add_adapter(model, "ia3", "head", rank=4)
    with pytest.raises(ValueError, match="invalid value for `gain`"):
        rw.add_adapter(model, "ia3", "head", gain="big")
    assert not rw.patch_layers(model)


def test_the_decorator_form_registers_too():
    @rw.register_adapter("ia3_dec", params={"gain": 1.0})
    class Decorated(IA3):
        pass

    try:
        assert rw.adapter_kinds()["ia3_dec"].cls is Decorated
        assert Decorated.patch_kind == "ia3_dec"
        patched = rw.add_adapter(M.mlp(), "ia3_dec")  # no targets: every layer it applies to
        assert sorted(rw.patch_layers(patched)) == ["head", "hidden_1"]
    finally:
        rw.unregister_adapter("ia3_dec")


# -- rewire with any user layer -------------------------------------------------------------


class MyLoRA(keras.layers.Layer):
    """The issue's plain Keras layer wrapping the original: not a patch layer."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape):
        self.a = self.add_weight(name="a", shape=(input_shape[-1], 2), initializer="he_uniform")
        self.b = self.add_weight(name="b", shape=(2, self.layer.units), initializer="zeros")

    def call(self, x):
        return self.layer(x) + keras.ops.matmul(keras.ops.matmul(x, self.a), self.b)

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config):
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)


class MarkedLoRA(MyLoRA):
    is_patch_layer = True  # as rewire's docstring allows: a patch layer of the user's own


@pytest.mark.parametrize("cls", [MyLoRA, MarkedLoRA])
def test_rewire_with_a_user_layer_trains_its_new_weights_never_the_shared_original(cls):
    model = M.mlp(units=(8,))
    before = M.snapshot(model)
    patched = rw.rewire(model, "head", lambda layer, path: cls(layer, name="head"))
    assert sorted(v.name for v in patched.trainable_weights) == ["a", "b"]
    patched.compile(keras.optimizers.Adam(0.05), "mse")
    x = _x((32, 4))
    patched.fit(x, _x((32, 2), 3), epochs=3, verbose=0)
    M.assert_same_snapshot(before, M.snapshot(model))
    assert not _same(patched(x), model(x))


def test_what_trains_survives_a_keras_file_and_a_further_patch(tmp_path):
    keras.saving.register_keras_serializable("tests_adapter_api")(MarkedLoRA)
    keras.saving.register_keras_serializable("tests_adapter_api")(MyLoRA)
    model = M.mlp(units=(8,))
    for cls in (MyLoRA, MarkedLoRA):
        patched = rw.rewire(model, "head", lambda layer, path, cls=cls: cls(layer, name="head"))
        patched.save(tmp_path / "user.keras")
        loaded = rw.load_model(tmp_path / "user.keras")
        assert sorted(v.name for v in loaded.trainable_weights) == ["a", "b"], cls
        more = rw.add_lora(patched, "hidden_1", rank=1)
        assert sorted(v.name for v in more.trainable_weights) == ["a", "b", "lora_a", "lora_b"]


def test_a_replacement_that_only_wraps_the_original_warns_and_a_plain_swap_does_not():
    class Doubled(keras.layers.Layer):
        def __init__(self, layer, **kwargs):
            super().__init__(**kwargs)
            self.layer = layer

        def call(self, x):
            return 2.0 * self.layer(x)

    model = M.mlp(units=(8,))
    with pytest.warns(UserWarning, match="'head' adds no trainable weights.*rw.Adapter"):
        rw.rewire(model, "head", lambda layer, path: Doubled(layer, name="head"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        swapped = rw.rewire(model, "hidden_1", lambda layer, path: keras.layers.Dense(
            8, activation="tanh", name="hidden_1"))
    assert sorted(v.name for v in swapped.trainable_weights) == ["bias", "kernel"]


def test_fold_and_unpatch_of_a_users_own_layer_say_what_to_do():
    model = M.mlp(units=(8,))
    marked = rw.rewire(model, "head", lambda layer, path: MarkedLoRA(layer, name="head"))
    with pytest.raises(TypeError, match="'head'.*without folded\\(\\).*rw.Adapter"):
        rw.fold(marked)
    back = rw.unpatch(marked)  # the layer rewire replaced, found again in the recipe
    assert back.get_layer("head") is model.get_layer("head")
    plain = rw.rewire(model, "head", lambda layer, path: MyLoRA(layer, name="head"))
    for operation in (rw.fold, rw.unpatch):
        with pytest.raises(ValueError, match="layers of your own.*\\(head\\).*rw.Adapter"):
            operation(plain)
