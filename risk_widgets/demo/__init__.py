"""Built-in demo models and synthetic data, all made in code (nothing is downloaded).

Example:
    >>> from risk_widgets import demo
    >>> x, y = demo.cubic_data(n=64)
    >>> x.shape, y.shape
    ((64, 1), (64, 1))
    >>> model = demo.regression_mlp()
    >>> [layer.name for layer in model.layers[1:]]
    ['scale', 'hidden_1', 'hidden_2', 'head']
"""

from __future__ import annotations

from typing import Any

from risk_widgets.demo.data import (
    CUBIC_SCALE,
    cubic_data,
    cubic_ood,
    digits_data,
    plot_grid,
    sine_data,
    sine_noise_std,
    toy_sequences,
)
from risk_widgets.demo.models import digits_mlp, regression_mlp, transformer, transformer_block
from risk_widgets.demo.subclassed import subclassed_classes, subclassed_transformer

__all__ = [
    "CUBIC_SCALE", "cubic_data", "cubic_ood", "digits_data", "digits_mlp", "plot_grid",
    "regression_mlp", "sine_data", "sine_noise_std", "subclassed_transformer", "toy_sequences",
    "transformer", "transformer_block",
]


def __getattr__(name: str) -> Any:
    """``demo.TransformerEncoder`` / ``demo.TransformerBackbone`` (created on first use)."""
    if name in ("TransformerEncoder", "TransformerBackbone"):
        return subclassed_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
