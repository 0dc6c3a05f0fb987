"""The cold-start suite end to end on a tiny problem: fresh processes, empty and filled cache."""

import json
import textwrap

import numpy as np
import pytest
from helpers import cli_main

from tracegrad._bench.cold import catalogue, low_rank

# internals: the benchmark's data generators (catalogue, low_rank), run by the CLI at bench sizes
pytestmark = pytest.mark.internals


def test_low_rank_data_has_structure_and_is_deterministic():
    V = low_rank(0, 30, 20, 3, zeros=0.5, noise=0.1)
    assert V.dtype == np.float32 and V.shape == (30, 20) and V.min() >= 0
    np.testing.assert_array_equal(V, low_rank(0, 30, 20, 3, zeros=0.5, noise=0.1))
    s = np.linalg.svd(V.astype(np.float64), compute_uv=False)
    assert s[3] < 0.2 * s[2]  # rank 3 plus 10% noise: a gap after the third singular value
    C = catalogue(0, 12, 20, 2)
    assert C.shape == (12, 20) and np.all(C == np.round(C)) and C.min() >= 0


def test_cold_suite_runs_in_fresh_processes_and_counts_compiles(tmp_path, capsys):
    pytest.importorskip("sklearn")
    config = tmp_path / "cold.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [bench]
            suites = ["cold"]
            [cold]
            m = 24
            n = 20
            rank = 2
            solvers = ["hals"]
            cd_iters = 20
            max_iters = 60
            select_rank = false
            demo = false
            [output]
            dir = "{(tmp_path / "out").as_posix()}"
            """
        )
    )
    assert cli_main(["bench", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "out" / "cold.json").read_text())
    assert not (tmp_path / "out" / "cold.png").exists()  # the table is the figure
    (row,) = result["rows"]
    assert row["case"] == "fit hals" and row["reached"] and 0 < row["iters"] <= 60
    assert row["loss"] <= result["target"]["loss"] * (1 + result["reach_rtol"])
    empty, filled = row["empty"], row["filled"]
    # the first process compiles everything; the second finds every program in its cache
    assert empty["compile_count"] >= 1 and empty["cache_hits"] == 0 and empty["compile_s"] > 0
    assert filled["compile_count"] == filled["cache_hits"] == empty["compile_count"]
    assert empty["wall_s"] > 0 and filled["wall_s"] > 0 and result["target"]["sklearn_cd_s"] > 0
    assert row["vs_sklearn_empty"] == pytest.approx(row["sklearn_s"] / empty["wall_s"])
    assert result["cpu_model"] and "jax" in result["environment"]
    assert result["command"]  # this process's command line (here pytest's)
    assert "cold start" in out and "fit hals" in out and "OPENBLAS_CORETYPE" in out
