"""LoRA into every Dense / EinsumDense of a 24-block functional transformer.

- wall time of `add_lora` against `keras.models.clone_model` (a copy before any change);
- new weight bytes against the base's, and how many base weights were copied (should be 0);
- a training step of our LoRA model against Keras' built-in `layer.enable_lora(rank)` on the
  same layers of the same model (embeddings and norms frozen in both; Keras' biases of the
  LoRA layers stay trainable, as `enable_lora` leaves them);
- inference of the folded model (`rw.fold`) against the unpatched base.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import bench_models as models  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from timing import best_time, paired_best_times, report, weight_sharing  # noqa: E402

RANK = 8


def _data(batch: int = 32):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(batch, 16)).astype("int32")
    y = rng.integers(0, 2, size=(batch,)).astype("int32")
    return x, y


def _keras_lora(n_blocks: int, weights):
    """The same transformer with Keras' own LoRA on every Dense / EinsumDense."""
    from risk_widgets.core.walk import iter_layers

    model = models.transformer(n_blocks)
    model.set_weights(weights)
    for ref in iter_layers(model):
        layer = ref.layer
        if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense)):
            layer.enable_lora(RANK)
        elif ref.kind == "layer" and getattr(layer, "weights", None):
            layer.trainable = False
    return model


def _train_step(model, x, y):
    """A compiled model's one train step on ``(x, y)``, as a no-argument call."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="adam", loss=loss, jit_compile=False)
    return lambda: model.train_on_batch(x, y)


def main(n_blocks: int = 24) -> list[dict]:
    import risk_widgets as rw

    # rank 8 on the 2-class head adds more than it can use: said once, not on every call
    warnings.filterwarnings("ignore", message="LoRA rank=")
    model = models.cached("transformer", n_blocks)
    targets = [keras.layers.Dense, keras.layers.EinsumDense]
    label = f"{n_blocks}-block transformer"
    n_targets = len(rw.find_layers(model, targets))
    ours = best_time(lambda: rw.add_lora(model, targets=targets, rank=RANK), repeat=3)
    base = best_time(lambda: keras.models.clone_model(model), repeat=3)
    rows = [report(f"add_lora into all {n_targets} Dense/EinsumDense, {label}", ours, base,
                   "keras.models.clone_model")]
    patched = rw.add_lora(model, targets=targets, rank=RANK)
    sharing = weight_sharing(model, patched)
    copies, shared = sharing["copies"], sharing["shared"]
    rows.append(report("new weight bytes of that patch (adapters only)", sharing["new_bytes"],
                       sharing["base_bytes"], "base weight bytes", unit="B",
                       note=f"{copies} base-weight copies; {shared} of {len(model.weights)} "
                       "base variables shared", target="0 base-weight copies"
                       f" ({'met' if copies == 0 else 'missed'})"))

    x, y = _data()
    theirs = _keras_lora(n_blocks, model.get_weights())
    ours_step, base_step = paired_best_times(*(_train_step(m, x, y) for m in (patched, theirs)),
                                             repeat=10, warmup=3)
    rows.append(report(f"LoRA train step (batch 32), {label}", ours_step, base_step,
                       "Keras layer.enable_lora(8) on the same layers", target="≤ 1.05×"))
    folded = rw.fold(patched)
    ours_inf, base_inf = paired_best_times(lambda: folded.predict_on_batch(x),
                                           lambda: model.predict_on_batch(x), repeat=50, warmup=5)
    rows.append(report(f"folded-model inference (batch 32), {label}", ours_inf, base_inf,
                       "the unpatched base model", target="≤ 1.01×"))
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
