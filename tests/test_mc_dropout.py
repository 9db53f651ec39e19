"""`mc_dropout`, the mask `sample` draws: the rate, the unbiased scale, fresh masks, gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from risk_widgets.risk.mc_dropout import mc_dropout


@pytest.mark.parametrize("rate", [0.001, 0.1, 0.5, 0.9])
def test_drops_at_the_rate_and_keeps_the_expected_value(rate):
    x = np.ones((4001, 251), "float32")  # an odd size: the last 32-bit word is half used
    out = keras.ops.convert_to_numpy(mc_dropout(x, rate, keras.random.SeedGenerator(3)))
    n = x.size
    # 5 binomial standard errors either side of the rate
    assert abs((out == 0).mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    kept = out[out != 0]
    np.testing.assert_allclose(kept, kept[0])  # one scale for every kept element
    q = round(rate * 65536) / 65536
    assert kept[0] == pytest.approx(1 / (1 - q), rel=1e-6)
    assert out.mean() == pytest.approx(1.0, abs=6 * np.sqrt(rate / (1 - rate) / n))


def test_both_halves_of_a_random_word_are_independent_draws():
    out = keras.ops.convert_to_numpy(
        mc_dropout(np.ones((200_000, 2), "float32"), 0.5, keras.random.SeedGenerator(0))
    )
    dropped = out == 0
    both = (dropped[:, 0] & dropped[:, 1]).mean()
    assert both == pytest.approx(0.25, abs=5 * np.sqrt(0.25 * 0.75 / 200_000))


def test_a_new_mask_on_every_call_also_when_compiled_and_a_gradient_through_the_kept():
    seeds = keras.random.SeedGenerator(1)
    x = tf.ones((64, 32))
    compiled = tf.function(lambda t: mc_dropout(t, 0.3, seeds))
    a, b = compiled(x).numpy(), compiled(x).numpy()
    assert not np.array_equal(a == 0, b == 0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = mc_dropout(x, 0.3, seeds)
    grad = tape.gradient(out, x).numpy()
    np.testing.assert_allclose(grad, out.numpy())  # d(x * mask * scale)/dx = mask * scale on ones


def test_keeps_the_dtype_and_shape():
    x = tf.ones((3, 5, 7), dtype="float16")
    out = mc_dropout(x, 0.2, keras.random.SeedGenerator(0))
    assert out.dtype == tf.float16 and tuple(out.shape) == (3, 5, 7)


@pytest.mark.parametrize("rate", [0, 1, -0.1, 1.5])
def test_a_rate_outside_the_open_interval_is_refused(rate):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        mc_dropout(np.ones((2, 2), "float32"), rate, keras.random.SeedGenerator(0))
