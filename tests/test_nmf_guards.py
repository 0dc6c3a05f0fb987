"""Every public NMF entry point refuses bad input by name, guards traced values, and never
returns NaN, Inf or a silent 0.0 for data at the edges of the float range."""

import json
import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import REGISTRY_LOSSES, cli_main

import tracegrad as tg
from tracegrad.nmf._checks import check_key
from tracegrad.nmf._loop import HISTORY_CAPACITY, history_layout
from tracegrad.nmf._losses import resolve_loss
from tracegrad.nmf._scale import range_exponent_host

# internals: the RNG key check, loss-history layout and float32 range exponent, at their edges
pytestmark = pytest.mark.internals

M, N, K = 6, 5, 2
RANGE_RTOL = 1e-3
"""Fits of ``s V`` and ``V`` in float32 agree to rounding once rescaled by the exact power of
four; the square-root losses then differ by float32 round-off over ~100 iterations (~1e-5),
far below the factor-of-2 or NaN/0 errors of an unguarded fit."""


@pytest.fixture(scope="module")
def V():
    return np.random.default_rng(0).random((M, N)) + 0.05


def _raises(exc, name, fn, *args, **kwargs):
    """``fn`` raises ``exc`` and the message names ``name``."""
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert name in str(info.value), str(info.value)


FIT_BAD = [
    (dict(loss=["kl"]), ValueError, "loss"),
    (dict(loss=None), ValueError, "loss"),
    (dict(loss=float("nan")), ValueError, "loss"),
    (dict(init=["random"]), ValueError, "init"),
    (dict(solver=["hals"]), ValueError, "solver"),
    (dict(solver=None), ValueError, "solver"),
    (dict(update_H="no"), TypeError, "update_H"),
    (dict(key="abc"), TypeError, "key"),
    (dict(key=2**70), ValueError, "key"),
    (dict(key=1.5), TypeError, "key"),
    (dict(key=True), TypeError, "key"),
    (dict(key=jax.random.split(jax.random.key(0), 0)), ValueError, "key"),
    (dict(tol=float("nan")), ValueError, "tol"),
    (dict(tol=-1e-4), ValueError, "tol"),
    (dict(tol=float("inf")), ValueError, "tol"),
    (dict(tol="1e-4"), TypeError, "tol"),
    (dict(tol=np.ones(2)), TypeError, "tol"),
    (dict(alpha_W=-1.0), ValueError, "alpha_W"),
    (dict(alpha_W=float("nan")), ValueError, "alpha_W"),
    (dict(alpha_H=float("nan")), ValueError, "alpha_H"),
    (dict(alpha_H=-0.5), ValueError, "alpha_H"),
    (dict(alpha_H="other"), ValueError, "alpha_H"),
    (dict(l1_ratio=1.5), ValueError, "l1_ratio"),
    (dict(l1_ratio=-0.1), ValueError, "l1_ratio"),
    (dict(l1_ratio=float("nan")), ValueError, "l1_ratio"),
    (dict(l1_ratio=True), TypeError, "l1_ratio"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(max_iter=-5), ValueError, "max_iter"),
    (dict(max_iter=10.0), ValueError, "max_iter"),
    (dict(max_iter=True), ValueError, "max_iter"),
    (dict(max_iter=2**40), ValueError, "max_iter"),
    (dict(dtype="foo"), TypeError, "dtype"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(dtype=np.complex64), TypeError, "dtype"),
    (dict(mesh_axis="x"), ValueError, "mesh_axis"),
    (dict(progress=3), TypeError, "progress"),
    (dict(mask=np.full((M, N), np.nan)), ValueError, "mask"),
    (dict(mask=np.full((M, N), 2.0)), ValueError, "mask"),
    (dict(mask=np.ones((M, N + 1))), ValueError, "mask"),
    (dict(mask=np.ones((M, N), complex)), TypeError, "mask"),
    (dict(W0=np.full((M, K), np.nan), H0=np.ones((K, N))), ValueError, "W0"),
    (dict(W0=np.ones((M, K)), H0=-np.ones((K, N))), ValueError, "H0"),
    (dict(W0=np.ones((M, K)), H0=np.full((K, N), np.inf)), ValueError, "H0"),
    (dict(W0=np.ones((M, K + 1)), H0=np.ones((K, N))), ValueError, "W0"),
    (dict(W0=np.ones((M, K), complex), H0=np.ones((K, N))), TypeError, "W0"),
]


