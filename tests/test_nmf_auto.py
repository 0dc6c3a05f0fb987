"""``solver="auto"``: every loss resolves to a listed solver that accepts it, the fit records
the solver that ran, and the result is that solver's own."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

import tracegrad as tg
from tracegrad.nmf import AUTO_RULES, LOSSES, SOLVERS, auto_solver

BETAS = sorted({loss.beta for loss in LOSSES.values()} | {0.5, 1.5, 3.0, -1.0})
"""Every loss of the table and β between and beyond them."""


@pytest.mark.parametrize(
    ("beta", "masked", "batched"), itertools.product(BETAS, *[(False, True)] * 2)
)
def test_every_loss_resolves_to_a_listed_solver_that_accepts_it(beta, masked, batched):
    name = auto_solver(beta, masked, batched)
    assert name in SOLVERS
    if SOLVERS[name].frobenius_only:
        assert beta == 2 and not masked


def test_the_table_names_listed_solvers_and_its_last_rule_matches_everything():
    assert all(rule.solver in SOLVERS and rule.why for rule in AUTO_RULES)
    last = AUTO_RULES[-1]
    assert (last.frobenius, last.masked, last.batched) == (None, None, None)


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    m, n = shape[-2:]
    W = rng.gamma(1.0, 1.0, shape[:-2] + (m, 3))
    H = rng.gamma(1.0, 1.0, shape[:-2] + (3, n))
    return W @ H + 0.1 * rng.random(shape) + 0.01


@pytest.mark.parametrize(
    ("loss", "layout"),
    [("frobenius", "single"), ("frobenius", "batch"), ("frobenius", "replicates"),
     ("frobenius", "mask"), ("kl", "single")],
)  # fmt: skip
def test_fit_records_the_solver_that_ran_and_equals_it(loss, layout):
    V = _data((2, 12, 9) if layout == "batch" else (12, 9))
    kw: dict = dict(loss=loss, max_iter=30, tol=0.0)
    if layout == "replicates":
        kw["key"] = jax.random.split(jax.random.key(3), 2)
    if layout == "mask":
        kw["mask"] = (np.random.default_rng(1).random(V.shape) > 0.2).astype(V.dtype)
    auto = tg.nmf.fit(V, 3, solver="auto", **kw)
    want = auto_solver(LOSSES[loss].beta, layout == "mask", layout in ("batch", "replicates"))
    assert auto.solver == want
    chosen = tg.nmf.fit(V, 3, solver=want, **kw)
    np.testing.assert_array_equal(auto.W, chosen.W)
    np.testing.assert_array_equal(auto.H, chosen.H)


def test_select_rank_runs_one_auto_solver_for_every_fit():
    V = _data((12, 9), seed=2)
    sel = tg.nmf.select_rank(V, [2, 3], restarts=2, holdout=0.0, loss="frobenius",
                             max_iter=20, solver="auto")  # fmt: skip
    assert sel.best_rank in (2, 3)
    with pytest.raises(ValueError, match="'auto'"):
        tg.nmf.fit(V, 2, solver="automatic")


def test_the_library_defaults_to_mu():
    """scikit-learn-identical iterates by default; the CLI's default is "auto"
    (tests/test_cli_commands.py)."""
    import inspect

    assert inspect.signature(tg.nmf.fit).parameters["solver"].default == "mu"


def test_the_docs_table_is_auto_rules():
    """docs/nmf-extending.md's `solver="auto"` table, line by line, is ``AUTO_RULES``."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "nmf-extending.md").read_text()
    head = "| loss | mask | layout | auto runs |"
    rows = text[text.index(head) :].splitlines()[2:]
    rows = [[c.strip() for c in r.strip("|").split("|")] for r in rows[: rows.index("")]]
    words = {
        "loss": {"Frobenius": True, "any": None},
        "mask": {"yes": True, "no": False, "any": None},
        "layout": {"one problem": False, "a batch or replicates": True, "any": None},
    }
    documented = [
        (words["loss"][a], words["mask"][b], words["layout"][c], d.strip('`"'))
        for a, b, c, d in rows
    ]
    assert documented == [(r.frobenius, r.masked, r.batched, r.solver) for r in AUTO_RULES]
