"""``tracegrad bench --config configs/bench-*.toml``: run benchmark suites, tables, JSON, charts.

Suites (``[bench] suites``): ``grads`` (every identity's closed form vs ``jax.grad``),
``derive`` (derived gradients vs ``jax.grad``), ``nmf`` (tracegrad's NMF vs scikit-learn's MU
solver and a same-run matmul peak), ``nmf_solvers`` (time to scikit-learn cd's loss),
``nmf_structured`` (the same on the structured data of ``datasets.STRUCTURED``, every loss),
``bridge`` (step time through ``with_grad``), ``cold`` (first calls in fresh processes, empty
and filled compilation cache).  Every row reports its XLA compilations (count and seconds)
beside its times.  Each writes ``<output.dir>/<suite>.json`` and, with matplotlib,
``<suite>.png`` (``cold`` writes no chart).  Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import re
import sys

from .._utils import write_json
from ..datasets import STRUCTURED as _DATASET_TABLE
from ..nmf import LOSSES as _LOSS_TABLE
from ..nmf import SOLVERS as _SOLVER_TABLE
from ._config import Key, add_flag, fraction, load_config, non_negative, positive
from ._errors import CLIError
from ._paths import output_dir

SUITES = ("grads", "derive", "nmf", "nmf_solvers", "nmf_structured", "bridge", "cold")
LOSSES = tuple(_LOSS_TABLE)
NMF_SOLVERS = tuple(_SOLVER_TABLE)
DATASETS = tuple(_DATASET_TABLE)


def _list_of(kind: type, choices: tuple | None = None, allow_empty: bool = False):
    def check(value) -> str | None:
        if not value and not allow_empty:
            return "must not be empty"
        for item in value:
            if not isinstance(item, kind) or isinstance(item, bool):
                return f"must hold only {kind.__name__} values"
            if choices is not None and item not in choices:
                return f"entries must be among {', '.join(map(repr, choices))}"
            if kind is int and item < 1:
                return "entries must be positive"
        return None

    return check


_GRADIENT_SUITE = {
    "sizes": Key(list, [256, 1024], "sampler sizes n", check=_list_of(int)),
    "dtype": Key(str, "float32", "operand dtype", ("float32", "float64")),
    "n_runs": Key(int, 10, "least timed runs per median", check=positive),
    "min_time": Key(
        float, 0.1, "run each side at least this long (s); 0 for n_runs only", check=non_negative
    ),
    "only": Key(str, "", "regular expression selecting identities ('' for all)"),
}
"""Keys of the two suites timing gradients against jax.grad (closed forms, derived ones)."""

_WORKLOADS = {
    "single_m": Key(int, 1024, "(a) rows of the single problem", check=positive),
    "single_n": Key(int, 1024, "(a) columns of the single problem", check=positive),
    "single_rank": Key(int, 32, "(a) rank of the single problem", check=positive),
    "batch": Key(int, 64, "(b) number of problems in the batch", check=positive),
    "batch_m": Key(int, 257, "(b) rows of each problem", check=positive),
    "batch_n": Key(int, 200, "(b) columns of each problem", check=positive),
    "batch_rank": Key(int, 16, "(b) rank of each problem", check=positive),
}
"""The two NMF workloads, (a) one large problem and (b) a batch: shared by both NMF suites."""


def _workload_sizes(c: dict) -> dict:
    """The ``_WORKLOADS`` keys of a section as the suites' ``single`` and ``batch`` settings."""
    return {
        "single": {"m": c["single_m"], "n": c["single_n"], "rank": c["single_rank"]},
        "batch": {
            "batch": c["batch"], "m": c["batch_m"], "n": c["batch_n"], "rank": c["batch_rank"]
        },
    }  # fmt: skip


