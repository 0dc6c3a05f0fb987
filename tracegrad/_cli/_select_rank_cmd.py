"""``tracegrad nmf --select-rank 2:10 --restarts 50``: choose the rank with ``nmf.select_rank``.

The ``[select_rank]`` config section and its flags; ``tracegrad nmf`` hands over to ``run``
when ``ranks`` is set.  Writes, beside ``output.path`` (``result.npz``):

- ``result.npz``: per rank ``K``, ``W_K``/``H_K`` (the consensus factors), plus ``ranks``,
  the metric arrays, ``best_rank`` and the config;
- ``result-ranks.csv``: the per-rank table printed on screen;
- ``result-ranks.png``: the K-selection figure (when ``output.plot`` and matplotlib).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .._utils import atomic_path, atomic_write
from ._config import Key, fraction, non_negative, positive
from ._errors import CLIError
from ._mesh import make_mesh
from ._output import print_table
from ._paths import output_file

PASSED_IF_PRESENT = ("solver",)
"""``[nmf]`` keys handed to ``select_rank`` when the config schema has them."""

METRICS = ("reconstruction_error", "cv_error", "cophenetic", "dispersion", "silhouette")


def parse_ranks(text: str) -> list[int]:
    """``"2:10"`` (inclusive), ``"2,4,8"`` or ``"5"`` as a list of ranks."""
    try:
        if ":" in text:
            lo, hi = (int(p) for p in text.split(":"))
            ranks = list(range(lo, hi + 1))
        else:
            ranks = [int(p) for p in text.split(",")]
    except ValueError:
        ranks = []
    if not ranks or min(ranks) < 1:
        raise CLIError(
            f"select_rank.ranks must be LO:HI (inclusive) or a comma list of ranks >= 1, "
            f"got {text!r}"
        )
    return ranks


def _ranks_check(value: str) -> str | None:
    if not value:
        return None
    try:
        parse_ranks(value)
    except CLIError:
        return "must be LO:HI (inclusive) or a comma list of ranks >= 1"
    return None


SECTION = {
    "ranks": Key(
        str,
        "",
        'ranks to choose from, "LO:HI" (inclusive) or "2,4,8"; empty: fit nmf.rank only',
        check=_ranks_check,
    ),
    "restarts": Key(int, 10, "random restarts per rank", check=positive),
    "holdout": Key(
        float,
        0.1,
        "fraction of entries held out for the cross-validation error, in [0, 1)",
        check=fraction,
    ),
    "error_tol": Key(float, 0.05, "best-rank rule: relative error tolerance", check=non_negative),
}


def outputs(path: str | Path, label: str = "output.path") -> tuple[Path, Path, Path]:
    """``(npz, csv, png)`` destinations for ``output.path``, checked before any work.

    ``label`` names the flag or key that gave the path (``--output``), for the message.
    """
    npz = output_file(path, label, suffix=".npz")
    stem = npz.with_suffix("")
    table = output_file(f"{stem}-ranks.csv", f"the rank table beside {label}", ".csv")
    png = output_file(f"{stem}-ranks.png", f"the K-selection PNG beside {label}", ".png")
    return npz, table, png


def run(args: argparse.Namespace, config: dict, V: np.ndarray, mask) -> int:
    """Run the selection the config describes and write its three outputs."""
    from .. import nmf

    sel_cfg = config["select_rank"]
    ranks = parse_ranks(sel_cfg["ranks"])
    npz, table, png = outputs(config["output"]["path"])  # checked again: run may be called alone
    opts = config["nmf"]
    if V.ndim != 2:
        raise CLIError("--select-rank needs an unbatched (2-D) V")
    alpha_H = opts["alpha_H"]
    if isinstance(alpha_H, str) and alpha_H != "same":
        raise CLIError(f'nmf.alpha_H must be a number or "same", got {alpha_H!r}')
    dtype = np.dtype(opts["dtype"])
    # float64 asked for is float64 computed: x64 on for this selection only (scoped)
    x64 = jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()
    try:
        with x64:
            sel = nmf.select_rank(
                np.asarray(V, dtype),
                ranks,
                restarts=sel_cfg["restarts"],
                loss=opts["loss"],
                max_iter=opts["max_iter"],
                tol=opts["tol"],
                key=jax.random.key(opts["seed"]),
                mask=None if mask is None else np.asarray(mask, dtype),
                holdout=sel_cfg["holdout"],
                error_tol=sel_cfg["error_tol"],
                mesh=make_mesh(config["mesh"]["devices"]),
                alpha_W=opts["alpha_W"],
                alpha_H=alpha_H,
                l1_ratio=opts["l1_ratio"],
                dtype=dtype,
                **{k: opts[k] for k in PASSED_IF_PRESENT if k in opts},
            )
    except (ValueError, TypeError) as err:
        raise CLIError(f"select_rank: {err}") from None

    headers = ("rank",) + METRICS + ("best",)
    rows = [
        [r["rank"]] + [f"{r[m]:.6g}" for m in METRICS] + ["*" if r["best"] else ""]
        for r in sel.rows()
    ]
    print_table(headers, rows, title=f"rank selection, {opts['loss']} loss")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    atomic_write(table, lambda fh: fh.write(buf.getvalue()))
    arrays: dict[str, Any] = {f"W_{k}": w for k, w in zip(sel.ranks, sel.consensus_W, strict=True)}
    arrays |= {f"H_{k}": h for k, h in zip(sel.ranks, sel.consensus_H, strict=True)}
    arrays |= {m: getattr(sel, m) for m in METRICS}
    arrays |= {
        "ranks": np.asarray(sel.ranks),
        "best_rank": np.asarray(sel.best_rank),
        "restart_errors": sel.restart_errors,
        "config": np.asarray(json.dumps(config)),
    }
    with atomic_path(npz, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    print(f"best rank: {sel.best_rank}")
    print(f"wrote {npz}")
    print(f"wrote {table}")
    if config["output"]["plot"]:
        try:
            print(f"wrote {sel.plot(png)}")
        except ImportError:
            print("matplotlib not installed: no K-selection PNG")
    return 0
