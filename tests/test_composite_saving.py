"""CompositeLayer in .keras files: models holding composites (nested, subclassed, reused)
save and load with the same outputs.

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import os

import keras
import numpy as np
from keras import layers, ops, saving
from keras.models import clone_model
from keras.src import backend, testing, tree
from keras.src.layers.core.input_layer import Input
from keras.src.layers.input_spec import InputSpec
from keras.src.models.model import Model

from risk_widgets import CompositeLayer


class CompositeLayerTest(testing.TestCase):
    """keras PR #21099 `composite_layer_test.py`, ported: saving and loading .keras files."""

    def test_model_with_composite_layers_serialization(self):
        def layer_fn(x):
            o1 = layers.Dense(1)(x["1"])
            o2 = layers.Dense(2)(x["others"]["2"])
            o3 = layers.Dense(3)(x["others"]["3"])
            return {"1": o1, "others": {"2": o2, "3": o3}}

        composite_layer = CompositeLayer(layer_fn)
        symbolic_input = {"1": Input((1,)), "others": {"2": Input((2,)), "3": Input((3,))}}
        y = composite_layer(symbolic_input)
        y = layers.Concatenate()([y["1"], y["others"]["2"], y["others"]["3"]])
        output = layers.Dense(4)(y)
        model = Model(symbolic_input, output)

        temp_filepath = os.path.join(self.get_temp_dir(), "deeply_nested.keras")
        model.save(temp_filepath)
        loaded_model = saving.load_model(temp_filepath)

        num_input = {
            "1": np.ones((8, 1)),
            "others": {"2": np.ones((8, 2)), "3": np.ones((8, 3))},
        }
        self.assertAllClose(model(num_input), loaded_model(num_input))

    def test_functional_subclass_serialization(self):
        class FuncSubclass(CompositeLayer):
            @staticmethod
            def layer_fn(x):
                y = layers.Dense(8)(x)
                return layers.Dense(4)(y)

            def __init__(self, name=None, **kwargs):
                super().__init__(FuncSubclass.layer_fn, name, **kwargs)

        inputs = Input((4,), name="input")
        model = Model(inputs, FuncSubclass()(inputs))
        data = ops.ones((8, 4))
        output1 = model(data)
        temp_filepath = os.path.join(self.get_temp_dir(), "comp_subclass.keras")
        model.save(temp_filepath)
        loaded_model = saving.load_model(
            temp_filepath, custom_objects={"FuncSubclass": FuncSubclass}
        )
        self.assertAllClose(output1, loaded_model(data))

    def test_functional_in_functional_with_reuse_saving(self):
        def layer_fn(inputs):
            y = layers.Dense(6)(inputs)
            return layers.Dense(8)(y)

        sub_layer1 = CompositeLayer(layer_fn)
        inputs = Input((8,))
        y1 = sub_layer1(inputs)
        outputs = sub_layer1(y1)  # reuse
        model = Model(inputs, outputs)
        data = ops.ones((2, 8))
        output1 = model(data)

        temp_filepath = os.path.join(self.get_temp_dir(), "func_subclass_reuse.keras")
        model.save(temp_filepath)
        loaded_model = saving.load_model(temp_filepath)
        self.assertAllClose(output1, loaded_model(data))

    def test_composite_in_functional_model(self):
        class ConvStack(CompositeLayer):
            def __init__(self, **kwargs):
                def layer_fn(x):
                    y = layers.Conv2D(
                        12, kernel_size=(3, 3), padding="same", activation="relu", name="c1"
                    )(x)
                    y = layers.Conv2D(16, (3, 3), padding="same", activation="relu", name="c2")(y)
                    z = layers.Conv2D(16, kernel_size=(1, 1), activation="relu", name="c3")(x)
                    return y + z

                super().__init__(layer_fn, **kwargs)

        class RegulStack(CompositeLayer):
            def __init__(self, **kwargs):
                super().__init__(
                    [layers.MaxPooling2D(pool_size=(2, 2)), layers.Flatten()], **kwargs
                )

        class DenseStack(CompositeLayer):
            def __init__(self, **kwargs):
                super().__init__(
                    [layers.Dense(128, activation="relu"), layers.Dropout(0.25)], **kwargs
                )

        if backend.config.image_data_format() == "channels_first":
            input = Input(shape=(1, 28, 28))
            data = np.ones((2, 1, 28, 28))
        else:
            input = Input(shape=(28, 28, 1))
            data = np.ones((2, 28, 28, 1))
        composite_layer1 = ConvStack(name="c1")
        x = composite_layer1(input)
        composite_layer2 = ConvStack(name="c2")
        x = composite_layer2(x)
        composite_layer3 = RegulStack(name="r1")
        x = composite_layer3(x)
        composite_layer4 = DenseStack(name="d1")
        x = composite_layer4(x)
        output = layers.Dense(10, activation="softmax", name="head")(x)
        model = Model(input, output, name="func_model")
        model(input)  # check the model builds

        def is_spec_equal(spec1, spec2):
            tree.assert_same_structure(spec1, spec2)

            def compare_spec(s1, s2):
                return s1.shape == s2.shape and s1.dtype == s2.dtype

            result = tree.map_structure(compare_spec, spec1, spec2)
            return all(tree.flatten(result))

        def shape_for(channels_first_shape, channels_last_shape):
            if backend.config.image_data_format() == "channels_first":
                return channels_first_shape
            return channels_last_shape

        shape = shape_for((None, 1, 28, 28), (None, 28, 28, 1))
        self.assertTrue(is_spec_equal(composite_layer1.input_spec, InputSpec(shape=shape)))
        shape = shape_for((None, 16, 28, 28), (None, 28, 28, 16))
        self.assertTrue(is_spec_equal(composite_layer2.input_spec, InputSpec(shape=shape)))
        self.assertTrue(is_spec_equal(composite_layer3.input_spec, InputSpec(shape=shape)))
        self.assertTrue(
            is_spec_equal(composite_layer4.input_spec, InputSpec(shape=(None, 28 * 28 * 16 // 4)))
        )

        output1 = model(data)
        temp_filepath = os.path.join(self.get_temp_dir(), "func_nested.keras")
        model.save(temp_filepath)
        loaded_model = saving.load_model(
            temp_filepath,
            custom_objects={
                "ConvStack": ConvStack,
                "RegulStack": RegulStack,
                "DenseStack": DenseStack,
            },
        )
        self.assertAllClose(output1, loaded_model(data))


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: nested composites and subclasses in .keras files."""

    def test_keras_save_load_nested_composites_safe_mode(self):
        class Block(CompositeLayer):
            def __init__(self, **kwargs):
                super().__init__(
                    lambda x: (
                        x + layers.Dense(4, name="ff")(layers.LayerNormalization(name="ln")(x))
                    ),
                    **kwargs,
                )

        inner = CompositeLayer([layers.Dense(4, name="a"), layers.Dropout(0.1)], name="inner")
        outer = CompositeLayer(lambda x: Block(name="blk")(inner(x)), name="outer")
        inp = Input((4,))
        model = Model(inp, layers.Dense(1, name="head")(outer(inp)))
        x = np.random.random((5, 4)).astype("float32")
        y = model(x)

        path = os.path.join(self.get_temp_dir(), "nested.keras")
        model.save(path)
        loaded = saving.load_model(path, custom_objects={"Block": Block}, safe_mode=True)
        self.assertAllClose(loaded(x), y, atol=1e-6)
        lo = loaded.get_layer("outer")
        self.assertIsInstance(lo, CompositeLayer)
        self.assertIsInstance(lo.get_layer("blk"), Block)
        self.assertEqual(
            [w.path for w in lo.weights], [w.path for w in model.get_layer("outer").weights]
        )
        self.assertEqual(saving.get_registered_name(CompositeLayer), "risk_widgets>CompositeLayer")

    def test_subclass_with_arguments_saves_and_loads(self):
        @keras.saving.register_keras_serializable(package="risk_widgets_tests")
        class Residual(CompositeLayer):
            def __init__(self, units, **kwargs):
                self.units = units

                def layer_fn(x):
                    return x + layers.Dense(units, name="ff")(x)

                super().__init__(layer_fn, **kwargs)

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        inp = Input((4,))
        model = Model(inp, Residual(4, name="res")(inp))
        x = np.random.random((2, 4)).astype("float32")
        path = os.path.join(self.get_temp_dir(), "residual.keras")
        model.save(path)
        loaded = saving.load_model(path)
        res = loaded.get_layer("res")
        self.assertIs(type(res), Residual)
        self.assertEqual(res.units, 4)
        self.assertAllClose(loaded(x), model(x), atol=1e-6)

        # Cloning rebuilds it with the graph form; its __init__ needs `units`,
        # which the clone cannot know, so the base state only is set.
        clone = clone_model(model, clone_function=lambda layer: layer, recursive=True)
        self.assertIs(type(clone.get_layer("res")), Residual)
        self.assertAllClose(clone(x), model(x), atol=1e-6)
