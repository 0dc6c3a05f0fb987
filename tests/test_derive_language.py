"""The derive language: every operator's meaning, precedence, errors with carets, shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tracegrad as tg
from tracegrad._derive import _ast as E
from tracegrad._derive._codegen import evaluate
from tracegrad._derive._parser import parse
from tracegrad._derive._shapes import Elaboration, parse_shape_spec
from tracegrad._derive._simplify import tidy

# internals: derive's parser, shapes, simplifier, evaluator; its specialisation fed a wrong rule
pytestmark = pytest.mark.internals

# -- helpers ---------------------------------------------------------------------------------


def _arrays(shapes: dict, seed: int = 0, positive: bool = False, invertible=()) -> dict:
    """float64 arrays: positive entries (for logs), well-conditioned for the names in
    ``invertible``; vectors 1-D."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if name in invertible:
            q1, _ = np.linalg.qr(rng.standard_normal(shape))
            q2, _ = np.linalg.qr(rng.standard_normal(shape))
            a = (q1 * np.linspace(1.0, 3.0, shape[0])) @ q2.T
        elif positive:
            a = rng.uniform(0.5, 1.5, shape)
        else:
            a = rng.standard_normal(shape)
        out[name] = jnp.asarray(a, jnp.float64)
    return out


def _close(got, want, dtype=jnp.float64):
    rtol, atol = tg.tolerances(dtype)
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.max(np.abs(got - want)) if want.size else 0.0
    assert err <= atol + rtol * np.max(np.abs(want)), f"normwise error {err:.3e}"


def _read(source: str, shapes=None) -> E.Expr:
    """How ``source`` is read: the typed objective, associativity and numbers tidied."""
    el = Elaboration(source, parse(source), shapes)
    return tidy(el.build()[0])


# -- every operator: the objective means what NumPy says, the gradient is its gradient -------

S34, S43, S33, S44 = (3, 4), (4, 3), (3, 3), (4, 4)
inv, det, slogdet = np.linalg.inv, np.linalg.det, np.linalg.slogdet

OPERATORS = [
    # (expression, wrt, shapes, NumPy reference objective on keyword arrays, positive inputs,
    #  names to draw well-conditioned)
    ("tr(A X B)", "X", {"A": S34, "X": (4, 5), "B": (5, 3)},
     lambda A, X, B: np.trace(A @ X @ B), False, ()),
    ("tr(A X' B) + tr(X^T C) - 2*tr(Xᵀ D)", "X",
     {"A": S34, "X": (5, 4), "B": (5, 3), "C": (5, 4), "D": (5, 4)},
     lambda A, X, B, C, D: np.trace(A @ X.T @ B) + np.trace(X.T @ C) - 2 * np.trace(X.T @ D),
     False, ()),
    ("sum(V ⊙ log(A X B))", "X", {"V": S34, "A": S33, "X": (3, 5), "B": (5, 4)},
     lambda V, A, X, B: np.sum(V * np.log(A @ X @ B)), True, ()),
    ("sum(V .* log(A*X*B)) + sum(V ./ (A X B)) + sum(V ⊘ X')", "X",
     {"V": S34, "A": S34, "X": (4, 3), "B": S34},
     lambda V, A, X, B: np.sum(V * np.log(A @ X @ B)) + np.sum(V / (A @ X @ B))
     + np.sum(V / X.T), True, ()),
    ("logdet(X) - 2 det(X) + tr(inv(X) A) + tr(X^-1 B) + tr(X^-T C)", "X",
     {"X": S44, "A": S44, "B": S44, "C": S44},
     lambda X, A, B, C: slogdet(X)[1] - 2 * det(X) + np.trace(inv(X) @ (A + B))
     + np.trace(inv(X).T @ C), False, ("X",)),
    ("tr(A diag(x) B) + sum(diag(X))", "x", {"A": S34, "x": 4, "B": S43, "X": S33},
     lambda A, x, B, X: np.trace(A @ np.diag(x) @ B) + np.trace(X), False, ()),
    ("sum(diag(X ⊙ A)) + ||X - B||_F^2 - norm(X) + ‖X‖_F + ||X||", "X",
     {"X": S33, "A": S33, "B": S33},
     lambda X, A, B: np.trace(X * A) + np.sum((X - B) ** 2) + np.linalg.norm(X), False, ()),
    ("sum(exp(X ⊙ A) ./ 3) + sum(X.^3) - sum(X.^-1) / 2", "X", {"X": S34, "A": S34},
     lambda X, A: np.sum(np.exp(X * A) / 3) + np.sum(X**3) - np.sum(1 / X) / 2, True, ()),
    ("-x' A x / 2 + (a' x)^2 + [a' x] * 3 - -1", "x", {"x": 4, "A": S44, "a": 4},
     lambda x, A, a: -x @ A @ x / 2 + (a @ x) ** 2 + 3 * (a @ x) + 1, False, ()),
    ("tr((I - K H) P (I - K H)ᵀ + K R K')", "K", {"K": S34, "H": S43, "P": S33, "R": S44},
     lambda K, H, P, R: np.trace((np.eye(3) - K @ H) @ P @ (np.eye(3) - K @ H).T
                                 + K @ R @ K.T), False, ()),
    ("tr(J A diag(x) B) + tr(X) tr(X) / det(C) + pi tr(X) + log(sum(exp(X)))", "X",
     {"A": S34, "x": 4, "B": S43, "X": S33, "C": S33},
     lambda A, x, B, X, C: np.sum(A @ np.diag(x) @ B) + np.trace(X) ** 2 / det(C)
     + np.pi * np.trace(X) + np.log(np.sum(np.exp(X))), False, ("C",)),
    ("sum(log(X) + 1) + sum(2 ⊘ X) + sum(X ⊙ tr(X))", "X", {"X": S33},
     lambda X: np.sum(np.log(X) + 1) + np.sum(2 / X) + np.sum(X * np.trace(X)), True, ()),
]  # fmt: skip


