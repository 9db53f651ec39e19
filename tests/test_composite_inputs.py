"""CompositeLayer inputs: structures (dicts, lists, tuples, nesting), rank and dtype
standardisation, input specs (bad, manual, optional, no batch) and masks.

`CompositeLayerTest` holds cases ported from keras PR #21099, `RiskWidgetsCompositeTest`
the contract of risk_widgets (see tests/composite_helpers.py).
"""

import warnings

import numpy as np
import pytest
from keras import layers, ops
from keras.src import backend, testing
from keras.src.layers.core.dense import Dense
from keras.src.layers.core.input_layer import Input
from keras.src.layers.input_spec import InputSpec

from risk_widgets import CompositeLayer


class CompositeLayerTest(testing.TestCase):
    """keras PR #21099 `composite_layer_test.py`, ported: input structures and specs."""

    def test_input_dict_with_extra_field(self):
        def layer_fn(inputs):
            x = inputs["a"] * 5
            return x + 2

        layer = CompositeLayer(layer_fn)
        layer({"a": Input((3,))})  # build the layer

        in_val = {
            "a": np.random.random((2, 3)),
            "b": np.random.random((2, 1)),
        }
        with pytest.warns() as record:
            out_val = layer(in_val)
        self.assertLen(record, 1)
        self.assertStartsWith(
            str(record[0].message),
            "The structure of `inputs` doesn't match the expected structure",
        )
        self.assertEqual(out_val.shape, (2, 3))

    def test_warning_for_mismatched_inputs_structure(self):
        def is_input_warning(w):
            return str(w.message).startswith(
                "The structure of `inputs` doesn't match the expected structure"
            )

        def layer_fn(inputs):
            return layers.Add()([inputs["i1"], inputs["i2"]])

        composite_layer = CompositeLayer(layer_fn)
        composite_layer({"i1": Input((2,)), "i2": Input((2,))})
        with pytest.warns() as warning_logs:
            composite_layer([np.ones((2, 2)), np.ones((2, 2))])
        self.assertLen(list(filter(is_input_warning, warning_logs)), 1)

        # No warning for mismatched tuples and lists.
        def layer_fn2(inputs):
            i1, i2 = inputs
            return layers.Add()([i1, i2])

        composite_layer = CompositeLayer(layer_fn2)
        composite_layer([Input((2,)), Input((2,))])  # build with a list
        with warnings.catch_warnings(record=True) as warning_logs:
            warnings.simplefilter("always")
            composite_layer((np.ones((2, 2)), np.zeros((2, 2))))  # call with a tuple
        self.assertLen(list(filter(is_input_warning, warning_logs)), 0)

    def test_rank_standardization(self):
        def layer_fn(x):
            return layers.Dense(4)(x)

        # Downranking
        layer = CompositeLayer(layer_fn)
        layer.build((8, 10))
        out_val = layer(np.random.random((8, 10, 1)))
        self.assertEqual(out_val.shape, (8, 4))

        # Upranking
        layer = CompositeLayer(layer_fn)
        layer.build((8, 10, 1))
        out_val = layer(np.random.random((8, 10)))
        self.assertEqual(out_val.shape, (8, 10, 4))

    def test_dtype_standardization(self):
        def layer_fn(x):
            return (x["float"] + 2, x["int"] + 2)

        # A CompositeLayer has one input dtype: all of its inputs are
        # created in build() with the layer's dtype.
        layer = CompositeLayer(layer_fn, dtype="float16")

        float_data, int_data = layer(
            {
                "float": Input((2, 2), dtype="float32"),
                "int": Input((2, 2), dtype="int32"),
            }
        )
        self.assertEqual(backend.standardize_dtype(float_data.dtype), "float16")
        self.assertEqual(backend.standardize_dtype(int_data.dtype), "float16")

        float_data, int_data = layer(
            {
                "float": np.ones((8, 2, 2), dtype="float32"),
                "int": np.ones((8, 2, 2), dtype="int32"),
            }
        )
        self.assertEqual(backend.standardize_dtype(float_data.dtype), "float16")
        self.assertEqual(backend.standardize_dtype(int_data.dtype), "float16")

    def test_bad_input_spec(self):
        # Single input
        def layer_fn(x):
            return layers.Dense(2)(x)

        layer = CompositeLayer(layer_fn)
        layer.build((None, 4))
        with self.assertRaisesRegex(
            ValueError,
            r"Input .* is incompatible .* expected shape=\(None, 4\), found shape=\(2, 3\)",
        ):
            layer(np.zeros((2, 3)))
        with self.assertRaisesRegex(ValueError, "expects 1 input"):
            layer([np.zeros((2, 4)), np.zeros((2, 4))])

        # List input
        def layer_fn_list(inputs):
            input_a, input_b = inputs
            return layers.Dense(2)(input_a + input_b)

        layer = CompositeLayer(layer_fn_list)
        layer([Input(shape=(4,), name="a"), Input(shape=(4,), name="b")])
        with self.assertRaisesRegex(ValueError, r"expects 2 input\(s\)"):
            layer(np.zeros((2, 3)))
        with self.assertRaisesRegex(
            ValueError, r"expected shape=\(None, 4\), found shape=\(2, 3\)"
        ):
            layer([np.zeros((2, 3)), np.zeros((2, 4))])

        # Dict input
        def layer_fn_dict(inputs):
            return layers.Dense(2)(inputs["a"] + inputs["b"])

        layer = CompositeLayer(layer_fn_dict)
        layer({"a": Input(shape=(4,), name="a"), "b": Input(shape=(4,))})
        with self.assertRaisesRegex(
            ValueError, r"expects 2 input\(s\), but it received 1 input"
        ):
            layer(np.zeros((2, 3)))
        # and Keras' own words after it (dict inputs are matched by key)
        with self.assertRaisesRegex(ValueError, r"named input\(s\) with keys \['a', 'b'\]"):
            layer(np.zeros((2, 3)))
        with self.assertRaisesRegex(
            ValueError, r"expected shape=\(None, 4\), found shape=\(2, 3\)"
        ):
            layer({"a": np.zeros((2, 3)), "b": np.zeros((2, 4))})

    def test_manual_input_spec(self):
        def layer_fn(x):
            return layers.Dense(2)(x)

        layer = CompositeLayer(layer_fn)
        layer.input_spec = InputSpec(shape=(None, 4, 3))
        with self.assertRaisesRegex(
            ValueError, r"expected shape=\(None, 4, 3\), found shape=\(8, 3, 3\)"
        ):
            layer(np.zeros((8, 3, 3)))
        layer(np.zeros((8, 4, 3)))

    def test_list_input_with_dict_build(self):
        def layer_fn(inputs):
            return layers.subtract([inputs["IT"], inputs["IS"]])

        layer = CompositeLayer(layer_fn)
        layer({"IT": Input((10,)), "IS": Input((10,))})  # build the layer
        x1 = ops.ones((1, 10))
        x2 = ops.zeros((1, 10))
        layer({"IT": x1, "IS": x2})  # eager call works
        # Only fails because flattening the dict {"IT", "IS"} reorders it.
        with self.assertRaisesRegex(
            ValueError, "The structure of `inputs` doesn't match the expected structure"
        ):
            layer([x1, x2])

    def test_optional_inputs(self):
        class OptionalInputLayer(layers.Layer):
            def call(self, x, y=None):
                if y is not None:
                    return x + y
                return x

            def compute_output_shape(self, x_shape):
                return x_shape

        def layer_fn(x):
            return OptionalInputLayer()(x[1], x[0])

        layer = CompositeLayer(layer_fn)
        # declare the first arg as optional
        layer.input_spec = [
            InputSpec(shape=(None, 2), optional=True),
            InputSpec(shape=(None, 2)),
        ]

        layer([Input((2,)), Input((2,))])  # symbolic
        data = np.ones((8, 2))
        self.assertAllClose(layer([None, data]), data)
        self.assertAllClose(layer([data, data]), data * 2)

        with self.assertRaisesRegex(ValueError, "Optional inputs must be declared"):
            layer([data, None])
        with self.assertRaisesRegex(ValueError, "is not optional"):  # Keras' words too
            layer([data, None])

    def test_list_vs_tuple_input_spec(self):
        def layer_fn(inputs):
            a, b = inputs
            return Dense(8)(a) + Dense(8)(b)

        layer = CompositeLayer(layer_fn)
        layer.input_spec = (InputSpec(shape=(None, 8)), InputSpec(shape=(None, 8)))
        layer([Input(batch_shape=(None, 8)), Input(batch_shape=(None, 8))])
        layer.input_spec = [InputSpec(shape=(None, 8)), InputSpec(shape=(None, 8))]
        layer((Input(batch_shape=(None, 8)), Input(batch_shape=(None, 8))))

    def test_no_batch_input(self):
        def layer_fn(inputs):
            x, y, idx = inputs  # idx has no batch size (LLM cache update index)
            return ops.slice_update(x, [0, idx, 0, 0], y)

        layer = CompositeLayer(layer_fn)
        layer.input_spec = (
            InputSpec(shape=(None, 16, 4, 8)),
            InputSpec(shape=(None, 1, 4, 8)),
            InputSpec(shape=(), dtype="int32"),  # no batch size
        )
        layer(
            (
                np.zeros((32, 16, 4, 8)),
                np.zeros((32, 1, 4, 8)),
                backend.convert_to_tensor(0),
            )
        )

        def layer_fn2(inputs):
            x, mul = inputs  # mul has no batch size
            return x * mul

        layer = CompositeLayer(layer_fn2)
        layer((Input(shape=(16,)), Input(batch_shape=())))  # symbolic call
        result = layer((np.ones((32, 16)), backend.convert_to_tensor(2)))
        self.assertAllClose(result, np.ones((32, 16)) * 2)


class RiskWidgetsCompositeTest(testing.TestCase):
    """The risk_widgets contract: masks."""

    def test_mask_propagates_to_inner_layers(self):
        block = CompositeLayer(
            lambda x: layers.LSTM(2, name="lstm")(layers.Embedding(5, 3, mask_zero=True)(x))
        )
        ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
        y = block(ids)
        # The same data without the padding gives the same final state.
        y_short = block(ids[:, :1])
        self.assertAllClose(y[1], y_short[1], atol=1e-6)
