"""The checker on bad input: a clear, early, typed error naming the argument, or a sane report."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _frobenius import _frob, _frob_W

import tracegrad as tg


def _sq(x):
    return jnp.sum(x**2)


def _dsq(x):
    return 2 * x


X3 = jnp.asarray([0.5, -1.0, 2.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"rtol": -1e-3}, ValueError, "rtol"),
        ({"rtol": float("nan")}, ValueError, "rtol"),
        ({"atol": -1.0}, ValueError, "atol"),
        ({"atol": float("inf")}, ValueError, "atol"),
        ({"rtol": "tight"}, TypeError, "rtol"),
        ({"n_directions": 0}, ValueError, "n_directions"),
        ({"n_directions": -3}, ValueError, "n_directions"),
        ({"n_directions": 2.5}, TypeError, "n_directions"),
        ({"n_directions": 10**9}, ValueError, "n_directions"),
        ({"fd": "yes"}, TypeError, "fd"),
        ({"argnum": 0.0}, TypeError, "argnum"),
        ({"argnum": True}, TypeError, "argnum"),
        ({"argnum": "0"}, TypeError, "argnum"),
        ({"key": "seed"}, TypeError, "key"),
        ({"key": 1.5}, TypeError, "key"),
        ({"key": -1}, ValueError, "key"),
        ({"key": jnp.zeros(3)}, TypeError, "key"),
        ({"terms": 5}, TypeError, "terms"),
        ({"terms": {"a": jnp.ones(4)}}, ValueError, "terms"),
        ({"terms": lambda x: [x, x]}, TypeError, "terms"),
        ({"terms": {"a": "text"}}, TypeError, "terms"),
        ({"argnames": "x"}, TypeError, "argnames"),
    ],
)
def test_malformed_keyword_arguments_are_named(kwargs, error, name):
    with pytest.raises(error, match=name):
        tg.check_grad(_sq, _dsq, X3, **kwargs)


@pytest.mark.parametrize("key", [None, 3, np.int64(3), jax.random.key(3), jax.random.PRNGKey(3)])
def test_every_documented_key_form_is_accepted(key):
    assert tg.check_grad(_sq, _dsq, X3, key=key, argnum=np.int64(0)).ok


@pytest.mark.parametrize(
    ("grad", "word"),
    [
        (lambda x: None, "None"),
        (lambda x: "2x", "str"),
        (lambda x: {"x": 2 * x}, "dict"),
        (lambda x: (2 * x,), "tuple"),
        (None, "grad"),
        ("2*x", "grad"),
    ],
)
def test_gradient_of_the_wrong_kind_is_a_type_error_naming_grad(grad, word):
    with pytest.raises(TypeError, match="grad") as err:
        tg.check_grad(_sq, grad, X3)
    assert word in str(err.value)


@pytest.mark.parametrize(
    ("f", "word"),
    [
        (lambda x: jnp.sum(x**2).astype(jnp.complex64), "complex"),
        (lambda x: jnp.sum(x > 0), "int"),
        (lambda x: jnp.sum(x > 0) > 0, "bool"),
    ],
)
def test_objective_that_is_not_a_real_float_is_refused(f, word):
    with pytest.raises(TypeError, match="objective") as err:
        tg.check_grad(f, _dsq, X3)
    assert word in str(err.value)


def test_bfloat16_check_runs_and_caps_its_tolerance():
    x = jnp.linspace(0.1, 1.0, 8, dtype=jnp.bfloat16)
    report = tg.check_grad(lambda x: jnp.sum(x**3), lambda x: 3 * x**2, x)
    assert report.ok, report
    assert report.noise is not None and report.rtol <= 1e-2
    assert not tg.check_grad(lambda x: jnp.sum(x**3), lambda x: -3 * x**2, x).ok


def test_objective_that_stays_float32_at_float64_inputs_keeps_the_fixed_tolerance():
    def f(x):  # computes in float32 whatever its input
        return jnp.sum(x.astype(jnp.float32) ** 3)

    x = jnp.linspace(0.1, 1.0, 8, dtype=jnp.float32)
    report = tg.check_grad(f, lambda x: 3 * x**2, x)
    assert report.ok, report
    assert report.noise is None and report.rtol == tg.default_rtol(jnp.float32)
    assert any("float32 even at float64 inputs" in n for n in report.notes)
    assert not tg.check_grad(f, lambda x: 3 * x**2 * 1.01, x).ok


def test_zero_size_and_non_array_arguments_are_named():
    with pytest.raises(ValueError, match=r"argument 0 \(x\).*zero size"):
        tg.check_grad(_sq, _dsq, jnp.ones((0, 3)), argnames=("x",))
    with pytest.raises(TypeError, match="argument 1"):
        tg.check_grad(lambda x, s: jnp.sum(x), lambda x, s: jnp.ones_like(x), X3, "scale")


def test_complex_gradient_for_a_real_objective_fails():
    report = tg.check_grad(
        lambda x: jnp.sum(x**2), lambda x: (2 * x).astype(jnp.complex64) + 1j, jnp.ones(3)
    )
    assert not report.ok
    assert "complex" in report.diagnosis and "must be real" in report.diagnosis


def test_a_kink_is_reported_as_inconclusive_not_as_a_zero_error():
    report = tg.check_grad(lambda x: jnp.sum(jnp.abs(x)), jnp.ones_like, jnp.zeros(3))
    assert not report.ok
    assert report.diagnosis.startswith("inconclusive"), report.diagnosis
    assert "not differentiable" in report.diagnosis
    assert "relative error of 0" not in str(report)


def test_zero_candidate_on_a_large_argument_reports_a_sane_error():
    x = jnp.linspace(0.5, 1.5, 5000)
    report = tg.check_grad(_sq, jnp.zeros_like, x)
    assert not report.ok and report.diagnosis == "candidate is identically zero"
    assert report.max_rel_err <= 1.0 + 1e-6, report  # |0 - g| / |g|, never 1e+301


def test_float64_numpy_arguments_with_x64_off_are_checked_in_float64():
    x = np.linspace(0.1, 1.0, 6)
    with jax.enable_x64(False):
        report = tg.check_grad(_sq, _dsq, x)
    assert report.ok, report
    assert report.dtype == "float64"
    assert any("enable_x64" in note for note in report.notes), report.notes
    with jax.enable_x64(False):  # float32 input stays float32, without a note
        report32 = tg.check_grad(_sq, _dsq, x.astype(np.float32))
    assert report32.dtype == "float32" and report32.notes == ()


def test_shadow_raises_gradient_mismatch_error_itself_on_an_eager_pass(xwh):
    f = tg.with_grad(_frob, lambda *a: 2 * _frob_W(*a), argnums=1, check="first")
    with pytest.raises(tg.GradientMismatchError, match="= 2 x gradient") as err:
        jax.grad(f, argnums=1)(*xwh)
    assert len(str(err.value)) < 1000


def test_shadow_record_then_raise_gives_the_typed_error_from_jit(xwh):
    f = tg.with_grad(_frob, lambda *a: -_frob_W(*a), argnums=1, check="first", on_mismatch="record")
    jax.block_until_ready(jax.jit(jax.grad(f, argnums=1))(*xwh))
    with pytest.raises(tg.GradientMismatchError, match="sign flipped"):
        f.shadow.raise_if_mismatched()
    ok = tg.with_grad(_frob, _frob_W, argnums=1, check="first", on_mismatch="record")
    jax.block_until_ready(jax.grad(ok, argnums=1)(*xwh))
    ok.shadow.raise_if_mismatched()  # a right gradient: nothing to raise


def test_with_grad_argument_checks(xwh):
    f = tg.with_grad(_frob, _frob_W, argnums=np.int64(1))
    np.testing.assert_allclose(jax.grad(f, argnums=1)(*xwh), _frob_W(*xwh), rtol=1e-12)
    with pytest.raises(ValueError, match="rtol"):
        tg.with_grad(_frob, _frob_W, argnums=1, check="first", rtol=-1.0)
    with pytest.raises(TypeError, match="argnums"):
        tg.with_grad(_frob, _frob_W, argnums=1.0)