def _directional_fd(f, x, v, h=1e-6):
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


@pytest.mark.parametrize(("source", "wrt", "shapes", "reference", "positive", "invertible"),
                         OPERATORS, ids=[o[0] for o in OPERATORS])  # fmt: skip
def test_operator_semantics_and_gradient(source, wrt, shapes, reference, positive, invertible):
    d = tg.derive(source, wrt=wrt, shapes=shapes)
    assert d.report.ok  # derived == jax.grad of the objective as parsed (check_grad) ...
    arrays = {
        k: np.asarray(v)
        for k, v in _arrays(shapes, seed=1, positive=positive, invertible=invertible).items()
    }
    # ... the objective as parsed is the NumPy reference ...
    internal = {n: a.reshape(d.shapes[n]) for n, a in arrays.items()}
    (value,) = evaluate([d._default_spec.objective_expr], internal)
    np.testing.assert_allclose(value.reshape(()), reference(**arrays), rtol=1e-12)
    # ... so the derived gradient is the reference's: central differences along directions
    grad = np.asarray(d(**arrays))
    rng = np.random.default_rng(2)
    for _ in range(2):
        v = rng.standard_normal(arrays[wrt].shape)
        fd = _directional_fd(lambda w: reference(**{**arrays, wrt: w}), arrays[wrt], v)
        assert abs(np.vdot(grad, v) - fd) <= 1e-6 * np.linalg.norm(grad) * np.linalg.norm(v)


# -- precedence and spellings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("A' x ⊙ B y", "(A' x) ⊙ (B y)"),  # products bind tighter than ⊙ (eq. 34)
        ("V ⊘ A X B", "V ⊘ (A X B)"),  # ... and than ⊘ (eq. 27)
        ("A ⊙ B ⊘ C ⊙ D", "((A ⊙ B) ⊘ C) ⊙ D"),  # elementwise: left-associative
        ("A + B ⊙ C", "A + (B ⊙ C)"),  # ⊙ tighter than +
        ("A - B - C", "(A - B) - C"),
        ("-A B", "-(A B)"),
        ("A X'", "A (X')"),
        ("(A X)^T", "X^T A^T"),
        ("2 A B / 4", "0.5 (A B)"),
        ("A .* B ./ C", "A ⊙ B ⊘ C"),
        ("A ∘ B", "A ⊙ B"),
        ("Aᵀ", "A'"),
        ("A^T", "A'"),
        ("A − B", "A - B"),
        ("[A + B] C", "(A + B) C"),
        ("Tr(A) + trace(B)", "tr(A) + tr(B)"),
        ("‖A‖_F", "||A||_F"),
        ("||A||", "norm(A)"),
        ("X^-1", "inv(X)"),
        ("X^-T", "inv(X)'"),
        ("π", "pi"),
    ],
)
def test_precedence_and_spellings(a, b):
    wrap_a, wrap_b = f"sum({a})", f"sum({b})"
    if "X^T A^T" in b:  # transposition is read, not rewritten: compare the values instead
        assert _read(wrap_a).shape == _read(wrap_b).shape
        return
    assert _read(wrap_a) == _read(wrap_b)


