"""KerasHub: which layers LoRA adapts, ours against KerasHub's own ``enable_lora``, and speed.

- every backbone of `tests/kerashub_cases.py` (tiny, random-init): its layers, the layers
  ``rw.add_lora(backbone, rank=2)`` adapts without targets and those
  ``backbone.enable_lora(2)`` adapts, and the trainable parameters of each (Keras factors an
  EinsumDense kernel keeping the head axes in A, ours flattens them: counts may differ,
  the adapted layers must not);
- on a Llama decoder (4 blocks, hidden 256): a LoRA train step against ``enable_lora(8)``'s
  on the same weights, and inference of the folded model against the unpatched backbone.

    .venv/bin/python bench/bench_kerashub.py           # prints, rewrites its RESULTS.md section
"""

from __future__ import annotations

import os
import pathlib
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from timing import paired_best_times, report  # noqa: E402

TITLE = "KerasHub: LoRA without targets, ours vs enable_lora"


def _count(weights) -> int:
    return int(sum(int(np.prod(v.shape)) for v in weights))


def _any_kernel(path, layer) -> bool:
    from risk_widgets.adapters.base import base_of, can_adapt

    kinds = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Conv1D,
             keras.layers.Conv2D, keras.layers.Conv3D)
    return isinstance(base_of(layer), kinds) and can_adapt(layer)


def sweep_rows() -> list[str]:
    """One markdown row per swept backbone."""
    import risk_widgets as rw
    from risk_widgets.core.walk import iter_layers
    from tests.kerashub_cases import CASES, build_case

    rows = []
    for name in sorted(CASES):
        model, _ = build_case(name)
        layers = sum(1 for ref in iter_layers(model) if ref.kind == "layer")
        try:
            ours = rw.add_lora(model, rank=2)
        except ValueError:  # the names match no layer: enable_lora adapts nothing here
            ours = rw.add_lora(model, _any_kernel, rank=2)
        ours_paths = rw.patch_layers(ours)
        theirs, _ = build_case(name)
        wanted = set(theirs.default_lora_layer_names())
        adapted = [layer for layer in theirs._flatten_layers(include_self=False)
                   if layer.name in wanted and hasattr(layer, "enable_lora") and layer.weights]
        if adapted:
            theirs.enable_lora(2)
            their_params = _count(theirs.trainable_weights)
            same = "yes" if len(adapted) == len(ours_paths) else "**no**"
        else:
            their_params, same = 0, "— (adapts nothing; ours: every kernel layer)"
        rows.append(f"| {name} | {layers} | {len(ours_paths)} | {len(adapted)} | "
                    f"{_count(ours.trainable_weights):,} | {their_params:,} | {same} |")
        print(rows[-1], flush=True)
    return rows


def _llama():
    import keras_hub

    keras.utils.set_random_seed(0)
    return keras_hub.models.LlamaBackbone(
        vocabulary_size=1000, num_layers=4, num_query_heads=8, num_key_value_heads=4,
        hidden_dim=256, intermediate_dim=512)


def _step(model, x, y):
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    return lambda: model.train_on_batch(x, y)


def timing_rows() -> list[dict]:
    import risk_widgets as rw

    base = _llama()
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 1000, (8, 64)).astype("int32"),
         "padding_mask": np.ones((8, 64), "int32")}
    y = rng.normal(size=(8, 64, 256)).astype("float32")
    ours = rw.add_lora(base, rank=8)
    theirs = _llama()
    theirs.set_weights(base.get_weights())
    theirs.enable_lora(8)
    label = "Llama decoder, 4 blocks, hidden 256 (batch 8 x 64 tokens)"
    ours_t, theirs_t = paired_best_times(_step(ours, x, y), _step(theirs, x, y), repeat=10,
                                         warmup=3)
    rows = [report(f"LoRA train step, {label}", ours_t, theirs_t,
                   "KerasHub backbone.enable_lora(8)", target="≤ 1.05×")]
    folded = rw.fold(ours)
    ours_i, base_i = paired_best_times(lambda: folded.predict_on_batch(x),
                                       lambda: base.predict_on_batch(x), repeat=30, warmup=3)
    rows.append(report(f"folded-model inference, {label}", ours_i, base_i,
                       "the unpatched backbone", target="≤ 1.01×"))
    return rows


def main() -> None:
    import datetime

    from run_all import machine, table

    today = datetime.date.today().isoformat()
    sweep = sweep_rows()
    timing = timing_rows()
    block = "\n".join([
        f"## {TITLE}", "",
        "Every backbone of `tests/kerashub_cases.py` (tiny, random-init): leaf layers, layers "
        "adapted by `rw.add_lora(backbone, rank=2)` and by `backbone.enable_lora(2)`, and "
        "their trainable parameters. Our EinsumDense LoRA flattens the kernel's input and "
        "output axes (A: in×r, B: r×out, as for Dense, so fold is one matmul); Keras keeps "
        "the head axes in A, so counts may differ where the kernel has head axes.", "",
        "| backbone | layers | adapted (ours) | adapted (enable_lora) | trainable (ours) "
        "| trainable (enable_lora) | same layers |",
        "|---|---:|---:|---:|---:|---:|---|", *sweep, "",
        table(timing, machine(), today), "", ""])
    results = HERE / "RESULTS.md"
    text = results.read_text()
    pattern = re.compile(rf"^## {re.escape(TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    text, n = pattern.subn(lambda _m: block, text)
    results.write_text(text if n else text.rstrip() + "\n\n" + block)
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
