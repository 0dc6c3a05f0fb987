"""NMF solvers: one module per solver, one table (``SOLVERS``) of names read everywhere.

Adding a solver: a concrete subclass of ``AbstractSolver`` in a module of its own (usually
``AbstractStepSolver`` for its ``step`` plus one stop-rule base, ``AbstractDecreaseRule`` or
``AbstractViolationRule``), plus its line in ``SOLVERS`` below (``docs/nmf-extending.md``).
"""

from __future__ import annotations

from ._ahals import AcceleratedHALS as AcceleratedHALS
from ._amu import AcceleratedMU as AcceleratedMU
from ._apg import ExtrapolatedAPG as ExtrapolatedAPG
from ._base import AbstractDecreaseRule as AbstractDecreaseRule
from ._base import AbstractSolver as AbstractSolver
from ._base import AbstractStepSolver as AbstractStepSolver
from ._base import AbstractViolationRule as AbstractViolationRule
from ._ehals import ExtrapolatedHALS as ExtrapolatedHALS
from ._hals import HALS as HALS
from ._mu import MultiplicativeUpdate as MultiplicativeUpdate

SOLVERS: dict[str, AbstractSolver] = {
    "mu": MultiplicativeUpdate(),
    "hals": HALS(),
    "amu": AcceleratedMU(),
    "ahals": AcceleratedHALS(),
    "apg": ExtrapolatedAPG(),
    "ehals": ExtrapolatedHALS(),
}
"""Accepted ``solver`` names and the solver object each means."""


def resolve_solver(solver, name: str = "solver") -> AbstractSolver:
    """The solver object for a name of ``SOLVERS`` or a solver object.

    Raises:
        ValueError: an unknown name (the message lists the table).
    """
    if isinstance(solver, AbstractSolver):
        return solver
    if isinstance(solver, str) and solver in SOLVERS:
        return SOLVERS[solver]
    raise ValueError(f"{name} must be one of {', '.join(map(repr, SOLVERS))}, got {solver!r}")
