"""vote and sample on a classifier against a plain deep ensemble (issue 29, item 3), on the
small ``ci`` setup of bench/risk_baselines.py: scikit-learn's digits, 8 and 9 held out as
out-of-distribution, the same MLP, optimizer and schedule for all, one risk statistic for
all (:func:`risk_baselines.class_risk`: the mean over classes of the std of the members'
probabilities).

The bounds come from ``bench/bench_risk_quality.py --baselines none --classify-epochs
CLASS_CI_EPOCHS --seeds 3`` (bench/RESULTS.md, *Risk against plain baselines*); each
sits below the worst seed.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import risk_baselines as rb  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows():
    return rb.classification_seed(rb.CLASS_CI_EPOCHS, seed=0)


def test_vote_is_as_good_as_a_deep_ensemble_of_classifiers(rows):
    ours, theirs = rows["vote(5)"], rows["ensemble of 5"]
    print(ours, theirs)
    assert ours["OOD AUROC"] >= theirs["OOD AUROC"] - rb.CLASS_CI_MARGINS["vote AUROC"]
    assert ours["NLL"] <= theirs["NLL"] + rb.CLASS_CI_MARGINS["vote NLL"]
    assert ours["ECE"] <= theirs["ECE"] + rb.CLASS_CI_MARGINS["vote ECE"]


def test_sample_detects_held_out_digits_and_stays_calibrated(rows):
    ours, theirs = rows["sample(16)"], rows["ensemble of 5"]
    print(ours, theirs)
    assert ours["OOD AUROC"] >= theirs["OOD AUROC"] - rb.CLASS_CI_MARGINS["sample AUROC"]
    assert ours["NLL"] <= theirs["NLL"] + rb.CLASS_CI_MARGINS["sample NLL"]
    assert ours["accuracy"] >= 0.9, ours
