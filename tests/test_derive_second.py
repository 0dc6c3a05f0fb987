"""derive's new constructs and its second order, against jax (float64 and float32).

The engine checks every result against jax before returning it; these tests compare with
references written independently in jax.numpy (so a misread expression fails too), at other
inputs than the engine's check, rectangular where the math allows.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPES, cli_main

import tracegrad as tg
from tracegrad._derive._coverage import CASES

# internals: derive's coverage table (_coverage.CASES), dense-Hessian limit and code generator
pytestmark = pytest.mark.internals


def _normwise(got, want, tol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.max(np.abs(got - want)))
    assert err <= tol * max(1.0, float(np.max(np.abs(want)))), f"normwise error {err:.2e}"


def _arrays(shapes, seed, positive=(), dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        a = rng.uniform(0.5, 1.5, shape) if name in positive else rng.standard_normal(shape)
        out[name] = jnp.asarray(a, dtype)
    return out


# -- elementwise functions, max, matrix powers, kron, declared J: vs jax.grad ----------------

FIRST_ORDER = [
    # (expression, wrt, shapes, positive names, jnp reference objective)
    ("sum(abs(X) + tanh(X) + sigmoid(X) + softplus(X) + sin(X) + cos(X) + relu(X)) "
     "+ sum(sign(X) ⊙ A + sqrt(X .^ 2 + 1)) + sum(max(X, A)) + sum(max(0, X))", "X",
     {"X": (3, 4), "A": (3, 4)}, (),
     lambda X, A: jnp.sum(jnp.abs(X) + jnp.tanh(X) + jax.nn.sigmoid(X)
                          + jax.nn.softplus(X) + jnp.sin(X) + jnp.cos(X) + jax.nn.relu(X))
     + jnp.sum(jnp.sign(X) * A + jnp.sqrt(X**2 + 1)) + jnp.sum(jnp.maximum(X, A))
     + jnp.sum(jnp.maximum(0.0, X))),
    ("tr(X^3) + tr(A X^2) + tr(X^0) + ||kron(X, B) - C||_F^2", "X",
     {"X": (3, 3), "A": (3, 3), "B": (3, 2), "C": (9, 6)}, (),
     lambda X, A, B, C: jnp.trace(X @ X @ X) + jnp.trace(A @ X @ X) + 3.0
     + jnp.sum((jnp.kron(X, B) - C) ** 2)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("source", "wrt", "shapes", "positive", "reference"), FIRST_ORDER,
                         ids=[c[0][:30] for c in FIRST_ORDER])  # fmt: skip
def test_new_constructs_match_jax_grad(source, wrt, shapes, positive, reference, dtype):
    d = _derivation(source, wrt, shapes)
    arrays = _arrays(shapes, seed=7, positive=positive, dtype=dtype)
    got = d(**arrays)
    assert got.dtype == dtype
    want = jax.grad(reference, argnums=d.argnames.index(wrt))(*(arrays[n] for n in d.argnames))
    _normwise(got, want, 1e-10 if dtype == jnp.float64 else 1e-4)


_CACHE: dict = {}


def _derivation(source, wrt, shapes, order=1):
    key = (source, wrt, tuple(sorted(shapes.items())), order)
    if key not in _CACHE:
        _CACHE[key] = tg.derive(source, wrt, shapes=shapes or None, order=order)
    return _CACHE[key]


def test_subgradient_conventions():
    d = _derivation("sum(abs(x)) + sum(relu(x)) + sum(max(0, x)) + sum(max(x, a))", "x", {"x": 4})
    x = jnp.asarray([0.0, -1.0, 2.0, 0.0])
    a = jnp.asarray([1.0, -2.0, 3.0, 0.0])
    # d|x| = sign(x) (0 at 0); relu'(0) = 0; max(0, x) -> 0 at the tie; max(x, a) -> x at a tie
    np.testing.assert_array_equal(np.asarray(d(x=x, a=a)), [0.0, 0.0, 3.0, 1.0])


def test_precedence_warning_where_matlab_reads_differently():
    with pytest.warns(tg.DerivePrecedenceWarning, match=r"\(y ⊙ X\) w"):
        _derivation("sum(y .* X w)", "w", {"X": (3, 2)})


# -- Jacobians -------------------------------------------------------------------------------


def test_jacobians_closed_forms_and_values():
    d = _derivation("A x", "x", {})
    assert isinstance(d, tg.Jacobian) and d.text == "A"
    e = _derivation("exp(x)", "x", {})
    assert e.text == "diag(exp(x))"
    args = _arrays({"A": (2, 3), "x": (3,)}, seed=3)
    _normwise(d(**args), args["A"], 1e-14)
    m = _derivation("A X B", "X", {"A": (2, 3), "X": (3, 4), "B": (4, 5)})
    assert m.text is None and m.differential_text == "A dX B"
    args = _arrays({"A": (2, 3), "X": (3, 4), "B": (4, 5)}, seed=4)
    want = jax.jacfwd(lambda X: args["A"] @ X @ args["B"])(args["X"])
    _normwise(m(**args), want, 1e-12)


# -- second order ----------------------------------------------------------------------------

SECOND_ORDER = [
    # (expression, wrt, shapes, positive, jnp objective, closed-form (or Kronecker) Hessian)
    ("sum(log(1 + exp(-y .* (X w))))", "w", {"X": (6, 4)}, (),
     lambda y, X, w: jnp.sum(jnp.log1p(jnp.exp(-y * (X @ w)))), True),
    ("x' A x / (x' x)", "x", {"A": (4, 4)}, (),
     lambda x, A: x @ A @ x / (x @ x), True),
    ("logdet(X) + tr(A inv(X))", "X", {"X": (3, 3)}, (),
     lambda X, A: jnp.linalg.slogdet(X)[1] + jnp.trace(A @ jnp.linalg.inv(X)), True),
    ("sum(X ⊙ log(X ⊘ (W H)) - X + W H)", "H", {"X": (4, 3), "W": (4, 2)}, ("X", "W", "H"),
     lambda X, W, H: jnp.sum(X * jnp.log(X / (W @ H)) - X + W @ H), False),
]  # fmt: skip


@pytest.mark.parametrize(("source", "wrt", "shapes", "positive", "reference", "closed"),
                         SECOND_ORDER, ids=[c[0][:24] for c in SECOND_ORDER])  # fmt: skip
def test_hessian_and_hvp_match_jax(source, wrt, shapes, positive, reference, closed):
    d = _derivation(source, wrt, shapes, order=2)
    assert d.second_report.ok
    assert (d.hessian_text is not None) == closed
    assert f"d{wrt}" in d.hvp_text
    full = {n: (s[0],) if s[1] == 1 else s for n, s in d.shapes.items()}
    if "logdet" in source:  # well-conditioned, positive determinant
        args = _arrays(full, seed=11)
        args["X"] = args["X"] + 3 * jnp.eye(3)
    else:
        args = _arrays(full, seed=11, positive=positive)
    ordered = [args[n] for n in d.argnames]
    i = d.argnames.index(wrt)
    want = jax.hessian(reference, argnums=i)(*ordered)
    _normwise(d.hessian(**args), want, 1e-8)
    v = jnp.asarray(np.random.default_rng(5).standard_normal(full[wrt]))
    jvp = jax.jvp(lambda w: jax.grad(reference, argnums=i)(*ordered[:i], w, *ordered[i + 1 :]),
                  (ordered[i],), (v,))[1]  # fmt: skip
    _normwise(d.hvp(v, **args), jvp, 1e-8)
    if wrt != "w":
        return
    # float32 in, float32 out
    args32 = {n: a.astype(jnp.float32) for n, a in args.items()}
    out = d.hvp(v.astype(jnp.float32), **args32)
    assert out.dtype == jnp.float32
    _normwise(out, jvp, 1e-3)


def test_second_order_bad_input_names_the_argument(monkeypatch):
    with pytest.raises(tg.DeriveError, match="order must be 1 or 2"):
        tg.derive("tr(X)", "X", order=3)
    d = _derivation(*SECOND_ORDER[0][:3], order=2)
    args = _arrays({"y": (6,), "X": (6, 4), "w": (4,)}, seed=1)
    with pytest.raises(tg.DeriveShapeError, match="direction"):
        d.hvp(jnp.ones(3), **args)
    from tracegrad._derive import _derivation as derivation_module

    monkeypatch.setattr(derivation_module, "DENSE_MAX_ENTRIES", 10)  # a 4-vector's Hessian has 16
    with pytest.raises(tg.DeriveError, match=r"dense Hessian w\.r\.t\. w would have 4\^2"):
        d.hessian(**args)
    first = _derivation("tr(A X B)", "X", {"A": (2, 3), "X": (3, 4)})
    with pytest.raises(tg.DeriveError, match="order=2"):
        first.hvp(jnp.ones((3, 4)), A=jnp.ones((2, 3)), X=jnp.ones((3, 4)), B=jnp.ones((4, 2)))
    with pytest.raises(tg.DeriveShapeError, match="order=2 needs a scalar"):
        tg.derive("A x", "x", order=2)


# -- the coverage list: the cases that exercise the new constructs --------------------------

QUICK = [c for c in CASES if c[4] in ("hinge loss (subgradient)", "declared all-ones J")]


@pytest.mark.parametrize("case", QUICK, ids=[c[0][:30] for c in QUICK])
def test_coverage_cases_derive(case):
    expression, wrt, shapes, order, _ = case
    d = tg.derive(expression, wrt, shapes=shapes, order=order)
    assert d.report.ok


def test_matrix_hessian_kronecker_form_and_cli(capsys):
    d = _derivation("||X - W H||_F^2", "W", {"X": (4, 5), "H": (2, 5)}, order=2)
    assert d.hessian_text == "vec: 2 kron(H H^T, I)"
    args = _arrays({"X": (4, 5), "W": (4, 2), "H": (2, 5)}, seed=2)
    hh = np.asarray(args["H"] @ args["H"].T)
    want = 2 * np.einsum("ip,qj->ijpq", np.eye(4), hh)  # d2f / dW_ij dW_pq
    _normwise(d.hessian(**args), want, 1e-12)
    assert cli_main(["derive", "||A x - b||^2", "--wrt", "x", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "H[dx] = 2 A^T A dx" in out and "d2f/dx2 = 2 A^T A" in out
    assert "second-order check: PASS" in out


def test_inverse_products_in_an_hvp_are_lu_solves():
    """``-inv(X)^T dX^T inv(X)^T`` (logdet's HVP) multiplies by transposed inverses only: it is
    computed with solves against one LU factorisation, never a formed inverse and product."""
    from tracegrad._derive import _ast as E
    from tracegrad._derive._codegen import _solvable_inverses, optimize

    d = tg.derive("logdet(X)", "X", shapes={"X": (5, 5)}, order=2)
    second = d._second(d._default_spec)
    assert _solvable_inverses(optimize([second.hvp_expr])) == {E.Var("X", (5, 5))}
    X = np.eye(5) * 3 + np.random.default_rng(0).random((5, 5))
    V = np.random.default_rng(1).random((5, 5))
    text = str(jax.make_jaxpr(second.hvp_fn)(X, V))
    assert "dot_general" not in text and text.count("triangular_solve") == 4, text
    Xi = np.linalg.inv(X)
    np.testing.assert_allclose(second.hvp_fn(X, V), -(Xi @ V @ Xi).T, rtol=1e-12)


@pytest.mark.parametrize(("dtype", "copied"), [(np.float64, True), (np.float32, False)])
def test_transposed_lhs_product_layout_follows_the_measurement(dtype, copied):
    """``A^T B`` of two matrices: on the CPU in float64 the codegen copies ``A^T`` and runs a
    plain product (XLA's transposed-operand product ran at half speed there); in float32 it
    keeps the contraction.  Same values either way."""
    from tracegrad._derive import _ast as E
    from tracegrad._derive._codegen import build_function

    A, B = E.Var("A", (6, 4)), E.Var("B", (6, 5))
    fn = build_function([E.MatMul((E.Transpose(A), B))], ["A", "B"],
                        {"A": (6, 4), "B": (6, 5)}, optimize_=True)  # fmt: skip
    rng = np.random.default_rng(0)
    a, b = rng.random((6, 4)).astype(dtype), rng.random((6, 5)).astype(dtype)
    text = str(jax.make_jaxpr(fn)(a, b))
    assert ("optimization_barrier" in text) == (copied and jax.default_backend() == "cpu")
    np.testing.assert_allclose(fn(a, b), a.T @ b, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_diagonal_of_a_triple_product_avoids_the_transposed_left_operand():
    """eq. 41's HVP ends in ``((A^T P) ⊙ B) 1``; the codegen takes it as the column sums of
    ``A ⊙ (P B^T)``: a product over the second axes, no ``A^T`` (neither contracted over its
    first axis nor copied), same values."""
    shapes = {"V": (6, 7), "A": (6, 5), "x": (5, 1), "B": (5, 7)}
    d = tg.derive("tr(V' log(A diag(x) B))", wrt="x", shapes=shapes, order=2)
    second = d._second(d._default_spec)
    rng = np.random.default_rng(0)
    V, A, x, B = (rng.random(s) + 0.5 for s in shapes.values())
    dx = rng.standard_normal((5, 1))
    args = {"V": V, "A": A, "x": x, "B": B}
    ordered = [args[n] for n in d.argnames]
    text = str(jax.make_jaxpr(second.hvp_fn)(*ordered, dx))
    assert "(([0], [0])" not in text and "optimization_barrier" not in text, text
    assert "(([1], [1])" in text, text

    def grad(x):
        return jax.grad(lambda x: jnp.sum(V * jnp.log((A * x.T) @ B)))(x)

    expected = jax.jvp(grad, (x,), (dx,))[1]
    np.testing.assert_allclose(second.hvp_fn(*ordered, dx), expected, rtol=1e-12)
