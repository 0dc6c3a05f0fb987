"""Shared case tables and comparison helpers for the tests (one place, read by many files).

Every table here is read by some test (tests/test_test_hygiene.py checks it), and a test reads
a table from here or from the library's own registries (``tg.registry()``, ``tg.nmf.SOLVERS``,
``tg.nmf.LOSSES``) rather than keeping its own copy of the names.  The identity list is read
from the registry (each identity is declared once, in the module of its source document).
"""

from __future__ import annotations

import contextlib
import functools
import pkgutil
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tracegrad as tg


def _shipped(module: str) -> tuple[str, ...]:
    """The identities a built-in module registers, in registration (equation) order."""
    return tuple(
        n for n, i in tg.registry().items() if i.module == f"tracegrad.identities.{module}"
    )


# Each built-in identity module transcribes one source document (each identity cites its
# equation there):
_DOCUMENTS = (
    "trace_notes",  # J. Traa, "Matrix Calculus - Notes on the Derivative of a Trace"
    "kalman",  # the Kalman gain derivation: trace derivatives to the Kalman Gain Equation
    "matrix_calculus",  # P. Hu, "Matrix Calculus: Derivation and Simple Application"
)

SHIPPED_IDENTITIES = tuple(name for module in _DOCUMENTS for name in _shipped(module))
"""Every identity tracegrad ships, in source-document order (read from the registry: each
identity is declared once, in its module)."""

DTYPES = (jnp.float32, jnp.float64)
"""The floating dtypes every numerical path is tested in (x64 is on for the session)."""


def dtype_id(dtype) -> str:
    """A dtype's name (``"float32"``), for ``pytest.mark.parametrize(..., ids=dtype_id)``."""
    return jnp.dtype(dtype).name


REGISTRY_LOSSES = ("frobenius", "kl")
"""The NMF losses whose MU split is a registry gradient (Frobenius: trace notes eq. 24, KL:
eq. 27) and which scikit-learn's MU shares: the pair most NMF tests run (every loss:
``tg.nmf.LOSSES``)."""

BASE_SOLVERS = ("mu", "hals")
"""The NMF solvers scikit-learn also has (its ``"mu"`` and ``"cd"``); the accelerated and
extrapolated ones build on them (every solver: ``tg.nmf.SOLVERS``)."""


# ------------------------------------------------------------------- the command line

_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def _console_script(name: str):
    scripts = tomllib.loads((_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return pkgutil.resolve_name(scripts[name])


def cli_main(argv=None) -> int:
    """The ``tracegrad`` command, called in this process: the function ``pyproject.toml``'s
    ``[project.scripts]`` publishes as the command, resolved as the installed script does
    (``argv`` as the command's arguments; returns its exit status)."""
    return _console_script("tracegrad")(argv)


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

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
"""``jax.monitoring``'s event for every XLA compilation (a persistent-cache hit emits none)."""

_COMPILE_LOGS: list[list[str]] = []


def _compile_listener(event: str, duration_secs: float, **kwargs) -> None:
    if event == _COMPILE_EVENT:
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
