"""``tracegrad nmf --config FILE``: factor the config's data, save W, H and the loss history."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._io import atomic_path
from ..nmf import LOSSES as _LOSS_TABLE
from ..nmf import SOLVERS as _SOLVER_TABLE
from . import _select_rank_cmd
from ._config import Key, load_config, non_negative, override, positive
from ._errors import CLIError
from ._output import Progress, print_table

LOSSES = tuple(_LOSS_TABLE)
SOLVERS = tuple(_SOLVER_TABLE)
INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")

SCHEMA = {
    "data": {
        "source": Key(str, "music", "where V comes from", ("music", "digits", "file")),
        "path": Key(
            str,
            "",
            "file source: .npy, .npz (arrays V and optional mask) or .csv; "
            "relative to the config file",
        ),
        "n_freq": Key(int, 128, "music source: frequency bins", check=positive),
        "n_frames": Key(int, 160, "music source: time frames", check=positive),
        "max_per_class": Key(
            int, 0, "digits source: images per class, 0 for all", check=non_negative
        ),
    },
    "nmf": {
        "rank": Key(int, 4, "number of components K", check=positive),
        "loss": Key(str, "kl", "objective (a beta-divergence)", LOSSES),
        "solver": Key(str, "mu", "mu (any loss), hals / amu / ahals (frobenius only)", SOLVERS),
        "max_iter": Key(int, 200, "iteration cap", check=positive),
        "tol": Key(float, 1e-4, "relative-decrease stopping tolerance", check=non_negative),
        "init": Key(str, "random", "initialisation scheme", INITS),
        "seed": Key(int, 0, "PRNG seed for the init"),
        "replicates": Key(
            int, 1, "random restarts of an unbatched V; the best is kept", check=positive
        ),
        "alpha_W": Key(float, 0.0, "regularisation strength on W", check=non_negative),
        "alpha_H": Key((float, str), "same", 'regularisation on H, or "same" as alpha_W'),
        "l1_ratio": Key(
            float,
            0.0,
            "L1 share of the regularisation, in [0, 1]",
            check=lambda v: None if 0 <= v <= 1 else "must be in [0, 1]",
        ),
        "dtype": Key(str, "float32", "computation dtype", ("float32", "float64")),
    },
    "mesh": {
        "devices": Key(
            int,
            1,
            "devices to split the fit over (1: one device, as without a mesh; 0: every device "
            "JAX sees); a batch is split by problems, a single V by rows",
            check=non_negative,
        ),
    },
    "output": {
        "path": Key(
            str,
            "nmf-result.npz",
            "where W, H and the loss history go (.npz); relative to the current directory",
        ),
        "plot": Key(bool, True, "also write a loss-curve PNG beside it (needs matplotlib)"),
    },
    "select_rank": _select_rank_cmd.SECTION,
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "nmf",
        help="run the NMF core on a config's data and save W, H and the loss history",
        description="Factor the data named by a TOML config (see configs/nmf-*.toml); flags "
        "override the config.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML config (default: the built-in demo)")
    p.add_argument("--rank", type=int)
    p.add_argument("--loss", choices=LOSSES)
    p.add_argument("--solver", choices=SOLVERS)
    p.add_argument("--max-iter", type=int, dest="max_iter")
    p.add_argument("--tol", type=float)
    p.add_argument("--init", choices=INITS)
    p.add_argument("--seed", type=int)
    p.add_argument("--replicates", type=int)
    p.add_argument("--dtype", choices=("float32", "float64"))
    p.add_argument(
        "--devices",
        type=int,
        metavar="N",
        help="split the fit over N devices (config [mesh] devices; 0 = all); on CPU N > 1 "
        "needs XLA_FLAGS=--xla_force_host_platform_device_count=N set before starting",
    )
    p.add_argument("--output", metavar="FILE", help="output .npz path")
    p.add_argument("--no-plot", action="store_true", help="do not write the loss-curve PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _select_rank_cmd.add_arguments(p)
    p.set_defaults(run=run)


def load_data(config: dict, config_path: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(V, mask)`` for the config's ``[data]`` table."""
    data = config["data"]
    if data["source"] == "music":
        from ..datasets import synthetic_music

        try:
            return synthetic_music(data["n_freq"], data["n_frames"], dtype=np.float64).V, None
        except ValueError as err:
            raise CLIError(f"data: {err}") from None
    if data["source"] == "digits":
        from ..datasets import digits_by_class

        V, mask, _ = digits_by_class(data["max_per_class"] or None)
        return V, mask
    if not data["path"]:
        raise CLIError('data.source = "file" needs data.path')
    path = Path(data["path"])
    if config_path is not None and not path.is_absolute():
        path = config_path.parent / path
    if not path.is_file():
        raise CLIError(f"data file not found: {path}")
    try:
        if path.suffix == ".npy":
            return np.load(path), None
        if path.suffix == ".npz":
            with np.load(path) as npz:
                if "V" not in npz:
                    raise CLIError(f"{path}: no array named 'V' (found {', '.join(npz.files)})")
                return npz["V"], (npz["mask"] if "mask" in npz else None)
        if path.suffix == ".csv":
            return np.loadtxt(path, delimiter=",", ndmin=2), None
    except (OSError, ValueError) as err:
        raise CLIError(f"cannot read {path}: {err}") from None
    raise CLIError(f"unsupported data file type {path.suffix!r} (use .npy, .npz or .csv)")


