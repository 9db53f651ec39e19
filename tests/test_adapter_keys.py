"""Issue 32 (3): adapter files load into any model of the same architecture.

Keys are paths relative to the model with no auto-numbered model name
(`risk_widgets.engine.adapter_files.portable_paths`); a task's file loads into its patched
backbone and back; files with the older keys (``gpt2_backbone_1/...``) still load; anything
else is refused with the paths that matched nothing. KerasHub models are tiny, random-init
and built in code (`tests/kerashub_cases.py`).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.engine.adapter_files import portable_paths
from tests.kerashub_cases import build_case

keras_hub = pytest.importorskip("keras_hub", reason="keras-hub is installed by `make setup`")


def _nudge(patched, seed=0) -> None:
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(patched).values():
        for v in layer.trainable_weights:
            v.assign(v + 0.05 * rng.normal(size=v.shape).astype("float32"))


def _adapter_values(patched) -> list[np.ndarray]:
    """Adapter weights in the order of their paths with the leading model name dropped."""
    rows = []
    for path, layer in rw.patch_layers(patched).items():
        tail = path.split("transformer_layer", 1)[-1]
        rows += [(tail, i, keras.ops.convert_to_numpy(v))
                 for i, v in enumerate(layer.trainable_weights)]
    return [value for *_, value in sorted(rows, key=lambda r: r[:2])]


def _keys(path) -> list[str]:
    with np.load(path) as data:
        return sorted(k for k in data.files if k != "__patches__")


def _out(model, data) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.tree.flatten(model(data))[0])


def _task():
    backbone, data = build_case("GPT2Backbone")
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None), data


def test_backbone_file_loads_into_a_fresh_build(tmp_path):
    first, data = build_case("GPT2Backbone")
    second, _ = build_case("GPT2Backbone")
    assert first.name != second.name  # Keras numbered them
    lora = rw.add_lora(first, rank=2)
    _nudge(lora)
    file = rw.save_adapters(lora, tmp_path / "a.npz")
    assert all(k.startswith("transformer_layer_0/") for k in _keys(file)), _keys(file)
    fresh = rw.add_lora(second, rank=2)
    second.set_weights(first.get_weights())
    assert rw.load_adapters(fresh, file) == list(rw.patch_layers(fresh))
    np.testing.assert_allclose(_out(fresh, data), _out(lora, data), rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def task_file(tmp_path_factory):
    """A patched task (if patching a task works) and its file."""
    build_case("GPT2Backbone")  # so that the task's backbone is numbered (gpt2_backbone_N)
    task, data = _task()
    try:
        lora = rw.add_lora(task, rank=2)
    except Exception as err:  # noqa: BLE001 - issue 32 part 1 is another change
        pytest.skip(f"patching a KerasHub task does not work here: {err}")
    _nudge(lora, seed=1)
    return lora, rw.save_adapters(lora, tmp_path_factory.mktemp("t") / "task.npz"), data


def test_task_file_has_no_numbered_model_name(task_file):
    lora, file, _ = task_file
    first = {p.split("/")[0] for p in rw.patch_layers(lora)}
    assert len(first) == 1 and first != {"gpt2_backbone"}, first  # the model's path: numbered
    keys = _keys(file)
    assert keys and all(k.startswith("gpt2_backbone/transformer_layer_0/") for k in keys), keys


def test_task_file_loads_into_a_fresh_task_and_a_backbone_and_back(task_file, tmp_path):
    lora, file, data = task_file
    other, _ = _task()
    fresh = rw.add_lora(other, rank=2)
    assert set(rw.patch_layers(fresh)).isdisjoint(rw.patch_layers(lora))  # another number
    rw.load_adapters(fresh, file)
    for got, want in zip(_adapter_values(fresh), _adapter_values(lora), strict=True):
        np.testing.assert_array_equal(got, want)
    # task -> backbone
    backbone, _ = build_case("GPT2Backbone")
    on_backbone = rw.add_lora(backbone, rank=2)
    assert rw.load_adapters(on_backbone, file) == list(rw.patch_layers(on_backbone))
    for got, want in zip(_adapter_values(on_backbone), _adapter_values(lora), strict=True):
        np.testing.assert_array_equal(got, want)
    # backbone -> task
    _nudge(on_backbone, seed=2)
    back = rw.save_adapters(on_backbone, tmp_path / "backbone.npz")
    again = rw.add_lora(_task()[0], rank=2)
    rw.load_adapters(again, back)
    for got, want in zip(_adapter_values(again), _adapter_values(on_backbone), strict=True):
        np.testing.assert_array_equal(got, want)


def test_file_with_numbered_keys_from_before_still_loads(task_file, tmp_path):
    """Files written before portable keys held the model's own numbered path."""
    lora, file, _ = task_file
    with np.load(file) as data:
        arrays = {k: data[k] for k in data.files}
    info = json.loads(str(arrays.pop("__patches__")))
    old = {k.replace("gpt2_backbone/", "gpt2_backbone_7/", 1): v for k, v in arrays.items()}
    old["__patches__"] = np.array(json.dumps(
        {k.replace("gpt2_backbone/", "gpt2_backbone_7/", 1): v for k, v in info.items()}))
    np.savez(tmp_path / "old.npz", **old)
    fresh = rw.add_lora(_task()[0], rank=2)
    rw.load_adapters(fresh, tmp_path / "old.npz")
    for got, want in zip(_adapter_values(fresh), _adapter_values(lora), strict=True):
        np.testing.assert_array_equal(got, want)
    backbone = rw.add_lora(build_case("GPT2Backbone")[0], rank=2)
    rw.load_adapters(backbone, tmp_path / "old.npz")
    for got, want in zip(_adapter_values(backbone), _adapter_values(lora), strict=True):
        np.testing.assert_array_equal(got, want)


