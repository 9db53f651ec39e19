"""Risk wrappers against what a user writes by hand, in the same process.

- `sample` (MC dropout, one batched call) against T separate dropout forward passes;
- `vote` with 5 voters against 5 separately built Keras models: predict and a train step.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

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


def main(t_values: tuple[int, ...] = (16, 64)) -> list[dict]:
    from risk_widgets import demo
    from risk_widgets.risk import sample, vote

    x = np.linspace(-6, 6, 1000, dtype="float32")[:, None]
    y = (x**3 / 50).astype("float32")
    rows = []
    for n_samples in t_values:
        risky = sample.Wrapper(n_samples=n_samples, rate=0.1)(demo.regression_mlp())
        looped = mlp_with_dropout(0.1)

        def loop(m=looped, t=n_samples):
            draws = np.stack([np.asarray(m(x, training=True)) for _ in range(t)])
            return draws.mean(0), draws.std(0)

        ours = best_time(lambda r=risky: r(x, return_risk=True))
        base = best_time(loop)
        rows.append(report(f"sample T={n_samples}, 1000 points (one batched call)", ours, base,
                           f"{n_samples} separate dropout forward passes",
                           target="≤ 0.5×" if n_samples == 16 else None))

    voted = vote.Wrapper(n_voters=5)(demo.regression_mlp())
    separate = [demo.regression_mlp(name=f"member_{i}") for i in range(5)]

    def five_predict():
        preds = np.stack([np.asarray(m(x)) for m in separate])
        return preds.mean(0), preds.std(0)

    ours = best_time(lambda: voted(x, return_risk=True))
    base = best_time(five_predict)
    rows.append(report("vote, 5 voters, predict 1000 points (eager call)", ours, base,
                       "5 separate Keras models"))
    # What a user runs: model.predict, once for the ensemble or once per separate model.
    ours = best_time(lambda: voted.predict(x, verbose=0), repeat=5)
    base = best_time(lambda: [m.predict(x, verbose=0) for m in separate], repeat=5)
    rows.append(report("vote, 5 voters, model.predict 1000 points", ours, base,
                       "5 separate Keras models' predict"))
    # Both compiled (what the live view runs): Python's dispatch cost is gone on both sides.
    import tensorflow as tf

    x_tensor = tf.constant(x)
    voted_graph = tf.function(lambda t: voted(t, return_risk=True))

    def five_members(t):
        preds = keras.ops.stack([m(t) for m in separate])
        return keras.ops.mean(preds, axis=0), keras.ops.std(preds, axis=0)

    five_graph = tf.function(five_members)
    ours = best_time(lambda: voted_graph(x_tensor), repeat=50)
    base = best_time(lambda: five_graph(x_tensor), repeat=50)
    rows.append(report("vote, 5 voters, predict 1000 points (tf.function)", ours, base,
                       "5 separate Keras models in one tf.function",
                       note="the members' rows interleave in one batch: each vote layer's "
                       "einsum transposes them, which costs more than 5 matmuls of a "
                       "64-wide MLP save"))
    voted.compile("adam", "mse")
    for m in separate:
        m.compile("adam", "mse")
    xb, yb = x[:64], y[:64]
    ours = best_time(lambda: voted.train_on_batch(xb, yb), repeat=10, warmup=3)
    base = best_time(lambda: [m.train_on_batch(xb, yb) for m in separate], repeat=10, warmup=3)
    rows.append(report("vote, 5 voters, train step (batch 64)", ours, base,
                       "5 separate Keras models, one step each"))
    return rows


if __name__ == "__main__":
    main()
