"""The adapter API in one place, and `stack_adapters`: the stacking step of every adapter kind.

An adapter kind is one small module (`lora.py`, `dora.py`, `svf.py`): an `AdapterLayer`
subclass with its maths (`adapter_layer.py`), reading its base layer's kernel through a
`KernelView` (`kernel_views.py`), and an ``add_<kind>`` that calls `stack_adapters`;
`risk_widgets.adapters.kinds` registers kinds and applies them by name
(``rw.register_adapter``, ``rw.add_adapter``).

Example:
    >>> import keras
    >>> from risk_widgets.adapters.base import kernel_view
    >>> dense = keras.layers.Dense(3)
    >>> dense.build((None, 4))
    >>> view = kernel_view(dense, "head")
    >>> view.equation, view.matrix_shape
    ('...i,io->...o', (4, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from risk_widgets.adapters.adapter_layer import (
    DEFAULT_NAME,
    AdapterLayer,
    AdapterStack,
    adapter_info,
    assemble,
    base_of,
    can_adapt,
    check_adapter_name,
)
from risk_widgets.adapters.kernel_views import (
    KERNEL_DISPATCH,
    KernelView,
    kernel_view,
    quantization_mode,
    supported_types,
)
from risk_widgets.engine.patch_layer import PatchLayer, TrainableSubset

__all__ = [
    "AdapterLayer",
    "AdapterStack",
    "DEFAULT_NAME",
    "TrainableSubset",
    "KERNEL_DISPATCH",
    "KernelView",
    "PatchLayer",
    "adapter_info",
    "base_of",
    "can_adapt",
    "check_adapter_name",
    "kernel_view",
    "quantization_mode",
    "stack_adapters",
    "supported_types",
]


def stack_adapters(
    model: Any,
    targets: Any,
    make: Callable[[Any, str], AdapterLayer],
    kind: str,
    name: str | None = None,
    train: Any = None,
) -> Any:
    """Patches ``targets`` with ``make(base_layer, path)``; stacks on adapted layers.

    The shared step of every adapter kind (LoRA, SVF, yours through `rw.add_adapter`):
    ``make`` builds one adapter on a plain base layer. A target that already holds
    adapters keeps them and gets the new one too (an `AdapterStack`; the updates add
    up). The new adapters are named ``name``, or, when None, the first of ``"default"``,
    ``"<kind>_1"``, ``"<kind>_2"``, … that none of the targeted layers uses yet (so all
    adapters one call creates share a name). A name already used on a targeted layer is
    a ValueError naming the layer. ``train`` names layers that train whole beside the
    adapters, in the same rebuild (`risk_widgets.adapters.full`: None is a KerasHub
    classifier task's head on its first patch, ``[]`` nothing).

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> twice = rw.add_lora(rw.add_lora(model, "head", rank=1), "head", rank=2, name="b")
        >>> rw.adapter_names(twice)
        ['default', 'b']
    """
    from risk_widgets.adapters.full import train_paths, trained_copy
    from risk_widgets.core.targets import find_layers
    from risk_widgets.core.walk import get_layer_by_path
    from risk_widgets.engine.rewiring import rewire

    if name is not None:
        name = check_adapter_name(name)
    existing = {}
    paths: list[str] = []
    if isinstance(model, keras.Model) and model.built:
        try:
            paths = list(find_layers(model, targets))
        except (TypeError, ValueError):
            paths = []  # rewire raises the same error with its full message
        for path in paths:
            layer = get_layer_by_path(model, path)
            if isinstance(layer, (AdapterLayer, AdapterStack)):
                existing[path] = [a.adapter_name for a in layer.named_adapters()]
    if name is None:
        used = {n for names in existing.values() for n in names}
        name = DEFAULT_NAME
        k = 0
        while name in used:
            k += 1
            name = f"{kind}_{k}"

    whole = train_paths(model, train, paths) if paths else []

    def replace(layer, path):
        if path in whole:
            return trained_copy(layer, path)
        held = layer.named_adapters() if isinstance(layer, (AdapterLayer, AdapterStack)) else []
        if any(a.adapter_name == name for a in held):
            raise ValueError(
                f"Cannot add {kind} adapter {name!r} to {path!r}: that layer already has an "
                f"adapter named {name!r} (its adapters: "
                f"{', '.join(a.adapter_name for a in held)}). Pass another name=..., or remove "
                f"it first with rw.unpatch(model, names=[{name!r}])."
            )
        new = make(base_of(layer), path)
        new.adapter_name = name
        return assemble(base_of(layer), [*held, new])

    if whole:  # one rebuild: the adapters' targets and the layers that train whole
        targets = [*(targets if isinstance(targets, (list, tuple)) else [targets]), *whole]
    return rewire(model, targets, replace)
