"""Risk quality over seeds: vote, sample, sculpt and vote∘sculpt against a plain Keras ensemble.

Two recipes, the exact ones whose numbers are asserted elsewhere:

- ``notebook``: ``notebooks/risk_regression.ipynb`` (the demo MLP, 2048 heteroscedastic cubic
  points, 30 epochs);
- ``suite``: the module fixtures of ``tests/test_risk_quality.py`` (a 32-unit MLP on 512
  points).

For every seed the script trains each wrapper from ``keras.utils.set_random_seed(seed)`` and
measures OOD AUROC of the std (in-distribution test points vs probes beyond the training
range), quantile calibration error and Gaussian NLL on held-out data. The baseline is what a
user would write by hand: five separately built and fitted Keras models, std over their
predictions. The table gives min / median / max over seeds; test and notebook floors sit well
below the minimum.

Against the plain baselines a user would write (issue 29, ``bench/risk_baselines.py``): a
mean-variance network and a deep ensemble of five for regression (scikit-learn's diabetes,
heteroscedastic Friedman #1, 60 and 300 epochs), a deep ensemble of five classifiers on
digits with held-out classes; every seed in the table.

Run: ``.venv/bin/python bench/bench_risk_quality.py [--seeds 10] [--recipe notebook]``;
``--baselines all --seeds 3 [--classify-epochs 40]`` for the baselines (hours on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Data, model and training settings of one place that asserts risk numbers."""

    name: str
    data: Callable[[], dict]
    model: Callable[[], keras.Model]
    epochs: int
    sample_epochs: int
    sample_lr: float
    sculpt_epochs: int  # sculpt and vote∘sculpt alike, so their NLLs compare
    edge: float  # |x| beyond this is the edge of the training range, below edge / 3 its centre
    noise_std: Callable[[np.ndarray], np.ndarray]  # the true noise std at x


def _notebook_data() -> dict:
    from risk_widgets import demo

    x, y = demo.cubic_data(n=2048, heteroscedastic=True)
    x_test, y_test = demo.cubic_data(n=512, heteroscedastic=True, seed=7)
    x_ood, _ = demo.cubic_ood(n=256)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_ood": x_ood}


def _suite_data() -> dict:
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from risk_helpers import _cubic, _ood  # the suite's own data, not a copy of it

    x, y = _cubic(512, 0)
    x_test, y_test = _cubic(512, 1)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_ood": _ood(256, 2)}


def _suite_model() -> keras.Model:
    from risk_helpers import mlp

    return mlp()


def _notebook_noise_std(x: np.ndarray) -> np.ndarray:
    from risk_widgets.demo import CUBIC_SCALE

    return 3.0 * (1 + np.abs(x)) / 2 / CUBIC_SCALE  # demo.cubic_data(heteroscedastic=True)


def _suite_noise_std(x: np.ndarray) -> np.ndarray:
    from risk_helpers import _noise_std

    return _noise_std(x)


def _demo_model() -> keras.Model:
    from risk_widgets import demo

    return demo.regression_mlp()


RECIPES = {
    "notebook": Recipe(
        "notebook", _notebook_data, _demo_model, 30, 10, 1e-2, 30, 3.0, _notebook_noise_std
    ),
    "suite": Recipe("suite", _suite_data, _suite_model, 25, 10, 3e-3, 40, 0.75, _suite_noise_std),
}


def _fit(model: keras.Model, data: dict, epochs: int, lr: float = 1e-2) -> keras.Model:
    from risk_widgets.editor.training import decaying_adam  # as the notebook and the tests train

    steps = epochs * math.ceil(len(data["x"]) / 64)
    model.compile(optimizer=decaying_adam(lr, steps), loss="mse")
    model.fit(data["x"], data["y"], epochs=epochs, batch_size=64, verbose=0)
    return model


def _scores(data: dict, predict: Callable, recipe: Recipe) -> dict:
    from risk_widgets.risk import metrics

    y_hat, std = predict(data["x_test"])
    _, std_ood = predict(data["x_ood"])
    magnitude = np.abs(data["x_test"])
    return {
        "OOD AUROC": metrics.ood_auroc(std.ravel(), std_ood.ravel()),
        "calibration": metrics.calibration_error(data["y_test"], y_hat, std),
        "NLL": metrics.gaussian_nll(data["y_test"], y_hat, std),
        # the noise grows with |x|: a good std does too (tests assert edge > 2 × centre)
        "edge/centre std": float(
            std[magnitude > recipe.edge].mean() / std[magnitude < recipe.edge / 3].mean()
        ),
        "noise corr": float(
            np.corrcoef(std.ravel(), recipe.noise_std(data["x_test"]).ravel())[0, 1]
        ),
    }


