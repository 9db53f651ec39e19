"""Adapters: `add_lora`, `add_dora`, `add_svf` and their layers; `AdapterLayer` (``rw.Adapter``),
the base of every adapter kind; `register_adapter` / `add_adapter` for your own kinds.

Importing this package registers ``"lora"``, ``"dora"`` and ``"svf"`` through the public
`register_adapter` (which registers them as patchable kinds with
`risk_widgets.engine.registry`, for the layer types of the adapters' dispatch list, not
through a risk model, whose body `add_lora` / `add_svf` do not reach), and ``"full"``: a
layer with weights that trains whole (`train_fully`, ``add_lora(..., train=...)``).

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
from risk_widgets.adapters.full import (
    FULL_KIND,
    can_train_fully,
    classifier_head,
    full_patch_info,
    train_fully,
)
from risk_widgets.adapters.kinds import (
    adapter_kinds,
    add_adapter,
    register_adapter,
    unregister_adapter,
)
from risk_widgets.adapters.lora import LoRAAdapter, add_lora
from risk_widgets.adapters.svf import SVFAdapter, add_svf
from risk_widgets.core.params import PARAMS
from risk_widgets.engine.registry import register_patch_inspector, register_patchable

#: the parameters of LoRA and DoRA (the toolbar's fields, in order)
LORA_PARAMS = ("rank", "alpha", "dropout", "use_rslora", "init")

__all__ = [
    "AdapterLayer",
    "DoRAAdapter",
    "KERNEL_DISPATCH",
    "LoRAAdapter",
    "PatchLayer",
    "SVFAdapter",
    "add_adapter",
    "add_dora",
    "add_lora",
    "add_svf",
    "adapter_kinds",
    "can_adapt",
    "classifier_head",
    "register_adapter",
    "supported_types",
    "train_fully",
    "unregister_adapter",
]


def _register_builtin_kinds() -> None:
    """LoRA, DoRA and SVF through the public `register_adapter`, as any user kind."""
    # adapters patch a graph model itself (`rewire`), not the body inside a risk model
    register_adapter(
        "lora", LoRAAdapter, params=[PARAMS[n] for n in LORA_PARAMS],
        applies_to=lambda layer: can_adapt(layer, quantized=True), label="LoRA",
        help="Low-rank adapter: y = xW + (alpha/rank)·xAB; only A and B train. With nothing"
        " selected: the layers KerasHub's enable_lora adapts (default_lora_layer_names()),"
        " else every Dense/EinsumDense.",
        add=add_lora, code="rw.add_lora(model, targets={targets}, {params})", targets="model",
    )
    register_adapter(
        "dora", DoRAAdapter, params=[PARAMS[n] for n in LORA_PARAMS], applies_to=can_dora,
        label="DoRA",
        help="Weight-decomposed LoRA: W' = m·(W + s·AB)/‖W + s·AB‖; A, B and the magnitude m"
        " train.",
        add=add_dora, code="rw.add_dora(model, targets={targets}, {params})", targets="model",
    )
    register_adapter(
        "svf", SVFAdapter, applies_to=can_adapt, label="SVF",
        help="Singular-value fine-tuning: W = U diag(s·z) Vᵀ; only z trains.",
        add=add_svf, code="rw.add_svf(model, targets={targets}, {params})",
    )
    # whole layers that train beside the adapters (`adapters/full.py`; the editor's "full")
    register_patchable(FULL_KIND, can_train_fully, through_wrappers=False)
    register_patch_inspector(full_patch_info)


_register_builtin_kinds()
