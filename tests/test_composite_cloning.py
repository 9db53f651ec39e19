"""CompositeLayer under keras.models.clone_model: recursive cloning, clone_function and
call_function, input specs, fresh weights.

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import numpy as np
from keras import initializers, layers, ops
from keras.models import clone_model
from keras.src import testing
from keras.src.layers.core.input_layer import Input
from keras.src.layers.input_spec import InputSpec
from keras.src.models.model import Model

from risk_widgets import CompositeLayer
from tests.composite_helpers import _mlp_fn, _weight_counts


class CompositeLayerTest(testing.TestCase):
    """keras PR #21099 `composite_layer_test.py`, ported: clone_model."""

    def test_clone_model(self):
        const_init = initializers.Ones()
        zero_init = initializers.Zeros()

        class AltDense(layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(
                    shape=(input_shape[-1], self.units), initializer=const_init
                )
                self.b = self.add_weight(shape=(self.units,), initializer=zero_init)

            def call(self, inputs):
                return ops.matmul(inputs, self.w) + self.b

        data = np.random.uniform(size=(4, 12))

        def layer_fn(x):
            y = layers.Dense(8, kernel_initializer=const_init, name="original1")(x)
            return layers.Dense(8, kernel_initializer=const_init, name="original2")(y)

        layer = CompositeLayer(layer_fn)

        class FuncSub(CompositeLayer):
            def __init__(self, name=None, **kwargs):
                super().__init__(layer_fn, name, **kwargs)

        flayer = FuncSub()

        x = Input((12,))
        y = layers.Dense(8, kernel_initializer=const_init, name="original3")(x)
        y = layer(y)
        y = flayer(y)  # subclass layer
        y = layer(y)  # shared layer
        model = Model(x, y)
        model(data)

        for variable in model.variables:
            self.assertIn("original", variable.path)

        def replace_fn(layer, *args, **kwargs):
            if isinstance(layer, layers.Dense):
                return AltDense(layer.units)(*args, **kwargs)
            return layer(*args, **kwargs)  # pass-through

        model2 = clone_model(
            model,
            input_tensors=x,
            clone_function=lambda x: x,
            call_function=replace_fn,
            recursive=True,
        )
        model2(data)

        for variable in model.variables:  # original model is unchanged
            self.assertIn("original", variable.path)
        for variable in model2.variables:  # new model has new AltDense layers
            self.assertIn("alt_dense", variable.path)

        self.assertEqual(len(model.layers), len(model2.layers))
        for layer1, layer2 in zip(model.layers, model2.layers, strict=True):
            if isinstance(layer1, layers.Dense):
                self.assertIs(layer2.__class__, AltDense)
            elif isinstance(layer1, FuncSub):
                # PORT: the PR accepted either; ours keeps the subclass.
                self.assertIs(layer2.__class__, FuncSub)
            else:
                self.assertEqual(layer1.__class__, layer2.__class__)

        self.assertAllClose(model(data), model2(data))

    def test_clone_recursive(self):
        def layer_fn1(inputs):
            return layers.Dense(32, name="dense_2")(inputs)

        layer1 = CompositeLayer(layer_fn1, name="sub")

        def layer_fn2(inputs):
            return layer1(inputs)

        slayer = CompositeLayer(layer_fn2, name="subfunc")
        inputs = layers.Input(shape=(16, 32))
        model = Model(inputs, slayer(inputs))

        def call_fn(layer, *args, **kwargs):
            if isinstance(layer, layers.Dense):
                return layers.Dense(layer.units, name="dense_modified")(*args, **kwargs)
            return layer(*args, **kwargs)

        new_model = clone_model(model, call_function=call_fn, recursive=True)
        sub = new_model.get_layer("subfunc").get_layer("sub")
        self.assertEqual(sub.layers[1].name, "dense_modified")

    def test_clone_with_input_spec(self):
        def layer_fn(inputs):
            return layers.Dense(12)(inputs)

        layer1 = CompositeLayer(layer_fn)
        layer1.input_spec = InputSpec(shape=(None, 12), optional=True)

        def layer_fn2(inputs):
            return layer1(layers.Dense(12)(inputs))

        layer2 = CompositeLayer(layer_fn2)
        layer2.input_spec = InputSpec(shape=(None, 12), optional=True)
        layer2(ops.ones(shape=(8, 12)))  # build it

        def call_fn(layer, *args, **kwargs):
            return layer(*args, **kwargs)

        # PORT: the PR edited keras' cloning.py to copy manual input specs;
        # stock `clone_model` creates plain inputs. What we keep without
        # editing Keras: pass `input_tensors` to keep the outer optional input;
        # every clone has the same input shape as the original.
        new_layer = clone_model(
            layer2,
            input_tensors=Input(shape=(12,), optional=True),
            clone_function=lambda x: x,
            call_function=call_fn,
            recursive=True,
        )
        self.assertIsInstance(new_layer, CompositeLayer)
        # one input: one InputSpec, as the PR keeps it (not a list of one)
        self.assertIsInstance(new_layer.input_spec, InputSpec)
        self.assertTrue(new_layer.input_spec.optional)
        self.assertEqual(new_layer.input_spec.shape, layer2.input_spec.shape)
        self.assertEqual(new_layer.layers[2].input_spec.shape, layer1.input_spec.shape)
        self.assertAllClose(new_layer(np.ones((2, 12))), layer2(np.ones((2, 12))))

    def test_clone_before_build(self):
        def layer_fn(inputs):
            return layers.Dense(12)(inputs)

        layer = CompositeLayer(layer_fn)

        def call_fn(layer, *args, **kwargs):
            return layer(*args, **kwargs)

        with self.assertRaisesRegex(
            ValueError, "model has no graph of layers. It is probably not built"
        ):
            clone_model(layer, clone_function=lambda x: x, call_function=call_fn, recursive=True)


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: clone_model with and without clone_function."""

    def test_clone_function_replaces_inner_layers(self):
        inner = CompositeLayer([layers.Dense(3, name="d1")], name="inner")
        outer = CompositeLayer(lambda x: layers.Dense(2, name="d2")(inner(x)), name="outer")
        inp = Input((4,))
        model = Model(inp, outer(inp))
        x = np.random.random((2, 4)).astype("float32")
        y = model(x)

        seen = []

        def clone_fn(layer):
            seen.append(layer.name)
            if isinstance(layer, layers.Dense):  # same weights, new object
                new = layers.Dense.from_config(layer.get_config())
                new.build(layer.kernel.shape[:1])
                new.set_weights(layer.get_weights())
                return new
            return layer

        clone = clone_model(model, clone_function=clone_fn, recursive=True)
        self.assertEqual(sorted(seen), ["d1", "d2"])
        new_outer = clone.get_layer("outer")
        self.assertIsInstance(new_outer, CompositeLayer)
        self.assertIsNot(new_outer, outer)
        self.assertIsNot(new_outer.get_layer("inner").get_layer("d1"), inner.get_layer("d1"))
        self.assertAllClose(clone(x), y, atol=1e-6)
        # The original is untouched.
        self.assertIs(model.get_layer("outer"), outer)
        self.assertIs(outer.get_layer("inner"), inner)

    def test_clone_model_default_clone_gives_fresh_weights(self):
        block = CompositeLayer(_mlp_fn, name="block")
        inp = Input((3,))
        model = Model(inp, block(inp))
        for recursive in (False, True):
            clone = clone_model(model, recursive=recursive)
            new_block = clone.get_layer("block")
            self.assertIsInstance(new_block, CompositeLayer)
            self.assertIsNot(new_block.get_layer("hidden"), block.get_layer("hidden"))
            self.assertEqual(
                [tuple(w.shape) for w in new_block.weights],
                [tuple(w.shape) for w in block.weights],
            )
            self.assertEqual(_weight_counts(clone), (4, 0))
