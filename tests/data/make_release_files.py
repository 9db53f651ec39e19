"""Wrote the .keras files beside it with the release before the #30 layout move (0.1.0).

Kept to show what they hold; rerunning it with a later release makes new files, not old ones.
"""
import keras
import numpy as np

import risk_widgets as rw
from risk_widgets import demo
from risk_widgets.risk import sculpt, vote


def main() -> None:
    keras.utils.set_random_seed(0)
    model = demo.transformer()
    x, _ = demo.toy_sequences()
    lora = rw.add_lora(model, targets=["*/attn/query", "*/attn/value"], rank=4)
    lora = rw.add_dora(lora, targets=["*/attn/query"], name="dora_a")
    svf = rw.add_svf(lora, targets=["*/attn/key"])
    # make the adapters non-trivial so a wrong load cannot pass by luck
    for v in svf.trainable_weights:
        v.assign(v.numpy() + np.random.default_rng(1).normal(0, 0.05, v.shape).astype(v.dtype))
    mlp = demo.regression_mlp()
    risky = vote.Wrapper(n_voters=3)(sculpt.Wrapper()(mlp))
    xs = x[:4]
    xm, _ = demo.cubic_data(n=8)
    svf.save("tests/data/release_0_1_adapters.keras")
    risky.save("tests/data/release_0_1_risk.keras")
    y_svf = keras.ops.convert_to_numpy(svf(xs))
    y_r, r_r = risky(xm, return_risk=True)
    np.savez("tests/data/release_0_1_expected.npz", x_seq=xs, y_adapters=y_svf, x_reg=xm,
             y_risk=keras.ops.convert_to_numpy(y_r), risk=keras.ops.convert_to_numpy(r_r))
    print("saved", type(svf).__name__, type(risky).__name__)


if __name__ == "__main__":  # importing it (pytest --doctest-modules) must write nothing
    main()