def _risk_of(model) -> Callable:
    def predict(x):
        y, std = model(x, return_risk=True)
        return np.asarray(y), np.asarray(std)

    return predict


def measure(recipe: Recipe, seed: int) -> dict[str, dict]:
    """``{method: {metric: value}}`` for one seed."""
    from risk_widgets.risk import sample, sculpt, vote

    data = recipe.data()
    rows: dict[str, dict] = {}

    keras.utils.set_random_seed(seed)
    members = [_fit(recipe.model(), data, recipe.epochs) for _ in range(5)]

    def ensemble(x):
        preds = np.stack([np.asarray(m(x)) for m in members])
        return preds.mean(0), preds.std(0)

    rows["5 Keras models"] = _scores(data, ensemble, recipe)

    keras.utils.set_random_seed(seed)
    voted = _fit(vote.Wrapper(5)(recipe.model()), data, recipe.epochs)
    rows["vote"] = _scores(data, _risk_of(voted), recipe)

    keras.utils.set_random_seed(seed)
    base = _fit(recipe.model(), data, recipe.epochs)
    sampled = sample.Wrapper(n_samples=32 if recipe.name == "notebook" else 16, rate=0.1)(base)
    sampled = _fit(sampled, data, recipe.sample_epochs, recipe.sample_lr)
    rows["sample"] = _scores(data, _risk_of(sampled), recipe)

    keras.utils.set_random_seed(seed)
    sculpted = _fit(sculpt.Wrapper()(recipe.model()), data, recipe.sculpt_epochs)
    rows["sculpt"] = _scores(data, _risk_of(sculpted), recipe)

    keras.utils.set_random_seed(seed)
    both = _fit(vote.Wrapper(5)(sculpt.Wrapper()(recipe.model())), data, recipe.sculpt_epochs)
    rows["vote∘sculpt"] = _scores(data, _risk_of(both), recipe)
    return rows


def table(recipe: Recipe, per_seed: list[dict[str, dict]]) -> str:
    """Markdown table: min / median / max of every metric over seeds."""
    lines = [
        f"| {recipe.name} recipe, {len(per_seed)} seeds | OOD AUROC min / median / max "
        "| calibration error max / median / min | NLL max / median / min "
        "| edge/centre std min / median / max | corr(std, noise std) min / median / max |",
        "|---|---|---|---|---|---|",
    ]
    for method in per_seed[0]:
        cells = []
        metrics = (
            ("OOD AUROC", min),
            ("calibration", max),
            ("NLL", max),
            ("edge/centre std", min),
            ("noise corr", min),
        )
        for metric, worst in metrics:
            values = [run[method][metric] for run in per_seed]
            best = max if worst is min else min
            cells.append(
                f"{worst(values):.3f} / {statistics.median(values):.3f} / {best(values):.3f}"
            )
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    gaps = [
        run["vote∘sculpt"]["NLL"] - min(run["vote"]["NLL"], run["sculpt"]["NLL"])
        for run in per_seed
    ]
    wins = sum(gap <= 0 for gap in gaps)
    lines.append("")
    lines.append(
        f"vote∘sculpt NLL ≤ min(vote, sculpt) on {wins} of {len(per_seed)} seeds; "
        f"NLL(vote∘sculpt) − min(NLL(vote), NLL(sculpt)): max {max(gaps):+.3f}, "
        f"median {statistics.median(gaps):+.3f}, min {min(gaps):+.3f}."
    )
    return "\n".join(lines)


def main(seeds: int = 10, recipes: tuple[str, ...] = ("notebook", "suite")) -> list[str]:
    out = []
    for name in recipes:
        recipe = RECIPES[name]
        per_seed = []
        for seed in range(seeds):
            start = time.perf_counter()
            per_seed.append(measure(recipe, seed))
            summary = ", ".join(
                f"{m} {r['OOD AUROC']:.3f}/{r['calibration']:.3f}/{r['NLL']:.2f}"
                for m, r in per_seed[-1].items()
            )
            seconds = time.perf_counter() - start
            print(f"{name} seed {seed} ({seconds:.0f} s): {summary}", flush=True)
        out.append(table(recipe, per_seed))
        print(out[-1], flush=True)
    return out


# --- against the plain baselines (issue 29): bench/risk_baselines.py ---------------------


def baseline_setups() -> dict:
    """The regression comparisons of RESULTS.md, *Risk against plain baselines*; ``ci`` is
    the one ``tests/test_risk_baselines.py`` runs (its floors come from this table)."""
    import risk_baselines as rb

    return {
        "diabetes, 60 epochs": rb.Regression("diabetes, 60 epochs", rb.diabetes, 60),
        "diabetes, 300 epochs": rb.Regression("diabetes, 300 epochs", rb.diabetes, 300),
        "Friedman #1 heteroscedastic, 60 epochs": rb.Regression(
            "Friedman #1 heteroscedastic, 60 epochs", rb.friedman, 60),
        "Friedman #1 heteroscedastic, 300 epochs": rb.Regression(
            "Friedman #1 heteroscedastic, 300 epochs", rb.friedman, 300),
        "ci": rb.Regression("ci", rb.friedman_ci, rb.CI_EPOCHS),
    }


