"""Addresses: where a layer sits in a model, as child positions instead of names.

A path (``"decoder_block_0/attention/query"``) names each step; names that Keras numbers
automatically (``"dense_3"``, ``"moonshine_multi_head_attention_1"``) differ between two
builds of the same model. An address is the list of child positions along the path
(`risk_widgets.core.walk.children` order), the same for every build of one architecture;
a saved patch records it so that it finds its layer in a model rebuilt from its config.

Example:
    >>> import keras
    >>> from risk_widgets.core.addresses import address_of, path_at
    >>> def build():
    ...     x = keras.Input((6, 8))
    ...     return keras.Model(x, keras.layers.MultiHeadAttention(2, 4)(x, x))
    >>> first, second = build(), build()
    >>> address = address_of(first, first.layers[1].name + "/key")
    >>> address, path_at(second, address) == second.layers[1].name + "/key"
    ([0, 1], True)
"""

from __future__ import annotations

from typing import Any

from risk_widgets.core.walk import container_chain, named_children, resolve_root

__all__ = ["address_of", "path_at"]


def address_of(model: Any, path: str) -> list[int]:
    """The child positions from ``model`` down to the layer at ``path``.

    Raises:
        ValueError: no layer at ``path`` (see `risk_widgets.core.walk.container_chain`).
    """
    address = []
    for container, child in container_chain(model, path):
        named = named_children(container)
        address.append(next(i for i, (_, c) in enumerate(named) if c is child))
    return address


def path_at(model: Any, address: list[int]) -> str:
    """The path of the layer at ``address`` in ``model``.

    Raises:
        ValueError: ``model`` has no child at some position of ``address`` (a model of
            another architecture).
    """
    container, names = resolve_root(model), []
    for index in address:
        named = named_children(container)
        if not 0 <= index < len(named):
            where = "/".join(names) or repr(getattr(model, "name", "the model"))
            raise ValueError(
                f"{where} has {len(named)} children, no child #{index}: the model is not "
                "built like the one the address was taken from."
            )
        name, container = named[index]
        names.append(name)
    return "/".join(names)