def test_transpose_of_a_product_is_read_as_written():
    assert isinstance(_read("tr((A X)^T B)").arg.args[0], E.Transpose)


def test_vectors_are_lowercase_columns_and_rows_by_transpose():
    e = _read("a' X b")
    assert e.shape == (1, 1)
    a, X, b = e.args
    assert isinstance(a, E.Transpose) and a.shape == (1, "len(a)") and b.shape[1] == 1
    assert X.shape == ("len(a)", b.shape[0])


def test_a_1x1_factor_scales_anything():
    e = _read("sum(tr(A) X + (a' x) B + X / det(A) + (a' x))").arg
    assert isinstance(e, E.Add) and all(isinstance(t, E.Mul) for t in e.args)
    assert e.shape == ("rows(X)", "cols(X)")  # B, and the broadcast a' x, take X's shape


# -- syntax errors: a caret under the bad token ----------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "caret"),
    [
        ("tr(A X))", "unmatched ')'", "         ^"),
        ("tr(A X", "expected ')' to close the '(' at column 2", "        ^"),
        ("A +", "expected an expression, found the end of the expression", "     ^"),
        ("tr A", "expected '(' after the function 'tr'", "     ^"),
        ("A $ B", "unexpected character '$'", "    ^"),
        ("X^x", "expected a number after '^'", "    ^"),
        ("|X|", "a single '|' is not an operator", "  ^"),
        ("tarce(X)", "unknown function 'tarce'", "  ^"),
        ("(A X]", "']' does not match the '(' at column 0", "      ^"),
        ("||X - Y", "expected '||' to close the norm opened at column 0", "         ^"),
        ("A * * B", "expected an expression, found '*'", "      ^"),
        ("tr()", "expected an expression inside ()", "     ^"),
        ("", "empty expression", "  ^"),
        ("sum(A ⊙ ⊙ B)", "expected an expression, found '⊙'", "          ^"),
    ],
)
def test_syntax_errors_point_at_the_bad_token(source, message, caret):
    with pytest.raises(tg.DeriveSyntaxError) as info:
        tg.derive(source, wrt="X")
    err = info.value
    lines = str(err).split("\n")
    assert message in lines[0]
    assert lines[1] == f"  {source}"
    assert lines[2] == caret
    assert err.position == len(caret) - 3


# -- shape errors: the offending sub-expression, named and underlined ------------------------


