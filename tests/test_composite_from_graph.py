"""CompositeLayer.from_graph: rebuilding a composite around existing layers and weights
(as rewiring does), its errors, and subclasses.

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import os

import numpy as np
from keras import layers, saving
from keras.src import testing
from keras.src.layers.core.input_layer import Input
from keras.src.models.model import Model

from risk_widgets import CompositeLayer
from tests.composite_helpers import _mlp_fn


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: from_graph."""

    def test_from_graph_reuses_layers_and_weights(self):
        layer = CompositeLayer(_mlp_fn, name="block")
        x = np.random.random((3, 3)).astype("float32")
        y_ref = layer(x)
        fn = layer.function
        hidden, head = layer.get_layer("hidden"), layer.get_layer("head")
        n_vars = len(layer.weights)

        # Rebuild around a replaced head, reusing `hidden` (as rewire does).
        new_in = Input(shape=(3,), name="block_input")
        h = hidden(new_in)
        scaled = layers.Rescaling(2.0, name="double")(head(h))
        rebuilt = CompositeLayer.from_graph(new_in, scaled, name="block")

        self.assertTrue(rebuilt.built)
        self.assertEqual(rebuilt.name, "block")
        self.assertIs(rebuilt.get_layer("hidden"), hidden)
        self.assertIs(rebuilt.get_layer("head"), head)
        self.assertEqual(len(layer.weights), n_vars)  # no new weights created
        self.assertEqual([id(w) for w in rebuilt.weights], [id(w) for w in layer.weights])
        self.assertAllClose(rebuilt(x), 2.0 * y_ref, atol=1e-6)
        self.assertAllClose(layer(x), y_ref)  # original untouched
        self.assertIs(layer.function, fn)

        # From intermediate tensors of another graph: nodes are cloned.
        inner = CompositeLayer.from_graph(h, head(h), name="head_only")
        self.assertEqual([op.name for op in inner.layers][1:], ["head"])

        # It saves and loads like any composite.
        inp = Input((3,))
        model = Model(inp, rebuilt(inp))
        path = os.path.join(self.get_temp_dir(), "from_graph.keras")
        model.save(path)
        loaded = saving.load_model(path)
        self.assertAllClose(loaded(x), model(x), atol=1e-6)

    def test_from_graph_errors(self):
        with self.assertRaisesRegex(
            ValueError, r"from_graph expects `inputs` to be a KerasTensor.*Received: inputs="
        ):
            CompositeLayer.from_graph(np.ones((2, 2)), Input((2,)))
        with self.assertRaisesRegex(ValueError, "'bad' cannot make a graph.*not connected"):
            CompositeLayer.from_graph(Input((2,)), layers.Dense(2)(Input((2,))), name="bad")

    def test_from_graph_keeps_subclass(self):
        class Block(CompositeLayer):
            def __init__(self, units=3, **kwargs):
                self.units = units

                def layer_fn(x):
                    return layers.Dense(self.units, name="proj")(x)

                super().__init__(layer_fn, **kwargs)

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        block = Block(units=5, name="blk")
        block.build((None, 2))
        inp = Input((2,))
        rebuilt = Block.from_graph(inp, block.get_layer("proj")(inp), name="blk", units=5)
        self.assertIs(type(rebuilt), Block)
        self.assertEqual(rebuilt.units, 5)
        config = rebuilt.get_config()
        self.assertEqual(config["units"], 5)
        restored = Block.from_config(config)
        self.assertIs(type(restored), Block)
        self.assertEqual(restored.units, 5)
        self.assertEqual([w.path for w in restored.weights], ["blk/proj/kernel", "blk/proj/bias"])
