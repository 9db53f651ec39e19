"""The scope `GraphEditor.fit` trains in: a tf.distribute strategy, a Keras distribution, or
none, with the check that the model's variables were made under it (and the way out).
"""

from __future__ import annotations

from typing import Any


def distributed_scope(model: Any, strategy: Any, distribution: Any) -> Any:
    """The scope ``GraphEditor.fit`` trains in; checks that ``model`` was made under it."""
    import contextlib

    if strategy is not None and distribution is not None:
        raise ValueError("Pass `strategy` (tf.distribute) or `distribution` (Keras), not both.")
    if strategy is None and distribution is None:
        return contextlib.nullcontext()
    import keras

    how = (
        "Create the patch inside the scope: `with {s}.scope(): editor.apply(...)` (or open "
        "the editor on a model built or loaded inside it, e.g. "
        "`keras.saving.load_model('patched.keras')`), then call fit again."
    )
    if strategy is not None:
        if keras.backend.backend() != "tensorflow" or not hasattr(strategy, "extended"):
            raise ValueError(
                "`strategy` must be a tf.distribute.Strategy, used with the TensorFlow "
                f"backend (the backend is {keras.backend.backend()!r}). Received: {strategy!r}"
            )
        outside = [v.path for v in model.trainable_variables
                   if not strategy.extended.variable_created_in_scope(v.value)]
        if outside:
            raise ValueError(
                f"Cannot train {model.name!r} under {type(strategy).__name__}: its trainable "
                f"variables were created outside `strategy.scope()` ({_few(outside)}), and "
                "tf.distribute can only update variables created in its scope. "
                + how.format(s="strategy")
            )
        return strategy.scope()
    if keras.backend.backend() != "jax":
        raise ValueError(
            "`distribution` (keras.distribution) distributes only on the JAX backend; on "
            f"{keras.backend.backend()!r} Keras would train on one device. Use "
            "`strategy=tf.distribute.MirroredStrategy()` with TensorFlow, or KERAS_BACKEND=jax."
        )
    devices = len(distribution.device_mesh.devices.flatten())
    outside = [v.path for v in model.variables
               if len(getattr(v.value, "devices", lambda: ())()) != devices]
    if outside:
        raise ValueError(
            f"Cannot train {model.name!r} under {type(distribution).__name__}: some "
            f"variables were not created under it ({_few(outside)}), and JAX cannot mix "
            "them with the distributed ones. " + how.format(s="distribution")
        )
    return distribution.scope()


def _few(items: list[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
