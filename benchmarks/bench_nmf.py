"""Benchmark tracegrad.nmf against scikit-learn's MU solver (see tracegrad/_bench/nmf.py).

Run with NumPy's OpenBLAS tuning variables unset, for the scikit-learn side:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_nmf.py

Prints a table and writes the figures as JSON (default benchmarks/nmf.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracegrad._bench.nmf import format_nmf, openblas_vars_set, run_nmf  # noqa: E402
from tracegrad._utils import write_json  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=None, help="MU iterations (default 200)")
    p.add_argument("--runs", type=int, default=None, help="alternating timing rounds (default 3)")
    p.add_argument("--no-sklearn", action="store_true", help="time tracegrad only")
    p.add_argument("--config", type=json.loads, default=None,
                   help='JSON overrides, e.g. \'{"batch": {"batch": 16}}\'')  # fmt: skip
    p.add_argument("--output", default=str(Path(__file__).parent / "nmf.json"))
    args = p.parse_args(argv)
    found = openblas_vars_set()
    if found:
        print(
            f"WARNING: {', '.join(f'{k}={v}' for k, v in found.items())} set: NumPy's OpenBLAS "
            f"(the scikit-learn side) is tuned by them; rerun with "
            f"env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE",
            file=sys.stderr,
        )
    config = dict(args.config or {})
    if args.iters is not None:
        config["iters"] = args.iters
    if args.runs is not None:
        config["n_runs"] = args.runs
    if args.no_sklearn:
        config["sklearn"] = False
    result = run_nmf(config, progress=lambda msg: print(f"... {msg}", file=sys.stderr))
    print(format_nmf(result))
    write_json(args.output, result)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
