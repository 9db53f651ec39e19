"""The live risk payload: modes, binary arrays, summaries, clear data errors."""

import numpy as np
import pytest

from risk_widgets import demo
from risk_widgets.editor.live import check_sample_data, error_view, risk_view


def _floats(buffer):
    return np.frombuffer(buffer, dtype="<f4")


def test_bands_for_1d_regression_are_sorted_and_binary():
    model = demo.regression_mlp()
    x = np.array([[2.0], [-1.0], [0.5]], dtype="float32")
    view = risk_view(model, x, x**3, epoch=3, epochs=5, loss=[1.0, 0.5])
    assert view["mode"] == "bands" and view["n"] == 3
    assert isinstance(view["x"], bytes)
    np.testing.assert_array_equal(_floats(view["x"]), [-1.0, 0.5, 2.0])
    expected = np.asarray(model(x[[1, 2, 0]]))[:, 0]
    np.testing.assert_allclose(_floats(view["y_pred"]), expected, rtol=1e-6)
    np.testing.assert_array_equal(_floats(view["y_true"]), [-1.0, 0.125, 8.0])
    # a plain model has no risk: std is zero and no NLL is claimed
    np.testing.assert_array_equal(_floats(view["std"]), [0, 0, 0])
    assert view["summary"] == {"mean_risk": 0.0, "nll": None, "calibration_error": None}
    assert (view["epoch"], view["epochs"], view["loss"]) == (3, 5, [1.0, 0.5])


def test_per_sample_mode_for_wider_inputs():
    model = demo.digits_mlp()
    x, _ = demo.digits_data()
    view = risk_view(model, x[:50])
    assert view["mode"] == "per_sample" and view["n"] == 50
    np.testing.assert_array_equal(_floats(view["x"]), np.arange(50))


def test_large_data_is_subsampled_for_the_browser():
    model = demo.regression_mlp()
    x = np.linspace(-1, 1, 30_000, dtype="float32")[:, None]
    view = risk_view(model, x)
    assert view["n"] == 20_000
    assert _floats(view["x"])[0] == -1.0 and _floats(view["x"])[-1] == 1.0


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((0, 1)), None, "empty"),
        (np.array([[np.nan], [1.0]]), None, "1 NaN/inf value(s)"),
        (np.zeros((3, 1)), np.zeros((2, 1)), "differ in length: 3 vs 2"),
        (np.zeros((2, 1)), np.array([[np.inf], [0]]), "y has NaN/inf"),
        ([np.zeros((2, 1)), np.zeros((2, 1))], None, "must be one array"),
        (np.array([["a"]]), None, "not numeric"),
    ],
)
def test_bad_sample_data_names_the_problem(x, y, message):
    with pytest.raises(ValueError) as err:
        check_sample_data(x, y)
    assert message in str(err.value)


def test_shape_mismatch_says_what_the_model_expects():
    model = demo.regression_mlp()
    with pytest.raises(ValueError, match=r"x has shape \(4, 3\), the model expects \(None, 1\)"):
        risk_view(model, np.zeros((4, 3), dtype="float32"))


def test_error_view_keeps_the_last_good_plot():
    previous = {"mode": "bands", "n": 3, "error": None}
    assert error_view("boom", previous) == {"mode": "bands", "n": 3, "error": "boom"}
    assert previous["error"] is None


def test_a_model_viewed_again_runs_compiled_with_the_same_numbers(monkeypatch):
    from risk_widgets.editor import live
    from risk_widgets.risk import sample

    monkeypatch.setattr(live, "_CHUNK_VALUES", 2048)
    plain = demo.regression_mlp()
    x = np.linspace(-3, 3, 3000, dtype="float32")[:, None]  # 2 chunks: 2048 + 952 rows
    first = live.predict_with_risk(plain, x)
    # first view: eager (tracing costs more than a call)
    assert "forward" not in live._COMPILED.get(plain, {})
    second = live.predict_with_risk(plain, x)
    assert "forward" in live._COMPILED[plain]
    np.testing.assert_allclose(second[0], first[0], rtol=1e-5, atol=1e-6)
    # a sampling risk model keeps drawing fresh dropout masks once compiled
    risky = sample.Wrapper(n_samples=8, rate=0.2)(plain)
    live.predict_with_risk(risky, x)
    a, b = live.predict_with_risk(risky, x), live.predict_with_risk(risky, x)
    assert "forward" in live._COMPILED[risky]
    assert np.all(a[1] > 0) and not np.allclose(a[1], b[1])


def test_the_layer_risk_overlay_is_compiled_on_a_second_view_with_the_same_numbers():
    from risk_widgets.editor import live
    from risk_widgets.risk import vote

    risky = vote.Wrapper(n_voters=3)(demo.regression_mlp())
    x = np.linspace(-3, 3, 300, dtype="float32")[:, None]
    first = risk_view(risky, x)["layer_risk"]
    assert "layer_spreads" not in live._COMPILED.get(risky, {})
    second = risk_view(risky, x)["layer_risk"]
    assert "layer_spreads" in live._COMPILED[risky]
    assert first.keys() == second.keys() == risky.layer_risk(x).keys() and first
    for path, value in risky.layer_risk(x[:256]).items():
        assert second[path] == pytest.approx(value, rel=1e-5) == first[path]


def test_the_payload_carries_the_calibration_of_risk_and_of_classifiers():
    from risk_widgets.risk import calibration, sample

    x, y = demo.cubic_data(n=400, seed=0)
    plain = risk_view(demo.regression_mlp(), x, y)["calibration"]
    assert plain["kind"] == "none" and "add sample, vote or sculpt" in plain["reason"]
    risky = sample.Wrapper(n_samples=8, rate=0.2)(demo.regression_mlp())
    view = risk_view(risky, x, y)
    cal = view["calibration"]
    assert cal["kind"] == "regression" and len(cal["nominal"]) == 10
    assert all(0 <= o <= 1 for o in cal["observed"])
    assert cal["observed"] == sorted(cal["observed"])  # wider intervals cover more
    assert cal["calibration_error"] == pytest.approx(view["summary"]["calibration_error"])
    assert risk_view(risky, x)["calibration"] is None  # no targets, no calibration

    digits_x, digits_y = demo.digits_data()
    model = demo.digits_mlp()
    cal = risk_view(model, digits_x[:300], digits_y[:300])["calibration"]
    assert cal["kind"] == "classification"
    probs = np.asarray(model(digits_x[:300]))
    if not np.allclose(probs.sum(axis=1), 1, atol=1e-3):
        probs = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    ids = np.asarray(digits_y[:300]).reshape(-1).astype(int)
    assert cal["ece"] == pytest.approx(calibration.ece(probs, ids), abs=1e-5)
    assert cal["brier"] == pytest.approx(calibration.brier(probs, ids), abs=1e-5)
    assert sum(cal["bins"]["count"]) == 300
