"""The CLI's derive, bench, nmf and demo commands, run in-process on tiny inputs."""

import importlib.util
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import BASE_SOLVERS, cli_main

from tracegrad._cli import _bench_cmd, _nmf_cmd
from tracegrad._cli._config import load_config

# internals: the commands' config schemas, to validate every shipped config file without running it
pytestmark = pytest.mark.internals

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    """Every config in configs/ loads against its command's schema (a renamed key breaks it)."""
    schema = _bench_cmd.SCHEMA if path.name.startswith("bench-") else _nmf_cmd.SCHEMA
    config = load_config(path, schema)
    assert set(config) == set(schema)


def test_derive_prints_the_four_terms_of_the_beast(capsys):
    assert cli_main(["derive", "tr(A X X' B C X' X C)", "--wrt", "X"]) == 0
    out = capsys.readouterr().out
    assert "df/dX = " in out and "PASS" in out
    assert all(f"[{i}]" in out for i in (1, 2, 3, 4)) and "[5]" not in out


def test_derive_latex_and_shapes(capsys):
    assert (
        cli_main(["derive", "tr(A X B)", "--wrt", "X", "--latex", "--shapes", "A=2x3,B=4x2"]) == 0
    )
    out = capsys.readouterr().out
    assert "df/dX = A^{T} B^{T}" in out and "\\operatorname{tr}" in out
    assert "X=3x4" in out  # inferred from A and B


@pytest.mark.parametrize(
    "expr, message",
    [("tr(A X B", "expected ')'"), ("tr(A X)", "cannot multiply"), ("tr(A Y)", "wrt")],
)
def test_derive_bad_expression_exits_2_with_a_caret(expr, message, capsys):
    extra = ["--shapes", "A=3x4,X=3x3"] if expr == "tr(A X)" else []
    assert cli_main(["derive", expr, "--wrt", "X", *extra]) == 2
    err = capsys.readouterr().err
    assert "tracegrad derive: error:" in err
    assert message in err or message == "wrt"
    if message != "wrt":
        assert "^" in err.splitlines()[-1]


TINY_BENCH = """
[bench]
suites = ["grads", "derive", "nmf", "bridge"]
[grads]
sizes = [8]
n_runs = 1
min_time = 0.0
only = "eq9$|eq31"
[derive]
sizes = [8]
n_runs = 1
min_time = 0.0
only = "eq9$"
[nmf]
iters = 10
n_runs = 1
single_m = 12
single_n = 10
single_rank = 2
batch = 2
batch_m = 9
batch_n = 8
batch_rank = 2
peak_n = 32
[bridge]
n = 8
n_runs = 1
[output]
dir = "{out}"
"""


