"""derive on hostile input: 1x1 values, deep nesting, long products, domains, huge shapes, fuzz.

Every failure on a user's expression is a ``DeriveError`` subclass; these tests pin the cases
that used to escape as ``RecursionError``, ``MemoryError``, a false ``DeriveInternalError`` or
a refusal, and the round trip of printed gradients back through the parser.
"""

import numpy as np
import pytest

import tracegrad as tg
from tracegrad._cli import main
from tracegrad._derive import _parser

# -- 1x1 values: transposing one used to recurse forever in the code generator ---------------


@pytest.mark.parametrize(
    "expr, wrt, shapes, want",
    [
        # (a' x - c)^T (a' x - c) = (a' x - c)^2: gradient 2 (a' x - c) a
        (
            "(a' x - c)' (a' x - c)",
            "x",
            {"a": 3, "x": 3, "c": ()},
            lambda a, x, c: 2 * (a @ x - c) * a,
        ),
        ("x' A x", "x", {"x": (1,), "A": (1, 1)}, lambda x, A: (A + A.T) @ x),
        ("x' A x", "A", {"x": (1,), "A": (1, 1)}, lambda x, A: np.outer(x, x)),
    ],
)
def test_transposing_a_1x1_value(expr, wrt, shapes, want):
    d = tg.derive(expr, wrt=wrt, shapes=shapes)
    rng = np.random.default_rng(0)
    arrays = {n: np.asarray(rng.standard_normal(s)) for n, s in shapes.items()}
    got = np.asarray(d(**arrays))
    np.testing.assert_allclose(got.reshape(-1), np.reshape(want(**arrays), -1), rtol=1e-12)


# -- deep nesting: a clear error with a caret, never a RecursionError -------------------------

MAX_NESTING = _parser.MAX_NESTING


@pytest.mark.parametrize(
    "expr, caret",
    [
        ("(" * 150 + "tr(A X)" + ")" * 150, MAX_NESTING),  # the first bracket over the limit
        ("tr(" * 600 + "A X" + ")" * 600, 3 * MAX_NESTING),
        ("tr(" + "-" * 100 + "A X)", 3 + MAX_NESTING - 1),
        ("tr(A X" + "'" * 200 + ")", None),  # postfix chains: the tree-depth check
    ],
)
def test_deep_nesting_is_a_syntax_error_with_a_caret(expr, caret):
    with pytest.raises(tg.DeriveSyntaxError, match="nested deeper than") as info:
        tg.derive(expr, wrt="X")
    if caret is not None:
        assert info.value.position == caret
    assert len(str(info.value).splitlines()) == 3  # message, a window of the source, carets


def test_nesting_at_the_limit_derives():
    # each level is a function call: 64 nested traces of a 1x1 value
    expr = "tr(" * (MAX_NESTING - 1) + "a' X b" + ")" * (MAX_NESTING - 1)
    d = tg.derive(expr, wrt="X")
    assert d.gradient == "a b^T" and d.report.ok


def test_long_chains_do_not_nest():
    # 200 terms: read by a loop, one n-ary node (the parse tree is 200 deep on its left)
    d = tg.derive(" - ".join(["tr(A X)"] * 200), wrt="X")
    assert d.gradient == "-198 A^T"


def test_a_recursion_error_becomes_a_derive_error():
    # a caller's low recursion limit still gets a DeriveError
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    try:
        with pytest.raises(tg.DeriveError, match="nested too deeply"):
            tg.derive("tr(" * 40 + "A X" + ")" * 40, wrt="X")
    finally:
        sys.setrecursionlimit(old)


def test_cli_prints_one_error_and_exits_2_for_deep_nesting(capsys):
    assert main(["derive", "(" * 150 + "tr(A X)" + ")" * 150, "--wrt", "X"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracegrad derive: error: the expression is nested deeper than")
    assert "Traceback" not in err and len(err.splitlines()) == 3


# -- long products: polynomial simplification, bracketing and code generation -----------------


def test_a_long_product_derives_in_polynomial_time():
    # 120 factors (the benchmark runs 300): once O(n^4) chain solving through the trace
    # rewrite; the greedy bracketing of a long chain pairs equal factors into a balanced tree
    d = tg.derive("tr(" + "A " * 120 + "X)", wrt="X")
    assert d.gradient == " ".join(["A^T"] * 120) and d.report.ok


def test_a_deep_bracketing_is_evaluated_without_recursion():
    # a chain of matrix-vector products brackets into a tree as deep as the chain is long;
    # hashing, equality, shapes, transposition and evaluation of it must not recurse
    from tracegrad._derive import _ast as E
    from tracegrad._derive._codegen import build_function

    n, k = 3, 200
    A, x = E.Var("A", (n, n)), E.Var("x", (n, 1))
    deep = x
    for _ in range(k):
        deep = E.MatMul((A, deep))
    objective = E.Sum(deep)
    fn = build_function([objective], ("A", "x"), {"A": (n, n), "x": (n, 1)}, optimize_=True)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n))
    a /= np.linalg.norm(a, 2)  # keep A^200 x finite
    v = rng.standard_normal(n)
    want = v
    for _ in range(k):
        want = a @ want
    np.testing.assert_allclose(float(fn(a, v)), want.sum(), rtol=1e-10)


# -- self-check inputs: admissible draws, careful steps near domain edges ---------------------


@pytest.mark.parametrize(
    "expr, wrt, gradient",
    [
        ("-sum(log(b - A x))", "x", "A^T (b - A x).^-1"),  # the log barrier: b = A x + u
        ("sum((b - A x).^0.5)", "x", "-0.5 A^T (b - A x).^-0.5"),
    ],
)
def test_inputs_are_solved_into_the_domain(expr, wrt, gradient):
    d = tg.derive(expr, wrt=wrt)
    assert d.gradient == gradient and d.report.ok


def test_a_high_degree_polynomial_gets_careful_steps():
    # the fixed stencil's O(h^4) error exceeds its 1e-6 tolerance on X.^80 (a false
    # DeriveInternalError before); the careful one takes smaller steps
    d = tg.derive("sum(X.^80)", wrt="X")
    assert d.gradient == "80 X.^79" and d.report.ok
    assert "best-agreeing pair" in d.report.references["fd64"].detail


def test_careful_steps_stay_in_the_domain_near_an_edge():
    import jax
    import jax.numpy as jnp

    from tracegrad._derive._fdcheck import careful_fd

    def f(x):
        return jnp.sum(jnp.log(x))

    x = jnp.asarray([1e-6, 0.7, 1.3, 0.9], jnp.float64)  # the first entry: h > x / 2
    grad = 1.0 / np.asarray(x)
    fixed = tg.check_grad(f, grad, x)
    assert not fixed.references["fd64"].ok  # x - 2h < 0: NaN
    with jax.enable_x64(True):
        careful = careful_fd(f, grad, (x,), 0, 1.1e-8, 0.0)
    assert careful.ok, careful


def test_huge_shapes_are_checked_at_proxy_shapes():
    # A X would be 100000 x 100000 (74 GiB in float64): the check runs at small proxy shapes
    d = tg.derive("tr(A X)", wrt="X", shapes={"A": (100000, 3), "X": (3, 100000)})
    assert d.gradient == "A^T" and d.report.ok
    assert all("proxy shapes" in r.detail for r in d.report.references.values())
    assert d.check_shapes == {"A": (100000, 3), "X": (3, 100000)}
