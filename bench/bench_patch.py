"""add_lora on the demo transformer, against a full keras.models.clone_model copy.

Also reports the bytes of new weights a patch allocates against the bytes of the base:
base weights are shared, not copied.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from timing import best_time, report  # noqa: E402


def _bytes(variables) -> int:
    return sum(int(v.numpy().nbytes) for v in variables)


def main() -> list[dict]:
    import risk_widgets as rw
    from risk_widgets import demo

    model = demo.transformer(dim=64, n_blocks=4)
    targets = ["*/attn/query", "*/attn/value"]
    ours = best_time(lambda: rw.add_lora(model, targets=targets, rank=8), repeat=3)
    base = best_time(lambda: keras.models.clone_model(model), repeat=3)
    results = [report("add_lora, 4-block transformer", ours, base, "clone_model")]

    patched = rw.add_lora(model, targets=targets, rank=8)
    base_ids = {id(v) for v in model.weights}
    new = [v for v in patched.weights if id(v) not in base_ids]
    ratio = _bytes(new) / _bytes(model.weights)
    print(f"{'new weight bytes / base weight bytes':<44} {ratio:.4f}"
          f" ({_bytes(new):,} / {_bytes(model.weights):,})")
    results.append({"name": "new bytes / base bytes", "ratio": ratio})
    return results


if __name__ == "__main__":
    main()
