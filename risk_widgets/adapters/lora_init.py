"""LoRA variants' arithmetic: the scale (plain or rsLoRA) and the ``init`` of ``A``, ``B``.

- ``"he_uniform"`` (default): ``A`` He-uniform, ``B = 0``.
- ``"gaussian"`` (PEFT's ``init_lora_weights="gaussian"``): ``A ~ N(0, std = 1/rank)``,
  ``B = 0``.
- ``"pissa"`` (PiSSA-style, without touching the shared base): ``A``, ``B`` start on the
  principal directions, ``scale · A B = U_r S_r V_rᵀ`` (the rank-``r`` SVD approximation of
  the kernel); frozen copies ``A0``, ``B0`` are subtracted (``delta = scale · x (AB - A0B0)``),
  so a fresh adapter changes nothing and the base kernel is neither copied nor changed.

Example:
    >>> import numpy as np
    >>> from risk_widgets.adapters.lora_init import lora_scale, pissa_factors
    >>> lora_scale(4, 8.0, False), lora_scale(4, 8.0, True)
    (2.0, 4.0)
    >>> w = np.diag([3.0, 2.0, 1.0])
    >>> a, b = pissa_factors(w, 2, 1.0)
    >>> np.round(a @ b, 6).tolist()
    [[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["INITS", "lora_scale", "pissa_factors"]

#: the values of ``init=`` (also `risk_widgets.core.params.PARAMS["init"].choices`)
INITS = ("he_uniform", "gaussian", "pissa")


def lora_scale(rank: int, alpha: float | None, use_rslora: bool) -> float:
    """``alpha / rank``, or ``alpha / sqrt(rank)`` with rsLoRA; ``alpha=None`` means rank."""
    alpha = rank if alpha is None else alpha
    return alpha / (math.sqrt(rank) if use_rslora else rank)


def pissa_factors(matrix: np.ndarray, rank: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``A (in, r)``, ``B (r, out)`` (float32) with ``scale · A B`` the rank-``r`` SVD
    approximation of ``matrix``: ``A = U_r √S_r / √scale``, ``B = √S_r V_rᵀ / √scale``.

    A ``rank`` above ``min(matrix.shape)`` pads with zero columns / rows.
    """
    if scale <= 0:
        raise ValueError(
            f"init='pissa' needs a positive scale (alpha > 0); received scale={scale}. "
            "Pass alpha > 0 (or alpha=None)."
        )
    u, s, vt = np.linalg.svd(np.asarray(matrix, dtype="float64"), full_matrices=False)
    k = min(rank, s.shape[0])
    root = np.sqrt(s[:k] / scale)
    a = np.zeros((matrix.shape[0], rank))
    b = np.zeros((rank, matrix.shape[1]))
    a[:, :k] = u[:, :k] * root
    b[:k] = root[:, None] * vt[:k]
    return a.astype("float32"), b.astype("float32")
