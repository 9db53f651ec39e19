"""Trained risk wrappers: OOD separation, calibration, NLL of the composition, the law of
total variance, the user's model left untouched, and the Keras API on them (predict,
save/load, summary, patch_info, layer_risk).

Each wrapped model is trained once per module (the fixtures below).
The ``data`` fixture (module scope) is in tests/conftest.py, what it draws in
tests/risk_helpers.py.
"""

import io
from contextlib import redirect_stdout

import keras
import numpy as np
import pytest

from risk_widgets.risk import RiskModel, metrics, sample, sculpt, vote
from risk_widgets.risk.compose import total_variance_np
from tests.risk_helpers import _fit, _noise_std, _risk, _same, _snapshot, mlp


@pytest.fixture(scope="module")
def base(data):
    """A plain MLP, trained; its state is recorded to prove nothing else changes it."""
    keras.utils.set_random_seed(0)
    model = _fit(mlp("base"), data=(data["x"], data["y"]))
    return model, _snapshot(model), np.asarray(model(data["x_test"]))


@pytest.fixture(scope="module")
def voted(data):
    keras.utils.set_random_seed(1)
    user = mlp()
    before = _snapshot(user)
    risky = _fit(vote.Wrapper(n_voters=5)(user), data=(data["x"], data["y"]))
    return risky, user, before


@pytest.fixture(scope="module")
def sampled(data, base):
    """MC dropout on the trained base model, fine-tuned with dropout on."""
    keras.utils.set_random_seed(2)
    risky = sample.Wrapper(n_samples=16, rate=0.1)(base[0])
    copied = [w.copy() for w in risky.body.get_layer("h1").layer.get_weights()]
    _fit(risky, epochs=10, lr=3e-3, data=(data["x"], data["y"]))
    return risky, copied


@pytest.fixture(scope="module")
def sculpted(data):
    keras.utils.set_random_seed(3)
    return _fit(sculpt.Wrapper()(mlp()), epochs=40, data=(data["x"], data["y"]))


@pytest.fixture(scope="module")
def vote_sculpted(data):
    keras.utils.set_random_seed(4)
    # as long as `sculpted`, so that their NLLs compare
    voted_heads = vote.Wrapper(n_voters=5)(sculpt.Wrapper()(mlp()))
    return _fit(voted_heads, epochs=40, data=(data["x"], data["y"]))


# --- the numbers -----------------------------------------------------------------------------


def test_vote_risk_is_higher_out_of_distribution(voted, data):
    risky = voted[0]
    _, std_in = _risk(risky, data["x_test"])
    _, std_out = _risk(risky, data["x_ood"])
    auroc = metrics.ood_auroc(std_in, std_out)
    print(f"vote OOD AUROC {auroc:.3f}")
    assert auroc >= 0.95  # 10 seeds (bench/bench_risk_quality.py, suite recipe): min 0.988


def test_sample_risk_is_higher_out_of_distribution(sampled, data):
    risky = sampled[0]
    _, std_in = _risk(risky, data["x_test"])
    _, std_out = _risk(risky, data["x_ood"])
    auroc = metrics.ood_auroc(std_in, std_out)
    print(f"sample OOD AUROC {auroc:.3f}")
    assert auroc >= 0.95  # 10 seeds: min 0.985


def test_sculpt_tracks_heteroscedastic_noise(sculpted, data):
    y_hat, std = _risk(sculpted, data["x_test"])
    error = metrics.calibration_error(data["y_test"], y_hat, std)
    print(f"sculpt calibration error {error:.3f}")
    assert error <= 0.06  # 10 seeds (bench/bench_risk_quality.py, suite recipe): max 0.029
    true_std = _noise_std(data["x_test"])
    assert np.corrcoef(std.ravel(), true_std.ravel())[0, 1] > 0.7  # min 0.868
    edge, centre = np.abs(data["x_test"]) > 0.75, np.abs(data["x_test"]) < 0.25
    assert std[edge].mean() > 1.3 * std[centre].mean()  # min 1.66 (the noise itself: ~3)


def test_vote_of_sculpt_nll_no_worse_than_either(voted, sculpted, vote_sculpted, data):
    x, y = data["x_test"], data["y_test"]
    nll = {
        name: metrics.gaussian_nll(y, *_risk(model, x))
        for name, model in [
            ("vote", voted[0]),
            ("sculpt", sculpted),
            ("vote∘sculpt", vote_sculpted),
        ]
    }
    print("held-out NLL", {k: round(v, 3) for k, v in nll.items()})
    # over 10 seeds vote∘sculpt wins 9 times, and loses by at most +0.016 (bench/RESULTS.md)
    assert nll["vote∘sculpt"] <= min(nll["vote"], nll["sculpt"]) + 0.08
    assert metrics.calibration_error(y, *_risk(vote_sculpted, x)) <= 0.06  # max 0.025


# --- the user's model ------------------------------------------------------------------------


