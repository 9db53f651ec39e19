"""Runs one distributed-training check on 2 CPU devices; prints one JSON line (issue 17).

Devices must be configured before the backend initialises them, so `tests/test_distributed.py`
runs this file in a fresh Python (``python tests/distributed_run.py CASE``):

``mirrored`` runs the first three (one TensorFlow start-up):

- ``lora``: `rw.add_lora` inside ``MirroredStrategy.scope()`` (base model built
  outside, as a user's model is), trained there; the same patch trained on one device.
  Also: the single-device patch saved as ``.keras``, loaded inside the scope, trained.
- ``vote``: a vote wrapper made inside the scope, same comparison.
- ``editor``: `GraphEditor.fit(strategy=...)`: refused for a patch made outside
  the scope, trains one made inside it.
- ``jax_data_parallel`` (KERAS_BACKEND=jax): model and patch made in
  ``keras.distribution.DataParallel().scope()``, `GraphEditor.fit(distribution=...)`.
"""

from __future__ import annotations

import json
import os
import sys

CASE = sys.argv[1]
JAX = CASE.startswith("jax")
os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "jax" if JAX else "tensorflow"
if JAX:
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
else:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import warnings  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import risk_widgets as rw  # noqa: E402
from risk_widgets import demo  # noqa: E402

warnings.simplefilter("ignore")
TARGETS = ["*/self_attention_layer/query", "*/self_attention_layer/value",
           "*/feedforward_intermediate_dense"]
QUERY = "backbone/transformer_layer_0/self_attention_layer/query"
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
X, Y = demo.toy_sequences(n=64, seq_len=8)


def base_model():
    keras.utils.set_random_seed(0)
    # one block keeps the run short (the paths and the sub-layer nesting are the same)
    model = demo.subclassed_transformer(n_blocks=1, dim=16, heads=2, seq_len=8)
    model.compile(loss=LOSS)  # the loss GraphEditor.fit compiles the patched model with
    return model


def values(weights):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in weights]


def train(model, epochs=2):
    # SGD, no shuffling: the same batches in the same order on 1 and 2 devices
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=LOSS)
    model.fit(X, Y, epochs=epochs, batch_size=32, shuffle=False, verbose=0)


def compare(distributed, single, base, base_before):
    """Max differences: distributed vs single-device weights; base weights before/after."""
    dist_after, single_after = values(distributed.weights), values(single.weights)
    return {
        "max_diff": max(float(np.abs(a - b).max()) for a, b in
                        zip(dist_after, single_after, strict=True)),
        "base_changed": max(float(np.abs(a - b).max()) for a, b in
                            zip(values(base.weights), base_before, strict=True)),
        "output_diff": float(np.abs(np.asarray(distributed(X[:16]))
                                    - np.asarray(single(X[:16]))).max()),
    }


def trained_only(model, before, trainable):
    """Which weights moved: must be exactly the trainable ones (by identity)."""
    moved = {id(v) for v, b in zip(model.weights, before, strict=True)
             if not np.array_equal(values([v])[0], b)}
    return {"moved_not_trainable": len(moved - {id(v) for v in trainable}),
            "trainable_moved": len(moved & {id(v) for v in trainable})}


STRATEGY = None


def mirrored(kind):
    strategy = STRATEGY
    base = base_model()
    base_before = values(base.weights)

    def patch():
        if kind == "lora":
            return rw.add_lora(base, TARGETS, rank=2)
        from risk_widgets.risk import vote

        return vote.Wrapper(n_voters=2)(base, "*/feedforward_intermediate_dense")

    with strategy.scope():
        distributed = patch()
    single = patch()
    single.set_weights(distributed.get_weights())  # same start (adapters, voters)
    before = values(distributed.weights)
    kinds = sorted({type(v.value).__name__ for v in distributed.trainable_weights})
    with strategy.scope():
        train(distributed)
    train(single)
    result = {"replicas": strategy.num_replicas_in_sync, "variable_kinds": kinds,
              **compare(distributed, single, base, base_before),
              **trained_only(distributed, before, distributed.trainable_weights)}
    if kind == "lora":  # the README's way: export, load inside the scope, train on
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "patched.keras")
            single.save(path)
            with strategy.scope():
                loaded = keras.saving.load_model(path)
            result["loaded_kinds"] = sorted({type(v.value).__name__ for v in loaded.weights})
            result["loaded_patches"] = sorted(rw.patch_layers(loaded))
            with strategy.scope():
                train(loaded, epochs=1)
    return result


def mirrored_editor():
    strategy = STRATEGY
    base = base_model()
    base_before = values(base.weights)
    editor = rw.GraphEditor(base)
    editor.apply("lora", targets=["backbone/transformer_layer_0/feedforward_intermediate_dense"],
                 rank=2)
    try:
        editor.fit(X, Y, epochs=1, strategy=strategy)
        refused = ""
    except ValueError as err:
        refused = str(err)
    editor.undo()
    with strategy.scope():
        editor.apply("lora", targets=[QUERY], rank=2)
    before = values(editor.model.weights)
    editor.fit(X, Y, epochs=2, strategy=strategy, batch_size=32)
    moved = trained_only(editor.model, before, editor.model.trainable_weights)
    changed = max(float(np.abs(a - b).max()) for a, b in
                  zip(values(base.weights), base_before, strict=True))
    return {"refused": refused, "status": editor.status["level"], "base_changed": changed,
            "loss": editor._loss, **moved}


def jax_data_parallel():
    devices = keras.distribution.list_devices("cpu")
    distribution = keras.distribution.DataParallel(devices=devices)
    single = rw.GraphEditor(base_model())
    single.apply("lora", targets=[QUERY], rank=2)
    try:  # a patch made outside the distribution's scope is refused
        single.fit(X, Y, epochs=1, distribution=distribution)
        refused = ""
    except ValueError as err:
        refused = str(err)
    with distribution.scope():
        base = base_model()
        base_before = values(base.weights)
        editor = rw.GraphEditor(base)
        editor.apply("lora", targets=[QUERY], rank=2)
    distributed = editor.model
    distributed.set_weights(single.model.get_weights())  # same start
    before = values(distributed.weights)
    kwargs = {"epochs": 2, "batch_size": 32, "shuffle": False}
    editor.fit(X, Y, distribution=distribution, **kwargs)
    single.fit(X, Y, **kwargs)
    return {"devices": len(devices), "refused": refused, "status": editor.status["level"],
            "sharded_on": len(distributed.trainable_weights[0].value.devices()),
            **compare(distributed, single.model, base, base_before),
            **trained_only(distributed, before, distributed.trainable_weights)}


def mirrored_all():
    import tensorflow as tf

    global STRATEGY
    # one strategy per process: two MirroredStrategy objects share TF's collective keys
    STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return {"lora": mirrored("lora"), "vote": mirrored("vote"), "editor": mirrored_editor()}


if __name__ == "__main__":
    run = {"mirrored": mirrored_all, "jax_data_parallel": jax_data_parallel}[CASE]
    print("RESULT " + json.dumps(run()))
