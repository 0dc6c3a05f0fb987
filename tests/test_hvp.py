"""Second order: check_hvp / check_hessian, the registry's closed-form HVPs, with_grad(hvp=)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import DTYPES, SHIPPED_IDENTITIES, dtype_id

import tracegrad as tg

HVP_NAMES = sorted(n for n, i in tg.registry().items() if i.hvp is not None)

_rng = np.random.default_rng(0)
X34 = _rng.standard_normal((3, 4))
B44 = _rng.standard_normal((4, 4))  # not symmetric: 2 V B is a real slip
A44 = _rng.standard_normal((4, 4))
XSQ = _rng.standard_normal((4, 4))
x5 = _rng.standard_normal(5)
M55 = _rng.standard_normal((5, 5))


def _quad(X, B):  # tr(X B X^T): H V = V (B + B^T)
    return jnp.trace(X @ B @ X.T)


def _cubic(X, A, B):  # tr(A X B X): H V = A^T V^T B^T + B^T V^T A^T
    return jnp.trace(A @ X @ B @ X)


def _vec(x, M):  # x^T M x + sum x^4: H = M + M^T + diag(12 x^2)
    return x @ M @ x + jnp.sum(x**4)


QUAD_SLIPS = {
    "right": (lambda X, B, V: V @ (B + B.T), "ok"),
    "missing symmetrisation": (lambda X, B, V: V @ B, "missing symmetrisation"),
    "2VB shortcut": (lambda X, B, V: 2 * V @ B, "right only for symmetric"),
    "sign": (lambda X, B, V: -V @ (B + B.T), "sign flipped"),
    "factor": (lambda X, B, V: 0.5 * V @ (B + B.T), "candidate = 1/2 x H v"),
}


@pytest.mark.parametrize(
    ("slip", "dtype"),
    [(s, jnp.float64) for s in QUAD_SLIPS]
    + [("right", jnp.float32), ("2VB shortcut", jnp.float32)],
)
def test_check_hvp_names_the_slip(slip, dtype):
    hvp, words = QUAD_SLIPS[slip]
    report = tg.check_hvp(_quad, hvp, X34.astype(dtype), B44.astype(dtype))
    assert report.ok == (slip == "right"), str(report)
    assert words in report.diagnosis, str(report)
    assert set(report.references) == {"fwd_rev", "rev_rev", "fd64"}
    assert set(report.properties) == {"linearity", "symmetry", "taylor"}
    assert "HVP check" in str(report) and report.dtype == jnp.dtype(dtype).name
    if slip in ("sign", "factor"):  # symmetric but wrong: the Taylor remainder is O(t^2)
        assert not report.properties["taylor"].ok and report.properties["symmetry"].ok


def test_check_hvp_per_appearance_slips():
    right = lambda X, A, B, V: A.T @ V.T @ B.T + B.T @ V.T @ A.T  # noqa: E731
    assert tg.check_hvp(_cubic, right, XSQ, A44, B44).ok
    one_term = lambda X, A, B, V: A.T @ V @ B.T + B.T @ V.T @ A.T  # noqa: E731
    d = tg.check_hvp(_cubic, one_term, XSQ, A44, B44, argnames=("X", "A", "B")).diagnosis
    assert "direction transposed in one term" in d and "use 1 of X" in d, d
    out_t = lambda X, A, B, V: (A.T @ V.T @ B.T + B.T @ V.T @ A.T).T  # noqa: E731
    assert "result transposed" in tg.check_hvp(_cubic, out_t, XSQ, A44, B44).diagnosis


def test_check_hessian_and_its_diagnoses():
    right = lambda x, M: M + M.T + jnp.diag(12 * x**2)  # noqa: E731
    report = tg.assert_hessian_close(_vec, right, x5, M55)
    assert report.kind == "Hessian" and report.references["dense"].ok
    d = tg.check_hessian(_vec, lambda x, M: M + jnp.diag(12 * x**2), x5, M55).diagnosis
    assert "one half of their mixed derivative" in d and "dropped" in d, d
    d = tg.check_hessian(_vec, lambda x, M: M + M.T, x5, M55).diagnosis
    assert "dropped term" in d and "integer_pow" in d, d
    with pytest.raises(AssertionError, match="Hessian check FAIL"):
        tg.assert_hessian_close(_vec, lambda x, M: 2 * M + jnp.diag(12 * x**2), x5, M55)
    # (a.x)(b.x) + sum x^4: H = a b^T + b a^T + diag(12 x^2); drop the cross term
    a5, b5 = jnp.asarray(M55[0]), jnp.asarray(M55[1])
    prod = lambda x, a, b: jnp.dot(a, x) * jnp.dot(b, x) + jnp.sum(x**4)  # noqa: E731
    d = tg.check_hessian(prod, lambda x, a, b: jnp.diag(12 * x**2), x5, a5, b5).diagnosis
    assert "dropped cross term" in d and "use 1" in d and "use 2" in d, d
    bad_shape = tg.check_hessian(_vec, jnp.zeros((5,)), x5, M55)
    assert not bad_shape.ok and "x.shape + x.shape" in bad_shape.diagnosis


def test_check_hvp_property_failures_are_named():
    affine = lambda X, B, V: V @ (B + B.T) + 1.0  # noqa: E731
    report = tg.check_hvp(_quad, affine, X34, B44)
    assert not report.ok and not report.properties["linearity"].ok
    with pytest.raises(AssertionError, match="Hessian-vector product disagrees"):
        tg.assert_hvp_close(_quad, affine, X34, B44)


def test_check_hvp_bad_input_names_the_argument():
    good = QUAD_SLIPS["right"][0]
    cases = [
        (TypeError, "argnum", dict(argnum=True)),
        (TypeError, "argnum", dict(argnum=0.0)),
        (ValueError, "argnum", dict(argnum=2)),
        (ValueError, "n_directions", dict(n_directions=1)),
        (TypeError, "n_directions", dict(n_directions="3")),
        (ValueError, "rtol", dict(rtol=-1.0)),
        (ValueError, "atol", dict(atol=float("nan"))),
        (TypeError, "key", dict(key="seed")),
    ]
    for exc, word, kwargs in cases:
        with pytest.raises(exc, match=word):
            tg.check_hvp(_quad, good, X34, B44, **kwargs)
    with pytest.raises(TypeError, match="hvp must be callable"):
        tg.check_hvp(_quad, np.zeros((3, 4)), X34, B44)
    with pytest.raises(TypeError, match="hvp must return an array"):
        tg.check_hvp(_quad, lambda X, B, V: None, X34, B44)
    with pytest.raises(ValueError, match="zero size"):
        tg.check_hvp(_quad, good, np.zeros((0, 4)), B44)
    nan = X34.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"argument 0 \(X\) contains 1 NaN"):
        tg.check_hvp(_quad, good, nan, B44, argnames=("X", "B"))
    with pytest.raises(TypeError, match="real floating scalar"):
        tg.check_hvp(lambda X, B: X @ B, good, X34, B44)
    wrong = tg.check_hvp(_quad, lambda X, B, V: V.T, X34, B44)
    assert not wrong.ok and "returns shape (4, 3)" in wrong.diagnosis
    complex_ = tg.check_hvp(_quad, lambda X, B, V: (V @ (B + B.T)) + 0j, X34, B44)
    assert not complex_.ok and "complex" in complex_.diagnosis


# ---------------------------------------------------------------------------------------------
# the registry's closed-form HVPs


# built-ins with a non-zero Hessian and no closed-form HVP, and why
NO_HVP = {
    "traa.eq46": "a sum over rows of eq. (41) blocks; its HVP is eq. (41)'s chained through B",
    "hu.spectral_norm": "the top singular pair's derivative needs the full SVD gap expansion",
}


def test_every_builtin_with_a_hessian_has_an_hvp():
    """Walks the registry: no HVP means a linear objective or a stated reason.

    For a linear objective the closed-form gradient does not read the differentiated argument
    at all (its value; the shape may be used), which the gradient's jaxpr shows.
    """
    for name in SHIPPED_IDENTITIES:
        ident = tg.identity(name)
        if ident.hvp is not None or name in NO_HVP:
            continue
        args = ident.arguments(0)

        def grad(x, ident=ident, args=args):
            return ident.gradient(*args[: ident.wrt], x, *args[ident.wrt + 1 :])

        jaxpr = jax.make_jaxpr(grad)(args[ident.wrt]).jaxpr
        x = jaxpr.invars[0]
        reads = [e for e in jaxpr.eqns if any(v is x for v in e.invars)]
        assert not reads and all(v is not x for v in jaxpr.outvars), (
            f"{name}: its gradient depends on {ident.wrt_name}, so its Hessian is not zero: "
            f"give it an hvp= or a reason in NO_HVP"
        )
    assert {"hu.det", "hu.gaussian_cov", "traa.eq24_W", "traa.eq27"} <= set(HVP_NAMES)


# the full checker (three compiled programs per identity) on one identity per family; every
# HVP is compared with forward-over-reverse in float64 below
FULL_CHECK = ["traa.eq27", "hu.logdet"]


@pytest.mark.parametrize("name", FULL_CHECK)
def test_closed_form_hvp_passes_the_checker_float32(name):
    report = tg.identity(name).check_hvp(1, jnp.float32)
    assert report.ok, f"{name}\n{report}"
    assert report.candidate_dtype == "float32"


# normwise agreement of two evaluation orders of the same second derivative on the samplers'
# well-conditioned inputs: float64 rounding is ~1e-14, float32 ~1e-6 (det, inverse: a few
# condition numbers more); any slip is an O(1) difference
HVP_RTOL = {jnp.float32: 1e-4, jnp.float64: 1e-9}


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("name", HVP_NAMES)
def test_closed_form_hvp_equals_forward_over_reverse(name, dtype):
    """Three seeds, one compiled batch: the HVP against jax.jvp of jax.grad, normwise."""
    ident = tg.identity(name)
    samples = [ident.arguments(seed, dtype) for seed in range(3)]
    # stacked on the host: an eager jnp.stack compiles a program per shape
    batch = tuple(jax.device_put(np.stack(xs)) for xs in zip(*samples, strict=True))
    V = jax.random.normal(jax.random.key(0), batch[ident.wrt].shape, dtype)

    def both(*a):
        *args, v = a

        def grad(x):
            return jax.grad(ident.objective, ident.wrt)(
                *args[: ident.wrt], x, *args[ident.wrt + 1 :]
            )

        return ident.hvp(*args, v), jax.jvp(grad, (args[ident.wrt],), (v,))[1]

    closed, ref = jax.jit(jax.vmap(both))(*batch, V)
    assert closed.dtype == dtype and closed.shape == batch[ident.wrt].shape
    for c, r in zip(np.asarray(closed, np.float64), np.asarray(ref, np.float64), strict=True):
        assert np.max(np.abs(c - r)) <= HVP_RTOL[dtype] * np.max(np.abs(r)), name


# ---------------------------------------------------------------------------------------------
# with_grad(hvp=)


def test_with_grad_hvp_is_what_second_derivatives_run():
    traced = []

    def hvp(X, B, V):
        traced.append(V.shape)
        return V @ (B + B.T)

    grad = lambda X, B: X @ (B + B.T)  # noqa: E731
    f = tg.with_grad(_quad, grad, argnums=0, hvp=hvp)
    V = jnp.asarray(_rng.standard_normal((3, 4)))
    out = jax.jvp(lambda X: jax.grad(f)(X, B44), (X34,), (V,))[1]
    assert traced, "the closed-form HVP was not called"
    np.testing.assert_allclose(out, V @ (B44 + B44.T), rtol=1e-12)
    H = jax.jit(jax.hessian(f))(X34, B44)
    np.testing.assert_allclose(H, jax.hessian(_quad)(X34, B44), rtol=1e-12, atol=1e-12)
    # a wrong closed form shows through: proof that it, not autodiff, runs
    f2 = tg.with_grad(_quad, grad, argnums=0, hvp=lambda X, B, V: 2 * V @ (B + B.T))
    out2 = jax.jvp(lambda X: jax.grad(f2)(X, B44), (X34,), (V,))[1]
    np.testing.assert_allclose(out2, 2 * V @ (B44 + B44.T), rtol=1e-12)
    rev = jax.grad(lambda X: jnp.vdot(jax.grad(f2)(X, B44), V))(X34)  # reverse over reverse
    np.testing.assert_allclose(rev, 2 * V @ (B44 + B44.T), rtol=1e-12)
    # a tangent in the other argument goes through jax.jvp of the gradient
    E = jnp.eye(4)
    tb = jax.jvp(lambda B: jax.grad(f)(X34, B), (B44,), (E,))[1]
    np.testing.assert_allclose(tb, 2 * X34, rtol=1e-12)
    with pytest.raises(ValueError, match="single int argnums"):
        tg.with_grad(_quad, grad, argnums=(0,), hvp=hvp)
    with pytest.raises(TypeError, match="hvp must be callable"):
        tg.with_grad(_quad, grad, argnums=0, hvp=3)


def test_registry_as_function_uses_the_identity_hvp():
    ident = tg.identity("hu.least_squares")
    A, x, b = ident.arguments(0)
    f = ident.as_function()
    assert f.hvp is ident.hvp
    H = jax.jit(jax.hessian(f, argnums=1))(A, x, b)
    np.testing.assert_allclose(H, 2 * A.T @ A, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# one declaration: shapes -> argnames, spec, sampler; expression -> formula


def test_one_declaration_gives_names_spec_sampler_and_formula():
    def objective(A, X, B):
        return jnp.trace(A @ X @ B)

    def hvp(A, X, B, V):
        return jnp.zeros_like(X)

    @tg.register(
        "tests.decl_axb",
        objective=objective,
        source="a test",
        shapes={"A": "p m", "X": "m n", "B": "n p"},
        wrt="X",
        expression="tr(A X B)",
        hvp=hvp,
    )
    def gradient(A, X, B):
        return A.T @ B.T

    try:
        ident = tg.identity("tests.decl_axb")
        assert ident.argnames == ("A", "X", "B") and ident.wrt_name == "X"
        A, X, B = ident.arguments(0, jnp.float32)
        assert (A.shape, X.shape, B.shape) == ((3, 4), (4, 5), (5, 3))  # distinct per letter
        assert A.dtype == jnp.float32
        assert ident.check(0).ok
        assert ident.formula == "d tr(A X B)/dX = A^T B^T"
        assert ident.latex.endswith("= A^{T} B^{T}")
        # one spec checks the objective, the gradient and the HVP
        with pytest.raises(ValueError, match=r"B has shape 4x3, so n = 4"):
            ident.gradient(A, X, B[:4])
        with pytest.raises(ValueError, match=r"objective: B has shape 4x3"):
            ident.objective(A, X, B[:4])
        with pytest.raises(ValueError, match=r"v has shape 5x4"):
            ident.hvp(A, X, B, X.T)
        with pytest.raises(ValueError, match="the gradient has shape 5x4, expected 4x5"):
            tg.register(
                "tests.decl_bad", objective=objective, source="a test",
                shapes={"A": "p m", "X": "m n", "B": "n p"}, wrt="X", not_expressible="test",
            )(lambda A, X, B: (A.T @ B.T).T)(A, X, B)  # fmt: skip
    finally:
        for name in ("tests.decl_axb", "tests.decl_bad"):
            if name in tg.registry():
                tg.unregister(name)


def test_declaration_errors_name_the_problem():
    with pytest.raises(ValueError, match="wrt='Y' is not one of"):
        tg.register("t.x", objective=jnp.sum, source="s", shapes={"X": "m n"}, wrt="Y")
    with pytest.raises(TypeError, match="shapes must be a non-empty dict"):
        tg.register("t.x", objective=jnp.sum, source="s", shapes={}, wrt=0)
    with pytest.raises(ValueError, match="not a dimension letter"):
        tg.register("t.x", objective=jnp.sum, source="s", shapes={"X": "m 3"})
    with pytest.raises(ValueError, match="disagree with the shapes"):
        tg.register("t.x", objective=jnp.sum, source="s", shapes={"X": "m"}, argnames=("Y",))
    with pytest.raises(TypeError, match="hvp must be callable"):
        tg.register("t.x", objective=jnp.sum, source="s", shapes={"X": "m"}, hvp=3)
    with pytest.raises(TypeError, match="needs sample="):
        tg.register("t.x", objective=jnp.sum, source="s", argnames=("X",))
