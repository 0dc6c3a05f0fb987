"""``tracegrad nmf --config FILE``: factor the config's data, save W, H and the loss history."""

from __future__ import annotations

import argparse
import contextlib
import json
import warnings
from pathlib import Path

import jax
import numpy as np

from .._utils import atomic_path
from ..nmf import LOSSES as _LOSS_TABLE
from ..nmf import SOLVERS as _SOLVER_TABLE
from . import _select_rank_cmd
from ._config import Key, add_flag, load_config, non_negative, override, positive, seed
from ._errors import CLIError
from ._mesh import make_mesh
from ._output import Progress, print_table
from ._paths import output_file

LOSSES = tuple(_LOSS_TABLE)
SOLVERS = ("auto", *_SOLVER_TABLE)
INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")


def _alpha_H(value) -> str | None:
    if isinstance(value, str):
        return None if value == "same" else 'must be a number >= 0 or "same"'
    return non_negative(value)


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
        "solver": Key(
            str,
            "auto",
            "auto (the soonest to a good loss for this loss and layout, tracegrad.nmf.AUTO_RULES)"
            ", mu / admm / emu (any loss), hals / amu / ahals / apg / ehals (frobenius only)",
            SOLVERS,
        ),
        "max_iter": Key(int, 200, "iteration cap", check=positive),
        "tol": Key(float, 1e-4, "relative-decrease stopping tolerance", check=non_negative),
        "init": Key(str, "random", "initialisation scheme", INITS),
        "seed": Key(int, 0, "PRNG seed for the init", check=seed),
        "replicates": Key(
            int, 1, "random restarts of an unbatched V; the best is kept", check=positive
        ),
        "alpha_W": Key(float, 0.0, "regularisation strength on W", check=non_negative),
        "alpha_H": Key(
            (float, str),
            "same",
            'regularisation on H, or "same" as alpha_W',
            check=_alpha_H,
        ),
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
            "JAX sees); a batch is split by problems, a single V by rows; on CPU N > 1 needs "
            "XLA_FLAGS=--xla_force_host_platform_device_count=N set before starting",
            check=non_negative,
        ),
    },
    "output": {
        "path": Key(
            str,
            "nmf-result.npz",
            "where W, H and the loss history go (.npz); relative to the current directory",
            check=lambda v: None if v.strip().endswith(".npz") else "must end in .npz",
        ),
        "plot": Key(bool, True, "also write a loss-curve PNG beside it (needs matplotlib)"),
    },
    "select_rank": _select_rank_cmd.SECTION,
}


FLAGS = (
    *(
        ("nmf", key)
        for key in ("rank", "loss", "solver", "max_iter", "tol", "init", "seed", "replicates")
    ),
    ("nmf", "dtype"),
    ("mesh", "devices"),
    ("output", "path"),
    ("select_rank", "ranks"),
    ("select_rank", "restarts"),
    ("select_rank", "holdout"),
)
"""``(section, key)`` of each config key a flag overrides: ``--max-iter`` for ``nmf.max_iter``,
``--output`` for ``output.path``.  The flag is parsed and checked by the same ``Key``."""


def flag_name(section: str, key: str) -> str:
    """The command-line flag of a config key."""
    special = {("output", "path"): "--output", ("select_rank", "ranks"): "--select-rank"}
    return special.get((section, key), "--" + key.replace("_", "-"))


