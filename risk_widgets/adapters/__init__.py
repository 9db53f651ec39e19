"""Adapters: `add_lora`, `add_dora`, `add_svf` and their layers; `PatchLayer`, the base.

Importing this package registers ``"lora"``, ``"dora"`` and ``"svf"`` as patchable kinds with the
patch-kind registry (`risk_widgets.engine.registry.register_patchable`), for the layer types
of the adapters' dispatch list (not through a risk model, whose body `add_lora` / `add_svf`
do not reach).

Example:
    >>> from risk_widgets.adapters import supported_types
    >>> supported_types()[:3], "Conv2D" in supported_types()
    (['EinsumDense', 'Dense', 'Embedding'], True)
"""

from risk_widgets.adapters.base import (
    KERNEL_DISPATCH,
    AdapterLayer,
    PatchLayer,
    can_adapt,
    supported_types,
)
from risk_widgets.adapters.dora import DoRAAdapter, add_dora, can_dora
from risk_widgets.adapters.lora import LoRAAdapter, add_lora
from risk_widgets.adapters.svf import SVFAdapter, add_svf

__all__ = [
    "AdapterLayer",
    "DoRAAdapter",
    "KERNEL_DISPATCH",
    "LoRAAdapter",
    "PatchLayer",
    "SVFAdapter",
    "add_dora",
    "add_lora",
    "add_svf",
    "can_adapt",
    "supported_types",
]


def _register_with_graph() -> None:
    from risk_widgets.engine.registry import register_patchable

    # adapters patch a graph model itself (`rewire`), not the body inside a risk model
    register_patchable("lora", lambda layer: can_adapt(layer, quantized=True),
                       through_wrappers=False)
    register_patchable("svf", can_adapt, through_wrappers=False)
    register_patchable("dora", can_dora, through_wrappers=False)


_register_with_graph()
