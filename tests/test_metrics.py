"""risk.metrics against hand-computed values, brute force, and every input error."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_widgets.risk import metrics


def test_gaussian_nll_hand_computed():
    # 0.5*log(2*pi*var) + (y-mu)^2/(2 var), averaged
    y, mu, std = [1.0, -1.0], [0.0, 0.0], [1.0, 2.0]
    expected = np.mean([0.5 * math.log(2 * math.pi) + 0.5, 0.5 * math.log(2 * math.pi * 4) + 1 / 8])
    assert metrics.gaussian_nll(y, mu, std) == pytest.approx(expected, abs=1e-12)
    assert metrics.gaussian_nll([[0.0]], [[0.0]], [[1.0]]) == pytest.approx(0.9189385332046727)


def test_calibration_error_hand_computed():
    # 4 residuals in std units: -2, -0.5, 0.5, 2; at q=0.5 the quantile is mu: share below = 0.5
    y = np.array([-2.0, -0.5, 0.5, 2.0])
    mu, std = np.zeros(4), np.ones(4)
    assert metrics.calibration_error(y, mu, std, levels=[0.5]) == pytest.approx(0.0)
    # q = 0.8413 (z = +1): y < 1 for 3 of 4 -> |0.8413 - 0.75|
    q = 0.8413447460685429
    assert metrics.calibration_error(y, mu, std, levels=[q]) == pytest.approx(abs(q - 0.75))
    # mean over two levels
    both = metrics.calibration_error(y, mu, std, levels=[0.5, q])
    assert both == pytest.approx(abs(q - 0.75) / 2)
    # every y far above its prediction: share below is 0 at each level -> mean(levels)
    assert metrics.calibration_error([10.0] * 3, [0.0] * 3, [1.0] * 3) == pytest.approx(0.5)


def test_calibration_error_of_a_true_gaussian_is_small():
    rng = np.random.default_rng(0)
    std = rng.uniform(0.5, 2.0, 20000)
    y = rng.normal(0.0, std)
    assert metrics.calibration_error(y, np.zeros_like(y), std) < 0.01
    assert metrics.calibration_error(y, np.zeros_like(y), std * 3) > 0.15  # far too wide


def test_sharpness_is_rms_std():
    assert metrics.sharpness([3.0, 4.0]) == pytest.approx(math.sqrt(12.5))
    assert metrics.sharpness(np.zeros((2, 2))) == 0.0


def test_ood_auroc_hand_computed_with_ties():
    assert metrics.ood_auroc([0.1, 0.2], [0.3, 0.4]) == 1.0
    assert metrics.ood_auroc([0.3, 0.4], [0.1, 0.2]) == 0.0
    assert metrics.ood_auroc([1, 1], [1, 1]) == 0.5
    # pairs: (0.3>0.1) (0.3>0.2) (0.2>0.1) (0.2=0.2 -> 0.5) => 3.5/4
    assert metrics.ood_auroc([0.1, 0.2], [0.3, 0.2]) == 0.875
    assert metrics.ood_auroc(np.zeros((2, 3)), np.ones((4, 1))) == 1.0  # shapes are flattened


def _auroc_brute(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = b[None, :] - a[:, None]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=20),
    st.lists(st.integers(0, 5), min_size=1, max_size=20),
)
def test_ood_auroc_matches_brute_force(risk_in, risk_out):
    value = metrics.ood_auroc(risk_in, risk_out)
    assert value == pytest.approx(_auroc_brute(risk_in, risk_out))
    assert value + metrics.ood_auroc(risk_out, risk_in) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.gaussian_nll([1.0, 2.0], [1.0], [1.0, 1.0]), "same shape"),
        (lambda: metrics.gaussian_nll([np.nan], [1.0], [1.0]), "`y_true` contains 1 NaN"),
        (lambda: metrics.gaussian_nll([1.0], [np.inf], [1.0]), "`y_pred` contains 1 infinite"),
        (lambda: metrics.gaussian_nll([1.0], [1.0], [0.0]), "`std` must be > 0"),
        (lambda: metrics.calibration_error([1.0], [1.0], [-1.0]), "`std` must be > 0"),
        (lambda: metrics.calibration_error([1.0], [1.0], [1.0], levels=[0.0]), "strictly between"),
        (lambda: metrics.calibration_error([], [], []), "`y_true` is empty"),
        (lambda: metrics.sharpness([-1.0]), "`std` must be >= 0"),
        (lambda: metrics.sharpness([np.nan]), "NaN"),
        (lambda: metrics.ood_auroc([], [1.0]), "`risk_in` is empty"),
        (lambda: metrics.ood_auroc([1.0], [np.nan]), "`risk_out` contains 1 NaN"),
    ],
)
def test_metric_input_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


def test_metric_type_error():
    with pytest.raises(TypeError, match="must be an array of numbers"):
        metrics.sharpness(["a"])
