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
