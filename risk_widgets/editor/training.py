"""Training defaults shared by the editor, the notebooks, the tests and the benchmarks.

Example:
    >>> from risk_widgets.editor.training import n_rows
    >>> import numpy as np
    >>> n_rows(np.zeros((5, 2)))
    5
"""

from __future__ import annotations

from typing import Any

__all__ = ["decaying_adam", "n_rows"]


def decaying_adam(learning_rate: float, total_steps: int) -> Any:
    """Adam whose learning rate decays (cosine) from ``learning_rate`` to 1% of it.

    Why: with a constant rate the last iterate keeps wandering, and risk estimates read that
    noise as uncertainty; decayed training is what the risk numbers in bench/RESULTS.md
    (10 seeds) were measured with.

    Example:
        >>> from risk_widgets.editor.training import decaying_adam
        >>> round(float(decaying_adam(1e-2, 100).learning_rate), 4)
        0.01
    """
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, max(int(total_steps), 1), alpha=0.01
    )
    return keras.optimizers.Adam(schedule)


def n_rows(x: Any) -> int:
    """The number of rows (examples) of ``x``: an array or a nest of arrays."""
    from keras import tree

    return int(tree.flatten(x)[0].shape[0])
