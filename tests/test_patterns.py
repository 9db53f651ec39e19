"""Per-path rank / alpha patterns (issue 16; PEFT's ``rank_pattern`` / ``alpha_pattern``):
first match in dict order, the default for unmatched paths, validation naming the key,
warnings for keys that set nothing, and the editor's exported code reproducing them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.adapters.patterns import PathValues
from tests import models as M

TARGETS = ["*/attn/query", "*/attn/value", "*/mlp/up", "head"]


@pytest.fixture(scope="module")
def model():
    return M.transformer(seed=0)


def _ranks(patched):
    return {p: layer.rank for p, layer in rw.patch_layers(patched).items()}


def test_first_matching_key_wins_and_unmatched_paths_get_the_default(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", rw.TargetWarning)  # every key sets something
        lora = rw.add_lora(model, TARGETS, rank={"block_1/*": 1, "*/attn/*": 4, "*/mlp/*": 2},
                           alpha={"head": 16.0})
    assert _ranks(lora) == {
        "block_0/attn/query": 4, "block_0/attn/value": 4, "block_0/mlp/up": 2,
        "block_1/attn/query": 1, "block_1/attn/value": 1, "block_1/mlp/up": 1,
        "head": 8,  # no key: PEFT's fallback, the default rank
    }
    layers = rw.patch_layers(lora)
    assert layers["head"].scale == pytest.approx(16.0 / 8)
    assert layers["block_0/attn/query"].alpha is None  # default alpha = rank: scale 1
    # the graph shows each layer's resolved rank
    nodes = {n["id"]: n for n in rw.to_graph(lora).to_json()["nodes"]}
    assert nodes["block_1/mlp/up"]["patches"][0]["params"]["rank"] == 1
    # DoRA takes the same patterns
    dora = rw.add_dora(model, TARGETS, rank={"*/attn/*": 2, "*": 1})
    assert set(_ranks(dora).values()) == {1, 2}
    assert _ranks(dora)["head"] == 1


def test_keys_that_set_nothing_warn_with_the_reason(model):
    with pytest.warns(rw.TargetWarning, match=r"`rank` pattern '\*/attn/\*' sets nothing: an "
                                              r"earlier key matches every layer"):
        rw.add_lora(model, TARGETS, rank={"*": 2, "*/attn/*": 4})
    with pytest.warns(rw.TargetWarning, match=r"`alpha` pattern '\*/atn/\*' sets nothing: it "
                                              r"matches none of the patched layers"):
        rw.add_lora(model, TARGETS, rank=2, alpha={"*/atn/*": 4.0})


def test_bad_patterns_are_refused_naming_the_key_and_change_nothing(model):
    before = M.snapshot(model)
    with pytest.raises(ValueError, match=r"`rank`.*Received: rank=0 \(in `rank` for the "
                                         r"pattern '\*/attn/\*'\)"):
        rw.add_lora(model, TARGETS, rank={"*/attn/*": 0})
    with pytest.raises(TypeError, match=r"keys of `rank` are layer path globs"):
        rw.add_lora(model, TARGETS, rank={1: 4})
    with pytest.raises(ValueError, match=r"`alpha` is an empty dict"):
        rw.add_lora(model, TARGETS, alpha={})
    M.assert_same_snapshot(before, M.snapshot(model))
    assert PathValues("rank", {"a": 3})("b") == 8


def test_exported_code_reproduces_a_patterned_patch(model):
    from risk_widgets.editor.code_export import history_code

    pattern = {"*/attn/*": 4, "*": 2}
    code = history_code([("lora", TARGETS, {"rank": pattern, "alpha": None, "dropout": 0.0})])
    assert "rank={'*/attn/*': 4, '*': 2}" in code
    namespace = {"model": model}
    exec(code, namespace)
    assert _ranks(namespace["model"]) == _ranks(rw.add_lora(model, TARGETS, rank=pattern))
    tokens, _ = M.sequences(n=4)
    np.testing.assert_allclose(namespace["model"].predict(tokens, verbose=0),
                               model.predict(tokens, verbose=0), atol=1e-6)


def test_lora_ensemble_takes_rank_patterns(model, tmp_path):
    import keras

    from risk_widgets.risk import lora_ensemble

    wrapper = lora_ensemble.Wrapper(n_members=2, rank={"*/attn/*": 3, "block_1/*": 1})
    risky = wrapper(model, targets=TARGETS)
    ranks = {p: info["params"]["rank"] for p, info in risky.patch_info().items()}
    assert ranks == {"block_0/attn/query": 3, "block_0/attn/value": 3, "block_0/mlp/up": 4,
                     "block_1/attn/query": 3, "block_1/attn/value": 3, "block_1/mlp/up": 1,
                     "head": 4}  # unmatched: the ensemble's default rank 4
    rng = np.random.default_rng(0)
    for v in risky.trainable_weights:
        v.assign(0.1 * rng.normal(size=v.shape).astype("float32"))
    risky.save(tmp_path / "e.keras")
    reloaded = keras.saving.load_model(tmp_path / "e.keras")
    tokens, _ = M.sequences(n=4)
    np.testing.assert_allclose(reloaded.predict(tokens, verbose=0),
                               risky.predict(tokens, verbose=0), atol=1e-6)
    assert reloaded.patch_info() == risky.patch_info()
    with pytest.warns(rw.TargetWarning, match=r"`rank` pattern 'nope/\*' sets nothing"):
        lora_ensemble.Wrapper(n_members=2, rank={"nope/*": 2})(model, targets=["head"])


def test_the_editor_takes_patterns_as_text_or_a_dict(model):
    from risk_widgets.editor.catalog import catalog_json, validate_params
    from risk_widgets.editor.state import EditorState

    assert catalog_json()["lora"]["params"][0]["patterns"] is True  # the toolbar: a text field
    assert validate_params("lora", {"rank": " */attn/*: 4 , *: 2"})["rank"] == {
        "*/attn/*": 4, "*": 2}
    state = EditorState(model)
    state.select(TARGETS)
    state.apply("lora", rank="*/attn/*: 4, *: 2", alpha={"head": "8"})
    ranks = _ranks(state.model)
    assert ranks["block_0/attn/query"] == 4 and ranks["block_1/mlp/up"] == 2
    assert rw.patch_layers(state.model)["head"].alpha == 8.0
    assert "rank={'*/attn/*': 4, '*': 2}" in state.export_code()
    for text, message in [
        ("*/attn/*: 0", r"lora: `rank` must be >= 1.*\(in the pattern '\*/attn/\*'\)"),
        ("*/attn/*: 4, 2", r"`rank` patterns read 'glob: value, glob: value'.*Received: '2'"),
        ("*/attn/*: four", r"`rank` must be an integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            state.apply("lora", rank=text)
    assert len(state.history()["entries"]) == 1  # the refusals changed nothing
