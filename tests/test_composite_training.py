"""CompositeLayer weights and training: weight paths and counts three levels deep,
freezing, the training flag (dropout, batch norm), optimizers reaching inner weights.

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import keras
import numpy as np
from keras import layers, ops
from keras.src import backend, testing
from keras.src.layers.core.input_layer import Input
from keras.src.models.model import Model

from risk_widgets import CompositeLayer
from tests.composite_helpers import _mlp_fn, _weight_counts


class CompositeLayerTest(testing.TestCase):
    """keras PR #21099 `composite_layer_test.py`, ported: the training argument."""

    def test_training_arg(self):
        class Canary(layers.Layer):
            def call(self, x, training=False):
                assert training
                return x

            def compute_output_spec(self, x, training=False):
                return backend.KerasTensor(x.shape, dtype=x.dtype)

        def layer_fn(inputs):
            return Canary()(inputs)

        CompositeLayer(layer_fn)(np.random.random((2, 3)), training=True)
        CompositeLayer([Canary()])(np.random.random((2, 3)), training=True)


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: paths, freezing, training."""

    def test_nested_three_deep_paths_counts_and_freeze(self):
        inner = CompositeLayer(
            [layers.Dense(3, name="d"), layers.BatchNormalization(name="bn")], name="inner"
        )
        middle = CompositeLayer(lambda x: inner(layers.Dense(3, name="pre")(x)), name="middle")
        outer = CompositeLayer(lambda x: layers.Dense(1, name="out")(middle(x)), name="outer")
        outer(np.ones((2, 4)))

        self.assertEqual(
            [w.path for w in outer.weights],
            [
                "outer/middle/pre/kernel",
                "outer/middle/pre/bias",
                "outer/middle/inner/d/kernel",
                "outer/middle/inner/d/bias",
                "outer/middle/inner/bn/gamma",
                "outer/middle/inner/bn/beta",
                "outer/middle/inner/bn/moving_mean",
                "outer/middle/inner/bn/moving_variance",
                "outer/out/kernel",
                "outer/out/bias",
            ],
        )
        self.assertEqual(_weight_counts(outer), (8, 2))
        self.assertIs(outer.get_layer("middle").get_layer("inner"), inner)
        self.assertEqual(outer.count_params(), 15 + 12 + 12 + 4)

        outer.trainable = False
        self.assertEqual(_weight_counts(outer), (0, 10))
        self.assertFalse(inner.get_layer("d").trainable)
        outer.trainable = True
        self.assertEqual(_weight_counts(outer), (8, 2))

        inner.trainable = False  # freezing a nested composite only
        self.assertEqual(_weight_counts(outer), (4, 6))

    def test_training_flag_reaches_dropout_and_batchnorm(self):
        x = np.random.random((64, 8)).astype("float32") * 3.0 + 1.0

        drop = CompositeLayer([layers.Dropout(0.5, seed=1)])
        self.assertAllClose(drop(x, training=False), x)  # inference: identity
        y = ops.convert_to_numpy(drop(x, training=True))
        dropped = y == 0.0
        self.assertTrue(0.3 < dropped.mean() < 0.7)
        self.assertAllClose(y[~dropped], 2.0 * x[~dropped], atol=1e-5)  # 1 / (1 - rate)

        norm = CompositeLayer(lambda t: layers.BatchNormalization(momentum=0.0, name="bn")(t))
        # Inference: the moving stats (mean 0, variance 1) are used.
        self.assertAllClose(norm(x, training=False), x / np.sqrt(1.0 + 1e-3), atol=1e-5)
        y = ops.convert_to_numpy(norm(x, training=True))  # batch stats
        self.assertAllClose(y.mean(axis=0), np.zeros(8), atol=1e-4)
        # momentum=0: the moving mean is now the batch mean.
        self.assertAllClose(norm.get_layer("bn").moving_mean, x.mean(axis=0), atol=1e-4)

        # In a model, `fit` calls with training=True, `predict` with False.
        inp = Input((8,))
        other = CompositeLayer([layers.BatchNormalization(momentum=0.0, name="bn")])
        model = Model(inp, layers.Dense(1)(other(inp)))
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, np.zeros((64, 1)), epochs=1, batch_size=64, verbose=0)
        self.assertAllClose(other.get_layer("bn").moving_mean, x.mean(axis=0), atol=1e-4)
        moving = ops.convert_to_numpy(other.get_layer("bn").moving_mean).copy()
        model.predict(x + 5.0, verbose=0)
        self.assertAllClose(other.get_layer("bn").moving_mean, moving)

    def test_optimizer_trains_inner_weights(self):
        layer = CompositeLayer(_mlp_fn, name="mlp")
        inp = Input((3,))
        model = Model(inp, layer(inp))
        self.assertEqual(len(model.trainable_weights), 4)
        before = [ops.convert_to_numpy(w).copy() for w in layer.weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(np.ones((8, 3)), np.ones((8, 2)), epochs=2, verbose=0)
        changed = [
            not np.allclose(b, ops.convert_to_numpy(w))
            for b, w in zip(before, layer.weights, strict=True)
        ]
        self.assertEqual(changed, [True, True, True, True])