def baseline_table(name: str, per_seed: list[dict]) -> str:
    """One row per seed (NLL / 90% coverage / RMSE of every method), then the means."""
    methods = list(per_seed[0])
    lines = [f"| {name} | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]

    def cell(r: dict) -> str:
        return f"{r['NLL']:.3f} / {r['coverage']:.2f} / {r['RMSE']:.3f}"

    for seed, run in enumerate(per_seed):
        lines.append(f"| seed {seed} | " + " | ".join(cell(run[m]) for m in methods) + " |")
    means = {m: {k: statistics.mean(run[m][k] for run in per_seed) for k in per_seed[0][m]}
             for m in methods}
    lines.append("| mean | " + " | ".join(cell(means[m]) for m in methods) + " |")
    pairs = [("sculpt", "plain MVE"), ("vote(5)∘sculpt", "ensemble of 5 MVE")]
    notes = []
    for ours, theirs in pairs:
        if ours in methods and theirs in methods:
            gaps = [run[ours]["NLL"] - run[theirs]["NLL"] for run in per_seed]
            notes.append(f"NLL({ours}) − NLL({theirs}): max {max(gaps):+.3f}, "
                         f"min {min(gaps):+.3f}; ours lower on {sum(g < 0 for g in gaps)} of "
                         f"{len(gaps)} seeds")
    return "\n".join([*lines, "", "; ".join(notes) + "."])


def classification_table(epochs: int, per_seed: list[dict]) -> str:
    methods = list(per_seed[0])
    lines = [f"| digits 0-7 (8, 9 out of distribution), {epochs} epochs | "
             + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]

    def cell(r: dict) -> str:
        return f"{r['OOD AUROC']:.3f} / {r['NLL']:.3f} / {r['ECE']:.3f} / {r['accuracy']:.3f}"

    for seed, run in enumerate(per_seed):
        lines.append(f"| seed {seed} | " + " | ".join(cell(run[m]) for m in methods) + " |")
    means = {m: {k: statistics.mean(run[m][k] for run in per_seed) for k in per_seed[0][m]}
             for m in methods}
    lines.append("| mean | " + " | ".join(cell(means[m]) for m in methods) + " |")
    return "\n".join(lines)


def baselines_main(seeds: int = 3, setups: tuple[str, ...] | None = None,
                   class_epochs: int = 0) -> list[str]:
    """The tables of RESULTS.md, *Risk against plain baselines*: every seed, ours and the
    baselines side by side (regression: NLL / 90% coverage / RMSE on held-out rows;
    classification: OOD AUROC / NLL / ECE / accuracy)."""
    import risk_baselines as rb

    chosen = baseline_setups()
    out = []
    for name in tuple(k for k in chosen if k != "ci") if setups is None else setups:
        per_seed = []
        for seed in range(seeds):
            start = time.perf_counter()
            per_seed.append(rb.regression_seed(chosen[name], seed))
            print(f"{name} seed {seed} ({time.perf_counter() - start:.0f} s): "
                  + ", ".join(f"{m} {r['NLL']:.3f}/{r['coverage']:.2f}"
                              for m, r in per_seed[-1].items()), flush=True)
        out.append(baseline_table(name, per_seed))
        print(out[-1], flush=True)
    if class_epochs:
        per_seed = []
        for seed in range(seeds):
            per_seed.append(rb.classification_seed(class_epochs, seed))
            print(f"digits seed {seed}: " + ", ".join(
                f"{m} {r['OOD AUROC']:.3f}/{r['NLL']:.3f}/{r['ECE']:.3f}"
                for m, r in per_seed[-1].items()), flush=True)
        out.append(classification_table(class_epochs, per_seed))
        print(out[-1], flush=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--recipe", choices=sorted(RECIPES), action="append")
    parser.add_argument("--baselines", action="append", metavar="SETUP",
                        help="against the plain baselines: a setup of baseline_setups(), "
                             "'all', or 'none' (only the classifiers of --classify-epochs)")
    parser.add_argument("--classify-epochs", type=int, default=0,
                        help="with --baselines: also the digits classifiers, this many epochs")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(__file__))
    if args.baselines:
        names = (None if "all" in args.baselines
                 else tuple(n for n in args.baselines if n != "none"))
        baselines_main(args.seeds, names, args.classify_epochs)
    else:
        main(args.seeds, tuple(args.recipe or RECIPES))
