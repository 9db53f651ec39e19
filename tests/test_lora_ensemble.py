"""LoRA ensembles: M adapters on one frozen base, memory, training spread, round trips."""

import keras
import numpy as np
import pytest

from risk_widgets import demo
from risk_widgets.risk import lora_ensemble
from risk_widgets.risk.lora_ensemble import LoRAEnsembleLayer


@pytest.fixture(scope="module")
def base():
    keras.utils.set_random_seed(0)
    model = demo.regression_mlp()
    x, y = demo.cubic_data(n=512, seed=0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    return model, x, y


def test_a_fresh_ensemble_is_the_base_and_trains_only_the_adapters(base):
    model, x, _ = base
    before = [w.copy() for w in model.get_weights()]
    flags = [layer.trainable for layer in model.layers]
    risky = lora_ensemble.Wrapper(n_members=4, rank=2)(model, targets=["hidden_1", "hidden_2"])
    y_hat, std = risky(x[:64], return_risk=True)
    np.testing.assert_allclose(np.asarray(y_hat), model.predict(x[:64], verbose=0), atol=1e-5)
    assert float(np.max(np.asarray(std))) < 1e-6  # identical members (up to rounding)
    # memory: one copy of the base plus M·rank·(in + out) per targeted layer
    adapters = 4 * 2 * (1 + 64) + 4 * 2 * (64 + 64)
    assert sum(int(np.prod(w.shape)) for w in risky.trainable_weights) == adapters
    base_count = sum(int(np.prod(w.shape)) for w in model.weights)
    assert sum(int(np.prod(w.shape)) for w in risky.weights) == base_count + adapters
    assert [layer.trainable for layer in model.layers] == flags  # the user's model untouched
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_trained_members_disagree_more_outside_the_data(base):
    model, x, y = base
    ratios = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        risky = lora_ensemble.Wrapper(n_members=4, rank=4)(model)
        risky.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        risky.fit(x, y, epochs=15, batch_size=64, verbose=0)
        inside = np.asarray(risky(x, return_risk=True)[1]).mean()
        outside = np.asarray(risky(demo.cubic_ood(seed=seed)[0], return_risk=True)[1]).mean()
        ratios.append(outside / inside)
    # measured: outside/inside mean std 3.9, 4.4, 6.8 (seeds 0-2); floor well below the worst
    assert min(ratios) > 1.5, ratios


def test_keras_round_trip_and_clear_errors(base, tmp_path):
    model, x, _ = base
    risky = lora_ensemble.Wrapper(n_members=2, rank=2)(model, targets="hidden_2")
    layer = next(lay for lay in risky.body.layers if isinstance(lay, LoRAEnsembleLayer))
    layer.lora_b.assign(np.random.default_rng(0).normal(size=layer.lora_b.shape))
    path = tmp_path / "ens.keras"
    risky.save(path)
    restored = keras.models.load_model(path)
    a = [np.asarray(t) for t in risky(x[:32], return_risk=True)]
    b = [np.asarray(t) for t in restored(x[:32], return_risk=True)]
    for got, want in zip(b, a, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="not a Dense or EinsumDense"):
        lora_ensemble.Wrapper()(model, targets="scale")
    with pytest.raises(ValueError, match="n_members"):
        lora_ensemble.Wrapper(n_members=1)
