"""Adapters: `add_lora`, `add_svf` and their layers; `PatchLayer` is the patch-layer base.

Example:
    >>> from risk_widgets.adapters import supported_types
    >>> supported_types()
    ['EinsumDense', 'Dense']
"""

from risk_widgets.adapters.base import AdapterLayer, PatchLayer, supported_types
from risk_widgets.adapters.lora import LoRAAdapter, add_lora
from risk_widgets.adapters.svf import SVFAdapter, add_svf

__all__ = [
    "AdapterLayer",
    "LoRAAdapter",
    "PatchLayer",
    "SVFAdapter",
    "add_lora",
    "add_svf",
    "supported_types",
]