@pytest.mark.parametrize(("kwargs", "exc", "name"), FIT_BAD, ids=lambda x: None)
def test_fit_refuses_bad_options_by_name(V, kwargs, exc, name):
    _raises(exc, name, tg.nmf.fit, V, K, **kwargs)


@pytest.mark.parametrize("rank", [0, -1, 2.5, True, "2", None])
def test_fit_refuses_bad_rank_by_name(V, rank):
    _raises(ValueError, "rank", tg.nmf.fit, V, rank)


@pytest.mark.parametrize(
    ("data", "exc"),
    [
        (np.ones((M, N), complex), TypeError),
        ("abc", TypeError),
        ([[1.0, 2.0], [3.0]], TypeError),  # ragged
        (np.ones(N), ValueError),
        (np.full((M, N), 1e39), ValueError),  # beyond float32 when dtype=float32 is asked
    ],
)
def test_fit_refuses_bad_data_by_name(data, exc):
    _raises(exc, "V", tg.nmf.fit, data, 1, dtype=np.float32)


def test_nested_list_and_0d_arrays_are_taken_as_values(V):
    ref = tg.nmf.fit(V, K, max_iter=20, tol=1e-4)
    same = [
        tg.nmf.fit(V.tolist(), K, max_iter=20, tol=1e-4),  # a nested list is an array
        tg.nmf.fit(V, np.int64(K), max_iter=np.array(20), tol=np.array(1e-4)),
        tg.nmf.fit(V, K, max_iter=20, tol=jnp.asarray(1e-4), key=np.array(0)),
    ]
    for r in same:
        np.testing.assert_array_equal(r.W, ref.W)


def test_progress_callback_exception_surfaces_as_itself(V):
    class Stop(Exception):
        pass

    def progress(done, loss):
        raise Stop(f"stopped at {done}")

    with pytest.raises(Stop, match="stopped at 10"):
        tg.nmf.fit(V, K, max_iter=30, progress=progress)


