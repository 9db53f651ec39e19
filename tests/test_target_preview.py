"""find_layers(..., explain=True), repeated-block coverage, and the TargetWarning of patches."""

from __future__ import annotations

import json
import warnings

import keras
import pytest

import risk_widgets as rw
from risk_widgets.core.composite import CompositeLayer
from risk_widgets.core.target_text import parse_target_text
from risk_widgets.core.targets import TargetWarning

N_BLOCKS = 6


@pytest.fixture(scope="module")
def model():
    """Six alike blocks: a named MHA ``attn`` and an unnamed Dense (``dense``, ``dense_1``,
    ... : its name differs per block, the structure does not), then a ``head``."""
    keras.backend.clear_session(free_memory=False)

    def block(name):
        def fn(x):
            h = x + keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
            return keras.layers.Dense(8)(h)

        return CompositeLayer(fn, name=name)

    x = inputs = keras.Input((5, 8), name="x")
    for i in range(N_BLOCKS):
        x = block(f"block_{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x), name="stack")


def test_explain_counts_per_rule_and_block(model):
    rules = ["*/attn/query", "*/dense", "block_[0-1]/attn/value", keras.layers.Dense, "nope"]
    got = rw.find_layers(model, rules, explain=True)
    by_rule = {r.rule: r for r in got.rules}
    assert list(by_rule) == ["*/attn/query", "*/dense", "block_[0-1]/attn/value", "Dense", "nope"]
    query = by_rule["*/attn/query"]
    assert query.count == N_BLOCKS and query.paths[0] == "block_0/attn/query"
    assert [b.describe() for b in query.blocks] == [f"{N_BLOCKS} of {N_BLOCKS} blocks"]
    assert not query.blocks[0].partial
    dense = by_rule["*/dense"]  # only block_0's Dense is named "dense"
    assert dense.paths == ("block_0/dense",)
    assert dense.blocks[0].hit == ("block_0",)
    assert dense.blocks[0].missed == tuple(f"block_{i}" for i in range(1, N_BLOCKS))
    assert by_rule["block_[0-1]/attn/value"].blocks[0].describe() == f"2 of {N_BLOCKS} blocks"
    assert by_rule["Dense"].count == N_BLOCKS + 1  # every block's Dense and the head
    nope = by_rule["nope"]
    assert nope.count == 0 and "No layer at path 'nope'" in nope.error and not nope.blocks
    # .paths is the union, as find_layers returns it for the rules that match
    assert got.paths == rw.find_layers(model, rules[:4])
    assert got.total == len(rw.find_layers(model, "*"))
    table = repr(got)
    assert f"1 of {N_BLOCKS} blocks" in table and "no match" in table
    data = json.loads(json.dumps(got.to_json()))
    assert data["count"] == len(got.paths)
    assert data["rules"][1]["blocks"][0]["missed"][0] == "block_1"
    assert data["rules"][1]["summary"] == f"1 layer, 1 of {N_BLOCKS} blocks"
    # without explain nothing changed: paths, and a miss raises
    assert rw.find_layers(model, "*/dense") == ["block_0/dense"]
    with pytest.raises(ValueError, match="No layer at path 'nope'"):
        rw.find_layers(model, ["head", "nope"])


def test_blocks_come_from_structure_not_names():
    keras.backend.clear_session(free_memory=False)
    x = inputs = keras.Input((4,), name="x")
    # two alike Sequentials (named freely) and one of another structure
    x = keras.Sequential([keras.layers.Dense(4, name="p")], name="enc")(x)
    x = keras.Sequential([keras.layers.Dense(4, name="q")], name="mid")(x)
    x = keras.Sequential([keras.layers.Dense(4, name="r"), keras.layers.ReLU()], name="dec")(x)
    model = keras.Model(inputs, x)
    got = rw.find_layers(model, ["*/p", "dec/*"], explain=True)
    assert [b.blocks for b in got.rules[0].blocks] == [("enc", "mid")]
    assert got.rules[1].blocks == ()  # dec is like no sibling
    one = rw.find_layers(model, "nothing*", explain=True)  # a single rule: reported too
    assert one.paths == [] and "matches no layer" in one.rules[0].error
    with pytest.raises(TypeError, match="`targets` must be"):
        rw.find_layers(model, 3.5, explain=True)


def test_patches_warn_when_a_rule_reaches_some_blocks(model):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rw.add_lora(model, ["*/dense", "head"], rank=2)
    messages = [w for w in caught if issubclass(w.category, TargetWarning)]
    assert len(messages) == 1, [str(w.message) for w in caught]
    text = str(messages[0].message)
    assert text.startswith(f"target '*/dense' matches 1 of {N_BLOCKS} repeated blocks")
    assert "it misses 5: block_1, block_2, block_3, block_4, …" in text
    assert "rw.find_layers(model, 'block_1/*')" in text  # the way out
    assert messages[0].filename == __file__  # points at the user's line
    with warnings.catch_warnings():  # all blocks, or exact paths: no warning
        warnings.simplefilter("error", TargetWarning)
        rw.add_lora(model, "*/attn/query", rank=2)
        rw.add_svf(model, keras.layers.Dense)
        rw.add_lora(model, ["block_0/dense", "block_2/attn/key"], rank=2)
        rw.rewire(model, "block_3/attn/value", lambda layer, path: layer)
    with pytest.raises(ValueError, match="matches no layer"):  # still raises, unchanged
        rw.add_lora(model, "*/nothing", rank=2)


def test_parse_target_text(model):
    dense = keras.layers.Dense
    assert parse_target_text(model, "head, Dense , */query,,") == ["head", dense, "*/query"]
    assert parse_target_text(model, "EinsumDense")[0] is keras.layers.EinsumDense
    assert parse_target_text(model, "Conv2D") == ["Conv2D"]  # not in the model: a path
    with pytest.raises(ValueError, match="The target is empty"):
        parse_target_text(model, " , ")
    with pytest.raises(TypeError):
        parse_target_text(model, ["head"])


def test_widget_preview_message(model):
    from risk_widgets.ui.widget import GraphEditor

    editor = GraphEditor(model)
    status = dict(editor.status)
    editor._on_message(editor, {"type": "preview", "targets": "*/dense, */attn/query", "seq": 4})
    got = editor.target_preview
    assert got["seq"] == 4 and got["targets"] == "*/dense, */attn/query"
    assert [r["summary"] for r in got["rules"]] == [
        f"1 layer, 1 of {N_BLOCKS} blocks", f"{N_BLOCKS} layers, {N_BLOCKS} of {N_BLOCKS} blocks"]
    assert got["paths"][:2] == ["block_0/attn/query", "block_0/dense"]
    assert len(got["warnings"]) == 1 and editor.selection == [] and editor.status == status
    editor._on_message(editor, {"type": "preview", "targets": "EinsumDense, qeury", "seq": 5})
    bad = editor.target_preview
    assert bad["rules"][0]["count"] == 4 * N_BLOCKS  # query, key, value, attention_output
    assert "No layer at path 'qeury'" in bad["rules"][1]["error"]
    editor._on_message(editor, {"type": "preview", "targets": " ,", "seq": 6})
    assert editor.target_preview["error"].startswith("The target is empty")
    # applying the previewed paths patches them; the preview follows the new model
    editor._on_message(editor, {"type": "preview", "targets": "*/attn/query", "seq": 7})
    paths = editor.target_preview["paths"]
    editor._on_message(editor, {"type": "apply", "kind": "lora", "params": {"rank": 2},
                                "targets": paths})
    assert editor.history["index"] == 1 and editor.target_preview["paths"] == paths
    assert sorted(rw.patch_layers(editor.model)) == sorted(paths)
    editor._on_message(editor, {"type": "preview", "targets": "head", "seq": "x"})
    assert "'preview' needs field 'seq'" in editor.status["message"]
    assert editor.preview("head")["paths"] == ["head"]
