"""The quickstart's risk plot shows its payoff (issue 29): trained as the notebook trains it
(``GraphEditor.fit`` on ``demo.sine_data()``, drawn on ``demo.plot_grid()``), the band is
wide beyond the data and narrow on it, and sculpt's band follows the noise.

The measurement is ``bench/bench_quickstart_band.py`` (its table is in bench/RESULTS.md,
*The quickstart's risk plot*); every floor sits below its worst seed. The notebook itself
runs seed 0 (tests/test_notebooks.py); this file checks other seeds, one training each.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_quickstart_band as band  # noqa: E402

pytestmark = pytest.mark.slow


def test_vote_of_sculpt_is_wide_beyond_the_data_and_narrow_on_it():
    scores = band.measure("vote∘sculpt", 1)
    # issue 29: beyond the data >= 5% of the plotted range and >= 3x the middle's std
    assert scores["beyond / range"] >= band.FLOORS["vote∘sculpt"]["beyond / range"], scores
    assert scores["beyond / middle"] >= band.FLOORS["vote∘sculpt"]["beyond / middle"], scores
    assert scores["noisy / quiet edge"] >= band.FLOORS["vote∘sculpt"]["noisy / quiet edge"]


def test_vote_opens_beyond_the_data_on_both_sides_alike():
    scores = band.measure("vote", 2)
    assert scores["beyond / middle"] >= band.FLOORS["vote"]["beyond / middle"], scores


def test_sculpt_follows_the_noise():
    scores = band.measure("sculpt", 1)
    assert scores["noisy / quiet edge"] >= band.FLOORS["sculpt"]["noisy / quiet edge"], scores
