"""CompositeLayer: built from a function, a subclass or a list of layers; calls, getters,
`function`, summaries and argument errors.

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import numpy as np
from keras import layers
from keras.src import testing
from keras.src.layers.core.input_layer import Input
from keras.src.models.model import Model
from keras.src.models.sequential import Sequential
from keras.src.ops.function import Function

from risk_widgets import CompositeLayer
from tests.composite_helpers import _mlp_fn, _weight_counts


class CompositeLayerTest(testing.TestCase):
    """keras PR #21099 `composite_layer_test.py`, ported: construction, calls, getters."""

    def test_basic_flow(self):
        def my_layer_fn(inputs):
            x = layers.Dense(5, name="dense1")(inputs)
            return layers.Dense(4, name="dense2")(x)

        layer = CompositeLayer(my_layer_fn, name="basic")

        self.assertEqual(layer.name, "basic")
        self.assertIsInstance(layer, CompositeLayer)
        self.assertIsInstance(layer, layers.Layer)
        self.assertFalse(layer.built)  # Should be lazily built

        # Eager call - should trigger build
        in_val = np.random.random((2, 3))
        out_val = layer(in_val)
        self.assertEqual(out_val.shape, (2, 4))
        self.assertTrue(layer.built)

        # weights
        self.assertEqual(len(layer.weights), 4)
        expected = [
            ("basic/dense1/kernel", (3, 5)),
            ("basic/dense1/bias", (5,)),
            ("basic/dense2/kernel", (5, 4)),
            ("basic/dense2/bias", (4,)),
        ]
        for weights in (layer.weights, layer.variables):
            self.assertEqual(len(weights), 4)
            for w, (path, shape) in zip(weights, expected, strict=True):
                self.assertEqual(w.path, path)
                self.assertEqual(tuple(w.shape), shape)

        # Symbolic call
        test_input = Input(shape=(3,), batch_size=2)
        test_output = layer(test_input)
        self.assertEqual(test_output.shape, (2, 4))
        self.assertTrue(layer.built)

    def test_basic_flow_as_a_sublayer(self):
        sublayer = CompositeLayer([layers.Flatten()])

        inputs = Input((None, 4, 5))
        outputs = layers.TimeDistributed(sublayer)(inputs)
        model = Model(inputs=inputs, outputs=outputs)

        x = np.random.random((2, 3, 4, 5))
        y = model(x)
        self.assertEqual(y.shape, (2, 3, 4 * 5))

    def test_basic_class_flow(self):
        class MyCompositeLayer(CompositeLayer):
            @staticmethod
            def my_layer_fn(inputs):
                x = layers.Dense(5)(inputs)
                return layers.Dense(4)(x)

            def __init__(self, **kwargs):
                super().__init__(MyCompositeLayer.my_layer_fn, **kwargs)

        layer = MyCompositeLayer(name="func_subclass")

        self.assertEqual(layer.name, "func_subclass")
        self.assertIsInstance(layer, CompositeLayer)
        self.assertIsInstance(layer, layers.Layer)
        self.assertFalse(layer.built)

        out_val = layer(np.random.random((2, 3)))
        self.assertEqual(out_val.shape, (2, 4))
        self.assertTrue(layer.built)

        test_output = layer(Input(shape=(3,), batch_size=2))
        self.assertEqual(test_output.shape, (2, 4))
        self.assertTrue(layer.built)

    def test_scalar_handling(self):
        def scalar_layer_fn(inputs):
            return inputs + 1.0

        layer = CompositeLayer(scalar_layer_fn)
        out_val = layer(np.zeros((2, 3)))
        self.assertAllClose(out_val, np.ones((2, 3)))

    def test_non_mutable_state(self):
        def layer_fn(inputs):
            x = layers.Dense(5)(inputs)
            return layers.Dense(5)(x)

        layer = CompositeLayer(layer_fn)
        layer.build([2, 3])
        with self.assertRaisesRegex(ValueError, "You cannot add new elements of state*"):
            layer.extra_layer = layers.Dense(5)

    def test_multi_output(self):
        def multi_output_fn(inputs):
            x = layers.Dense(5)(inputs)
            output_a = layers.Dense(4)(x)
            output_b = layers.Dense(5)(x)
            return [output_a, output_b]

        layer = CompositeLayer(multi_output_fn)

        out_val = layer(np.random.random((2, 3)))
        self.assertIsInstance(out_val, list)
        self.assertEqual(len(out_val), 2)
        self.assertEqual(out_val[0].shape, (2, 4))
        self.assertEqual(out_val[1].shape, (2, 5))

        out_val = layer(Input(shape=(3,), batch_size=2))
        self.assertIsInstance(out_val, list)
        self.assertEqual(len(out_val), 2)
        self.assertEqual(out_val[0].shape, (2, 4))
        self.assertEqual(out_val[1].shape, (2, 5))

    def test_dict_io(self):
        def dict_io_fn(inputs):
            x = inputs["a"] + inputs["b"]
            x = layers.Dense(5)(x)
            return layers.Dense(4)(x)

        layer = CompositeLayer(dict_io_fn)
        in_val = {"a": np.random.random((2, 3)), "b": np.random.random((2, 3))}
        out_val = layer(in_val)
        self.assertEqual(out_val.shape, (2, 4))

    def test_layer_fn_init(self):
        def my_layer_fn(inputs):
            x = layers.Dense(64, activation="relu")(inputs)
            return layers.Dense(32)(x)

        layer = CompositeLayer(my_layer_fn, name="layer_fn_composite")

        self.assertEqual(layer.name, "layer_fn_composite")
        self.assertFalse(layer.built)

        out_val = layer(np.random.random((2, 32)))
        self.assertEqual(out_val.shape, (2, 32))
        self.assertTrue(layer.built)
        self.assertEqual(len(layer.layers), 3)  # Exactly 3 layers, incl. Input

        test_output = layer(Input(shape=(32,), batch_size=2))
        self.assertEqual(test_output.shape, (2, 32))

    def test_sequential_init(self):
        layer = CompositeLayer(
            [
                layers.Dense(64, activation="relu"),
                layers.Dense(32),
            ],
            name="sequential_composite",
        )

        self.assertEqual(layer.name, "sequential_composite")
        self.assertIsInstance(layer, CompositeLayer)
        self.assertIsInstance(layer, layers.Layer)

        layer.build(input_shape=(2, 32))
        self.assertEqual(len(layer.layers), 3)  # 3 layers incl. Input
        self.assertIsInstance(layer.layers[0], layers.InputLayer)
        self.assertIsInstance(layer.layers[1], layers.Dense)
        self.assertIsInstance(layer.layers[2], layers.Dense)

        out_val = layer(np.random.random((2, 32)))
        self.assertEqual(out_val.shape, (2, 32))

        test_output = layer(Input(shape=(32,), batch_size=2))
        self.assertEqual(test_output.shape, (2, 32))

    def test_multi_layer_sequential_init(self):
        layer = CompositeLayer(
            [
                layers.Dense(64, activation="relu", input_shape=(32,)),
                layers.Dropout(0.5),
                layers.BatchNormalization(),
                layers.Dense(32, activation="relu"),
                layers.Dense(16),
            ]
        )

        out_val = layer(np.random.random((4, 32)))
        self.assertEqual(out_val.shape, (4, 16))
        self.assertEqual(len(layer.layers), 6)  # incl. InputLayer

    def test_initialization_errors(self):
        with self.assertRaisesRegex(ValueError, "is either a function .* or a .* list of layers."):
            CompositeLayer("not_valid")

        with self.assertRaisesRegex(ValueError, "is either a function .* or a .* list of layers."):
            CompositeLayer([])

        x = y = 0

        def layer_fn():
            return x + y

        with self.assertRaisesRegex(
            ValueError, "must take the layer's inputs as its first argument"
        ):
            CompositeLayer(layer_fn)

        # This is allowed
        def layer_fn2(inputs, constant_bias=0.1):
            return inputs + constant_bias

        CompositeLayer(layer_fn2)(np.random.random((2, 32)))

    def test_layer_getters(self):
        def layer_fn(inputs):
            x = inputs["a"] + inputs["b"]  # mixing ops and layers
            x = layers.Dense(5, name="dense_1")(x)
            return layers.Dense(4, name="dense_2")(x)

        layer = CompositeLayer(layer_fn)
        layer.build({"a": (2, 3), "b": (2, 3)})

        self.assertEqual(len(layer.layers), 4)  # incl. 2 InputLayers
        self.assertEqual(len(layer.function.operations), 5)
        self.assertEqual(layer.get_layer(index=2).name, "dense_1")
        self.assertEqual(layer.get_layer(index=3).name, "dense_2")
        self.assertEqual(layer.get_layer(name="dense_1").name, "dense_1")

    def test_deeply_nested_composite_layer(self):
        def layer_fn(x):
            o1 = layers.Dense(1)(x["1"])
            o2 = layers.Dense(2)(x["others"]["2"])
            o3 = layers.Dense(3)(x["others"]["3"])
            return {"1": o1, "others": {"2": o2, "3": o3}}

        composite_layer = CompositeLayer(layer_fn)
        out_eager = composite_layer(
            {"1": np.ones((8, 1)), "others": {"2": np.ones((8, 2)), "3": np.ones((8, 3))}}
        )
        out_symbolic = composite_layer(
            {
                "1": Input((1,), batch_size=8),
                "others": {"2": Input((2,), batch_size=8), "3": Input((3,), batch_size=8)},
            }
        )
        for out in [out_eager, out_symbolic]:
            self.assertIsInstance(out, dict)
            self.assertEqual(set(out.keys()), {"1", "others"})
            self.assertEqual(out["1"].shape, (8, 1))
            self.assertIsInstance(out["others"], dict)
            self.assertEqual(set(out["others"].keys()), {"2", "3"})
            self.assertEqual(out["others"]["2"].shape, (8, 2))
            self.assertEqual(out["others"]["3"].shape, (8, 3))

    def test_layers_setter(self):
        layer = CompositeLayer([layers.Dense(4)])
        with self.assertRaisesRegex(AttributeError, "attribute is reserved"):
            layer.layers = [layers.Dense(5)]

    def test_build_twice(self):
        def layer_fn(inputs):
            return layers.Dense(5)(inputs)

        layer = CompositeLayer(layer_fn)
        layer.build([2, 3])
        id1 = id(layer.layers[0])
        id2 = id(layer.layers[1])
        layer.build([2, 3])  # does nothing
        self.assertEqual(id1, id(layer.layers[0]))
        self.assertEqual(id2, id(layer.layers[1]))


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: `function`, argument errors, summaries, docstrings."""

    def test_function_contract_before_and_after_build(self):
        layer = CompositeLayer(_mlp_fn, name="mlp")
        self.assertIsNone(layer.function)
        self.assertEqual(layer.layers, [])
        self.assertFalse(hasattr(layer, "inputs"))  # clear error, hasattr-safe
        with self.assertRaisesRegex(ValueError, "mlp.*not built"):
            layer.inputs  # noqa: B018

        layer.build((None, 3))
        fn = layer.function
        self.assertIsInstance(fn, Function)
        self.assertEqual([op.name for op in fn.operations], ["mlp_input", "hidden", "head"])
        self.assertEqual(sorted(fn._nodes_by_depth), [0, 1, 2])
        self.assertEqual(len(fn.inputs), 1)
        self.assertEqual(len(fn.outputs), 1)
        self.assertEqual(tuple(fn.inputs[0].shape), (None, 3))
        self.assertEqual(tuple(fn.outputs[0].shape), (None, 2))
        self.assertIs(layer.layers[0], fn.operations[0])
        self.assertIsInstance(layer.layers[0], layers.InputLayer)

    def test_argument_errors(self):
        with self.assertRaisesRegex(
            ValueError,
            r"Must provide a layers parameter .*Received: layers=3 \(of type int\)",
        ):
            CompositeLayer(3)
        with self.assertRaisesRegex(ValueError, r"Received at index 1: 'relu'"):
            CompositeLayer([layers.Dense(2), "relu"])
        with self.assertRaisesRegex(TypeError, "extra positional arguments"):
            CompositeLayer(_mlp_fn, "name", "extra")
        with self.assertRaisesRegex(ValueError, "Unrecognized keyword arguments"):
            CompositeLayer(_mlp_fn, units=3)
        with self.assertRaisesRegex(ValueError, "must return symbolic tensors"):
            CompositeLayer(lambda x: 3.0)(np.ones((1, 2)))
        with self.assertRaisesRegex(ValueError, "needs an input shape"):
            CompositeLayer(_mlp_fn).build()

    def test_summary_shows_composites(self):
        block = CompositeLayer(_mlp_fn, name="block")
        inp = Input((3,))
        model = Model(inp, block(inp), name="m")
        lines = []
        model.summary(print_fn=lambda line, **_: lines.append(line))
        text = "\n".join(lines)
        self.assertIn("block (CompositeLayer)", text)
        self.assertIn("26", text)  # 3*4+4 + 4*2+2 params
        lines.clear()
        model.summary(expand_nested=True, print_fn=lambda line, **_: lines.append(line))
        self.assertIn("hidden (Dense)", "\n".join(lines))

    def test_in_sequential_and_time_distributed_numbers(self):
        block = CompositeLayer([layers.Dense(2, kernel_initializer="ones", name="d")])
        seq = Sequential([Input((5, 3)), layers.TimeDistributed(block)])
        x = np.arange(30, dtype="float32").reshape(2, 5, 3)
        self.assertAllClose(seq(x), np.repeat(x.sum(-1, keepdims=True), 2, axis=-1))
        self.assertEqual(_weight_counts(seq), (2, 0))

    def test_docstring_examples_run(self):
        import doctest

        import risk_widgets.core.composite as module

        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        self.assertGreater(result.attempted, 10)
        self.assertEqual(result.failed, 0)
