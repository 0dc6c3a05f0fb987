"""``tracegrad demo``: the built-in tour, no files needed.

1. Cross-check every registry identity in float32 and float64.
2. Separate a synthetic four-note "music" spectrogram with KL-NMF (best of several restarts)
   and report how well each true note was recovered (matched template and activation
   correlation), with the loss curve.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..datasets import match_components, synthetic_music
from ._check_cmd import check_rows
from ._config import add_flag, load_config
from ._nmf_cmd import SCHEMA, fit_config, plot_losses
from ._output import Progress, print_table
from ._paths import output_file
from ._select import select_identities

RECOVERY_THRESHOLD = 0.9
"""A note counts as recovered when both its template and activation correlate above this."""

_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values) -> str:
    """The loss curve as one line of block characters (log scale)."""
    v = np.log(np.asarray(values, np.float64)[np.isfinite(values)])
    if v.size == 0:
        return ""
    span = v.max() - v.min()
    idx = np.zeros(v.size, int) if span == 0 else np.round((v - v.min()) / span * 7).astype(int)
    return "".join(_SPARK[i] for i in idx)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="check every identity, then separate a synthetic music spectrogram with KL-NMF",
    )
    p.add_argument("--skip-check", action="store_true", help="skip the identity cross-check")
    add_flag(p, "--replicates", SCHEMA["nmf"]["replicates"], default=8, metavar="N")
    p.add_argument("--plot", metavar="PNG", help="also write the loss curve to this PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    plot = output_file(args.plot, "--plot", suffix=".png") if args.plot is not None else None
    status = 0
    if not args.skip_check:
        rows = check_rows(select_identities(), ("float32", "float64"), seed=0)
        by_name: dict[str, dict] = {}
        for r in rows:
            by_name.setdefault(r["identity"], {"source": r["source"]})[r["dtype"]] = r
        table = []
        for name, r in by_name.items():
            worst = {d: max(r[d]["rel_err"].values()) for d in ("float32", "float64")}
            ok = r["float32"]["ok"] and r["float64"]["ok"]
            table.append(
                (
                    name,
                    r["source"],
                    f"{worst['float32']:.1e}",
                    f"{worst['float64']:.1e}",
                    "pass" if ok else "FAIL",
                )
            )
        print_table(
            ("identity", "source", "float32 err", "float64 err", "verdict"),
            table,
            title="1. every closed form vs jax.grad, jax.jvp and float64 finite differences",
        )
        failed = [r for r in rows if not r["ok"]]
        for r in failed:
            print(f"FAIL {r['identity']} [{r['dtype']}]: {r['diagnosis']}")
        print(f"{len(rows) - len(failed)}/{len(rows)} checks passed\n")
        status = 1 if failed else 0

    music = synthetic_music()
    config = load_config(None, SCHEMA)
    config["nmf"].update(rank=4, loss="kl", max_iter=500, tol=1e-6, replicates=args.replicates)
    with Progress(500, "KL-NMF", enabled=not args.quiet) as bar:
        result = fit_config(config, music.V, None, progress=None if args.quiet else bar.update)
    _, w_corr, h_corr = match_components(music.W, music.H, result.W, result.H)
    print_table(
        ("note", "template corr", "activation corr", "recovered"),
        [
            (name, f"{w:.4f}", f"{h:.4f}", "yes" if min(w, h) >= RECOVERY_THRESHOLD else "NO")
            for name, w, h in zip(music.names, w_corr, h_corr, strict=True)
        ],
        title=f"2. KL-NMF of a {music.V.shape[0]}x{music.V.shape[1]} synthetic spectrogram, "
        f"rank 4, best of {args.replicates} restarts ({int(result.n_iter)} iterations)",
    )
    print(f"loss curve: {sparkline(result.loss_history)}")
    if plot is not None:
        png = plot_losses(plot, result.loss_history, "KL-NMF on the synthetic spectrogram")
        print(f"wrote {png}" if png else "matplotlib not installed: no PNG written")
    if min(w_corr.min(), h_corr.min()) < RECOVERY_THRESHOLD:
        status = 1
    return status
