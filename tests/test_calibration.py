"""Calibration metrics: hand-computed cases, properties over seeds, clear errors."""

import numpy as np
import pytest

from risk_widgets.risk import calibration


def test_interval_coverage_of_a_calibrated_gaussian_follows_the_diagonal():
    worst = 0.0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        mean, std = rng.normal(size=4000), rng.uniform(0.5, 2.0, size=4000)
        y = mean + std * rng.normal(size=4000)
        nominal, observed = calibration.interval_coverage(y, mean, std)
        assert len(nominal) == 10
        worst = max(worst, float(np.max(np.abs(np.subtract(observed, nominal)))))
    # measured: worst gap 0.0155 over 5 seeds x 10 levels (4,000 samples each)
    assert worst < 0.04


def test_overconfident_intervals_cover_less_than_they_claim():
    rng = np.random.default_rng(0)
    y = rng.normal(size=4000)
    nominal, observed = calibration.interval_coverage(y, np.zeros(4000), np.full(4000, 0.5))
    assert all(o < n - 0.05 for n, o in zip(nominal, observed, strict=True))


def test_reliability_bins_and_ece_by_hand():
    probs = np.array([[0.95, 0.05], [0.85, 0.15], [0.45, 0.55], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 0])
    bins = calibration.reliability_bins(probs, labels, n_bins=2)
    assert bins["count"] == [0, 4]
    assert bins["confidence"][1] == pytest.approx((0.95 + 0.85 + 0.55 + 0.7) / 4)
    assert bins["accuracy"][1] == pytest.approx(0.5)
    five = calibration.reliability_bins(probs, labels, n_bins=5)
    assert five["count"] == [0, 0, 1, 1, 2]
    # bins [0.4,0.6): 0.55 right; [0.6,0.8): 0.7 wrong; [0.8,1]: 0.95 right, 0.85 wrong
    expected = (abs(1 - 0.55) + abs(0 - 0.7) + 2 * abs(0.5 - 0.9)) / 4
    assert calibration.ece(probs, labels, n_bins=5) == pytest.approx(expected)


def test_confident_and_right_is_perfect_and_scores_order_models():
    labels = np.array([0, 1, 2, 1])
    sure = np.eye(3)[labels]
    assert calibration.ece(sure, labels) == 0.0
    assert calibration.brier(sure, labels) == 0.0
    assert calibration.classification_nll(sure, labels) == pytest.approx(0.0, abs=1e-9)
    unsure = np.full((4, 3), 1 / 3)
    assert calibration.brier(unsure, labels) == pytest.approx(2 / 3)
    assert calibration.classification_nll(unsure, labels) == pytest.approx(np.log(3))


@pytest.mark.parametrize(
    "probs, labels, match",
    [
        ([[2.0, -1.0]], [0], "sum to 1|>= 0"),
        ([[0.5, 0.4]], [0], "sum to 1"),
        ([0.5, 0.5], [0], "at least 2 classes"),
        ([[0.5, 0.5]], [0, 1], "differ in length"),
        ([[0.5, 0.5]], [2], "integer class ids"),
        ([[0.5, 0.5]], [0.5], "integer class ids"),
        ([[np.nan, 0.5]], [0], "NaN"),
    ],
)
def test_bad_classifier_inputs_name_the_problem(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        calibration.ece(probs, labels)


def test_bad_regression_inputs_name_the_problem():
    with pytest.raises(ValueError, match="std"):
        calibration.interval_coverage([0.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        calibration.interval_coverage([0.0], [0.0], [1.0], levels=[1.5])


def test_ood_probes_give_the_panel_the_auroc_of_the_models_risk():
    """risk_view(ood=...) scores mean risk per sample, OOD probes against the sample data,
    with metrics.ood_auroc; GraphEditor(model, data, ood=x_ood) passes the probes."""
    import keras

    import risk_widgets as rw
    from risk_widgets import demo
    from risk_widgets.editor.live import predict_with_risk, risk_view
    from risk_widgets.risk import metrics, sample

    keras.utils.set_random_seed(0)
    x, y = demo.cubic_data(n=100, seed=0)
    x_ood = np.linspace(3.0, 6.0, 50, dtype="float32")[:, None]
    risky = sample.Wrapper(n_samples=8, rate=0.2)(demo.regression_mlp())
    got = risk_view(risky, x, y, ood=x_ood)["calibration"]["ood_auroc"]
    _, std_in = predict_with_risk(risky, x)
    _, std_out = predict_with_risk(risky, x_ood)
    # MC-dropout draws differ between calls: compare with a second draw loosely, bounds exactly
    # measured (x in [-4, 4], probes [3, 6]): 0.925 0.818 0.800 0.880 0.918 over seeds 0-4
    assert got > 0.65
    assert got == pytest.approx(metrics.ood_auroc(std_in.ravel(), std_out.ravel()), abs=0.15)
    plain = rw.GraphEditor(demo.regression_mlp(), data=(x, y), ood=x_ood)
    assert plain.risk["calibration"]["ood_auroc"] is None  # no risk output: nothing to rank
    assert "no risk output" in plain.risk["calibration"]["reason"]


def test_the_panel_data_follows_every_epoch_of_fit():
    """The calibration entry rides the same risk payload as the plot, refreshed each epoch."""
    import keras

    import risk_widgets as rw
    from risk_widgets import demo

    keras.utils.set_random_seed(0)
    x, y = demo.cubic_data(n=100, seed=0)
    editor = rw.GraphEditor(demo.regression_mlp(), data=(x, y))
    editor.apply("sculpt")
    seen = []
    editor.observe(lambda change: seen.append(change["new"].get("calibration")), names="risk")
    editor.fit(x, y, epochs=2)
    regression = [c for c in seen if c and c.get("kind") == "regression"]
    assert len(regression) >= 2  # one per epoch at least
    assert regression[-1]["observed"] != regression[0]["observed"] or (
        regression[-1]["nll"] != regression[0]["nll"])
    assert editor.risk["epoch"] == 2
