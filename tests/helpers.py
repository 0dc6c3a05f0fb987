"""Shared case tables and comparison helpers for the tests (one place, read by many files).

The identity lists are read from the registry (each identity is declared once, in the module
of its source document), grouped by document (cited by title; each identity cites its
equation).
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

import tracegrad as tg


def _shipped(module: str) -> tuple[str, ...]:
    """The identities a built-in module registers, in registration (equation) order."""
    return tuple(
        n for n, i in tg.registry().items() if i.module == f"tracegrad.identities.{module}"
    )


TRACE_NOTES = _shipped("trace_notes")
"""J. Traa, "Matrix Calculus - Notes on the Derivative of a Trace": named by equation number."""

KALMAN_DERIVATION = _shipped("kalman")
"""Kalman gain derivation: the trace derivatives leading to the Kalman Gain Equation."""

MATRIX_CALCULUS = _shipped("matrix_calculus")
"""P. Hu, "Matrix Calculus: Derivation and Simple Application": determinant, inverse,
spectral norm, Gaussian MLE, least squares."""

SHIPPED_IDENTITIES = TRACE_NOTES + KALMAN_DERIVATION + MATRIX_CALCULUS
"""Every identity tracegrad ships, in source-document order (read from the registry: each
identity is declared once, in its module)."""

DTYPES = (jnp.float32, jnp.float64)
"""The floating dtypes every numerical path is tested in (x64 is on for the session)."""


def normwise_error(actual, expected) -> tuple[float, float]:
    """``(max|actual - expected|, max|expected|)`` in float64, after a shape check."""
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert a.shape == e.shape, f"shape {a.shape} != expected {e.shape}"
    err = float(np.max(np.abs(a - e))) if a.size else 0.0
    return err, float(np.max(np.abs(e))) if e.size else 0.0


def assert_normwise_close(actual, expected, dtype, what: str = "") -> None:
    """``max|actual - expected| <= atol + rtol * max|expected|`` with ``tracegrad.tolerances``
    of ``dtype``: the checker's own criterion, so tests and library agree on "close"."""
    rtol, atol = tg.tolerances(dtype)
    err, scale = normwise_error(actual, expected)
    bound = atol + rtol * scale
    assert err <= bound, f"{what}: max abs err {err:.3e} > {bound:.3e} ({jnp.dtype(dtype)})"


# ------------------------------------------------------------------- compile counting

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
"""``jax.monitoring``'s event for every XLA compilation (a persistent-cache hit emits none)."""

_COMPILE_LOGS: list[list[str]] = []


def _compile_listener(event: str, duration_secs: float, **kwargs) -> None:
    if event == COMPILE_EVENT:
        for log in _COMPILE_LOGS:
            log.append(str(kwargs.get("fun_name", "?")))


jax.monitoring.register_event_duration_secs_listener(_compile_listener)


@contextlib.contextmanager
def compiled_programs():
    """``with compiled_programs() as log: ...``: ``log`` is then the names of the XLA
    programs compiled inside the block (``len(log)`` counts them), whatever compiled them."""
    log: list[str] = []
    _COMPILE_LOGS.append(log)
    try:
        yield log
    finally:
        _COMPILE_LOGS.remove(log)