def test_unmatched_paths_are_listed_and_nothing_changes(tmp_path):
    first, _ = build_case("GPT2Backbone")
    both = rw.add_lora(first, ["*/query", "*/value"], rank=2)
    file = rw.save_adapters(both, tmp_path / "both.npz")
    query_only = rw.add_lora(build_case("GPT2Backbone")[0], "*/query", rank=2)
    before = [keras.ops.convert_to_numpy(v) for v in query_only.trainable_weights]
    with pytest.raises(ValueError, match="in the file only: \\['transformer_layer_0/self_"
                       "attention/value'\\]; in the model only: none") as err:
        rw.load_adapters(query_only, file)
    assert "Patch the model the same way" in str(err.value)
    after = [keras.ops.convert_to_numpy(v) for v in query_only.trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_portable_paths_keep_a_name_whose_number_tells_siblings_apart():
    x = keras.Input((4,))
    one = keras.Sequential([keras.layers.Dense(4, name="d")], name="block_1")
    two = keras.Sequential([keras.layers.Dense(4, name="d")], name="block_2")
    solo = keras.Sequential([keras.layers.Dense(4, name="d")], name="head_3")
    model = keras.Model(x, solo(two(one(x))))
    assert portable_paths(model, ["block_1/d", "block_2/d", "head_3/d"]) == {
        "block_1/d": "block_1/d", "block_2/d": "block_2/d", "head_3/d": "head/d"}
    # a numbered leaf layer is not a model: it keeps its name
    leaf = keras.Model(x, keras.layers.Dense(2, name="dense_5")(x))
    assert portable_paths(leaf, ["dense_5"]) == {"dense_5": "dense_5"}


def test_a_differently_named_nested_model_is_not_matched(tmp_path):
    """Dropping a leading run on both sides needs the same names up to Keras' numbering."""
    def wrapped(name):
        x = keras.Input((4,))
        inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name=name)
        return keras.Model(x, inner(x))

    file = rw.save_adapters(rw.add_lora(wrapped("encoder"), "encoder/d", rank=1),
                            tmp_path / "enc.npz")
    with pytest.raises(ValueError, match=r"in the file only: \['encoder/d'\]; in the model "
                       r"only: \['decoder/d'\]"):
        rw.load_adapters(rw.add_lora(wrapped("decoder"), "decoder/d", rank=1), file)
    assert rw.load_adapters(rw.add_lora(wrapped("encoder_4"), "encoder_4/d", rank=1),
                            file) == ["encoder_4/d"]