@pytest.mark.parametrize(
    ("source", "shapes", "message", "underlined"),
    [
        ("tr(A X B)", {"A": S34, "X": (5, 6)},
         "cannot multiply A (3x4) by X (5x6): 4 columns against 5 rows", "A X"),
        ("tr(A X)", {"A": S34, "X": (4, 5)}, "tr needs a square matrix, but A X is 3x5",
         "tr(A X)"),
        ("||X - W H||_F^2", {"X": S34, "W": (3, 2), "H": S34}, "cannot multiply W (3x2)", "W H"),
        ("sum(A ⊙ X)", {"A": S34, "X": S43}, "⊙ (elementwise product) needs equal shapes",
         "A ⊙ X"),
        ("sum(A - X)", {"A": S34, "X": S43}, "cannot subtract X (4x3) from A (3x4)", "A - X"),
        ("sum(X + A)", {"A": S34, "X": S43}, "cannot add X (4x3) and A (3x4)", "X + A"),
        ("sum(X ./ A)", {"A": S34, "X": S43}, "⊘ (elementwise division) needs equal", "X ./ A"),
        ("tr(X)/A", None, "the divisor of '/' must be a scalar", "tr(X)/A"),
        ("logdet(A X)", {"A": S34, "X": (4, 3)}, None, None),
        ("det(A X)", {"A": S34, "X": (4, 5)}, "det needs a square matrix, but A X is 3x5",
         "det(A X)"),
        ("tr(inv(A X))", {"A": S34, "X": (4, 5)}, "inv needs a square matrix, but A X is 3x5",
         "inv(A X)"),
        ("sum(X^0.5)", {"X": S33}, "only a scalar (1x1) can be raised to the power 0.5",
         "X^0.5"),
        ("sum(X^2)", {"X": S34}, "the matrix power X^2 needs a square matrix", "X^2"),
        ("tr(diag(A) X)", {"A": S34, "X": S33}, "diag needs a vector", "diag(A)"),
    ],
)  # fmt: skip
def test_shape_errors_name_the_subexpression(source, shapes, message, underlined):
    if message is None:  # a legal expression (logdet of the square A X): no error
        tg.derive(source, wrt="X", shapes=shapes)
        return
    with pytest.raises(tg.DeriveShapeError) as info:
        tg.derive(source, wrt="X", shapes=shapes)
    err = info.value
    assert message in err.reason
    if underlined is not None:
        assert err.subexpression == underlined
        start = source.index(underlined)
        assert str(err).split("\n")[-1] == "  " + " " * start + "^" * len(underlined)


def test_partial_shapes_are_inferred():
    d = tg.derive("tr(A X B)", wrt="X", shapes={"A": (2, 3), "X": (3, 4)})
    assert d.shapes == {"A": (2, 3), "X": (3, 4), "B": (4, 2)}
    assert d.check_shapes == d.shapes


def test_underdetermined_shapes_list_what_is_missing():
    with pytest.raises(tg.DeriveShapeError, match=r"B \(rows\(B\)xcols\(B\)\).*add them"):
        tg.derive("tr(A X) + sum(B)", wrt="X", shapes={"A": (2, 3), "X": (3, 2)})
    with pytest.raises(tg.DeriveShapeError, match="the size of I at column 9"):
        tg.derive("tr(X) tr(I)", wrt="X", shapes={"X": (2, 2)})


@pytest.mark.parametrize(
    ("wrt", "shapes", "error", "match"),
    [
        ("Y", None, tg.DeriveError, r"wrt='Y' does not appear .*symbols: A, X, B"),
        ("I", None, tg.DeriveError, "reserved constant"),
        (3, None, tg.DeriveError, "symbol name"),
        ("X", {"Z": (1, 1)}, tg.DeriveError, "shapes names Z"),
        ("X", {"A": (0, 2)}, tg.DeriveError, "positive integer"),
        ("X", {"A": (2, 3, 4)}, tg.DeriveError, "3 dimensions"),
        ("X", {"tr": (2, 2)}, tg.DeriveError, "reserved"),
        ("X", "A=3y4", tg.DeriveError, "not a shape"),
        ("X", "A", tg.DeriveError, "expected NAME=ROWSxCOLS"),
    ],
)
def test_bad_wrt_and_shapes_arguments(wrt, shapes, error, match):
    with pytest.raises(error, match=match):
        tg.derive("tr(A X B)", wrt=wrt, shapes=shapes)


def test_shape_spec_strings():
    assert parse_shape_spec("A=3x4, x=5,s=1x1,B=2×3") == {
        "A": (3, 4), "x": (5, 1), "s": (1, 1), "B": (2, 3)
    }  # fmt: skip
    with pytest.raises(tg.DeriveError, match="given twice"):
        parse_shape_spec("A=3x4,A=2x2")


# -- calling a Derivation --------------------------------------------------------------------


@pytest.fixture(scope="module")
def eq9():
    return tg.derive("tr(A X B)", wrt="X", shapes={"A": (2, 3), "X": (3, 4)})


