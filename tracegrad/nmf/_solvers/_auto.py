"""``solver="auto"``: the solver that reaches a good loss soonest, by loss, mask and layout.

The one table behind it is ``AUTO_RULES``; each rule cites the measurement that justifies it
(``benchmarks/RESULTS.md``, "Structured data"; the ``nmf_structured`` suite, time to
scikit-learn's 200-iteration loss on structured data, warm).  The first rule that matches
wins; the last one matches everything, so every loss resolves to a solver.  ``fit`` records
the solver that ran in ``NMFResult.solver``.
"""

from __future__ import annotations

import dataclasses

AUTO = "auto"
"""The ``solver=`` name that asks for this table."""


@dataclasses.dataclass(frozen=True)
class AutoRule:
    """One line of the table: where it applies, the solver, and the figures behind it.

    Attributes:
        frobenius: True for the Frobenius loss only, False for every other β, None for any.
        masked: True with a mask only, False without, None either way.
        batched: True for several problems in one call (a batched ``V``, or replicates from a
            batch of keys), False for one problem, None either way.
        solver: a name of ``SOLVERS``.
        why: the measurement that picked it.
    """

    frobenius: bool | None
    masked: bool | None
    batched: bool | None
    solver: str
    why: str

    def matches(self, frobenius: bool, masked: bool, batched: bool) -> bool:
        return all(
            want is None or want == got
            for want, got in (
                (self.frobenius, frobenius),
                (self.masked, masked),
                (self.batched, batched),
            )
        )


AUTO_RULES: tuple[AutoRule, ...] = (
    AutoRule(
        frobenius=True,
        masked=False,
        batched=False,
        solver="apg",
        why="one Frobenius problem: the fastest to cd's 200-iteration loss by geometric mean "
        "over the structured datasets (RESULTS.md, 'Structured data')",
    ),
    AutoRule(
        frobenius=True,
        masked=False,
        batched=True,
        solver="ehals",
        why="a Frobenius batch or replicates: the fastest to cd's loss on the 64-problem "
        "batches and the 32 restarts (RESULTS.md, 'Structured data')",
    ),
    AutoRule(
        frobenius=None,
        masked=None,
        batched=None,
        solver="mu",
        why="KL, Itakura-Saito, other β and masks: MU reaches scikit-learn MU's 200-iteration "
        "loss sooner than admm and emu, whose iterations cost more and do not make fewer of "
        "them on the count catalogues (RESULTS.md, 'Structured data')",
    ),
)
"""The table behind ``solver="auto"``, first match wins; the last rule matches everything."""


def auto_solver(beta: float, masked: bool, batched: bool) -> str:
    """The name of the solver ``solver="auto"`` runs for a loss of this ``beta``, with or
    without a mask, for one problem or several (``AUTO_RULES``, first match)."""
    frobenius = beta == 2
    for rule in AUTO_RULES:
        if rule.matches(frobenius, masked, batched):
            return rule.solver
    raise AssertionError("AUTO_RULES ends with a rule that matches everything")
