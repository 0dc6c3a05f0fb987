"""The checker against seeded wrong gradients: float32 tolerance from evidence, automatic terms.

The fast subset of ``benchmarks/bench_checker.py`` (the full run: every identity, several seeds,
both dtypes) on a handful of identities chosen to cover every mutation kind.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad._bench.checker import KINDS, mutation_rows, summarize_mutations
from tracegrad._check.tolerances import NOISE_FLOOR_ULPS

# internals: the checker's mutation benchmark and noise floor (NOISE_FLOOR_ULPS): no public name
pytestmark = pytest.mark.internals

SUBSET = [
    "cookbook.tr_AXBXt",
    "cookbook.xtAx",
    "hu.least_squares",
    "hu.logdet",
    "kalman.trace_ABAt",
    "traa.eq17",
    "traa.eq24_W",
]


def test_fast_mutation_subset_float32():
    rows = mutation_rows(dtypes=("float32",), seeds=(0,), names=SUBSET)
    s = summarize_mutations(rows)["float32"]
    assert s["false_alarms"] == 0, [r for r in rows if r["kind"] == "true" and r["rejected"]]
    missed = [(r["identity"], r["kind"]) for r in rows if r["kind"] != "true" and not r["rejected"]]
    assert missed == []
    assert set(s["per_kind"]) == set(KINDS)  # every kind of mistake is exercised
    assert s["term_slips"] >= 15
    assert s["term_slips_named"] >= 0.9 * s["term_slips"], [
        (r["identity"], r["kind"], r["diagnosis"])
        for r in rows
        if r["kind"] in ("dropped_term", "symmetrisation") and not r["named"]
    ]


def test_float32_tolerance_is_set_from_the_measured_noise():
    x = jnp.linspace(0.1, 1.0, 50, dtype=jnp.float32)
    right = tg.check_grad(lambda x: jnp.sum(x**3), lambda x: 3 * x**2, x)
    assert right.ok, right
    floor = NOISE_FLOOR_ULPS * float(np.finfo(np.float32).eps)
    assert right.noise is not None and right.rtol == pytest.approx(max(10 * right.noise, floor))
    assert right.rtol < tg.default_rtol(jnp.float32) / 10
    # an error of 1e-4 (relative): under the old fixed 2.4e-4, far above 10 x the noise
    off = tg.check_grad(lambda x: jnp.sum(x**3), 3 * x**2 * (1 + 1e-4), x)
    assert not off.ok
    assert "1.0001 x gradient" in off.diagnosis, off.diagnosis
    # an explicit rtol overrides the evidence
    loose = tg.check_grad(lambda x: jnp.sum(x**3), 3 * x**2 * (1 + 1e-4), x, rtol=1e-3)
    assert loose.ok and loose.noise is None and loose.rtol == 1e-3


def test_missing_term_is_named_with_its_source_line_without_terms():
    X = jax.random.normal(jax.random.key(3), (5, 5))

    def f(X):
        return jnp.trace(X @ X.T @ X)  # three appearances of X

    report = tg.check_grad(f, lambda X: X.T @ X + X @ X.T, X, argnames=("X",))
    assert not report.ok
    assert "term X#2 [· @ X^T] missing" in report.diagnosis, report.diagnosis
    assert "test_check_mutants.py" in report.diagnosis
    assert "jnp.trace(X @ X.T @ X)" in report.diagnosis


def test_symmetrisation_slip_is_named_without_terms():
    A = jax.random.normal(jax.random.key(1), (4, 4))  # not symmetric
    x = jax.random.normal(jax.random.key(2), (4,))
    report = tg.check_grad(lambda A, x: x @ A @ x, lambda A, x: 2 * A @ x, A, x, argnum=1)
    assert not report.ok
    assert "counted twice" in report.diagnosis and "missing" in report.diagnosis
    assert "non-symmetric matrix assumed symmetric" in report.diagnosis


def test_one_appearance_with_two_parts_is_split_by_degree():
    X, W, H = (
        jax.random.normal(k, s)
        for k, s in zip(
            jax.random.split(jax.random.key(0), 3), [(6, 5), (6, 2), (2, 5)], strict=True
        )
    )

    def f(X, W, H):
        return jnp.sum((X - W @ H) ** 2)

    report = tg.check_grad(
        f, lambda X, W, H: 2 * W @ H @ H.T, X, W, H, argnum=1, argnames=("X", "W", "H")
    )
    assert not report.ok
    assert "the part independent of W missing" in report.diagnosis, report.diagnosis
