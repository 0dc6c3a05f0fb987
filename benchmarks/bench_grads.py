"""Every registry identity's closed-form gradient vs jax.grad of its objective.

    python benchmarks/bench_grads.py                          # n = 256 and 1024, float32
    python benchmarks/bench_grads.py --sizes 256 --only '^hu\\.' --runs 20 --out out/g.json

Prints a table (ratio = jax.grad time / closed-form time, > 1: the closed form is faster) and
writes the JSON result; then the same for the gradients ``tracegrad.derive`` writes for every
expressible identity (``--no-derived`` skips them), written beside it as ``*_derived.json``.
Timings only: nothing is asserted.  ``tracegrad bench --config configs/bench-grads.toml`` runs
the same two suites from a config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tracegrad._bench.derive import format_derive, run_derive
from tracegrad._bench.grads import format_grads, run_grads
from tracegrad._utils import write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--runs", type=int, default=10, help="least timed runs per median")
    parser.add_argument(
        "--min-time", type=float, default=0.1, help="run each side at least this long (s)"
    )
    parser.add_argument("--only", help="regular expression selecting identity names")
    parser.add_argument("--out", default="out/bench_grads.json", help="JSON output path")
    parser.add_argument("--no-derived", action="store_true", help="skip derived gradients")
    parser.add_argument("--quiet", action="store_true", help="no per-row progress on stderr")
    args = parser.parse_args()

    def progress(row: dict) -> None:
        print(
            f"  {row['identity']} n={row['n']}: ratio {row['ratio']:.2f}",
            file=sys.stderr,
            flush=True,
        )

    result = run_grads(
        tuple(args.sizes),
        args.dtype,
        args.runs,
        args.only,
        None if args.quiet else progress,
        min_time=args.min_time,
    )
    print(format_grads(result))
    write_json(args.out, result)
    print(f"wrote {args.out}")
    if not args.no_derived:
        derived = run_derive(tuple(args.sizes), args.dtype, args.runs, args.only)
        print(format_derive(derived))
        out = Path(args.out)
        path = write_json(out.with_name(f"{out.stem}_derived.json"), derived)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
