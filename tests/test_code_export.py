"""`editor.export_code()`: the patch history as a script that rebuilds the same model.

What "reproduces the editor's history" means here (and is tested): running the script on
the original model makes the same calls with the same arguments in the same order (undone
entries left out), so the result has the same layers, patches, parameters and weight
shapes, and shares the same frozen base weights. Randomly initialised weights (LoRA ``A``,
vote members) come from the random state the script runs in, so the test copies the
editor model's weights into the script's model (``set_weights``, which fails unless every
weight lines up) and then asks for predictions equal to 1e-6; fresh LoRA/SVF adapters
(``B = 0``, ``z = 1``) need no copy at all.
"""

import ast

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.catalog import CATALOG, validate_params
from risk_widgets.editor.code_export import call_code
from risk_widgets.editor.state import EditorState


def _mlp():
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden_2")(hidden)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden), name="mlp")


@pytest.fixture(scope="module")
def mlp():
    keras.utils.set_random_seed(3)
    return _mlp()


X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")


def _run(code, model):
    namespace = {"model": model}
    exec(compile(code, "<exported>", "exec"), namespace)  # a fresh namespace
    return namespace["model"]


def _shapes(model):
    return [tuple(w.shape) for w in model.weights]


def _perturb(model):
    """Gives every trainable weight of ``model`` non-trivial values (as training would)."""
    rng = np.random.default_rng(1)
    for v in model.trainable_weights:
        v.assign(np.asarray(v) + 0.3 * rng.normal(size=v.shape).astype(v.dtype))


def test_history_with_undo_runs_to_the_same_model(mlp, tmp_path):
    state = EditorState(mlp)
    state.apply("lora", ["hidden", "hidden_2"], rank=2, alpha=4)
    state.apply("svf", ["hidden_2"])
    state.apply("lora", ["hidden_2"], rank=3)  # undone below: not in the script
    state.undo()
    state.apply("lora", ["hidden", "head"], rank=1)  # stacks on the first hidden adapter
    code = state.export_code()
    assert "rank=3" not in code and code.count("rw.add_lora") == 2
    ast.parse(code)

    fresh = _run(code, mlp)  # untrained adapters: equal without copying anything
    np.testing.assert_allclose(fresh.predict(X, verbose=0), state.model.predict(X, verbose=0),
                               atol=1e-6)
    assert rw.trainable_report(fresh) == rw.trainable_report(state.model)

    state.apply("vote", None, n_voters=3)
    _perturb(state.model)  # as after training: the model now differs from the original
    assert not np.allclose(state.model.predict(X, verbose=0), mlp.predict(X, verbose=0),
                           atol=1e-3)
    keras.utils.set_random_seed(11)  # another random state than the editor's
    rebuilt = _run(state.export_code(path=tmp_path / "patch.py"), mlp)
    assert _shapes(rebuilt) == _shapes(state.model)
    rebuilt.set_weights(state.model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(X, verbose=0), state.model.predict(X, verbose=0),
                               atol=1e-6)
    y, risk = rebuilt(X, return_risk=True)
    y_ed, risk_ed = state.model(X, return_risk=True)
    np.testing.assert_allclose(risk, risk_ed, atol=1e-6)
    assert (tmp_path / "patch.py").read_text() == state.export_code()
    # the original model is as it was (the script patches a new model)
    assert [type(layer).__name__ for layer in mlp.layers] == [
        "InputLayer", "Dense", "Dense", "Dense"]


def test_script_from_a_keras_file(mlp, tmp_path):
    mlp.save(tmp_path / "base.keras")
    state = EditorState(mlp)
    state.apply("lora", ["head"], rank=1)
    code = state.export_code(model_path=str(tmp_path / "base.keras"))
    patched = _run(code, None)
    np.testing.assert_allclose(patched.predict(X, verbose=0), mlp.predict(X, verbose=0),
                               atol=1e-6)
    assert sorted(rw.trainable_report(patched)["patched"]) == ["head"]


def test_bad_paths_and_empty_history(mlp, tmp_path):
    state = EditorState(mlp)
    assert "no patches" in state.export_code()
    assert _run(state.export_code(), mlp) is mlp
    with pytest.raises(ValueError, match=r"must end with '\.py'"):
        state.export_code(path=tmp_path / "patch.txt")
    with pytest.raises(ValueError, match="does not exist"):
        state.export_code(path=tmp_path / "missing" / "patch.py")


def _seedless(config):
    if isinstance(config, dict):
        return {k: _seedless(v) for k, v in config.items() if k != "seed"}
    if isinstance(config, (list, tuple)):
        return [_seedless(v) for v in config]
    return config


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_every_catalog_kind_writes_code_that_matches_its_apply(kind, mlp):
    """Fails for a kind without ``code`` in its catalog entry, or whose code builds another
    model than its ``apply`` (weight shapes, then predictions with the same weights)."""
    spec = CATALOG[kind]
    params = validate_params(kind, {})
    targets = ["hidden_2"] if spec.uses_selection else []
    code = call_code(kind, targets, params)  # raises for a kind without `code`
    assert "model" in code
    ast.parse(code)
    try:
        expected = spec.apply(mlp, targets or None, **params)
    except (TypeError, ValueError):  # a kind that needs more than this toy model (data, ...)
        return
    got = eval(code, {"rw": rw, "model": mlp})
    assert type(got) is type(expected)
    assert _shapes(got) == _shapes(expected)
    got.set_weights(expected.get_weights())
    want = keras.ops.convert_to_numpy(expected(X, training=False))
    if not np.allclose(keras.ops.convert_to_numpy(expected(X, training=False)), want):
        # random at inference (MC dropout): the same layers, each with the same config but
        # its own dropout seeds (each apply draws them)
        assert [_seedless(layer.get_config()) for layer in got.layers] == [
            _seedless(layer.get_config()) for layer in expected.layers]
        return
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got(X, training=False)), want,
                               atol=1e-6)


def test_a_kind_without_code_is_refused(monkeypatch):
    import dataclasses

    monkeypatch.setitem(CATALOG, "lora", dataclasses.replace(CATALOG["lora"], code=None))
    with pytest.raises(ValueError, match="cannot be exported as code.*catalog.py"):
        call_code("lora", ["head"], {"rank": 2})