def test_wrapping_and_fitting_leave_the_users_model_untouched(voted, sampled, base, data):
    risky, user, before = voted
    assert _same(before, _snapshot(user))
    model, base_before, base_out = base
    assert _same(base_before, _snapshot(model))
    np.testing.assert_array_equal(np.asarray(model(data["x_test"])), base_out)
    # sample copied the trained weights at wrap time, then trained its own copy
    h1 = model.get_layer("h1").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(sampled[1], h1, strict=True))
    trained = sampled[0].body.get_layer("h1").layer.get_weights()
    assert not np.array_equal(trained[0], h1[0])
    # voters are fresh copies, independent of each other
    voters = risky.body.get_layer("h1").voters
    assert len({float(v.get_weights()[0].sum()) for v in voters}) == 5
    assert not any(w is v for w in user.weights for v in risky.weights)


def test_law_of_total_variance_matches_member_outputs(vote_sculpted, data):
    x = data["x_test"][:7]
    m = vote_sculpted.members
    means, variances = (np.asarray(t) for t in vote_sculpted.body(np.repeat(x, m, axis=0)))
    means, variances = means.reshape(7, m, 1), variances.reshape(7, m, 1)
    mean, var = total_variance_np(means, variances, axis=1)
    y, std = _risk(vote_sculpted, x)
    np.testing.assert_allclose(y, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, np.sqrt(var), rtol=1e-5, atol=1e-6)
    # the composed std exceeds the mean aleatoric std by the voters' disagreement
    assert np.all(std**2 >= variances.mean(1) - 1e-7)


# --- Keras API: predict, save/load, summary, introspection -----------------------------------


def test_predict_returns_y_and_predict_risk_returns_both(vote_sculpted, data):
    x = data["x_test"][:50]
    y = vote_sculpted.predict(x, batch_size=16, verbose=0)
    y_call, std_call = _risk(vote_sculpted, x)
    np.testing.assert_allclose(y, y_call, rtol=1e-5, atol=1e-6)
    y2, std = vote_sculpted.predict_risk(x, batch_size=16)
    np.testing.assert_allclose(std, std_call, rtol=1e-5, atol=1e-6)
    assert y2.shape == std.shape == (50, 1)
    assert vote_sculpted.predict(x, verbose=0).shape == (50, 1)  # back to y only


def test_save_and_load_give_identical_outputs(vote_sculpted, sampled, data, tmp_path):
    x = data["x_test"][:32]
    path = tmp_path / "risky.keras"
    vote_sculpted.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, RiskModel) and loaded.members == 5
    for a, b in zip(_risk(vote_sculpted, x), _risk(loaded, x), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.compiled  # compile settings travel too
    # weights load into a freshly wrapped model with no prior call
    weights = tmp_path / "risky.weights.h5"
    vote_sculpted.save_weights(weights)
    fresh = vote.Wrapper(n_voters=5)(sculpt.Wrapper()(mlp()))
    fresh.load_weights(weights)
    np.testing.assert_array_equal(_risk(fresh, x)[1], _risk(vote_sculpted, x)[1])
    # MC dropout is random, but its weights round-trip exactly
    sampled[0].save(tmp_path / "sampled.keras")
    reloaded = keras.saving.load_model(tmp_path / "sampled.keras")
    for a, b in zip(sampled[0].get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_summary_lists_the_risk_layers(vote_sculpted, sampled):
    lines = []
    sample.Wrapper(n_samples=2)(vote_sculpted).summary(print_fn=lambda s, **_: lines.append(s))
    text = "\n".join(lines)
    for name in ("VoteLayer", "SampleLayer", "sample(n_samples=2, rate=0.1)", "10 members"):
        assert name in text
    out = io.StringIO()
    with redirect_stdout(out):
        sculpt.Wrapper()(mlp()).summary()
    assert "SculptHead" in out.getvalue()


def test_patch_info_and_layer_risk(vote_sculpted, sampled, data):
    info = vote_sculpted.patch_info()
    assert info == {
        "h1": {"kind": "vote", "params": {"n_voters": 5}},
        "h2": {"kind": "vote", "params": {"n_voters": 5}},
        "head": {"kind": "vote", "params": {"n_voters": 5}},
        "sculpt_variance": {"kind": "vote", "params": {"n_voters": 5}},
    }
    assert sampled[0].patch_info() == {
        "h1": {"kind": "sample", "params": {"n_samples": 16, "rate": 0.1}},
        "h2": {"kind": "sample", "params": {"n_samples": 16, "rate": 0.1}},
    }
    sculpt_head = sculpt.Wrapper()(mlp()).risk_layers()[0]
    assert sculpt_head.patch_info() == {"kind": "sculpt", "params": {}}
    risk_in = sampled[0].layer_risk(data["x_test"][:64])
    risk_out = sampled[0].layer_risk(data["x_ood"][:64])
    assert set(risk_in) == {"h1", "h2"} and all(v >= 0 for v in risk_in.values())
    assert risk_out["h2"] > risk_in["h2"]
    assert set(vote_sculpted.layer_risk(data["x_test"][:8])) == set(info)
    assert all(getattr(layer, "is_patch_layer", False) for layer in vote_sculpted.risk_layers())
