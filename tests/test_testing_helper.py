"""``tracegrad.testing``: users' derivations in users' pytest suites."""

import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import tracegrad as tg
import tracegrad.testing as tgt
from tracegrad.identities import trace_notes

pytest_plugins = ["pytester"]


def _sample(key, dtype=jnp.float64, n=None):
    ka, kx, kb = jax.random.split(key, 3)
    return (
        jax.random.normal(ka, (2, 3), dtype),
        jax.random.normal(kx, (3, 4), dtype),
        jax.random.normal(kb, (4, 2), dtype),
    )


def _objective(A, X, B):
    return jnp.trace(A @ X @ B)


@pytest.fixture
def temporary():
    """Register identities for one test and remove them afterwards."""
    names = []

    def register(name, gradient, **kwargs):
        kwargs.setdefault("objective", _objective)
        kwargs.setdefault("sample", _sample)
        kwargs.setdefault("argnames", ("A", "X", "B"))
        kwargs.setdefault("wrt", "X")
        tg.register(name, source="test", **kwargs)(gradient)
        names.append(name)
        return tg.identity(name)

    yield register
    for name in names:
        tg.unregister(name)


def test_select_identities():
    every = tgt.select_identities()
    assert [i.name for i in every] == sorted(tg.registry())
    assert [i.name for i in tgt.select_identities("traa.eq9")] == ["traa.eq9"]
    assert {i.name for i in tgt.select_identities("traa.eq24_*")} == {"traa.eq24_W", "traa.eq24_H"}
    by_module = tgt.select_identities(trace_notes)
    assert by_module and all(i.module == trace_notes.__name__ for i in by_module)
    assert tgt.select_identities("tracegrad.identities") == [
        i for i in every if i.module.startswith("tracegrad.identities.")
    ]
    assert [i.name for i in tgt.select_identities(lambda i: i.wrt_name == "W")] == ["traa.eq24_W"]
    assert [i.name for i in tgt.select_identities(["traa.eq12", "traa.eq9"])] == [
        "traa.eq12",
        "traa.eq9",
    ]
    with pytest.raises(ValueError, match="matches no registered identity"):
        tgt.select_identities("nothing.*")
    with pytest.raises(KeyError, match="did you mean 'traa.eq9'"):
        tgt.select_identities(["traa.eq99"])


def test_check_identity_passes_and_fails_with_the_report(temporary):
    good = temporary("tmp.good", lambda A, X, B: A.T @ B.T)
    bad = temporary("tmp.bad", lambda A, X, B: -A.T @ B.T)
    # float32 here; the float64 path (its own x64 scope) runs in the user-suite test below
    report = tgt.check_identity(good, "float32", seed=3)
    assert report.ok and report.dtype == "float32"
    with pytest.raises(AssertionError, match="(?s)'tmp.bad'.*sign flipped"):
        tgt.check_identity("tmp.bad", jnp.float32)
    assert bad.name == "tmp.bad"


def test_check_identity_checks_the_declared_optimum(temporary):
    def least_squares(A, x, b):
        return jnp.sum((A @ x - b) ** 2)

    def sample(key, dtype=jnp.float64, n=None):
        ka, kx, kb = jax.random.split(key, 3)
        return (
            jax.random.normal(ka, (6, 3), dtype),
            jax.random.normal(kx, (3,), dtype),
            jax.random.normal(kb, (6,), dtype),
        )

    def solve(A, x, b):
        return A, jnp.linalg.lstsq(A, b)[0], b

    common = dict(objective=least_squares, sample=sample, argnames=("A", "x", "b"), wrt="x")
    temporary("tmp.ls", lambda A, x, b: 2 * A.T @ (A @ x - b), optimum=solve, **common)
    tgt.check_identity("tmp.ls", "float64")
    # an optimum that is not stationary is reported
    temporary(
        "tmp.ls_wrong_optimum",
        lambda A, x, b: 2 * A.T @ (A @ x - b),
        optimum=lambda A, x, b: (A, 2 * x, b),
        **common,
    )
    with pytest.raises(AssertionError, match="should vanish at the declared optimum"):
        tgt.check_identity("tmp.ls_wrong_optimum", "float64")


def test_helpers_need_pytest_only_when_called(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytest", None)
    with pytest.raises(ImportError, match="need pytest"):
        tgt.parametrize_identities("traa.eq9")
    # selecting (and check_identity, built on it) does not need it
    assert [i.name for i in tgt.select_identities("traa.eq9")] == ["traa.eq9"]


@pytest.fixture
def forget_mine():
    """The user suite below runs in this process: drop what it registers afterwards."""
    yield
    for name in [n for n in tg.registry() if n.startswith("mine.")]:
        tg.unregister(name)


def test_a_users_suite_passes_and_fails(pytester, forget_mine):
    """A user's package registers two derivations; their test module uses both helpers.

    In-process (pytester restores ``sys.modules`` afterwards), which saves a JAX start-up.
    """
    pytester.makepyfile(
        mygrads=textwrap.dedent(
            """
            import jax, jax.numpy as jnp
            import tracegrad

            def sample(key, dtype=jnp.float64, n=None):
                ka, kx, kb = jax.random.split(key, 3)
                return (jax.random.normal(ka, (2, 3), dtype),
                        jax.random.normal(kx, (3, 4), dtype),
                        jax.random.normal(kb, (4, 2), dtype))

            def objective(A, X, B):
                return jnp.trace(A @ X @ B)

            @tracegrad.register("mine.right", objective=objective, source="my notes (1)",
                                sample=sample, argnames=("A", "X", "B"), wrt="X")
            def right(A, X, B):
                return A.T @ B.T

            @tracegrad.register("mine.doubled", objective=objective, source="my notes (2)",
                                sample=sample, argnames=("A", "X", "B"), wrt="X")
            def doubled(A, X, B):
                return 2 * A.T @ B.T
            """
        ),
        test_mine=textwrap.dedent(
            """
            import mygrads
            import tracegrad.testing as tgt

            test_registered = tgt.identity_tests(mygrads, dtypes=("float32",), seeds=(0,))

            @tgt.parametrize_identities(["mine.doubled"])
            def test_custom(identity):
                tgt.check_identity(identity, "float64", seed=4)
            """
        ),
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*FAILED*test_registered?mine.doubled-float32-seed0?*"])
    out = result.stdout.str()
    assert "FAILED test_mine.py::test_custom[mine.doubled]" in out
    assert "scaled by a constant: candidate = 2 x gradient" in out
    assert "mine.right" not in out.split("short test summary")[-1]