def test_huge_max_iter_keeps_a_bounded_history(V):
    r = tg.nmf.fit(V, K, max_iter=10**9, tol=1e-3)
    stride, entries = history_layout(10**9)
    assert entries <= HISTORY_CAPACITY and stride & (stride - 1) == 0  # a power of two
    assert r.loss_history.shape == (10**8 // stride + 1,) == (entries,)
    np.testing.assert_array_equal(r.loss_iterations, 10 * stride * np.arange(entries))
    assert int(r.n_iter) < 10**4 and bool(r.converged)
    # with tol=1e-3 the fit stops long before the first recorded check after 0
    assert np.isfinite(r.loss_history[0]) and np.all(np.isnan(r.loss_history[1:]))
    assert history_layout(200) == (1, 21) and history_layout(10 * (HISTORY_CAPACITY - 1))[0] == 1
    assert history_layout(10 * HISTORY_CAPACITY) == (2, HISTORY_CAPACITY // 2 + 1)


@pytest.mark.parametrize("stops_early", [False, True])
def test_thinned_history_records_every_stride_th_check(V, stops_early):
    """The fixed-capacity record thins itself as the run goes (and at the end, when the
    problems stopped before max_iter): entry j is the loss after iteration 10 s j."""
    max_iter = 10 * (2 * HISTORY_CAPACITY + 1)  # 2049 checks: stride 4
    stride, entries = history_layout(max_iter)
    assert stride == 4 and entries == 2049 // 4 + 1
    short = tg.nmf.fit(V, K, max_iter=120, tol=0.0)
    long = tg.nmf.fit(V, K, max_iter=max_iter, tol=1e-2 if stops_early else 0.0)
    assert long.loss_history.shape == long.loss_iterations.shape == (entries,)
    np.testing.assert_array_equal(long.loss_iterations[:4], [0, 40, 80, 120])
    # entries 0..3 of the long record are the checks at 0, 40, 80 and 120 iterations
    recorded = min(int(long.n_iter) // 40 + 1, 4)
    np.testing.assert_allclose(
        long.loss_history[:recorded], short.loss_history[::4][:recorded], rtol=1e-12
    )
    if stops_early:
        last = int(long.n_iter) // 40 + 1
        assert int(long.n_iter) < max_iter and np.all(np.isnan(long.loss_history[last:]))
    else:  # the last entry is the check at max_iter - max_iter % 40 = 20480
        assert int(long.loss_iterations[-1]) == 20480 and np.isfinite(long.loss_history[-1])


# ------------------------------------------------------------------------- traced values


@pytest.fixture(scope="module")
def jitted_fit():
    @jax.jit
    def f(v, w0, h0, mask):
        return tg.nmf.fit(v, K, W0=w0, H0=h0, mask=mask, max_iter=10).W

    return f


@pytest.mark.parametrize("what", ["V_nan", "V_negative", "W0_negative", "H0_nan", "mask_2"])
def test_traced_values_are_guarded(V, jitted_fit, what):
    args = dict(v=V, w0=np.ones((M, K)), h0=np.ones((K, N)), mask=np.ones((M, N)))
    name, kind = what.split("_")
    key = {"V": "v", "W0": "w0", "H0": "h0", "mask": "mask"}[name]
    bad = np.array(args[key], dtype=float)
    bad[0, 0] = {"nan": np.nan, "negative": -1.0, "2": 2.0}[kind]
    args[key] = bad
    with pytest.raises(Exception, match=f"{name} (has NaN, Inf or negative|must hold only 0)"):
        jax.block_until_ready(jitted_fit(**args))


def test_concrete_data_under_a_traced_mask_is_guarded_where_observed(V):
    bad = V.copy()
    bad[0, 0] = np.nan
    hide = np.ones((M, N))
    hide[0, 0] = 0.0
    f = jax.jit(lambda m: tg.nmf.fit(bad, K, mask=m, max_iter=10).W)
    assert np.all(np.isfinite(np.asarray(f(hide))))  # the NaN is not observed: fine
    with pytest.raises(Exception, match="V has NaN, Inf or negative entries where mask is 1"):
        jax.block_until_ready(f(np.ones((M, N))))


def test_values_closed_over_by_jit_are_checked_in_python(V):
    _raises(ValueError, "V has", jax.jit(lambda: tg.nmf.fit(-V, K).W))
    model = tg.nmf.NMF(jnp.ones((M, K)), jnp.ones((K, N)))
    _raises(ValueError, "V has", jax.jit(lambda m: m.step(-V)), model)


def test_traced_clean_values_pass(V, jitted_fit):
    W = jitted_fit(V, np.ones((M, K)), np.ones((K, N)), np.ones((M, N)))
    eager = tg.nmf.fit(V, K, W0=np.ones((M, K)), H0=np.ones((K, N)), max_iter=10)
    np.testing.assert_allclose(W, eager.W, rtol=1e-12)


# --------------------------------------------------------------------------- float range


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_float32_range_edges_fit_like_ordinary_data(V, loss):
    V32 = V.astype(np.float32)
    ref = tg.nmf.fit(V32, K, loss=loss, max_iter=50, tol=0.0)
    beta = tg.nmf.LOSSES[loss].beta
    for scale in (1e30, 1e20, 1e-30):
        r = tg.nmf.fit((V * scale).astype(np.float32), K, loss=loss, max_iter=50, tol=0.0)
        for x in (r.W, r.H, r.loss, r.loss_history):
            assert np.all(np.isfinite(np.asarray(x))) and r.W.dtype == np.float32
        unit = scale ** (beta / 2)  # the square-root loss scales as s^(beta / 2)
        np.testing.assert_allclose(np.asarray(r.loss, np.float64) / unit, ref.loss, RANGE_RTOL)
        WH = np.asarray(r.W, np.float64) @ np.asarray(r.H, np.float64)
        np.testing.assert_allclose(WH / scale, np.asarray(ref.W @ ref.H), rtol=1e-2, atol=1e-4)


def test_float32_range_edges_under_jit(V):
    """A traced V is rescaled inside the program; in-range data runs bit-identically."""
    V32 = V.astype(np.float32)
    f = jax.jit(lambda v: tg.nmf.fit(v, K, max_iter=50, tol=0.0))
    ref = tg.nmf.fit(V32, K, max_iter=50, tol=0.0)
    np.testing.assert_array_equal(f(V32).W, ref.W)
    for scale in (1e30, 1e-30):
        r = f((V * scale).astype(np.float32))
        assert np.all(np.isfinite(np.asarray(r.W))) and np.all(np.isfinite(np.asarray(r.H)))
        np.testing.assert_allclose(np.asarray(r.loss, np.float64) / scale, ref.loss, RANGE_RTOL)


def test_hals_on_out_of_range_data_is_the_same_fit(V):
    # 2^100 is a power of 4: the rescaled data is V itself, so the iterates are identical
    kw = dict(solver="hals", max_iter=30, tol=0.0)
    big = tg.nmf.fit((V * 2.0**100).astype(np.float32), K, **kw)
    ref = tg.nmf.fit(V.astype(np.float32), K, **kw)
    np.testing.assert_array_equal(big.W, ref.W * np.float32(2.0**50))
    np.testing.assert_array_equal(big.loss, ref.loss * np.float32(2.0**100))


def test_every_registered_loss_has_its_beta_for_the_range_rules():
    """The range rules read a loss's beta from its object: ``resolve_loss(loss).beta``."""
    for name, loss in tg.nmf.LOSSES.items():
        assert isinstance(loss.beta, float), name
        assert resolve_loss(name).beta == loss.beta, name
    want = {"frobenius": 2.0, "kl": 1.0, "kullback-leibler": 1.0, "itakura-saito": 0.0, "is": 0.0}
    assert {name: resolve_loss(name).beta for name in want} == want
    assert resolve_loss(1.5).beta == 1.5


def _range_exponent(V, dt, beta: float) -> int:
    """The host's rescaling exponent of one problem ``V`` computed in ``dt``."""
    return range_exponent_host(np.max(np.asarray(V, dt))[None], dt, beta, V.size)


def test_ordinary_data_is_never_rescaled(V):
    for dt in (np.float32, np.float64):
        for beta in (2.0, 1.0):
            assert _range_exponent(V, dt, beta) == 0
            assert _range_exponent(V * 1e6, dt, beta) == 0
    assert _range_exponent(V * 1e-60, np.float64, 2.0) == 0


def test_range_refusals_name_v(V):
    _raises(ValueError, "V", tg.nmf.fit, (V * 1e-39).astype(np.float32), K)  # flushed to zero
    batch = np.stack([V * 1e30, V * 1e-30]).astype(np.float32)
    _raises(ValueError, "V", tg.nmf.fit, batch, K)  # no single scale fits both


@pytest.mark.parametrize(("l1_ratio", "power"), [(1.0, 1.5), (0.0, 1.0)])
def test_penalties_follow_the_rescaling(V, l1_ratio, power):
    """Frobenius on ``s V`` with ``alpha s^p`` (``p``: 3/2 for L1, 1 for L2) is the problem on
    ``V`` with ``alpha``, factors times ``sqrt(s)``: what the internal rescaling relies on."""
    s, alpha = 2.0**80, 0.05  # s V is beyond float32's safe range here: rescaled internally
    kw = dict(max_iter=40, tol=0.0, l1_ratio=l1_ratio)
    r = tg.nmf.fit((V * s).astype(np.float32), K, alpha_W=alpha * s**power, **kw)
    ref = tg.nmf.fit(V.astype(np.float32), K, alpha_W=alpha, **kw)
    assert not np.allclose(ref.W, tg.nmf.fit(V.astype(np.float32), K, **kw).W, rtol=1e-2)
    np.testing.assert_allclose(np.asarray(r.W, np.float64) / 2.0**40, ref.W, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(r.loss, np.float64) / s, ref.loss, rtol=1e-4)


# --------------------------------------------------------------------- x64 off, the CLI


def test_float64_numpy_data_is_fitted_in_float64_with_x64_off(V):
    with jax.enable_x64(False):
        r = tg.nmf.fit(V, K, max_iter=20)
        assert r.W.dtype == np.float64 and r.loss.dtype == np.float64
        with pytest.warns(UserWarning, match="V is float64 but jax_enable_x64 is off"):
            W, _ = tg.nmf.init_factors(V, K)
        assert W.dtype == np.float32
        with pytest.warns(UserWarning, match="jax_enable_x64 is off"):
            tg.nmf.NMF.init(V, K)
        big_seed = jax.random.key_data(check_key(2**40))  # high bits kept
    ref = tg.nmf.fit(V, K, max_iter=20)
    np.testing.assert_array_equal(r.W, ref.W)
    np.testing.assert_array_equal(big_seed, jax.random.key_data(jax.random.key(2**40)))
    assert int(big_seed[0]) == 2**8


def test_cli_dtype_float64_fits_float64_with_x64_off(tmp_path, V):
    np.save(tmp_path / "v.npy", V)
    config = tmp_path / "c.toml"
    config.write_text(
        textwrap.dedent(
            """
            [data]
            source = "file"
            path = "v.npy"
            [nmf]
            rank = 2
            max_iter = 20
            [output]
            plot = false
            """
        )
    )
    out = tmp_path / "r.npz"
    with jax.enable_x64(False):
        args = ["nmf", "--config", str(config), "--output", str(out), "--quiet"]
        assert cli_main([*args, "--dtype", "float64"]) == 0
    with np.load(out) as r:
        assert r["W"].dtype == np.float64 and str(r["dtype"]) == "float64"
        assert json.loads(str(r["config"]))["nmf"]["dtype"] == "float64"


# -------------------------------------------------------- init_factors and the NMF module


INIT_BAD = [
    (dict(V=-np.ones((M, N))), ValueError, "V"),
    (dict(V=np.full((M, N), np.nan)), ValueError, "V"),
    (dict(V=np.ones((M, N), complex)), TypeError, "V"),
    (dict(V=np.ones((2, M, N))), ValueError, "V"),
    (dict(rank=N + 1, init="nndsvd"), ValueError, "rank"),
    (dict(rank=N + 1, init="nndsvda"), ValueError, "rank"),
    (dict(rank=0), ValueError, "rank"),
    (dict(init="custom"), ValueError, "init"),
    (dict(key="k"), TypeError, "key"),
    (dict(key=jax.random.split(jax.random.key(0), 2)), ValueError, "key"),
    (dict(mask=np.full((M, N), 0.5)), ValueError, "mask"),
]


@pytest.mark.parametrize(("kwargs", "exc", "name"), INIT_BAD, ids=lambda x: None)
def test_init_factors_and_nmf_init_refuse_bad_input(V, kwargs, exc, name):
    args = dict(V=V, rank=K, init="random", key=None, mask=None) | kwargs
    _raises(exc, name, tg.nmf.init_factors, **args)
    _raises(exc, name, tg.nmf.NMF.init, args.pop("V"), args.pop("rank"), **args)


@pytest.mark.parametrize(("init", "scale"), [("random", 2.0**100), ("nndsvda", 2.0**-100)])
def test_init_of_out_of_range_data_is_finite_and_at_scale(V, init, scale):
    # the scale is a power of 4: the rescaled data is V itself, so the factors are exact
    W, H = tg.nmf.init_factors((V * scale).astype(np.float32), K, init, 0)
    W0, H0 = tg.nmf.init_factors(V.astype(np.float32), K, init, 0)
    assert np.all(np.isfinite(np.asarray(W))) and np.all(np.isfinite(np.asarray(H)))
    np.testing.assert_array_equal(W, W0 * np.float32(scale**0.5))
    np.testing.assert_array_equal(H, H0 * np.float32(scale**0.5))


def test_nmf_module_checks_its_fields_and_arguments(V):
    W, H = jnp.ones((M, K)), jnp.ones((K, N))
    _raises(ValueError, "W", tg.nmf.NMF, -W, H)
    _raises(ValueError, "H", tg.nmf.NMF, W, H.at[0, 0].set(jnp.nan))
    _raises(TypeError, "W", tg.nmf.NMF, jnp.ones((M, K), int), H)
    _raises(TypeError, "H", tg.nmf.NMF, W, H.astype(jnp.float32))
    _raises(ValueError, "K", tg.nmf.NMF, W, jnp.ones((K + 1, N)))
    _raises(ValueError, "loss_type", tg.nmf.NMF, W, H, loss_type=["kl"])
    _raises(ValueError, "alpha_W", tg.nmf.NMF, W, H, alpha_W=-1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # equinox's own "array set as static" warning
        _raises(TypeError, "alpha_W", tg.nmf.NMF, W, H, alpha_W=np.array(0.1))
    _raises(ValueError, "l1_ratio", tg.nmf.NMF, W, H, l1_ratio=2.0)
    model = tg.nmf.NMF(W, H)
    for method in (model.step, model.loss, model.objective):
        _raises(ValueError, "V", method, V[:3])  # wrong rows for W
        _raises(ValueError, "V", method, -V)
        _raises(ValueError, "V", method, np.where(V > 0.5, np.nan, V))
        _raises(TypeError, "V", method, V.astype(complex))
        _raises(ValueError, "mask", method, V, np.ones((M, N + 1)))
        _raises(ValueError, "mask", method, V, np.full((M, N), np.nan))
    _raises(TypeError, "square_root", model.loss, V, None, "yes")
    _raises(ValueError, "V_shape", model.penalty, "abc")
    r = tg.nmf.NMFResult(
        W=jnp.ones((2, M, K)),
        H=jnp.ones((2, K, N)),
        loss_history=jnp.ones((2, 3)),
        n_iter=jnp.ones(2, int),
        converged=jnp.ones(2, bool),
        loss=jnp.ones(2),
    )
    _raises(TypeError, "axis", r.best, "0")
    _raises(ValueError, "axis", r.best, 3)
    one = tg.nmf.NMFResult(
        W=jnp.ones((M, K)),
        H=jnp.ones((K, N)),
        loss_history=jnp.ones(3),
        n_iter=jnp.ones((), int),
        converged=jnp.ones((), bool),
        loss=jnp.ones(()),
    )
    _raises(ValueError, "V", one.transform, -V)
    _raises(TypeError, "V", one.transform, V.astype(complex))
    _raises(ValueError, "mask", one.transform, V, mask=np.full((M, N), 2.0))
    _raises(ValueError, "solver", model.transform, V, solver="x")
    _raises(ValueError, "tol", model.transform, V, tol=float("nan"))
    _raises(ValueError, "max_iter", model.transform, V, max_iter=0)


def test_nmf_step_under_jit_guards_data(V):
    model = tg.nmf.NMF(jnp.ones((M, K)), jnp.ones((K, N)))
    step = jax.jit(lambda m, v: m.step(v))
    step(model, V)  # clean data runs
    with pytest.raises(Exception, match="V has NaN, Inf or negative"):
        jax.block_until_ready(step(model, -V).W)


def test_nmf_methods_on_out_of_range_float32_data(V):
    W0, H0 = tg.nmf.init_factors(V.astype(np.float32), K, "nndsvda", 0)
    s = 2.0**100  # powers of two: the scaled and unscaled problems are the same numbers
    big = tg.nmf.NMF(W0 * 2.0**50, H0 * 2.0**50)
    small = tg.nmf.NMF(W0, H0)
    Vs = (V * s).astype(np.float32)
    loss = big.loss(Vs, square_root=True)
    assert np.isfinite(float(loss))
    expected = small.loss(V.astype(np.float32), square_root=True)
    np.testing.assert_allclose(float(loss) / s, expected, 1e-5)
    stepped = big.step(Vs)
    assert np.all(np.isfinite(np.asarray(stepped.W)))
    np.testing.assert_allclose(stepped.W / 2.0**50, small.step(V.astype(np.float32)).W, rtol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big.reconstruct()


@pytest.mark.parametrize("loss", ["frobenius", "kl", 0.5])
@pytest.mark.parametrize("scale", [2.0**-100, 2.0**-60, 2.0**60])
def test_nmf_loss_with_factors_at_another_scale_than_v(V, loss, scale):
    """A module fitted at one scale asked for the loss of data at another: eager and jit agree,
    never NaN, and the square root is the float64 value (the rescaling of the loss is taken
    from V and WH together, ``_scale.module_exponent``)."""
    W0, H0 = tg.nmf.init_factors(V.astype(np.float32), K, "nndsvda", 0)
    model = tg.nmf.NMF(W0, H0, loss_type=loss)
    Vs = (V * scale).astype(np.float32)
    ref = tg.nmf.NMF(jnp.asarray(W0, jnp.float64), jnp.asarray(H0, jnp.float64), loss_type=loss)
    want = float(ref.loss(jnp.asarray(Vs, jnp.float64), square_root=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the plain divergence may leave float32's range
        eager = float(model.loss(Vs, square_root=True))
        plain = float(model.loss(Vs))
    traced = float(jax.jit(lambda v: model.loss(v, square_root=True))(Vs))
    assert np.isfinite(want) and not np.isnan(plain)
    np.testing.assert_allclose([eager, traced], want, rtol=1e-4)