def test_call_validates_the_arrays(eq9):
    arrays = _arrays({"A": (2, 3), "X": (3, 4), "B": (4, 2)})
    with pytest.raises(tg.DeriveError, match="missing B; unexpected C"):
        eq9(A=arrays["A"], X=arrays["X"], C=arrays["B"])
    with pytest.raises(ValueError, match=r"X contains 1 NaN .*index \(1, 2\)"):
        eq9(**{**arrays, "X": arrays["X"].at[1, 2].set(jnp.nan)})
    with pytest.raises(tg.DeriveShapeError, match="B has shape 3x2, but the expression needs 4"):
        eq9(**{**arrays, "B": jnp.ones((3, 2))})
    with pytest.raises(tg.DeriveError, match="floating-point"):
        eq9(**{**arrays, "A": jnp.ones((2, 3), jnp.int32)})


def test_dtype_and_vector_layout_are_kept():
    d = tg.derive("||A x - b||^2", wrt="x", shapes={"A": (5, 3)})
    arrays = _arrays({"A": (5, 3), "x": 3, "b": 5})
    g64 = d(**arrays)
    assert g64.shape == (3,) and g64.dtype == jnp.float64
    f32 = {k: v.astype(jnp.float32) for k, v in arrays.items()}
    g32 = d(**f32)
    assert g32.dtype == jnp.float32
    _close(g32, g64, jnp.float32)
    column = d(**{**arrays, "x": arrays["x"][:, None]})
    assert column.shape == (3, 1)
    A, x, b = (np.asarray(arrays[k]) for k in "Axb")
    _close(g64, 2 * A.T @ (A @ x - b))


def test_symbolic_derivation_specialises_and_checks_each_new_shape():
    d = tg.derive("tr(A X B)", wrt="X")
    assert d.shapes is None and d.report.ok
    assert d.gradient == "A^T B^T"
    first = len(d.reports)
    for m, n, p in [(2, 3, 4)]:
        arrays = _arrays({"A": (p, m), "X": (m, n), "B": (n, p)})
        _close(d(**arrays), arrays["A"].T @ arrays["B"].T)
        _close(d.function(arrays["A"], arrays["X"], arrays["B"]), d(**arrays))
    assert len(d.reports) == first + 1 and all(r.ok for r in d.reports.values())
    # a new signature first met inside jax.jit is derived and checked at trace time
    arrays = _arrays({"A": (3, 2), "X": (2, 5), "B": (5, 3)})
    inside = jax.jit(lambda A, X, B: d(A=A, X=X, B=B))(**arrays)
    _close(inside, arrays["A"].T @ arrays["B"].T)
    assert len(d.reports) == first + 2
    with pytest.raises(tg.DeriveShapeError, match="x was read as a column vector"):
        tg.derive("a' x", wrt="x")(a=jnp.ones(3), x=jnp.ones((3, 2)))


def test_a_wrong_rule_is_an_internal_error_never_a_result(monkeypatch):
    from tracegrad._derive import _specialization

    original = _specialization.appearance_terms

    def forgot_a_transpose(objective, wrt):  # the classic slip: A B instead of (A B)^T
        return [E.Transpose(t) for t in original(objective, wrt)]

    monkeypatch.setattr(_specialization, "appearance_terms", forgot_a_transpose)
    with pytest.raises(tg.DeriveInternalError) as info:
        tg.derive("tr(A X B)", wrt="X", shapes={"A": (3, 3), "X": (3, 3), "B": (3, 3)})
    assert not info.value.report.ok
    assert "transposed" in info.value.report.diagnosis
    assert "an engine bug" in str(info.value)


def test_costly_objectives_run_finite_differences_at_proxy_shapes(monkeypatch):
    """Where full finite differences would cost too much, the same expression is checked in
    full at small proxy shapes, and at the real shapes against jax.grad (every entry) and
    jax.jvp; a wrong gradient is still caught."""
    from tracegrad._derive import _specialization

    monkeypatch.setattr(_specialization, "_FD_FLOP_BUDGET", 1e3)
    shapes = {"V": (3, 5), "A": (3, 7), "x": 7, "B": (7, 5)}
    d = tg.derive("tr(V' log(A diag(x) B))", wrt="x", shapes=shapes)
    assert d.report.ok
    fd = d.report.references["fd64"].detail
    assert "at the proxy shapes V=3x4, A=3x5, x=5x1, B=5x4" in fd
    assert d.report.references["reverse"].detail == "jax.grad in float64, every entry"
    original = _specialization.appearance_terms
    monkeypatch.setattr(
        _specialization, "appearance_terms", lambda e, w: [E.Scale(2.0, t) for t in original(e, w)]
    )
    with pytest.raises(tg.DeriveInternalError) as info:
        tg.derive("tr(V' log(A diag(x) B))", wrt="x", shapes=shapes)
    assert "scaled by a constant: candidate = 2 x gradient" in info.value.report.diagnosis


