"""The same checks on every Keras backend (issue #34): each backend runs :func:`scenario` in
a fresh Python (``KERAS_BACKEND`` is read once, at the first ``import keras``), this process
runs it on its own backend, and the deterministic numbers must agree to 1e-5.

What :func:`scenario` covers, each a failure seen on torch: the editor's live risk view and
``rw.diff`` on a patched model (NumPy on outputs that track gradients), a conformal model's
plain call (``forward`` was ``nn.Module.forward``: it returned ``(y, risk)``), MC dropout
masks reproduced from a seed, a vote inside ``TimeDistributed`` (its mean is the members'
mean; ``predict_risk``, whose ``predict_step`` JAX calls with its state, gives the same), and
LoRA add / fold exactness. JAX always runs (it is a dependency); torch runs where
it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOL = 1e-5

#: numbers computed from the same weights and data on every backend: they must agree
DETERMINISTIC = ("lora_out", "folded_kernel", "diff_max_abs", "conformal_q", "conformal_y",
                 "conformal_risk", "view_mean_risk")


def _weights(shape, seed):
    return np.random.default_rng(seed).normal(0.0, 0.5, shape).astype("float32")


def scenario() -> dict:
    """Runs every check on the current backend; returns JSON-ready numbers and flags."""
    import keras
    from keras import ops

    import risk_widgets as rw
    from risk_widgets.editor.live import risk_view, to_numpy
    from risk_widgets.risk import conformal, sample, vote

    keras.utils.set_random_seed(0)
    out: dict = {"backend": keras.backend.backend()}
    x = np.linspace(-2.0, 2.0, 32, dtype="float32")[:, None]
    inputs = keras.Input((1,), name="x")
    h = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h), name="mlp")
    model.set_weights([_weights(w.shape, i) for i, w in enumerate(model.weights)])

    # LoRA: add, set the factors, fold; the folded model computes what the patched one does
    patched = rw.add_lora(model, "head", rank=1)
    head = patched.get_layer("head")
    head.lora_a.assign(_weights((8, 1), 10))
    head.lora_b.assign(_weights((1, 1), 11))
    lora_out = to_numpy(patched(x), "float64")
    folded = rw.fold(patched)
    out["lora_out"] = lora_out.ravel().tolist()
    out["fold_error"] = float(np.abs(to_numpy(folded(x), "float64") - lora_out).max())
    out["folded_kernel"] = to_numpy(folded.get_layer("head").kernel, "float64").ravel().tolist()

    # the editor without a screen: rw.diff and the live risk view
    delta = rw.diff(model, patched, x=x)
    out["diff_changed"] = list(delta.changed)
    out["diff_max_abs"] = [delta.output.max_abs]

    # a conformal model: a plain call gives y, return_risk gives (y, risk)
    cp = conformal.Wrapper(coverage=0.8)(model, x, np.sin(2.0 * x))
    plain = cp(x)
    y, risk = cp(x, return_risk=True)
    out["plain_call_is_tensor"] = not isinstance(plain, (tuple, list))
    out["plain_vs_return_risk"] = float(np.abs(to_numpy(plain) - to_numpy(y)).max())
    out["conformal_q"] = list(cp.quantile)
    out["conformal_y"] = to_numpy(y, "float64").ravel().tolist()
    out["conformal_risk"] = to_numpy(risk, "float64").ravel().tolist()
    view = risk_view(cp, x, np.sin(2.0 * x))
    out["view_mode"] = view["mode"]
    out["view_mean_risk"] = [view["summary"]["mean_risk"]]

    # MC dropout: one seed, one set of masks; another seed, others
    def sample_std(**kwargs):
        risky = sample.Wrapper(n_samples=4, rate=0.3, **kwargs)(model)
        return to_numpy(risky(x, return_risk=True)[1], "float64")

    first, again, other = sample_std(seed=3), sample_std(seed=3), sample_std(seed=4)
    out["mc_same_seed"] = float(np.abs(first - again).max())
    out["mc_other_seed"] = float(np.abs(first - other).max())
    keras.utils.set_random_seed(7)
    drawn = sample_std()
    keras.utils.set_random_seed(7)
    out["mc_set_random_seed"] = float(np.abs(drawn - sample_std()).max())
    out["mc_std_mean"] = float(first.mean())
    out["mc_view_mean_risk"] = risk_view(sample.Wrapper(4, seed=3)(model), x)["summary"][
        "mean_risk"]

    # a vote inside TimeDistributed: the mean and std over its members
    seq = keras.Input((5, 3), name="seq")
    t = keras.layers.TimeDistributed(keras.layers.Dense(4, name="tdd"), name="td")(seq)
    t = keras.layers.GlobalAveragePooling1D(name="pool")(t)
    rnn = keras.Model(seq, keras.layers.Dense(2, name="out")(t), name="seq_model")
    xs = _weights((3, 5, 3), 20)
    risky = vote.Wrapper(n_voters=3)(rnn, targets="td/tdd")
    [(_, layer)] = risky.risk_paths()
    mean, std = (to_numpy(v, "float64") for v in risky(xs, return_risk=True))
    members = []
    for voter in layer.voters:
        member = keras.models.clone_model(rnn)
        member.set_weights(rnn.get_weights())
        member.get_layer("td").layer.set_weights(voter.get_weights())
        members.append(to_numpy(member(xs), "float64"))
    out["vote_td_mean_error"] = float(np.abs(mean - np.mean(members, axis=0)).max())
    out["vote_td_std_error"] = float(np.abs(std - np.std(members, axis=0)).max())
    out["vote_td_std"] = float(std.mean())
    out["vote_td_shape"] = list(ops.shape(mean))
    # predict (a compiled step on every backend; on JAX a stateless one) gives what a call does
    p_mean, p_std = risky.predict_risk(xs, batch_size=2)
    out["vote_predict_error"] = float(max(np.abs(p_mean - mean).max(), np.abs(p_std - std).max()))
    return out


def _check(result: dict) -> None:
    """The checks that hold within one backend."""
    name = result["backend"]
    assert result["fold_error"] < TOL, name
    assert result["diff_changed"] == ["head"], name
    assert result["diff_max_abs"][0] > 0, name
    assert result["plain_call_is_tensor"], f"{name}: a conformal model's plain call gave a tuple"
    assert result["plain_vs_return_risk"] == 0.0, name
    assert result["view_mode"] == "bands", name
    assert result["mc_same_seed"] == 0.0, f"{name}: one seed gave different MC dropout masks"
    assert result["mc_set_random_seed"] == 0.0, f"{name}: set_random_seed did not fix the masks"
    assert result["mc_other_seed"] > 0, f"{name}: another seed gave the same masks"
    assert result["mc_std_mean"] > 0 and result["mc_view_mean_risk"] > 0, name
    assert result["vote_td_mean_error"] < TOL, f"{name}: vote mean != its members' mean"
    assert result["vote_td_std_error"] < TOL, f"{name}: vote std != its members' std"
    assert result["vote_td_std"] > 0 and result["vote_td_shape"] == [3, 2], name
    assert result["vote_predict_error"] < TOL, f"{name}: predict_risk != a call"


def _start(backend: str) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.test_backends"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _result(backend: str, process: subprocess.Popen) -> dict:
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, f"{backend}:\n{stderr[-4000:]}"
    return json.loads(stdout.strip().splitlines()[-1])


def _torch_missing() -> bool:
    return importlib.util.find_spec("torch") is None


@pytest.fixture(scope="module")
def runs() -> dict:
    """The other backends start first, each in its own Python, while this one runs."""
    started = {b: _start(b) for b in ("jax", "torch") if b != "torch" or not _torch_missing()}
    try:
        here = scenario()
    finally:
        results = {b: _result(b, p) for b, p in started.items()}
    return {"here": here, **results}


def test_this_backend(runs):
    _check(runs["here"])


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_backend_runs_the_scenario_and_agrees(backend, runs):
    if backend == "torch" and _torch_missing():
        pytest.skip("torch is not installed (pip install torch, the CPU wheel, to run it)")
    result, here = runs[backend], runs["here"]
    assert result["backend"] == backend
    _check(result)
    for key in DETERMINISTIC:
        np.testing.assert_allclose(
            result[key], here[key], atol=TOL, rtol=0,
            err_msg=f"{key}: {backend} vs {here['backend']}",
        )


if __name__ == "__main__":  # run by _run in a fresh Python with KERAS_BACKEND set
    print(json.dumps(scenario()))


def test_every_dropout_site_and_every_voter_of_one_has_its_own_seed():
    import keras

    from risk_widgets.risk import sample, vote
    from risk_widgets.risk.sample import SampleLayer

    inputs = keras.Input((3,))
    h = keras.layers.Dense(8, name="a")(keras.layers.Dense(8, name="b")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    sampled = sample.Wrapper(n_samples=2, seed=3)(model)
    seeds = [layer.seed for _, layer in sampled.risk_paths()]
    assert len(seeds) == 2 and len(set(seeds)) == 2
    assert seeds == [layer.seed for _, layer in sample.Wrapper(2, seed=3)(model).risk_paths()]
    voted = vote.Wrapper(n_voters=3)(sampled, targets="a")
    [voters] = [layer.voters for path, layer in voted.risk_paths() if path == "a"]
    assert all(isinstance(v, SampleLayer) for v in voters)
    assert len({v.seed for v in voters}) == 3  # else every voter drew the same masks
