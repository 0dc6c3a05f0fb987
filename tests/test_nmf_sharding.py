"""``nmf.fit(mesh=...)`` equals the one-device fit, on 4 virtual CPU devices, for both layouts.

The comparisons need several devices, which JAX creates only from ``XLA_FLAGS`` read at
start-up, so they run in ONE child process (``tests/_sharding_child.py``, every case sharing one
JAX start-up) and this module asserts its JSON report case by case: a failure names the case.
The rest of the test session keeps its single device.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import cli_main

import tracegrad as tg

ROOT = Path(__file__).resolve().parent.parent
M, N, K = 12, 9, 3

# case -> (dtype, shape of one device's shard of W, or None where padding gathers the result)
CASES = {
    "batch-frobenius-mask-padded": ("float64", None),
    "batch-kl": ("float64", [1, M, K]),
    "rows-frobenius-padded": ("float64", None),
    "rows-kl-mask": ("float64", [4, K]),
    "rows-frobenius-float32": ("float32", [4, K]),
    "replicates-kl-2x2-float32": ("float32", [2, M, K]),  # 4 replicates over a 2-device axis
    "batch-hals-padded": ("float64", None),
    "rows-ahals-padded": ("float64", None),
    "rows-beta-padded": ("float64", None),
    "batch-apg-padded": ("float64", None),
    "rows-ehals-padded": ("float64", None),
    "batch-admm-padded": ("float64", None),
    "rows-emu-padded": ("float64", None),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharding")
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_sharding_child.py"), str(out)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "result.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_sharded_fit_equals_single_device(report, case):
    r = report["fits"][case]
    assert "error" not in r, r.get("error")
    dtype, shard_shape = CASES[case]
    rtol = tg.default_rtol(np.dtype(dtype))
    assert r["dtype"] == [dtype, dtype]  # the caller's dtype is kept
    assert r["shapes"][0] == r["shapes"][1]
    for field in ("rel_W", "rel_H", "rel_history", "rel_loss"):
        assert r[field] <= rtol, (field, r[field], rtol)
    # same stopping iteration and verdict for every problem
    assert r["n_iter"][0] == r["n_iter"][1]
    assert r["converged"][0] == r["converged"][1]
    assert r["devices"] == 4
    if shard_shape is not None:  # really split: each device holds its part only
        assert r["W_shard_shape"] == shard_shape


def test_float64_cases_stop_at_different_iterations(report):
    # the batch cases must exercise per-problem stopping, else n_iter equality proves little
    for case in ("batch-frobenius-mask-padded", "batch-kl"):
        assert len(set(report["fits"][case]["n_iter"][0])) > 1, case


def test_progress_mean_excludes_the_padding_copy(report):
    p = report["progress"]
    # one report per check of the loop, then the closing one
    assert [d for d, _ in p["calls"]] == list(range(10, max(p["n_iter"]) + 1, 10)) + [
        max(p["n_iter"])
    ]
    # every problem stopped before the last check, so that check's mean is the final mean of
    # the 3 real problems (a mean over 4 would count the copy of the last one twice)
    last_check, closing = p["calls"][-2][1], p["calls"][-1][1]
    np.testing.assert_allclose(last_check, p["mean_loss"], rtol=tg.default_rtol(np.float64))
    np.testing.assert_allclose(closing, p["mean_loss"], rtol=tg.default_rtol(np.float64))


def test_mesh_errors_name_the_axes(report):
    errors = report["errors"]
    assert "pass mesh_axis=" in errors["two-axes-no-mesh_axis"]
    assert "('batch', 'other')" in errors["two-axes-no-mesh_axis"]
    assert "mesh_axis 'rows' is not an axis" in errors["unknown-mesh_axis"]


def test_cli_devices_flag_and_mesh_table(report):
    cli = report["cli"]
    assert "error" not in cli, cli.get("error")
    assert cli["codes"] == {"one": 0, "config4": 0, "too-many": 2}
    assert cli["mesh"] == {"devices": 4}  # the [mesh] table is saved with the result
    assert cli["rel"] <= tg.default_rtol(np.float64)
    assert cli["n_iter"][0] == cli["n_iter"][1]
    assert "8 devices requested but JAX sees 4 cpu devices" in cli["stderr"]
    assert "--xla_force_host_platform_device_count=8" in cli["stderr"]


def test_mesh_must_be_a_mesh():
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        tg.nmf.fit(np.ones((4, 3)), 2, mesh=4)


def test_cli_too_many_devices_in_this_process(tmp_path, capsys):
    n = len(jax.devices()) + 1
    code = cli_main(["nmf", "--devices", str(n), "--quiet", "--no-plot", "--max-iter", "10",
                 "--output", str(tmp_path / "x.npz")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"{n} devices requested but JAX sees {n - 1}" in err
    assert not (tmp_path / "x.npz").exists()


def test_mesh_table_rejects_unknown_keys(tmp_path, capsys):
    path = tmp_path / "c.toml"
    argv = [
        "nmf",
        "--config",
        str(path),
        "--quiet",
        "--no-plot",
        "--output",
        str(tmp_path / "x.npz"),
    ]
    path.write_text("[mesh]\ndevice = 2\n")
    assert cli_main(argv) == 2
    assert "unknown key 'mesh.device'" in capsys.readouterr().err
    path.write_text("[mesh]\ndevices = -1\n")
    assert cli_main(argv) == 2
    assert "'mesh.devices' must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
