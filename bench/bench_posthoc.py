"""Post-hoc risk (issue 18 C): coverage, ECE before/after temperature scaling, OOD AUROC and
wall time of each post-hoc patch, on the demo regression and on scikit-learn's digits.

Digits: an MLP trained on classes 0-4 (450 rows); calibration on 250 held-out rows of those
classes, test on the rest; OOD = the images of classes 5-9 (real digits the model never saw
a label for: harder and more honest than noise). Regression: demo.cubic_data, OOD =
demo.cubic_ood (|x| in [4, 6], outside the training range). Seeded; ``--seeds`` seeds.

Run: .venv/bin/python bench/bench_posthoc.py [--quick] [--seeds N]
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from risk_widgets import demo
from risk_widgets.risk import calibration, conformal, laplace, temperature
from risk_widgets.risk.metrics import ood_auroc


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def digits_run(seed: int, epochs: int) -> dict:
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = (data.data / 16.0).astype("float32"), data.target.astype("int64")
    rng = np.random.default_rng(seed)
    ind = rng.permutation(np.flatnonzero(y < 5))
    ood = x[y >= 5]
    tr, cal, te = ind[:450], ind[450:700], ind[700:]  # 901 rows of classes 0-4
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((64,))
    h = keras.layers.Dense(64, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x[tr], y[tr], epochs=epochs, batch_size=64, verbose=0)
    base = model.predict(x[te], verbose=0)
    row = {"ece_before": calibration.ece(base, y[te]),
           "nll_before": calibration.classification_nll(base, y[te])}
    base_ood = model.predict(ood, verbose=0)
    row["auroc_base"] = ood_auroc(1 - base.max(1), 1 - base_ood.max(1))
    ts, row["t_temperature"] = _timed(lambda: temperature.Wrapper()(model, x[cal], y[cal]))
    p, r = ts.predict_risk(x[te])
    row["T"] = ts.temperature
    row["ece_after"] = calibration.ece(p, y[te])
    row["nll_after"] = calibration.classification_nll(p, y[te])
    row["auroc_temperature"] = ood_auroc(r[:, 0], ts.predict_risk(ood)[1][:, 0])
    for hessian in ("diag", "full"):
        la, row[f"t_laplace_{hessian}"] = _timed(
            lambda h=hessian: laplace.Wrapper(hessian=h)(model, x[cal], y[cal]))
        p, r = la.predict_risk(x[te])
        row[f"ece_laplace_{hessian}"] = calibration.ece(p, y[te])
        row[f"auroc_laplace_{hessian}"] = ood_auroc(r[:, 0], la.predict_risk(ood)[1][:, 0])
    cp, row["t_conformal"] = _timed(
        lambda: conformal.Wrapper(coverage=0.9, score="lac")(model, x[cal], y[cal]))
    sets = cp.prediction_set(x[te])
    row["set_coverage"] = float(np.mean(sets[np.arange(len(te)), y[te]]))
    row["set_size"] = float(sets.sum(1).mean())
    row["auroc_conformal"] = ood_auroc(sets.sum(1), cp.prediction_set(ood).sum(1))
    return row


def regression_run(seed: int, epochs: int) -> dict:
    keras.utils.set_random_seed(seed)
    model = demo.regression_mlp()
    x, y = demo.cubic_data(n=512, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    x_cal, y_cal = demo.cubic_data(n=1000, seed=1000 + seed)
    x_te, y_te = demo.cubic_data(n=5000, seed=2000 + seed)
    x_ood, _ = demo.cubic_ood(seed=3000 + seed)
    row = {}
    cp, row["t_conformal"] = _timed(lambda: conformal.Wrapper(coverage=0.9)(model, x_cal, y_cal))
    lo, hi = cp.interval(x_te)
    row["coverage_conformal"] = float(np.mean((lo <= y_te) & (y_te <= hi)))
    for hessian in ("diag", "full"):
        la, row[f"t_laplace_{hessian}"] = _timed(
            lambda h=hessian: laplace.Wrapper(hessian=h)(model, x_cal, y_cal))
        mu, sd = la.predict_risk(x_te)
        row[f"coverage90_laplace_{hessian}"] = float(np.mean(np.abs(y_te - mu) <= 1.645 * sd))
        row[f"auroc_laplace_{hessian}"] = ood_auroc(sd[:, 0], la.predict_risk(x_ood)[1][:, 0])
        # conformal normalised by the Laplace std: intervals that widen off the data
        cpn = conformal.Wrapper(coverage=0.9)(la, x_cal, y_cal)
        lo, hi = cpn.interval(x_te)
        row[f"coverage_conformal_on_laplace_{hessian}"] = float(
            np.mean((lo <= y_te) & (y_te <= hi)))
    return row


def _table(rows: list[dict]) -> str:
    lines = ["| metric | mean | min | max |", "|---|---|---|---|"]
    for key in rows[0]:
        v = np.array([r[key] for r in rows], dtype=float)
        lines.append(f"| {key} | {v.mean():.4g} | {v.min():.4g} | {v.max():.4g} |")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (smoke: 2)")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 5)
    epochs = args.epochs or (20 if args.quick else 40)
    digits = [digits_run(s, epochs) for s in range(seeds)]
    regression = [regression_run(s, epochs) for s in range(seeds)]
    text = (f"Digits (classes 0-4 in, 5-9 OOD; {seeds} seeds, {epochs} epochs)\n\n"
            f"{_table(digits)}\n\nDemo cubic regression (OOD |x| in [4, 6]; {seeds} seeds)\n\n"
            f"{_table(regression)}\n")
    print(text)
    return text


if __name__ == "__main__":
    main()