def test_bench_runs_every_suite_and_writes_json_and_charts(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    config = tmp_path / "bench.toml"
    config.write_text(TINY_BENCH.format(out=(tmp_path / "out").as_posix()))
    assert cli_main(["bench", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    for suite in ("grads", "derive", "nmf", "bridge"):
        assert (tmp_path / "out" / f"{suite}.png").stat().st_size > 1000
        result = json.loads((tmp_path / "out" / f"{suite}.json").read_text())
        assert result  # each suite's own structure; spot-check below
    grads = json.loads((tmp_path / "out" / "grads.json").read_text())
    assert {r["identity"] for r in grads["rows"]} == {"traa.eq9", "traa.eq31"}
    assert all(r["ratio"] > 0 and r["max_rel_diff"] < 1e-3 for r in grads["rows"])
    nmf = json.loads((tmp_path / "out" / "nmf.json").read_text())
    assert set(nmf["single"]) == {"frobenius", "kl"} and "speedup" in nmf["batch"]["kl"]
    assert "geometric mean" in out and "NMF benchmark" in out and "bridge overhead" in out


@pytest.mark.parametrize(
    "text, message",
    [
        ('[bench]\nsuites = ["grads", "speed"]\n', "bench.suites"),
        ("[grads]\nsizes = 256\n", "grads.sizes"),
        ("[grads]\nsize = [256]\n", "unknown key 'grads.size'"),
        ("[nmf]\nlosses = []\n", "must not be empty"),
        ('[grads]\nonly = "("\n', "not a regular expression"),
    ],
)
def test_bench_bad_config_exits_2(tmp_path, capsys, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert (
        cli_main(["bench", "--config", str(config), "--no-plot", "--out-dir", str(tmp_path)]) == 2
    )
    assert message in capsys.readouterr().err


def test_bench_missing_config_exits_2(tmp_path, capsys):
    assert cli_main(["bench", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_bench_nmf_solvers_reaches_cd_target_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    config = tmp_path / "bench.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [bench]
            suites = ["nmf_solvers"]
            [nmf_solvers]
            solvers = ["hals", "apg"]
            single_m = 20
            single_n = 16
            single_rank = 2
            batch = 2
            batch_m = 12
            batch_n = 10
            batch_rank = 2
            max_iters = 250
            sklearn_mu_iters = 20
            n_runs = 1
            [output]
            dir = "{(tmp_path / "out").as_posix()}"
            """
        )
    )
    assert cli_main(["bench", "--config", str(config)]) == 0
    result = json.loads((tmp_path / "out" / "nmf_solvers.json").read_text())
    for workload in ("single", "batch"):
        hals = result[workload]["ours"]["hals"]
        # HALS iterates are cd's: the target (cd after 200 iterations) is met by 200
        assert 0 < hals["iters_to_target"] <= 200 and hals["speedup_vs_cd"] > 0
        apg = result[workload]["ours"]["apg"]  # one uninterrupted run: its carry continues
        assert 0 < apg["iters_to_target"] <= hals["iters_to_target"]
        assert len(apg["times"]) == len(apg["losses"]) == len(apg["iters"]) == 26
        assert (tmp_path / "out" / f"nmf_solvers_{workload}.png").stat().st_size > 1000
    assert "time to scikit-learn cd's loss" in capsys.readouterr().out


def test_bench_nmf_structured_every_workload_and_loss(tmp_path, capsys):
    """Two datasets (Frobenius, KL) at a twentieth of their size, every workload, 50
    iterations: each workload's problems, the targets met by mu's iterates, the headline."""
    pytest.importorskip("sklearn")
    config = tmp_path / "bench.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [bench]
            suites = ["nmf_structured"]
            [nmf_structured]
            datasets = ["lowrank-snr10", "counts-96x300"]
            solvers = ["mu"]
            batch = 2
            restarts = 2
            scale = 0.05
            base_iters = 50
            max_iters = 60
            n_runs = 1
            [output]
            dir = "{(tmp_path / "out").as_posix()}"
            """
        )
    )
    assert cli_main(["bench", "--config", str(config)]) == 0
    result = json.loads((tmp_path / "out" / "nmf_structured.json").read_text())
    cases = {(c["dataset"], c["loss"]): c for c in result["cases"]}
    assert set(cases) == {("lowrank-snr10", "frobenius"), ("counts-96x300", "kl")}
    for case in cases.values():
        assert set(case["workloads"]) == {"single", "batch", "restarts"}
        problems = [case["workloads"][w]["problems"] for w in ("single", "batch", "restarts")]
        assert problems == [1, 2, 2]
    for e in cases["counts-96x300", "kl"]["workloads"].values():
        assert e["baseline"] == "mu"  # the same iterates as scikit-learn's: its loss by ~50
        assert 0 < e["ours"]["mu"]["iters_to_target"] <= 60
    assert cases["lowrank-snr10", "frobenius"]["workloads"]["single"]["baseline"] == "cd"
    assert set(result["headline"]) == {"frobenius", "kl"}
    assert result["headline"]["kl"]["batch"]["mu"]["reached"] == 1
    out = capsys.readouterr().out
    assert "NMF on structured data" in out and "Headline" in out
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "out" / "nmf_structured_counts-96x300_kl.png").stat().st_size > 1000


@pytest.mark.parametrize("solver", BASE_SOLVERS)
def test_nmf_on_a_data_file_writes_factors_and_losses(tmp_path, capsys, solver):
    rng = np.random.default_rng(0)
    V = rng.random((12, 3)) @ rng.random((3, 10))
    np.savez(tmp_path / "data.npz", V=V)
    config = tmp_path / "run.toml"
    config.write_text(
        textwrap.dedent(
            """
            [data]
            source = "file"
            path = "data.npz"
            [nmf]
            rank = 3
            loss = "frobenius"
            max_iter = 60
            tol = 0.0
            [output]
            plot = false
            """
        )
    )
    out = tmp_path / "result.npz"
    args = ["nmf", "--config", str(config), "--output", str(out), "--quiet", "--solver", solver]
    assert cli_main(args) == 0
    with np.load(out) as r:
        assert r["W"].shape == (12, 3) and r["H"].shape == (3, 10)
        assert (r["W"] >= 0).all() and (r["H"] >= 0).all()
        losses = r["loss_history"][np.isfinite(r["loss_history"])]
        assert losses[-1] < losses[0]
        assert int(r["n_iter"]) == 60
        assert json.loads(str(r["config"]))["nmf"]["rank"] == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    assert "wrote" in capsys.readouterr().out


def test_nmf_bad_input_exits_2(tmp_path, capsys):
    np.save(tmp_path / "neg.npy", -np.ones((4, 3)))
    config = tmp_path / "neg.toml"
    config.write_text('[data]\nsource = "file"\npath = "neg.npy"\n[nmf]\nrank = 2\n')
    assert cli_main(["nmf", "--config", str(config), "--quiet", "--no-plot"]) == 2
    assert "negative" in capsys.readouterr().err
    assert cli_main(["nmf", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_demo_recovers_the_four_notes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "loss.png"
    assert (
        cli_main(["demo", "--skip-check", "--replicates", "4", "--quiet", "--plot", str(png)]) == 0
    )
    out = capsys.readouterr().out
    assert out.count(" yes") == 4 and "NO" not in out
    assert png.stat().st_size > 1000


def test_nmf_defaults_to_the_auto_solver():
    """The command's default solver is "auto" (the library's ``fit`` keeps "mu")."""
    assert _nmf_cmd.SCHEMA["nmf"]["solver"].default == "auto"
    assert "auto" in _nmf_cmd.SCHEMA["nmf"]["solver"].choices
