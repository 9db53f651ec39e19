"""Ours against the plain Keras baselines a user would write (issue 29), on the small ``ci``
setup of bench/risk_baselines.py: heteroscedastic Friedman #1 (500 rows, noise std from
0.2 to 2.2 across the first feature), 60 epochs, the same optimizer and schedule for all,
ours trained the user's way (``compile(optimizer, "mse")``).

- sculpt against a plain mean-variance network (MVE) of the same shape;
- vote(5)∘sculpt against a deep ensemble of five MVEs (Lakshminarayanan et al. 2017).

The bounds come from ``bench/bench_risk_quality.py --baselines ci --seeds 3`` (the table in
bench/RESULTS.md, *Risk against plain baselines*); each holds on every one of the three
seeds with room to spare; the test runs seed 1. The full comparison (diabetes, Friedman, 60
and 300 epochs) is the benchmark's.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import risk_baselines as rb  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows():
    setup = rb.Regression("ci", rb.friedman_ci, rb.CI_EPOCHS)
    return rb.regression_seed(setup, seed=1)


def test_sculpt_is_at_least_as_good_as_a_plain_mean_variance_network(rows):
    ours, theirs = rows["sculpt"], rows["plain MVE"]
    print(ours, theirs)
    # 3 seeds: NLL lower by 0.15 to 18 (the MVE's NLL pulls its mean into the noisy rows'
    # residuals and its variance collapses); 90% coverage higher by 0.07 to 0.14
    assert ours["NLL"] <= theirs["NLL"], (ours, theirs)
    assert ours["coverage"] >= theirs["coverage"], (ours, theirs)


def test_vote_of_sculpt_covers_at_least_as_well_as_a_deep_ensemble(rows):
    ours, theirs = rows["vote(5)∘sculpt"], rows["ensemble of 5 MVE"]
    print(ours, theirs)
    # 3 seeds: 90% coverage 0.86-0.89 against 0.80-0.84 (higher on every seed, by 0.05 to
    # 0.06): the closer to nominal
    assert ours["coverage"] >= theirs["coverage"] - 0.03, (ours, theirs)
    assert ours["coverage"] >= 0.8, ours


def test_vote_of_sculpt_nll_stays_near_a_deep_ensembles(rows):
    """Not "at least as good" yet: on this heteroscedastic set the ensemble's means, trained
    on the NLL (inverse-variance weighted), are more accurate than ours, trained on the
    user's MSE (RMSE 0.426 against 0.445, mean of 3 seeds), and its NLL is lower on 2 of 3
    seeds (by up to 0.097; ours lower by 0.208 on the third). This bounds the gap."""
    ours, theirs = rows["vote(5)∘sculpt"], rows["ensemble of 5 MVE"]
    print(ours, theirs)
    assert ours["NLL"] <= theirs["NLL"] + 0.35, (ours, theirs)
