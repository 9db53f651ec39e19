"""How risk models look in the graph view: the body's graph, and where each wrapper applies.

A `RiskModel` runs a Functional ``body``; paths, targets and the graph are the body's, so
a selection made before wrapping still names the same layers after it.
"""

from __future__ import annotations

from typing import Any

import keras

from risk_widgets.graph import register_patchable
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.sample import _dropout_site_classes
from risk_widgets.walk import register_graph_root


def risk_model_body(model: Any) -> Any:
    """The body of a RiskModel (the graph to show and patch), else None."""
    return model.body if isinstance(model, RiskModel) else None


def can_sample(layer: Any) -> bool:
    """MC dropout can follow Dense / EinsumDense / Conv layers."""
    return isinstance(layer, _dropout_site_classes())


def can_vote(layer: Any) -> bool:
    """Any layer or group with weights can be ensembled."""
    if not isinstance(layer, keras.layers.Layer) or isinstance(layer, keras.layers.InputLayer):
        return False  # ops such as `x + y` have no weights to copy
    return bool(layer.weights)


register_graph_root(risk_model_body)
register_patchable("sample", can_sample)
register_patchable("vote", can_vote)
