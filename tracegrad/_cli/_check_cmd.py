"""``tracegrad check``: cross-check registry identities against autodiff and finite differences."""

from __future__ import annotations

import argparse

import jax

from .._utils import write_json
from ._config import Key, add_flag, seed
from ._output import print_table
from ._paths import output_file
from ._select import select_identities

SEED = Key(int, 0, "sampler seed (default 0)", check=seed)

_DTYPES = {"float32": ("float32",), "float64": ("float64",), "both": ("float32", "float64")}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="cross-check every identity's closed form against jax.grad, jvp and float64 FD",
        description="Check each identity's closed-form gradient on its own sampled inputs "
        "against reverse mode, forward mode and float64 finite differences. Exit status 1 if "
        "any fails.",
    )
    p.add_argument("--dtype", choices=tuple(_DTYPES), default="both")
    p.add_argument("--only", metavar="REGEX", help="check identities whose name matches REGEX")
    p.add_argument(
        "--module", metavar="MODULE", help="import MODULE and check the identities it registers"
    )
    add_flag(p, "--seed", SEED, default=SEED.default)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(run=run)


def check_rows(identities, dtypes, seed: int) -> list[dict]:
    """Check each identity in each dtype; one result dict per (identity, dtype)."""
    rows = []
    with jax.enable_x64(True):  # scoped: float64 sampling and the float64 FD reference
        for ident in identities:
            for dtype in dtypes:
                report = ident.check(seed, dtype)
                rows.append(
                    {
                        "identity": ident.name,
                        "source": ident.source,
                        "dtype": dtype,
                        "ok": report.ok,
                        "rel_err": {k: r.max_rel_err for k, r in report.references.items()},
                        "rtol": report.rtol,
                        "diagnosis": report.diagnosis,
                    }
                )
    return rows


def run(args: argparse.Namespace) -> int:
    json_path = output_file(args.json, "--json") if args.json is not None else None
    identities = select_identities(args.only, args.module)
    rows = check_rows(identities, _DTYPES[args.dtype], args.seed)
    refs = ("reverse", "forward", "fd64")
    print_table(
        ("identity", "source", "dtype", *refs, "verdict"),
        [
            (
                r["identity"],
                r["source"],
                r["dtype"],
                *(f"{r['rel_err'].get(k, float('inf')):.1e}" for k in refs),
                "pass" if r["ok"] else "FAIL",
            )
            for r in rows
        ],
        title="closed form vs references (max normwise relative error)",
    )
    failed = [r for r in rows if not r["ok"]]
    for r in failed:
        print(f"FAIL {r['identity']} [{r['dtype']}]: {r['diagnosis']}")
    print(f"{len(rows) - len(failed)}/{len(rows)} checks passed")
    if json_path is not None:
        write_json(json_path, rows)
        print(f"wrote {json_path}")
    return 1 if failed else 0
