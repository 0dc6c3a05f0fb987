"""The examples run (on small sizes) and do what they claim."""

import importlib.util
import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import REGISTRY_LOSSES
from jax.flatten_util import ravel_pytree

import tracegrad as tg

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def nmf():
    pytest.importorskip("optax")
    return _load("nmf_optax")


@pytest.fixture(scope="module")
def tracking():
    return _load("kalman_tracking")


@pytest.mark.parametrize("loss", REGISTRY_LOSSES)
def test_nmf_bridge_training_reaches_the_autodiff_loss(nmf, loss):
    result = nmf.compare(m=24, n=18, rank=3, steps=80, loss=loss, dtype=jnp.float64)
    assert result["relative_difference"] <= 1e-6, result  # the criterion
    for gradients in ("bridge", "autodiff"):
        r = result[gradients]
        assert r["final_loss"] < 0.05 * r["initial_loss"], (gradients, r)  # it trains


def test_nmf_bridge_training_in_float32(nmf):
    # In float32 a converged loss is a small difference of O(|X|^2) terms, so its own rounding
    # is ~1e-5 relative: the two runs are held to the float32 gradient tolerance instead.
    result = nmf.compare(m=24, n=18, rank=3, steps=80, loss="frobenius", dtype=jnp.float32)
    assert result["relative_difference"] <= tg.default_rtol(jnp.float32), result


def test_nmf_kl_closed_forms_are_right(nmf):
    # the Frobenius closed forms are the registry's (checked with the registry); KL is local.
    # One check over the flattened (W, H) pytree covers both factors.
    X = nmf.synthetic(nmf.jax.random.key(3), 7, 5, 2, jnp.float64)
    flat, unravel = ravel_pytree(nmf.init_params(nmf.jax.random.key(4), X, 2))
    report = tg.check_grad(
        lambda theta: nmf.kl(unravel(theta), X),
        lambda theta: ravel_pytree(nmf.kl_grad(unravel(theta), X))[0],
        flat,
    )
    assert report.ok, report


def test_nmf_cli_benchmark_runs(nmf, capsys):
    assert nmf.main(["--bench", "--m", "12", "--n", "9", "--rank", "2", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "bridge/autodiff" in out
    result = json.loads(out[out.index("{") :])
    assert set(result["median_step_s"]) == {"bridge", "autodiff"}
    assert result["bridge_over_autodiff"] > 0 and result["n_runs"] == 2


def test_kalman_tracking_filters_the_noise(tracking, capsys):
    result = tracking.run(steps=300, seed=1)
    assert result["rmse_filter"] < 0.6 * result["rmse_measurements"], result
    Ps = np.asarray(result["covariances"])
    assert Ps.dtype == np.float32
    np.testing.assert_array_equal(Ps, np.swapaxes(Ps, 1, 2))
    assert np.linalg.eigvalsh(Ps.astype(np.float64)).min() > 0
    # the gain has settled to its steady state
    Ks = np.asarray(result["gains"])
    np.testing.assert_allclose(Ks[-1], Ks[-2], atol=tg.default_rtol(jnp.float32))
    assert tracking.main(["--steps", "300", "--seed", "1"]) == 0
    assert "Kalman filter" in capsys.readouterr().out
