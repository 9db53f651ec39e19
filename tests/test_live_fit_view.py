"""What a fit adds to the live risk view (issue 29): the training rows as dots on the bands
plot, and the held-out coverage per epoch in the calibration panel, with the flag that says
when it parts from the training rows' coverage.
"""

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.live import (
    MAX_TRAIN_POINTS,
    held_out_view,
    points_view,
    risk_view,
)


def _f32(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4")


def _mlp():
    inputs = keras.Input((1,))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def test_points_view_keeps_one_number_per_row_and_subsamples():
    x = np.linspace(-1, 1, 5000, dtype="float32")[:, None]
    view = points_view(x, 2 * x)
    assert view["n"] == MAX_TRAIN_POINTS
    px, py = _f32(view["x"]), _f32(view["y"])
    assert px[0] == -1 and px[-1] == 1 and np.allclose(py, 2 * px)
    assert points_view(np.zeros((4, 2)), np.zeros(4)) is None  # 2 features: no dots
    assert points_view(np.zeros((4, 1)), np.zeros((4, 3))) is None
    assert points_view(np.zeros((4, 1)), np.zeros(3)) is None


def test_held_out_view_parts_only_beyond_chance():
    history = {"val_nll": [0.5, 2.0], "val_coverage": [0.89, 0.7], "coverage": [0.9, 0.88]}
    view = held_out_view(history, n_train=800, n_val=200)
    assert view["parted"] and view["gap"] == pytest.approx(0.18)
    assert view["val_coverage"] == [0.89, 0.7] and view["nominal"] == 0.9
    # a 0.08 gap on 20 held-out rows is within chance (2 sampling stds = 0.14): no warning
    close = held_out_view({"val_coverage": [0.8], "coverage": [0.88]}, 800, 20)
    assert not close["parted"]
    assert held_out_view({"val_nll": [], "val_coverage": [], "coverage": []}, 10, 10) is None


def test_risk_view_carries_points_on_bands_only_and_the_held_out_entry():
    model = rw.risk.vote.Wrapper(2)(_mlp())
    grid = np.linspace(-2, 2, 50, dtype="float32")[:, None]
    x = np.linspace(-1, 1, 30, dtype="float32")[:, None]
    held = held_out_view({"val_nll": [1.0], "val_coverage": [0.8], "coverage": [0.9]}, 30, 10)
    view = risk_view(model, grid, points=(x, x**2), held_out=held)
    assert view["points"]["n"] == 30 and view["held_out"] == held
    np.testing.assert_allclose(_f32(view["points"]["y"]), (x**2).ravel())
    wide = np.zeros((30, 3), "float32")  # per-sample mode: no dots
    model3 = rw.risk.vote.Wrapper(2)(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))
    assert risk_view(model3, wide, points=(x, x))["points"] is None


@pytest.fixture(scope="module")
def fitted():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 1)).astype("float32")
    y = (np.sin(3 * x) + 0.1 * rng.normal(size=(200, 1))).astype("float32")
    grid = np.linspace(-2, 2, 64, dtype="float32")[:, None]
    editor = rw.GraphEditor(_mlp(), data=grid)
    editor.apply("sculpt")
    history = editor.fit(x, y, epochs=3, batch_size=32, validation_split=0.25)
    return editor, history, x, y


def test_editor_fit_draws_its_training_rows_without_the_held_out_ones(fitted):
    editor, _, x, y = fitted
    points = editor.risk["points"]
    assert points["n"] == 150  # validation_split=0.25 holds out the last 50 rows
    np.testing.assert_array_equal(_f32(points["x"]), x[:150, 0])
    np.testing.assert_array_equal(_f32(points["y"]), y[:150, 0])


def test_editor_fit_shows_the_held_out_scores_of_every_epoch(fitted):
    editor, history, _, _ = fitted
    held = editor.risk["held_out"]
    assert held["val_coverage"] == pytest.approx(history.history["val_coverage"])
    assert held["train_coverage"] == pytest.approx(history.history["coverage"])
    assert held["val_nll"] == pytest.approx(history.history["val_nll"])
    assert len(held["val_coverage"]) == 3 and isinstance(held["parted"], bool)


def test_a_patch_forgets_the_held_out_scores_but_keeps_the_dots(fitted):
    editor, _, _, _ = fitted
    editor.apply("vote", n_voters=2)
    assert editor.risk["held_out"] is None  # another model's scores would mislead
    assert editor.risk["points"]["n"] == 150
    editor.undo()