def add_parser(sub) -> None:
    p = sub.add_parser(
        "nmf",
        help="run the NMF core on a config's data and save W, H and the loss history",
        description="Factor the data named by a TOML config (see configs/nmf-*.toml); flags "
        "override the config.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML config (default: the built-in demo)")
    for section, key in FLAGS:  # flags and config keys: one schema, one set of checks
        add_flag(p, flag_name(section, key), SCHEMA[section][key], dest=f"{section}.{key}")
    p.add_argument("--no-plot", action="store_true", help="do not write the loss-curve PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    if path.is_dir():
        raise CLIError(f"data.path {path}: is a directory, not a data file")
    if not path.is_file():
        raise CLIError(f"data file not found: {path}")
    if path.suffix not in (".npy", ".npz", ".csv"):
        raise CLIError(
            f"data.path {path}: unsupported type {path.suffix!r} (use .npy, .npz or .csv)"
        )
    try:
        V, mask = _read(path)
    except CLIError:
        raise
    except Exception as err:  # noqa: BLE001 - corrupt zip, bad header, pickled objects, ...
        detail = str(err).strip().splitlines()
        raise CLIError(
            f"cannot read data file {path}: {type(err).__name__}: {detail[0] if detail else ''}"
        ) from None
    return _real_array(V, f"{path}: V"), None if mask is None else _real_array(
        mask, f"{path}: mask"
    )


def _read(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(V, mask)`` from a .npy, .npz or .csv file; NumPy's warnings are errors here."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "input contained no data" and the like: refused
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                if "V" not in npz:
                    raise CLIError(f"{path}: no array named 'V' (found {', '.join(npz.files)})")
                return npz["V"], (npz["mask"] if "mask" in npz else None)
        return np.loadtxt(path, delimiter=",", ndmin=2), None


def _real_array(x, name: str) -> np.ndarray:
    """``x`` as a real-valued array; complex, text, object or empty arrays are refused."""
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise CLIError(f"{name} is complex ({x.dtype}); NMF needs real, non-negative data")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise CLIError(f"{name} has dtype {x.dtype}; NMF needs real numbers")
    if x.size == 0:
        raise CLIError(f"{name} is empty (shape {x.shape})")
    return x


def fit_config(config: dict, V: np.ndarray, mask: np.ndarray | None, progress=None):
    """Run ``tracegrad.nmf.fit`` as the config's ``[nmf]`` table says; returns the result."""
    dtype = np.dtype(config["nmf"]["dtype"])
    # float64 asked for is float64 computed: x64 on for this fit only (scoped, not global)
    x64 = jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()
    with x64:
        return _fit(config, V, mask, dtype, progress)


def _fit(config: dict, V: np.ndarray, mask: np.ndarray | None, dtype, progress):
    from .. import nmf

    opts = config["nmf"]
    alpha_H = opts["alpha_H"]  # a number >= 0 or "same": checked by the schema
    for name, x in (("V", V), ("mask", mask)):
        finite = x[np.isfinite(x)] if x is not None else np.zeros(0)
        if finite.size and np.abs(finite).max() > np.finfo(dtype).max:
            raise CLIError(
                f"data: {name} has values beyond the {dtype} range (max |x| "
                f'{np.abs(finite).max():.3g}); use nmf.dtype = "float64" (--dtype float64)'
            )
    key = jax.random.key(opts["seed"])
    if opts["replicates"] > 1:
        if V.ndim != 2:
            raise CLIError("nmf.replicates > 1 needs an unbatched (2-D) V")
        key = jax.random.split(key, opts["replicates"])
    mesh = make_mesh(config["mesh"]["devices"])
    try:
        # NumPy arrays and dtype=: fit honours float64 even with x64 off (jnp.asarray would
        # silently truncate to float32 before fit saw the data)
        result = nmf.fit(
            np.asarray(V, dtype),
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
            mask=None if mask is None else np.asarray(mask, dtype),
            dtype=dtype,
            progress=progress,
            mesh=mesh,
        )
    except (ValueError, TypeError) as err:
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
            dtype=np.asarray(str(np.asarray(result.W).dtype)),  # what was computed, not asked
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
    for section, key in FLAGS:
        override(config, section, key, getattr(args, f"{section}.{key}"))
    if args.no_plot:
        config["output"]["plot"] = False
    if config["select_rank"]["ranks"]:  # choose the rank: outputs checked before any work
        _select_rank_cmd.parse_ranks(config["select_rank"]["ranks"])
        given = "--output" if getattr(args, "output.path") is not None else "output.path"
        _select_rank_cmd.outputs(config["output"]["path"], given)
        V, mask = load_data(config, config_path)
        return _select_rank_cmd.run(args, config, V, mask)
    given = "--output" if getattr(args, "output.path") is not None else "output.path"
    out = output_file(config["output"]["path"], given, suffix=".npz")  # before any work
    if config["output"]["plot"]:
        output_file(out.with_suffix(".png"), f"the loss-curve PNG beside {given}", ".png")
    V, mask = load_data(config, config_path)
    n_iter = config["nmf"]["max_iter"]
    with Progress(n_iter, "nmf", enabled=not args.quiet) as bar:
        result = fit_config(config, V, mask, progress=bar.update if not args.quiet else None)
    out = save_result(out, result, config)
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