SCHEMA = {
    "bench": {
        "suites": Key(list, ["grads"], "suites to run, in order", check=_list_of(str, SUITES)),
    },
    "grads": _GRADIENT_SUITE,
    "derive": _GRADIENT_SUITE,
    "nmf": {
        "iters": Key(int, 200, "MU iterations per timed run", check=positive),
        "n_runs": Key(int, 3, "alternating timing rounds", check=positive),
        "losses": Key(
            list,
            ["frobenius", "kl"],
            "losses to time (any name of nmf.LOSSES)",
            check=_list_of(str, LOSSES),
        ),
        "sklearn": Key(bool, True, "also time scikit-learn's MU solver (needs scikit-learn)"),
        **_WORKLOADS,
        "peak_n": Key(
            int, 2048, "size of the float32 matmul that measures the peak", check=positive
        ),
        "seed": Key(int, 0, "PRNG seed of the data and initial factors"),
    },
    "nmf_solvers": {
        "solvers": Key(
            list, list(_SOLVER_TABLE), "our solvers to time", check=_list_of(str, NMF_SOLVERS)
        ),
        "cd_iters": Key(int, 200, "scikit-learn cd iterations that set the target", check=positive),
        "max_iters": Key(int, 1000, "cap on our iterations to reach the target", check=positive),
        "sklearn_mu_iters": Key(int, 1000, "cap on scikit-learn mu's curve", check=positive),
        "segment": Key(
            int,
            10,
            "iterations per point of scikit-learn's curves (ours: every 10)",
            check=positive,
        ),
        "n_runs": Key(int, 3, "timed runs per median", check=positive),
        **_WORKLOADS,
        "seed": Key(int, 0, "seed of the data and initial factors"),
    },
    "nmf_structured": {
        "datasets": Key(
            list,
            list(DATASETS),
            "datasets to time (names of datasets.STRUCTURED)",
            check=_list_of(str, DATASETS),
        ),
        "solvers": Key(
            list,
            list(_SOLVER_TABLE),
            "our solvers to time (each on the losses it minimises)",
            check=_list_of(str, NMF_SOLVERS),
        ),
        "workloads": Key(
            list,
            ["single", "batch", "restarts"],
            "workloads to time",
            check=_list_of(str, ("single", "batch", "restarts")),
        ),
        "batch": Key(int, 64, "problems (draws) of the batch workload", check=positive),
        "restarts": Key(int, 32, "random initial factors of the restarts workload", check=positive),
        "scale": Key(
            float, 1.0, "multiplies every dataset's sizes (rows, samples, frames)", check=positive
        ),
        "base_iters": Key(
            int,
            200,
            "scikit-learn iterations (cd; mu beyond Frobenius) that set the target",
            check=positive,
        ),
        "max_iters": Key(int, 1000, "cap on our iterations to reach the target", check=positive),
        "segment": Key(int, 10, "iterations per point of scikit-learn's curves", check=positive),
        "n_runs": Key(int, 3, "timed runs per median", check=positive),
        "seed": Key(int, 0, "seed of the data draws and initial factors", check=non_negative),
    },  # fmt: skip
    "cold": {
        "m": Key(int, 1024, "rows of the low-rank-plus-noise NMF data", check=positive),
        "n": Key(int, 1024, "columns of the NMF data", check=positive),
        "rank": Key(int, 32, "rank of the data and of every fit", check=positive),
        "noise": Key(float, 0.1, "noise norm relative to the low-rank part", check=non_negative),
        "zeros": Key(
            float,
            0.5,
            "fraction of zero entries in the true factors",
            check=fraction,
        ),
        "solvers": Key(
            list, list(_SOLVER_TABLE), "our solvers to time", check=_list_of(str, NMF_SOLVERS)
        ),
        "cd_iters": Key(int, 200, "scikit-learn cd iterations that set the target", check=positive),
        "max_iters": Key(int, 1000, "cap on our iterations to reach the target", check=positive),
        "select_rank": Key(bool, True, "also time select_rank against a scikit-learn loop"),
        "select_m": Key(int, 96, "rows (mutation types) of the count catalogue", check=positive),
        "select_n": Key(int, 300, "columns (samples) of the count catalogue", check=positive),
        "select_true_rank": Key(int, 4, "signatures the catalogue is made of", check=positive),
        "select_ranks": Key(
            list, [2, 3, 4, 5, 6, 7, 8], "ranks select_rank tries", check=_list_of(int)
        ),
        "select_restarts": Key(int, 20, "restarts per rank", check=positive),
        "select_iters": Key(int, 300, "KL iterations per fit (tol = 0)", check=positive),
        "demo": Key(bool, True, "also time the tracegrad demo command"),
        "demo_args": Key(
            list,
            ["demo", "--quiet"],
            "the demo's command line (after tracegrad)",
            check=_list_of(str),
        ),
        "n_runs": Key(int, 1, "rounds (fresh processes each); medians", check=positive),
        "seed": Key(int, 0, "seed of the data, the initial factors and scikit-learn"),
        "timeout": Key(float, 1800.0, "seconds one process may run", check=positive),
    },  # fmt: skip
    "bridge": {
        "n": Key(int, 256, "size of the NMF Frobenius step", check=positive),
        "n_runs": Key(int, 20, "timed runs per variant", check=positive),
        "every": Key(int, 100, "N of the shadow variant check='every:N'", check=positive),
    },
    "output": {
        "dir": Key(
            str,
            "bench-results",
            "directory for <suite>.json and <suite>.png ([output] dir)",
            check=lambda v: None if v.strip() else "must not be empty",
        ),
        "plot": Key(bool, True, "write a bar chart per suite (needs matplotlib)"),
    },
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run benchmark suites (grads, derive, nmf, nmf_solvers, nmf_structured, bridge, "
        "cold): tables, JSON, charts",
        description="Run the benchmark suites a TOML config names (see configs/bench-*.toml). "
        "For the NMF suites against scikit-learn, unset NumPy's OpenBLAS tuning variables for "
        "the command: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE tracegrad bench ...",
    )
    p.add_argument("--config", metavar="FILE", help="TOML config (default: grads suite)")
    p.add_argument("--suites", nargs="+", choices=SUITES, help="override [bench] suites")
    add_flag(p, "--out-dir", SCHEMA["output"]["dir"], metavar="DIR", dest="out_dir")
    p.add_argument("--no-plot", action="store_true", help="no bar-chart PNGs")
    p.set_defaults(run=run)


def _regex(text: str, where: str = "only") -> str | None:
    if not text:
        return None
    try:
        re.compile(text)
    except re.error as err:
        raise CLIError(f"{where}: not a regular expression: {text!r} ({err})") from None
    return text


def _selected(suite: str, only: str) -> list[str]:
    """The identity names a ``grads`` or ``derive`` suite would time for its ``only`` pattern."""
    from .._registry.registry import registry

    names = list(registry())
    if suite == "derive":
        from .._registry.expressions import EXPRESSIONS

        names = [n for n in EXPRESSIONS if n in names]
    pattern = _regex(only, f"{suite}.only")
    return [n for n in names if pattern is None or re.search(pattern, n)]


def check_suites(suites, config: dict) -> None:
    """Refuse, before any suite runs, an ``only`` pattern that selects nothing."""
    for suite in suites:
        if suite in ("grads", "derive") and not _selected(suite, config[suite]["only"]):
            raise CLIError(
                f"{suite}.only = {config[suite]['only']!r} matches no identity the {suite} "
                f"suite times (see tracegrad list)"
            )


def run_suite(suite: str, config: dict) -> tuple[dict, str]:
    """Run one suite as the config says; returns ``(result, table text)``."""
    c = config[suite]
    say = lambda msg: print(f"... {msg}", file=sys.stderr, flush=True)  # noqa: E731
    try:
        if suite == "grads":
            from .._bench.grads import format_grads, run_grads

            result = run_grads(
                tuple(c["sizes"]), c["dtype"], c["n_runs"], _regex(c["only"]),
                lambda row: say(f"{row['identity']} n={row['n']}: {row['ratio']:.2f}x"),
                min_time=c["min_time"],
            )  # fmt: skip
            return result, format_grads(result)
        if suite == "derive":
            from .._bench.derive import format_derive, run_derive

            result = run_derive(
                tuple(c["sizes"]), c["dtype"], c["n_runs"], _regex(c["only"]), c["min_time"]
            )
            return result, format_derive(result)
        if suite == "nmf":
            from .._bench.nmf import format_nmf, openblas_vars_set, run_nmf

            found = openblas_vars_set()
            if found and c["sklearn"]:
                say(
                    f"WARNING: {', '.join(found)} set: they slow NumPy's OpenBLAS (the "
                    f"scikit-learn side); rerun with env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
                )
            result = run_nmf(
                {
                    **_workload_sizes(c),
                    "iters": c["iters"], "losses": list(c["losses"]), "n_runs": c["n_runs"],
                    "peak_n": c["peak_n"], "seed": c["seed"], "sklearn": c["sklearn"],
                },
                progress=say,
            )  # fmt: skip
            return result, format_nmf(result)
        if suite == "nmf_solvers":
            from .._bench.nmf_solvers import format_nmf_solvers, run_nmf_solvers

            result = run_nmf_solvers(
                {
                    **_workload_sizes(c),
                    "solvers": list(c["solvers"]), "cd_iters": c["cd_iters"],
                    "max_iters": c["max_iters"], "sklearn_mu_iters": c["sklearn_mu_iters"],
                    "segment": c["segment"], "n_runs": c["n_runs"], "seed": c["seed"],
                },
                progress=say,
            )  # fmt: skip
            return result, format_nmf_solvers(result)
        if suite == "nmf_structured":
            from .._bench.nmf_structured import format_nmf_structured, run_nmf_structured

            result = run_nmf_structured(
                {key: list(v) if isinstance(v, list) else v for key, v in c.items()},
                progress=say,
            )
            return result, format_nmf_structured(result)
        if suite == "bridge":
            from .._bench.bridge import format_bridge, run_bridge

            result = run_bridge(n=c["n"], n_runs=c["n_runs"], every=c["every"])
            return result, format_bridge(result)
        if suite == "cold":
            import sklearn  # noqa: F401  (its side runs in subprocesses: fail here, not there)

            from .._bench.cold import format_cold, run_cold

            result = run_cold(dict(c), progress=say)
            return result, format_cold(result)
    except ImportError as err:
        if err.name not in ("sklearn", "optax"):
            raise
        raise CLIError(f"suite {suite} needs {err.name}: pip install 'tracegrad[test]'") from None
    raise CLIError(f"unknown suite {suite!r}")


def run(args: argparse.Namespace) -> int:
    from .._bench._plot import bar_chart

    config = load_config(args.config, SCHEMA)
    suites = args.suites or config["bench"]["suites"]
    plot = config["output"]["plot"] and not args.no_plot
    files = tuple(
        f"{s}.{ext}"
        for s in suites
        for ext in (("json", "png") if plot and s != "cold" else ("json",))
    )
    given = "--out-dir" if args.out_dir is not None else f"{args.config or 'defaults'}: output.dir"
    check_suites(suites, config)  # before any work: the inputs, then the destination
    out_dir = output_dir(args.out_dir or config["output"]["dir"], given, files)
    for suite in suites:
        print(f"== {suite}", file=sys.stderr, flush=True)
        result, table = run_suite(suite, config)
        print(table)
        json_path = write_json(out_dir / f"{suite}.json", result)
        print(f"wrote {json_path}")
        if plot and suite in ("nmf_solvers", "nmf_structured"):
            from importlib import import_module

            module = import_module(f"tracegrad._bench.{suite}")
            pngs = module.plot_loss_vs_time(result, out_dir)
            for png in pngs:
                print(f"wrote {png}")
            if not pngs:
                print("matplotlib not installed: no chart written")
        elif plot and suite != "cold":  # cold: the table is the figure
            png = bar_chart(out_dir / f"{suite}.png", suite, result)
            print(f"wrote {png}" if png else "matplotlib not installed: no chart written")
        print()
    return 0
