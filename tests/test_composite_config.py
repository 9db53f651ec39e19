"""CompositeLayer configs: get_config / from_config round trips (subclasses, outputs of
each container type, reused sub-layers, inside a Sequential).

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import numpy as np
from absl.testing import parameterized
from keras import initializers, layers, ops
from keras.src import backend, testing
from keras.src.layers.core.input_layer import Input
from keras.src.models.model import Model
from keras.src.models.sequential import Sequential

from risk_widgets import CompositeLayer
from tests.composite_helpers import _mlp_fn


class CompositeLayerTest(testing.TestCase):
    """keras PR #21099 `composite_layer_test.py`, ported: get_config / from_config."""

    def test_serialization(self):
        # Test basic model
        def layer_fn(x):
            return layers.Dense(3)(x)

        layer = CompositeLayer(layer_fn, trainable=False)
        layer(Input(shape=(3,), batch_size=2))  # build the layer
        self.run_class_serialization_test(layer)

        # Test multi-io model
        def layer_fn_multi(inputs):
            input_a, input_b = inputs
            xa = layers.Dense(5, name="middle_a")(input_a)
            xb = layers.Dense(5, name="middle_b")(input_b)
            output_a = layers.Dense(4, name="output_a")(xa)
            output_b = layers.Dense(4, name="output_b")(xb)
            return (output_a, output_b)

        layer = CompositeLayer(layer_fn_multi, name="func")
        input_a = Input(shape=(3,), batch_size=2, name="input_a")
        input_b = Input(shape=(3,), batch_size=2, name="input_b")
        layer([input_a, input_b])
        self.run_class_serialization_test(layer)

        # Test model that includes floating ops
        def layer_fn_ops(inputs):
            input_a, input_b = inputs
            x = input_a + input_b
            x = layers.Dense(5, name="middle")(x)
            output_a = layers.Dense(4, name="output_a")(x)
            output_b = layers.Dense(4, name="output_b")(x)
            return (output_a, output_b)

        layer = CompositeLayer(layer_fn_ops, name="func")
        input_a = Input(shape=(3,), batch_size=2, name="input_a")
        input_b = Input(shape=(3,), batch_size=2, name="input_b")
        layer([input_a, input_b])
        self.run_class_serialization_test(layer)

        # Test model with dict i/o
        def layer_fn_dict(inputs):
            x = inputs["a"] + inputs["b"]
            x = layers.Dense(5)(x)
            return layers.Dense(4)(x)

        layer = CompositeLayer(layer_fn_dict, name="func")
        input_a = Input(shape=(3,), batch_size=2, name="a")
        input_b = Input(shape=(3,), batch_size=2, name="b")
        layer({"a": input_a, "b": input_b})
        self.run_class_serialization_test(layer)

    def test_config_serialization(self):
        original_layer = CompositeLayer(
            layers=[
                layers.Dense(64, activation="relu", input_shape=(32,)),
                layers.Dense(32),
            ]
        )
        original_layer.build([None, 16])

        config = original_layer.get_config()
        self.assertEqual(config["name"], "composite_layer")
        self.assertEqual(len(config["layers"]), 3)

        recreated_layer = CompositeLayer.from_config(config)
        self.assertEqual(config["name"], "composite_layer")
        self.assertEqual(len(recreated_layer.layers), 3)

        out_val = recreated_layer(np.random.random((2, 16)))
        self.assertEqual(out_val.shape, (2, 32))
        out_val = recreated_layer(Input(shape=(16,), batch_size=5))
        self.assertEqual(out_val.shape, (5, 32))

        def test_layer_fn(inputs):
            x = layers.Dense(64)(inputs)
            return layers.Dense(10)(x)

        composite = CompositeLayer(test_layer_fn)
        in_val = np.random.random((2, 20))
        composite(in_val)

        config = composite.get_config()
        recreated_layer = CompositeLayer.from_config(config)
        self.assertTrue(recreated_layer.built)

        out_val = recreated_layer(in_val)
        self.assertEqual(out_val.shape, (2, 10))
        # A different batch size than the one the layer was first called with.
        out_val = recreated_layer(Input(shape=(20,), batch_size=8))
        self.assertEqual(out_val.shape, (8, 10))

    def test_class_serialization(self):
        class MyCompositeLayer(CompositeLayer):
            @staticmethod
            def my_layer_fn(inputs):
                x = layers.Dense(5)(inputs)
                return layers.Dense(4)(x)

            def __init__(self, **kwargs):
                super().__init__(MyCompositeLayer.my_layer_fn, **kwargs)

        layer = MyCompositeLayer(name="func_subclass")
        layer(Input(shape=(3,), batch_size=2))
        self.assertTrue(layer.built)

        config = layer.get_config()
        restored_layer = MyCompositeLayer.from_config(config)

        self.assertEqual(restored_layer.name, "func_subclass")
        self.assertIsInstance(restored_layer, MyCompositeLayer)
        self.assertIsInstance(restored_layer, CompositeLayer)
        self.assertIsInstance(restored_layer, layers.Layer)
        self.assertTrue(restored_layer.built)

        out_val = restored_layer(np.random.random((2, 3)))
        self.assertEqual(out_val.shape, (2, 4))
        test_output = layer(Input(shape=(3,), batch_size=2))
        self.assertEqual(test_output.shape, (2, 4))

    @parameterized.named_parameters(
        ("list", list),
        ("tuple", tuple),
        ("dict", dict),
    )
    def test_restored_multi_output_type(self, out_type):
        def layer_fn(inputs):
            x = layers.Dense(5)(inputs)
            output_a = layers.Dense(4)(x)
            output_b = layers.Dense(5)(x)
            if out_type is dict:
                return {"a": output_a, "b": output_b}
            return out_type([output_a, output_b])

        layer = CompositeLayer(layer_fn)
        layer.build(input_shape=(2, 3))

        layer_restored = CompositeLayer.from_config(layer.get_config())

        out_val = layer_restored(np.random.random((2, 3)))
        self.assertIsInstance(out_val, out_type)
        out_val = layer_restored(Input(shape=(3,), batch_size=2))
        self.assertIsInstance(out_val, out_type)

    def test_for_composite_layer_in_sequential(self):
        # PORT: a tiny functional conv base (16x16 images) stands in for
        # `applications.MobileNet(include_top=False)` on 256x256 images, to keep
        # the test fast; the structure tested is the same (a Functional model and
        # a CompositeLayer inside a Sequential, eager, symbolic, from_config).
        channels_first = backend.image_data_format() == "channels_first"
        image_size = (3, 16, 16) if channels_first else (16, 16, 3)
        base_in = Input(shape=image_size)
        base_out = layers.Conv2D(4, (3, 3), padding="same", name="base_conv")(base_in)
        base_model = Model(base_in, base_out, name="base")
        layer = CompositeLayer(
            [
                layers.Conv2D(4, (3, 3)),
                layers.Conv2D(6, (3, 3)),
                layers.Conv2D(8, (3, 3)),
            ]
        )
        model = Sequential()
        model.add(layers.Input(shape=image_size))
        model.add(base_model)
        model.add(layer)
        model.add(layers.GlobalAveragePooling2D())
        model.add(layers.Dense(7, activation="softmax"))
        model(np.random.random((4,) + image_size))
        model(Input(shape=image_size))
        config = model.get_config()
        model = Sequential.from_config(config)
        model(np.random.random((4,) + image_size))
        model(Input(shape=image_size))

    def test_functional_in_functional_with_reuse_serialization(self):
        ini = initializers.Ones()

        def layer_fn(inputs):
            y = layers.Dense(6, kernel_initializer=ini)(inputs)
            return layers.Dense(8, kernel_initializer=ini)(y)

        sub_layer1 = CompositeLayer(layer_fn)
        comp_layer = CompositeLayer([sub_layer1, sub_layer1])  # reuse

        data = ops.ones((2, 8))
        output1 = comp_layer(data)
        loaded = CompositeLayer.from_config(comp_layer.get_config())
        self.assertAllClose(output1, loaded(data))


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: configs round-trip exactly; no config before build."""

    def test_config_round_trip_identical_outputs_and_layout(self):
        layer = CompositeLayer(
            lambda d: {"sum": layers.Dense(3, name="p")(d["a"]) + d["b"], "b": d["b"]},
            name="dicty",
        )
        data = {"a": np.random.random((2, 5)), "b": np.random.random((2, 3))}
        out = layer(data)
        restored = CompositeLayer.from_config(layer.get_config())
        restored.set_weights(layer.get_weights())
        out2 = restored(data)
        self.assertEqual(set(out2), {"sum", "b"})
        self.assertAllClose(out2["sum"], out["sum"], atol=1e-6)
        self.assertEqual(
            [(w.path, tuple(w.shape)) for w in restored.weights],
            [(w.path, tuple(w.shape)) for w in layer.weights],
        )
        self.assertEqual(restored.get_config(), layer.get_config())

    def test_get_config_before_build_and_bad_config(self):
        layer = CompositeLayer(_mlp_fn, name="lazy")
        with self.assertRaisesRegex(ValueError, "'lazy' is not built yet.*build\\(input_shape\\)"):
            layer.get_config()
        with self.assertRaisesRegex(
            ValueError, r"missing keys \['input_layers', 'output_layers'\]"
        ):
            CompositeLayer.from_config({"name": "x", "layers": []})
