"""MC-dropout risk: our one batched call against a Python loop of T dropout calls."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_time, report  # noqa: E402


def mlp_with_dropout(rate: float) -> keras.Model:
    inputs = keras.Input((1,))
    x = keras.layers.Dense(64, activation="relu")(inputs)
    x = keras.layers.Dropout(rate)(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    x = keras.layers.Dropout(rate)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def main() -> list[dict]:
    from risk_widgets import demo
    from risk_widgets.risk import sample

    x = np.linspace(-6, 6, 1000, dtype="float32")[:, None]
    results = []
    for n_samples in (16, 64):
        risky = sample.Wrapper(n_samples=n_samples, rate=0.1)(demo.regression_mlp())
        looped = mlp_with_dropout(0.1)

        def loop(m=looped, t=n_samples):
            draws = np.stack([np.asarray(m(x, training=True)) for _ in range(t)])
            return draws.mean(0), draws.std(0)

        ours = best_time(lambda r=risky: r(x, return_risk=True))
        base = best_time(loop)
        results.append(report(f"sample risk, T={n_samples}, 1000 points", ours, base, "loop"))
    return results


if __name__ == "__main__":
    main()