def make_mesh(devices: int) -> jax.sharding.Mesh | None:
    """A one-axis mesh (axis ``"devices"``) over the first ``devices`` devices; None for 1.

    ``0`` takes every device JAX sees.  Asking for more than exist is an error that says how
    many there are and, on CPU, how to get more (the count is fixed when JAX starts).
    """
    if devices < 0:
        raise CLIError(f"--devices must be >= 0, got {devices}")
    available = jax.devices()
    n = len(available) if devices == 0 else devices
    if n == 1:
        return None
    if n > len(available):
        platform = available[0].platform
        hint = (
            f"set XLA_FLAGS=--xla_force_host_platform_device_count={n} in the environment "
            f"before starting tracegrad (JAX reads it once, at start-up)"
            if platform == "cpu"
            else "use a machine with more devices, or jax.distributed for several hosts"
        )
        raise CLIError(
            f"mesh: {n} devices requested but JAX sees {len(available)} {platform} "
            f"device{'s' if len(available) != 1 else ''}; {hint}"
        )
    return jax.sharding.Mesh(np.array(available[:n]), ("devices",))


def fit_config(config: dict, V: np.ndarray, mask: np.ndarray | None, progress=None):
    """Run ``tracegrad.nmf.fit`` as the config's ``[nmf]`` table says; returns the result."""
    from .. import nmf

    opts = config["nmf"]
    alpha_H = opts["alpha_H"]
    if isinstance(alpha_H, str) and alpha_H != "same":
        raise CLIError(f'nmf.alpha_H must be a number or "same", got {alpha_H!r}')
    dtype = jnp.dtype(opts["dtype"])
    key = jax.random.key(opts["seed"])
    if opts["replicates"] > 1:
        if V.ndim != 2:
            raise CLIError("nmf.replicates > 1 needs an unbatched (2-D) V")
        key = jax.random.split(key, opts["replicates"])
    mesh = make_mesh(config["mesh"]["devices"])
    try:
        result = nmf.fit(
            jnp.asarray(V, dtype),
            opts["rank"],
            loss=opts["loss"],
            solver=opts["solver"],
            max_iter=opts["max_iter"],
            tol=opts["tol"],
            init=opts["init"],
            key=key,
            alpha_W=opts["alpha_W"],
            alpha_H=alpha_H,
            l1_ratio=opts["l1_ratio"],
            mask=None if mask is None else jnp.asarray(mask, dtype),
            progress=progress,
            mesh=mesh,
        )
    except ValueError as err:
        raise CLIError(f"nmf: {err}") from None
    if opts["replicates"] > 1:
        result = result.best()
    return result


def save_result(path: str | Path, result, config: dict) -> Path:
    """Write W, H, the loss history and the config to ``path`` atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise CLIError(f"output path must end in .npz, got {path}")
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            W=np.asarray(result.W),
            H=np.asarray(result.H),
            loss_history=np.asarray(result.loss_history),
            n_iter=np.asarray(result.n_iter),
            converged=np.asarray(result.converged),
            config=np.asarray(json.dumps(config)),
        )
    return path


def plot_losses(path: str | Path, loss_history, title: str) -> Path | None:
    """A loss-curve PNG; ``None`` (and nothing written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    curves = np.atleast_2d(np.asarray(loss_history, np.float64))
    curves = curves.reshape(-1, curves.shape[-1])
    fig, ax = plt.subplots(figsize=(6, 4))
    for curve in curves:
        ok = np.isfinite(curve)
        ax.plot(np.flatnonzero(ok), curve[ok], lw=1)
    ax.set_xlabel("convergence check")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)


def run(args: argparse.Namespace) -> int:
    config_path = Path(args.config) if args.config else None
    config = load_config(config_path, SCHEMA)
    keys = ("rank", "loss", "solver", "max_iter", "tol", "init", "seed", "replicates", "dtype")
    for key in keys:
        override(config, "nmf", key, getattr(args, key))
    override(config, "mesh", "devices", args.devices)
    override(config, "output", "path", args.output)
    if args.no_plot:
        config["output"]["plot"] = False
    for key, flag in (("ranks", "select_rank"), ("restarts", "restarts"), ("holdout", "holdout")):
        override(config, "select_rank", key, getattr(args, flag))
    if config["select_rank"]["ranks"]:
        _select_rank_cmd.parse_ranks(config["select_rank"]["ranks"])
        _select_rank_cmd.outputs(config["output"]["path"])  # before any work
        V, mask = load_data(config, config_path)
        return _select_rank_cmd.run(args, config, V, mask)
    V, mask = load_data(config, config_path)
    n_iter = config["nmf"]["max_iter"]
    with Progress(n_iter, "nmf", enabled=not args.quiet) as bar:
        result = fit_config(config, V, mask, progress=bar.update if not args.quiet else None)
    out = save_result(config["output"]["path"], result, config)
    losses = np.asarray(result.loss_history, np.float64).reshape(-1, result.loss_history.shape[-1])
    n_iters = np.atleast_1d(np.asarray(result.n_iter)).ravel()
    conv = np.atleast_1d(np.asarray(result.converged)).ravel()
    rows = []
    for i, (curve, it, c) in enumerate(zip(losses, n_iters, conv, strict=True)):
        finite = curve[np.isfinite(curve)]
        rows.append((i, int(it), "yes" if c else "no", f"{finite[-1]:.6g}" if finite.size else "-"))
    print_table(
        ("problem", "iterations", "converged", "final loss"),
        rows,
        title=f"NMF rank {config['nmf']['rank']}, {config['nmf']['loss']} loss",
    )
    print(f"wrote {out}")
    if config["output"]["plot"]:
        png = plot_losses(
            out.with_suffix(".png"),
            result.loss_history,
            f"{config['nmf']['loss']} NMF, rank {config['nmf']['rank']}",
        )
        print(f"wrote {png}" if png else "matplotlib not installed: no loss-curve PNG")
    return 0
