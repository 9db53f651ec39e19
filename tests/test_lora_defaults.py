"""Issue 27 (3): `add_lora(model, rank=r)` without targets adapts what KerasHub's
``enable_lora(r)`` adapts, and the editor's LoRA with nothing selected does the same."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets import demo
from risk_widgets.editor.state import EditorState


def _hub_model(seed=0):
    """The demo transformer whose backbone has KerasHub's ``default_lora_layer_names``."""
    keras.utils.set_random_seed(seed)
    base = demo.subclassed_classes()["TransformerBackbone"]

    class HubBackbone(base):
        def default_lora_layer_names(self):
            return ["query_dense", "value_dense", "query", "value"]

    backbone = HubBackbone(vocabulary_size=16, num_layers=2, num_heads=2, hidden_dim=8,
                           intermediate_dim=16, max_sequence_length=6)
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    pooled = keras.layers.GlobalAveragePooling1D(name="pool")(backbone(tokens))
    return keras.Model(tokens, keras.layers.Dense(2, name="head")(pooled), name="hub")


HUB_DEFAULTS = [f"backbone/transformer_layer_{i}/self_attention_layer/{n}"
                for i in range(2) for n in ("query", "value")]


def test_without_targets_a_plain_model_gets_every_dense_and_einsum_dense():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 8), name="x")
    h = keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
    h = keras.layers.Conv1D(4, 3, name="conv")(h)
    h = keras.layers.Flatten(name="flat")(h)
    model = keras.Model(x, keras.layers.Dense(2, name="head")(h))
    lora = rw.add_lora(model, rank=2)
    assert sorted(rw.patch_layers(lora)) == sorted(
        ["attn/query", "attn/key", "attn/value", "attn/attention_output", "head"])
    dora = rw.add_dora(model, rank=2)
    assert sorted(rw.patch_layers(dora)) == sorted(rw.patch_layers(lora))


def test_without_targets_a_hub_model_gets_its_default_lora_layers():
    model = _hub_model()
    tokens = np.arange(12, dtype="int32").reshape(2, 6) % 16
    lora = rw.add_lora(model, rank=2)
    assert sorted(rw.patch_layers(lora)) == sorted(HUB_DEFAULTS)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(lora(tokens)),
                                  keras.ops.convert_to_numpy(model(tokens)))
    # the rebuilt backbone is a plain Functional; the patched model remembers the names
    again = rw.add_lora(lora, rank=2)
    assert sorted(rw.patch_layers(again)) == sorted(HUB_DEFAULTS)
    assert rw.adapter_names(again) == ["default", "lora_1"]


def test_default_names_that_match_nothing_are_refused_with_the_way_out():
    class Odd(keras.Model):
        def default_lora_layer_names(self):
            return ["q_proj"]

    x = keras.Input((4,))
    model = Odd(x, keras.layers.Dense(2, name="head")(x))
    with pytest.raises(ValueError, match=r"default_lora_layer_names\(\): \['q_proj'\].*targets="):
        rw.add_lora(model, rank=2)


def test_the_editor_applies_lora_to_the_defaults_when_nothing_is_selected():
    model = _hub_model()
    state = EditorState(model)
    patched = state.apply("lora", rank=2)
    assert sorted(rw.patch_layers(patched)) == sorted(HUB_DEFAULTS)
    assert state.history()["entries"][0]["targets"] == []
    assert "rw.add_lora(model, targets=None, rank=2" in state.export_code()
