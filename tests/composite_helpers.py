"""Shared by the `risk_widgets.CompositeLayer` tests, tests/test_composite_*.py.

Each of those files has up to two classes. `CompositeLayerTest` ports cases of keras-team/keras
PR #21099's own test file (`keras/src/layers/core/composite_layer_test.py`, latest stored
version) to our import; each case keeps its name and assertions. Deviations are marked
"PORT:" in the code. `RiskWidgetsCompositeTest` adds the contract that the other risk_widgets
modules rely on (`function`, `from_graph`, paths, freezing, saving, cloning with
`clone_function`).
"""

from keras import layers


def _mlp_fn(x):
    x = layers.Dense(4, activation="relu", name="hidden")(x)
    return layers.Dense(2, name="head")(x)


def _weight_counts(layer):
    return len(layer.trainable_weights), len(layer.non_trainable_weights)
