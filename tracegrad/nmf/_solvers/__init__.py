"""NMF solvers: one module per solver, one table (``SOLVERS``) of names read everywhere.

Adding a solver: a concrete subclass of ``AbstractSolver`` in a module of its own (usually
``AbstractStepSolver`` for its ``step`` plus one stop-rule base, ``AbstractDecreaseRule`` or
``AbstractViolationRule``), plus its line in ``SOLVERS`` below (``docs/nmf-extending.md``).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import numpy as np

from ._admm import ADMM as ADMM
from ._ahals import AcceleratedHALS as AcceleratedHALS
from ._amu import AcceleratedMU as AcceleratedMU
from ._apg import ExtrapolatedAPG as ExtrapolatedAPG
from ._auto import AUTO as AUTO
from ._auto import AUTO_RULES as AUTO_RULES
from ._auto import AutoRule as AutoRule
from ._auto import auto_solver as auto_solver
from ._base import AbstractDecreaseRule as AbstractDecreaseRule
from ._base import AbstractSolver as AbstractSolver
from ._base import AbstractStepSolver as AbstractStepSolver
from ._base import AbstractViolationRule as AbstractViolationRule
from ._ehals import ExtrapolatedHALS as ExtrapolatedHALS
from ._emu import ExtrapolatedMU as ExtrapolatedMU
from ._hals import HALS as HALS
from ._mu import MultiplicativeUpdate as MultiplicativeUpdate

SOLVERS: dict[str, AbstractSolver] = {
    "mu": MultiplicativeUpdate(),
    "hals": HALS(),
    "amu": AcceleratedMU(),
    "ahals": AcceleratedHALS(),
    "apg": ExtrapolatedAPG(),
    "ehals": ExtrapolatedHALS(),
    "admm": ADMM(),
    "emu": ExtrapolatedMU(),
}
"""Accepted ``solver`` names and the solver object each means."""


def resolve_solver(solver, name: str = "solver", *, auto: bool = False) -> AbstractSolver:
    """The solver object for a name of ``SOLVERS`` or a solver object.

    Raises:
        ValueError: an unknown name (the message lists the table, and ``"auto"`` where the
            caller resolves it: ``auto=True``).
    """
    if isinstance(solver, AbstractSolver):
        return solver
    if isinstance(solver, str) and solver in SOLVERS:
        return SOLVERS[solver]
    names = ", ".join(map(repr, (AUTO, *SOLVERS) if auto else SOLVERS))
    raise ValueError(f"{name} must be one of {names}, got {solver!r}")


def check_solver(solver: AbstractSolver, loss, masked: bool) -> None:
    """Raise ValueError if ``solver`` cannot minimise ``loss`` (with a mask), naming the
    solvers of ``SOLVERS`` that can."""
    others = " or ".join(repr(n) for n, s in SOLVERS.items() if not s.frobenius_only)
    solver.check(loss, masked, others)


def _is_setting(x) -> bool:
    """A float setting of a solver (``"admm"``'s ``rho``): a Python float or a floating
    array.  Integer settings (``"apg"``'s ``inner``) stay static: they shape the loops."""
    if isinstance(x, float):
        return True
    dtype = getattr(x, "dtype", None)
    return dtype is not None and np.issubdtype(dtype, np.floating)


def split_settings(solver: AbstractSolver, dtype) -> tuple[AbstractSolver, Any]:
    """``(static, settings)``: the solver with its float settings taken out (None in their
    place), and those settings as arrays of ``dtype``.  The static part selects the compiled
    program; the settings are values of it, so a new ``rho`` compiles nothing.
    ``merge_settings`` puts them back inside the program."""
    settings = eqx.filter(solver, _is_setting)
    static = eqx.filter(solver, _is_setting, inverse=True)
    return static, jax.tree.map(lambda x: np.asarray(x, dtype), settings)


def merge_settings(static: AbstractSolver, settings) -> AbstractSolver:
    """The solver of ``split_settings``'s two halves (the settings may be traced)."""
    return eqx.combine(settings, static)