def test_an_objective_undefined_almost_everywhere_is_reported():
    # det(X A) with X 4x3, A 3x4 is the determinant of a rank-3 4x4 matrix: always singular
    with pytest.raises(tg.DeriveError, match="could not draw inputs"):
        tg.derive("logdet(X A)", wrt="X", shapes={"X": (4, 3), "A": (3, 4)})


def test_cancelling_appearances_give_zero():
    d = tg.derive("y' (X + A - X) x + tr(X - X')", wrt="X")
    assert d.gradient == "0"
    assert [t.text for t in d.terms] == ["y x^T", "-y x^T", "I", "-I"]
    assert d.report.ok  # checked with an absolute tolerance scaled to the cancelling terms
    arrays = _arrays({"y": 3, "x": 3, "A": S33, "X": S33})
    assert not np.any(np.asarray(d(**arrays)))


def test_terms_are_callable_and_sum_to_the_gradient():
    d = tg.derive("tr(A X B X C')", wrt="X", shapes={"A": (2, 3), "X": (3, 4), "B": (4, 3)})
    arrays = _arrays(d.shapes)
    args = [arrays[n] for n in d.argnames]
    assert [t.index for t in d.terms] == [1, 2]
    _close(sum(t.function(*args) for t in d.terms), d.function(*args))
    assert d.gradient == "A^T C X^T B^T + B^T X^T A^T C"  # trace notes eq. (17)


# -- LaTeX and the CLI -----------------------------------------------------------------------


def test_latex_output_is_well_formed():
    d = tg.derive("tr(V' log(A diag(x) B))", wrt="x")
    assert d.latex == (
        r"\left(A^{T} \left(V \oslash \left(A \operatorname{diag}\left(x\right) B\right)\right)"
        r" \odot B\right) \mathbf{1}"
    )  # trace notes eq. (41)
    assert d.objective_latex == (
        r"\operatorname{tr}\left(V^{T} \log\left(A \operatorname{diag}\left(x\right) B"
        r"\right)\right)"
    )
    inv_d = tg.derive("tr(A X^-1) + logdet(X) + ||X||_F^2", wrt="X")
    assert inv_d.latex == r"-X^{-T} A^{T} X^{-T} + X^{-T} + 2 X"
    assert inv_d.objective_latex == (
        r"\operatorname{tr}\left(A X^{-1}\right) + \log\left\lvert\det X\right\rvert"
        r" + \left\lVert X\right\rVert_F^{2}"
    )
    for text in (d.latex, d.objective_latex, inv_d.latex, inv_d.objective_latex):
        assert text.count("{") == text.count("}")
        assert text.count(r"\left") == text.count(r"\right")


def test_cli_main_output():
    from tracegrad._derive import cli_main

    out = cli_main("tr(A X X' B C X' X C)", "X", False, "A=3x4,X=4x3,B=4x3")
    lines = out.split("\n")
    assert lines[0] == "f = tr(A X X^T B C X^T X C)"
    assert lines[1].startswith("df/dX = A^T C^T X^T X C^T B^T X + ")
    assert lines[2] == "terms (one per appearance of X, trace notes eq. 18):"
    assert lines[3] == "  [1] X at column 5: A^T C^T X^T X C^T B^T X"
    assert lines[4] == "  [2] X^T at column 7: B C X^T X C A X"
    assert lines[-1].startswith("check vs jax.grad: PASS (float64, A=3x4, X=4x3, B=4x3, C=3x3;")
    latex = cli_main("tr(A X B)", "X", True, None)
    assert latex.split("\n")[1] == "df/dX = A^{T} B^{T}"
    assert "sizes chosen for the check" in latex
    with pytest.raises(tg.DeriveError, match="A=3y4"):
        cli_main("tr(A X B)", "X", False, "A=3y4")
