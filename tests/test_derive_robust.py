"""derive on hostile input: 1x1 values, deep nesting, long products, domains, huge shapes, fuzz.

Every failure on a user's expression is a ``DeriveError`` subclass; these tests pin the cases
that used to escape as ``RecursionError``, ``MemoryError``, a false ``DeriveInternalError`` or
a refusal, and the round trip of printed gradients back through the parser.
"""

import numpy as np
import pytest

import tracegrad as tg

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
