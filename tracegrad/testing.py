"""Pytest helpers: put your own registered derivations in your own test suite.

Register a derivation in your package (``tracegrad.register`` on the gradient), then in a test
module::

    import mypkg.gradients                    # registers "mine.*" on import
    from tracegrad.testing import identity_tests

    test_my_gradients = identity_tests(mypkg.gradients)   # one test per identity x dtype x seed

or, for a hand-written test body::

    import tracegrad.testing as tgt

    @tgt.parametrize_identities("mine.*")
    def test_mine(identity):
        tgt.check_identity(identity, dtype="float32", seed=3)

A failing identity fails with the checker's report (which references disagree, by how much,
and the diagnosis: "transposed", "scaled by a constant: candidate = 2 x gradient", ...).

pytest is imported only when a helper that needs it is called; ``check_identity`` and
``select_identities`` work without it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._check.references import evaluate
from ._check.report import GradReport
from ._check.tolerances import tolerances
from ._registry.identity import Identity
from ._registry.registry import identity as _lookup
from ._registry.registry import registry

__all__ = ["check_identity", "identity_tests", "parametrize_identities", "select_identities"]

Select = None | str | types.ModuleType | Callable[[Identity], bool] | Iterable[str | Identity]


def _pytest():
    try:
        import pytest
    except ImportError:  # pragma: no cover - exercised by monkeypatching sys.modules
        raise ImportError(
            "tracegrad.testing's pytest helpers need pytest: pip install pytest "
            "(or tracegrad[test])"
        ) from None
    return pytest


def _module_name(module: types.ModuleType | str) -> str:
    return module.__name__ if isinstance(module, types.ModuleType) else module


def _in_module(identity: Identity, module: str) -> bool:
    return identity.module == module or identity.module.startswith(module + ".")


def select_identities(select: Select = None) -> list[Identity]:
    """The registered identities chosen by ``select``, sorted by name.

    Args:
        select: ``None``: every registered identity.  A module (or ``module=``-style dotted
            name that is not an identity name): the identities that module (or package)
            registered.  A string: an identity name, or a glob over names (``"traa.*"``).
            A callable: a predicate on ``Identity``.  An iterable: names or ``Identity``
            objects.

    Raises:
        KeyError: a listed name is not registered (with close-name suggestions).
        ValueError: the selection is empty (so a suite cannot silently test nothing).
    """
    everything = registry()
    if select is None:
        chosen = list(everything.values())
    elif isinstance(select, types.ModuleType):
        chosen = [i for i in everything.values() if _in_module(i, select.__name__)]
    elif isinstance(select, str):
        if select in everything:
            chosen = [everything[select]]
        elif any(ch in select for ch in "*?["):
            chosen = [i for n, i in everything.items() if fnmatch.fnmatchcase(n, select)]
        else:
            chosen = [i for i in everything.values() if _in_module(i, select)]
    elif isinstance(select, Identity):
        chosen = [select]
    elif callable(select):
        chosen = [i for i in everything.values() if select(i)]
    elif isinstance(select, Iterable):
        chosen = [s if isinstance(s, Identity) else _lookup(s) for s in select]
    else:
        raise TypeError(
            f"select must be None, a module, a name or glob, a predicate or an iterable of "
            f"names, got {type(select).__name__}"
        )
    if not chosen:
        raise ValueError(
            f"select={select!r} matches no registered identity; import the module that "
            f"registers them before this test module is collected"
        )
    return sorted(chosen, key=lambda i: i.name)


def parametrize_identities(select: Select = None, *, argname: str = "identity"):
    """``pytest.mark.parametrize(argname, identities, ids=names)`` over ``select``.

    The selection is resolved when the decorator runs (at collection), so the identities must
    be registered by then: import the registering module at the top of the test module.
    """
    pytest = _pytest()
    chosen = select_identities(select)
    return pytest.mark.parametrize(argname, chosen, ids=[i.name for i in chosen])


def _resolve(identity: Identity | str) -> Identity:
    return identity if isinstance(identity, Identity) else _lookup(identity)


@functools.cache
def _bridged_gradient(identity: Identity) -> Callable:
    """``jax.grad`` through ``identity.as_function()``, one compiled program per identity
    (and shapes): eager, each of its operations would compile a small program of its own."""
    return jax.jit(jax.grad(identity.as_function(), argnums=identity.wrt))


def check_identity(
    identity: Identity | str,
    dtype: Any = jnp.float64,
    seed: int = 0,
    *,
    n: int | None = None,
    bridge: bool = True,
    **check_kwargs,
) -> GradReport:
    """Assert that a registered closed form is right; raise ``AssertionError`` with the report.

    Three things are checked on the identity's own sampled arguments:

    1. ``Identity.check`` (``tracegrad.check_grad``: reverse mode, forward mode and float64
       finite differences, at the dtype's default tolerances unless ``rtol``/``atol`` given);
    2. with ``bridge=True``, that ``jax.grad`` through ``identity.as_function()`` returns the
       closed form (same shape, dtype and values) -- the bridge accepts it;
    3. when the identity declares an ``optimum``, that the closed form vanishes there, to
       ``rtol`` times the gradient's size at the sampled point.

    float64 runs inside ``jax.enable_x64(True)``, so the caller needs no global x64 setting.

    Args:
        identity: an ``Identity`` or a registered name.
        dtype: ``float64`` or ``float32`` (or their names).
        seed: sampler seed.
        n: sampler size (``None``: small test shapes).
        bridge: also check the bridge.
        **check_kwargs: passed to ``check_grad`` (``rtol``, ``atol``, ``n_directions``).

    Returns:
        The ``GradReport`` of step 1.
    """
    identity = _resolve(identity)
    dtype = jnp.dtype(dtype)
    x64 = jax.enable_x64(True) if dtype == jnp.float64 else contextlib.nullcontext()
    with x64:
        report = identity.check(seed, dtype, n, **check_kwargs)
        where = f"identity {identity.name!r} ({identity.source}) in {dtype.name}, seed {seed}"
        if not report.ok:
            raise AssertionError(f"{where}: the closed form disagrees with autodiff\n{report}")
        rtol, atol = tolerances(dtype, check_kwargs.get("rtol"), check_kwargs.get("atol"))
        args = identity.arguments(seed, dtype, n)
        # the closed form as the check compiled it (the same program, nothing new compiles)
        closed = np.asarray(evaluate(identity.gradient, *args))
        if bridge:
            bridged = _bridged_gradient(identity)(*args)
            if bridged.shape != closed.shape or bridged.dtype != dtype:
                raise AssertionError(
                    f"{where}: jax.grad through as_function() gave {bridged.dtype} "
                    f"{bridged.shape}, expected {dtype.name} {closed.shape}"
                )
            err = float(np.max(np.abs(np.asarray(bridged) - closed))) if closed.size else 0.0
            if not err <= atol + rtol * float(np.max(np.abs(closed), initial=0.0)):
                raise AssertionError(
                    f"{where}: jax.grad through as_function() differs from the closed form "
                    f"by {err:.3e}"
                )
        if identity.optimum is not None:
            at_optimum = tuple(evaluate(identity.optimum, *args))
            residual = np.asarray(evaluate(identity.gradient, *at_optimum), np.float64)
            size = float(np.max(np.abs(closed), initial=0.0))
            worst = float(np.max(np.abs(residual), initial=0.0))
            if not worst <= atol + rtol * size:
                raise AssertionError(
                    f"{where}: the closed form should vanish at the declared optimum, but its "
                    f"largest entry there is {worst:.3e} (tolerance {atol + rtol * size:.3e})"
                )
    return report


def identity_tests(
    select: Select = None,
    *,
    dtypes: Sequence[Any] = ("float64", "float32"),
    seeds: Sequence[int] = (0, 1),
    n: int | None = None,
    **check_kwargs,
) -> Callable:
    """A ready-made pytest test over ``select`` x ``dtypes`` x ``seeds``.

    Assign it to a ``test_*`` name in a test module::

        test_my_gradients = tracegrad.testing.identity_tests(mypkg.gradients)

    Each case runs ``check_identity`` and fails with the checker's report.
    """
    pytest = _pytest()
    chosen = select_identities(select)
    dtype_names = [jnp.dtype(d).name for d in dtypes]

    @pytest.mark.parametrize("seed", list(seeds), ids=[f"seed{s}" for s in seeds])
    @pytest.mark.parametrize("dtype", dtype_names)
    @pytest.mark.parametrize("identity", chosen, ids=[i.name for i in chosen])
    def test_identity(identity, dtype, seed):
        check_identity(identity, dtype, seed, n=n, **check_kwargs)

    return test_identity
