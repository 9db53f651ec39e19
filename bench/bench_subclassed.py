"""LoRA into a 24-block KerasHub-style *subclassed* transformer (issue 17).

The blocks are `risk_widgets.demo.TransformerEncoder` (sub-layers in underscore attributes,
created in ``build``, a MultiHeadAttention inside) in a `demo.TransformerBackbone`
(a Functional subclass). Every such block is opaque to functional cloning: `add_lora`
re-creates each block from its config and transplants its sub-layers, swapping the
targeted ones. Measured:

- wall time of `add_lora` into every Dense / EinsumDense of the blocks, against
  `keras.models.clone_model` of the same model (a copy before any change);
- extra memory: new weight bytes (adapters only) against the base's, and the process's
  resident-memory growth while patching; base-weight copies (should be 0);
- `fold` time and the folded model's inference against the unpatched base.
"""

from __future__ import annotations

import os
import resource
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from timing import best_time, report, weight_sharing  # noqa: E402

RANK = 8
TARGETS = ["*/self_attention_layer/query", "*/self_attention_layer/key",
           "*/self_attention_layer/value", "*/self_attention_layer/attention_output",
           "*/feedforward_intermediate_dense", "*/feedforward_output_dense"]


def _rss() -> int:
    """Current resident set size in bytes (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(n_blocks: int = 24, dim: int = 64) -> list[dict]:
    import keras

    import risk_widgets as rw
    from risk_widgets import demo

    warnings.filterwarnings("ignore", message="LoRA rank=")
    keras.utils.set_random_seed(0)
    model = demo.subclassed_transformer(n_blocks=n_blocks, dim=dim, heads=4, seq_len=16)
    label = f"{n_blocks}-block subclassed transformer (dim {dim})"
    n_targets = len(rw.find_layers(model, TARGETS))
    rows = []

    rss_before = _rss()
    patched = rw.add_lora(model, TARGETS, rank=RANK)  # the first one: memory growth
    rss_growth = max(0, _rss() - rss_before)
    ours = best_time(lambda: rw.add_lora(model, TARGETS, rank=RANK), repeat=3)
    base = best_time(lambda: keras.models.clone_model(model), repeat=3)
    rows.append(report(f"add_lora into all {n_targets} Dense/EinsumDense, {label}", ours, base,
                       "keras.models.clone_model"))

    sharing = weight_sharing(model, patched)
    copies, shared = sharing["copies"], sharing["shared"]
    rows.append(report("new weight bytes of that patch (adapters only)", sharing["new_bytes"],
                       sharing["base_bytes"], "base weight bytes", unit="B",
                       note=f"{copies} base-weight copies; {shared} of {len(model.weights)} "
                       f"base variables shared; process RSS grew {rss_growth / 2**20:.1f} MiB "
                       "while patching (graph objects and adapters)",
                       target=f"0 base-weight copies ({'met' if copies == 0 else 'missed'})"))

    rng = np.random.default_rng(0)
    x = rng.integers(0, 16, size=(32, 16)).astype("int32")
    for layer in rw.patch_layers(patched).values():  # as if trained
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.01 * rng.normal(size=v.shape).astype("float32"))
    fold_time = best_time(lambda: rw.fold(patched), repeat=1, warmup=0)
    rows.append(report(f"fold of that patch, {label}", fold_time, None, None))
    folded = rw.fold(patched)
    err = float(np.abs(folded.predict_on_batch(x) - patched.predict_on_batch(x)).max())
    ours_inf = best_time(lambda: folded.predict_on_batch(x), repeat=30, warmup=3)
    base_inf = best_time(lambda: model.predict_on_batch(x), repeat=30, warmup=3)
    rows.append(report(f"folded-model inference (batch 32), {label}", ours_inf, base_inf,
                       "the unpatched base model", target="≤ 1.05×",
                       note=f"folded vs patched outputs: max |diff| {err:.1e}"))
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 24)
