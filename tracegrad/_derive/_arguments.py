"""How a derivation's compiled functions take their arrays: the shared helpers of
``Derivation`` and ``Jacobian`` (a leaf module: neither imports the other for them)."""

from __future__ import annotations

import contextlib

import jax
import numpy as np

from ._errors import DeriveShapeError


def internal_shape(name: str, array) -> tuple[int, int]:
    """The 2-D shape an argument is computed at: a scalar ``1 x 1``, a vector a column."""
    shape = tuple(np.shape(array))
    if len(shape) == 0:
        return (1, 1)
    if len(shape) == 1:
        return (shape[0], 1)
    if len(shape) == 2:
        return shape
    raise DeriveShapeError(
        f"{name} has {len(shape)} dimensions (shape {shape}); pass matrices (2-D), vectors "
        f"(1-D) or scalars (0-d)"
    )


def no_trace() -> bool:
    """Whether no jax trace is active (a call from plain Python, not inside a caller's jit)."""
    from jax._src import core

    return bool(core.trace_state_clean())


def eager():
    """A context that evaluates now what would otherwise be staged into a caller's trace
    (``jax.ensure_compile_time_eval``; nothing to do outside a trace)."""
    return contextlib.nullcontext() if no_trace() else jax.ensure_compile_time_eval()
