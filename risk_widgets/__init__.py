"""risk_widgets: see and change any Keras 3 model from Jupyter.

Heavy parts (Keras, TensorFlow) are imported lazily on first use, so that
``%load_ext risk_widgets`` is instant; TensorFlow's start-up lines stay out of the
notebook when it is first imported after this package (``risk_widgets.quiet_start``).

Example:
    >>> import risk_widgets as rw
    >>> rw.__version__
    '0.1.0'
"""

from __future__ import annotations

import importlib
from typing import Any

from risk_widgets import quiet_start

quiet_start.install()

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "CompositeLayer": "risk_widgets.core.composite",
    "to_graph": "risk_widgets.graph.build",
    "Graph": "risk_widgets.graph.build",
    "find_layers": "risk_widgets.core.targets",
    "TargetWarning": "risk_widgets.core.targets",
    "diff": "risk_widgets.editor.patch_diff",
    "rewire": "risk_widgets.engine.rewiring",
    "PatchedModel": "risk_widgets.engine.models",
    "unpatch": "risk_widgets.engine.operations",
    "fold": "risk_widgets.engine.operations",
    "trainable_report": "risk_widgets.engine.operations",
    "patch_layers": "risk_widgets.engine.operations",
    "param_report": "risk_widgets.engine.param_report",
    "adapter_names": "risk_widgets.engine.operations",
    "active_adapters": "risk_widgets.engine.operations",
    "set_active": "risk_widgets.engine.operations",
    "disable_adapters": "risk_widgets.engine.operations",
    "save_adapters": "risk_widgets.engine.adapter_files",
    "load_adapters": "risk_widgets.engine.adapter_files",
    "add_lora": "risk_widgets.adapters.lora",
    "add_dora": "risk_widgets.adapters.dora",
    "add_svf": "risk_widgets.adapters.svf",
    "add_adapter": "risk_widgets.adapters.kinds",
    "register_adapter": "risk_widgets.adapters.kinds",
    "unregister_adapter": "risk_widgets.adapters.kinds",
    "adapter_kinds": "risk_widgets.adapters.kinds",
    "train_fully": "risk_widgets.adapters.full",
    "ParamSpec": "risk_widgets.core.params",
    "GraphEditor": "risk_widgets.ui.widget",
    "load_model": "risk_widgets.engine.registry",
}
# public names that differ from the defining module's: name -> (module, attribute)
_ALIASES: dict[str, tuple[str, str]] = {
    "Adapter": ("risk_widgets.adapters.adapter_layer", "AdapterLayer"),
}
_NEEDS_ADAPTERS = {"add_adapter", "register_adapter", "unregister_adapter", "adapter_kinds",
                   "train_fully"}
# public submodules, imported on first attribute access
_SUBMODULES = {"demo", "risk"}

__all__ = sorted([*_LAZY, *_ALIASES, *_SUBMODULES, "load_ipython_extension",
                  "unload_ipython_extension"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"risk_widgets.{name}")
    elif name in _ALIASES:
        module, attr = _ALIASES[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _LAZY:
        if name in _NEEDS_ADAPTERS:  # the kinds are registered by the package's __init__
            importlib.import_module("risk_widgets.adapters")
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'risk_widgets' has no attribute {name!r}")
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%risk_edit`` (``%load_ext risk_widgets``); imports no TensorFlow."""
    from risk_widgets.ui.magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove ``%risk_edit`` (``%unload_ext risk_widgets``)."""
    from risk_widgets.ui.magics import unregister

    unregister(ipython)
