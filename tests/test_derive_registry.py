"""``derive`` reproduces the registry: every expressible identity, and the eq. (21) beast."""

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPES, assert_normwise_close

import tracegrad as tg

EXPRESSIONS = {n: i.expression for n, i in tg.registry().items() if i.expression}


def test_every_registered_identity_is_classified():
    """A registration without an expression must say why the language cannot state it."""
    unclassified = sorted(
        n for n, i in tg.registry().items() if not i.expression and not i.not_expressible
    )
    assert not unclassified, (
        f"give {unclassified} an expression= (the derive language) or not_expressible= (why not)"
    )


def _normwise_close(got, want, dtype):
    assert_normwise_close(got, want, dtype)


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_derive_reproduces_the_closed_form(name):
    if name not in tg.registry():
        pytest.skip(f"{name} is not registered in this tree yet")
    identity = tg.identity(name)
    args64 = identity.arguments(0, jnp.float64)
    d = identity.derivation()  # derive at the sampler's shapes, cached on the identity
    assert d.report.ok
    # the formula printed from the expression (unless the registration states its own)
    assert identity.formula and identity.latex
    assert sorted(d.argnames) == sorted(identity.argnames)
    for dtype in DTYPES:
        # float32: the same sample, rounded (drawing again would compile the sampler again)
        args = tuple(a.astype(dtype) for a in args64)
        got = d(**dict(zip(identity.argnames, args, strict=True)))
        want = identity.gradient(*args)
        assert got.shape == want.shape
        assert got.dtype == want.dtype == dtype
        _normwise_close(got, want, dtype)


def test_the_beast_prints_the_four_terms_of_eq21():
    d = tg.derive("tr(A X X' B C X' X C)", wrt="X")
    # eq. (21), left to right; the notes print the first term as A C^T X^T X C^T B^T X, a
    # typo: their eq. (20) has (A)^T (X^T B C X^T X C)^T = A^T C^T X^T X C^T B^T X
    eq21 = [
        "A^T C^T X^T X C^T B^T X",
        "B C X^T X C A X",
        "X C A X X^T B C",
        "X C^T B^T X X^T A^T C^T",
    ]
    assert [t.text for t in d.terms] == eq21
    assert [t.transposed for t in d.terms] == [False, True, True, False]
    assert d.gradient == " + ".join(eq21)
    assert d.latex == (
        "A^{T} C^{T} X^{T} X C^{T} B^{T} X + B C X^{T} X C A X + X C A X X^{T} B C"
        " + X C^{T} B^{T} X X^{T} A^{T} C^{T}"
    )
    assert d.report.ok
    # and each printed term is the value of its appearance's term function
    rng = np.random.default_rng(0)
    m, n = 3, 5
    arrays = {
        "A": rng.standard_normal((n, m)), "X": rng.standard_normal((m, n)),
        "B": rng.standard_normal((m, n)), "C": rng.standard_normal((n, n)),
    }  # fmt: skip
    A, X, B, C = (arrays[k] for k in "AXBC")
    expected = [
        A.T @ C.T @ X.T @ X @ C.T @ B.T @ X,
        B @ C @ X.T @ X @ C @ A @ X,
        X @ C @ A @ X @ X.T @ B @ C,
        X @ C.T @ B.T @ X @ X.T @ A.T @ C.T,
    ]
    args = [arrays[k] for k in d.argnames]
    for term, value in zip(d.terms, expected, strict=True):
        _normwise_close(term.function(*args), value, jnp.float64)
    _normwise_close(d(**arrays), sum(expected), jnp.float64)
