"""Strong and weak scaling of ``nmf.fit(mesh=...)`` on virtual CPU devices, and memory per device.

    python benchmarks/bench_scaling.py            # re-runs itself with 4 virtual CPU devices

Virtual CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``) are threads of one
process sharing the machine's cores (2 here, shared with other work), so the times show the
*overhead* of the sharded program (partitioning, all-reduces, per-device dispatch), not a
speedup: 4 devices on 2 cores cannot run 4x faster.  On a real multi-GPU machine run it with
``--no-respawn`` to time the devices it has.

Times: ms per MU iteration (``tol=0``, fixed ``--iters``), the compiled loop of ``fit``'s
program called directly -- ``tracegrad/nmf/_sharding.py``'s ``sharded_fit_loop`` on a mesh,
``tracegrad/nmf/_execute.py``'s ``_loop`` without one -- with its operands (``V``, ``W``,
``H``, the penalty weights, ``tol``, ``max_iter``) as jit arguments placed on the mesh
beforehand (compilation excluded), every configuration of one table timed in alternation
(``time_calls``), medians over the rounds.  ``1 (no mesh)`` is ``mesh=None``, the program
``fit`` always ran (as one loop: ``fit``'s worker threads for a batch on a multi-core CPU are
not part of it); ``1`` is a one-device mesh.  The loop, not ``fit`` itself: ``fit`` adds host
checks, places ``V`` on every call and builds the initial factors and rescaling inside the
program, and its compiled program's memory is not the loop's.

Memory: for every configuration, ``compiled.memory_analysis()`` of the loop (argument, output
and temporary bytes of one device) beside the formula of ``docs/scaling.md``, and the bytes
of one device's shards of ``V``, ``W``, ``H`` (``addressable_shards``).

Writes JSON (default ``benchmarks/results/scaling.json``) and prints the tables.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MARK = "TRACEGRAD_SCALING_CHILD"


def respawn(argv, devices: int) -> int:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env[MARK] = "1"
    return subprocess.call([sys.executable, __file__, *argv], env=env)


def setup(layout, loss, shape, devices, dtype, iters, masked=False):
    """The loop's operands placed for ``devices`` (0: no mesh), and the jitted loop to call.

    No mesh: ``_execute._loop``, the loop of ``fit``'s program (chunked where ``_layout``
    says so).  A mesh: ``_sharding.sharded_fit_loop``, the loop of ``fit(mesh=...)``'s
    program, with the layout ``fit`` picks (``_fit._mesh_fit``).  Returns ``(fn, args,
    static, transposed)``: ``fn.lower(*args, **static)`` compiles it.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from tracegrad.nmf._execute import Plan, _loop
    from tracegrad.nmf._layout import plan
    from tracegrad.nmf._losses import resolve_loss
    from tracegrad.nmf._regularization import penalty
    from tracegrad.nmf._sharding import check_mesh, make_spec, place, sharded_fit_loop
    from tracegrad.nmf._solvers import resolve_solver

    rng = np.random.default_rng(0)
    if layout == "rows":
        m, n, k = shape
        B, v_shape = 1, (m, n)
    else:
        B, m, n, k = shape
        v_shape = (B, m, n)
    V = jnp.asarray(rng.random(v_shape), dtype)
    mask = jnp.asarray(rng.random(v_shape) > 0.1, dtype) if masked else None
    W0 = jnp.asarray(rng.uniform(0.1, 1, (B, m, k)), dtype)
    H0 = jnp.asarray(rng.uniform(0.1, 1, (B, k, n)), dtype)
    pen = jax.tree.map(lambda w: jnp.asarray(w, dtype), penalty(0.0, "same", 0.0, m, n))
    tol, max_iter = jnp.asarray(0.0, dtype), jnp.asarray(iters, jnp.int32)
    token = jnp.asarray(0, jnp.int32)
    loss_obj, solver = resolve_loss(loss), resolve_solver("mu")
    backend = jax.default_backend()
    if devices == 0:
        fit_plan = Plan(
            dtype=np.dtype(dtype).name, rank=k, init="random", loss=loss_obj, solver=solver,
            update_W=True, update_H=True, custom=True, start_W=False, start_H=False,
            batch=(B,) if layout == "batch" else (), v_batched=layout == "batch",
            key_kind="none", key_batched=False, group=B, with_progress=False, traced=False,
        )  # fmt: skip
        args = (V, mask, W0, H0, pen, tol, max_iter, token)
        fn = jax.jit(_loop, static_argnames=("plan",))
        chosen = plan(layout == "batch", B, m, n, V.dtype.itemsize, loss_obj, masked, backend)
        return fn, args, dict(plan=fit_plan), chosen.transposed
    mesh, axis = check_mesh(jax.sharding.Mesh(np.array(jax.devices()[:devices]), ("d",)), None)
    spec = make_spec(mesh, axis, layout == "batch", B, m)
    vs = spec.v_sharding(layout == "batch")
    args = (
        place(V, vs, spec),
        place(mask, vs, spec),
        place(W0, spec.w_sharding(), spec),
        place(H0, spec.h_sharding(), spec),
        pen,
        tol,
        max_iter,
        None,  # the progress token: None compiles no callback, as mesh_program without progress
    )
    m_loc = m // spec.n if spec.mode == "rows" else m  # as _fit._mesh_fit
    chosen = plan(layout == "batch", B, m_loc, n, V.dtype.itemsize, loss_obj, masked, backend)
    static = dict(
        loss=loss_obj, solver=solver, update_W=True, update_H=True, spec=spec,
        transposed=chosen.transposed,
    )  # fmt: skip
    fn = jax.jit(sharded_fit_loop, static_argnames=tuple(static))
    return fn, args, static, chosen.transposed


def formula(layout, loss, shape, devices, itemsize, masked, transposed):
    """Bytes per device predicted by docs/scaling.md.

    Arguments, exactly: ``V`` (and ``mask``), ``W``, ``H`` of the local problems (the scalars
    are added by the caller).  Temporaries, a bound: ``T`` arrays the size of the local ``V``
    -- Frobenius: ``W H`` at the convergence check, ``M * W H`` with a mask, ``V^T`` in the
    transposed layout; KL: ``W H``, ``V / W H`` and one more (the partitioned program keeps a
    third; the one-device program fuses it), with a mask ``M``-sized products, in the
    transposed layout their transposes -- plus 3 copies of the local factors (loop carry,
    updated factor, ratio).
    """
    d = max(devices, 1)
    if layout == "rows":
        m, n, k = shape
        b_loc, m_loc = 1, math.ceil(m / d)
    else:
        B, m, n, k = shape
        b_loc, m_loc = math.ceil(B / d), m
    v_loc = b_loc * m_loc * n
    factors = b_loc * (m_loc * k + k * n)
    args = (v_loc * (1 + masked) + factors) * itemsize
    if loss == "frobenius":
        temps = 1 + masked + transposed
    else:
        temps = 3 + masked + 2 * transposed
    return {
        "args": args,
        "temp_bound": (temps * v_loc + 3 * factors) * itemsize,
        "temp_mn": temps,
        "v_local_bytes": v_loc * itemsize,
    }


def measure(configs, iters, n_runs, dtype):
    import jax

    from tracegrad._bench._timing import time_calls

    rows, fns = [], {}
    for cfg in configs:
        layout, loss, shape, devices = cfg["layout"], cfg["loss"], cfg["shape"], cfg["devices"]
        fn, args, static, transposed = setup(layout, loss, shape, devices, dtype, iters)
        compiled = fn.lower(*args, **static).compile()
        mem = compiled.memory_analysis()
        assert mem is not None, "this backend reports no memory analysis"
        itemsize = args[0].dtype.itemsize
        pred = formula(layout, loss, shape, devices, itemsize, False, transposed)
        shard_bytes = sum(x.addressable_shards[0].data.nbytes for x in (args[0], args[2], args[3]))
        # pen, tol and max_iter; the progress token is unused without progress, and jit drops it
        scalars = sum(x.nbytes for x in jax.tree.leaves(args[4:7]))
        row = dict(cfg)
        row.update(
            arg_bytes=int(mem.argument_size_in_bytes),
            arg_bytes_formula=int(pred["args"] + scalars),
            shard_bytes=int(shard_bytes),
            temp_bytes=int(mem.temp_size_in_bytes),
            out_bytes=int(mem.output_size_in_bytes),
            temp_bytes_bound=int(pred["temp_bound"]),
            temp_in_local_V=round(mem.temp_size_in_bytes / pred["v_local_bytes"], 2),
            transposed=transposed,
        )
        rows.append(row)
        name = f"{layout}/{loss}/{cfg['kind']}/{devices}"
        fns[name] = lambda c=compiled, a=args: jax.block_until_ready(c(*a))
        jax.block_until_ready(compiled(*args))
    timings = time_calls(fns, n_runs=n_runs, warmup=1)
    for row, (_name, t) in zip(rows, timings.items(), strict=True):
        row["ms_per_iter"] = 1e3 * t.median / iters
        row["runs"] = t.runs
    return rows


def configs_for(max_devices: int, quick: bool):
    counts = [0] + [d for d in (1, 2, 4, 8) if d <= max_devices]
    s = 2 if quick else 1
    rows_strong = (4096 // s, 512, 16)
    batch_strong = (16, 256 // s, 192, 8)
    out = []
    for loss in ("frobenius", "kl"):
        for d in counts:
            out.append(dict(layout="rows", loss=loss, kind="strong", shape=rows_strong, devices=d))
            out.append(
                dict(layout="batch", loss=loss, kind="strong", shape=batch_strong, devices=d)
            )
            dd = max(d, 1)
            out.append(
                dict(
                    layout="rows",
                    loss=loss,
                    kind="weak",
                    devices=d,
                    shape=(1024 // s * dd, 512, 16),
                )  # fmt: skip
            )
            out.append(
                dict(
                    layout="batch",
                    loss=loss,
                    kind="weak",
                    devices=d,
                    shape=(4 * dd, 256 // s, 192, 8),
                )  # fmt: skip
            )
    return out


def fmt(rows) -> str:
    head = (
        f"{'layout':6} {'loss':9} {'kind':6} {'shape':>18} {'dev':>7} {'ms/iter':>8} "
        f"{'vs 1':>6} {'args B':>10} {'formula':>10} {'temp B':>10} {'bound':>10} {'temp/V':>6}"
    )
    lines = [head, "-" * len(head)]
    base = {}
    for r in rows:
        key = (r["layout"], r["loss"], r["kind"])
        if r["devices"] == 0:
            base[key] = r["ms_per_iter"]
    for r in rows:
        key = (r["layout"], r["loss"], r["kind"])
        dev = "no mesh" if r["devices"] == 0 else str(r["devices"])
        lines.append(
            f"{r['layout']:6} {r['loss']:9} {r['kind']:6} {'x'.join(map(str, r['shape'])):>18} "
            f"{dev:>7} {r['ms_per_iter']:8.3f} {r['ms_per_iter'] / base[key]:6.2f} "
            f"{r['arg_bytes']:>10} {r['arg_bytes_formula']:>10} {r['temp_bytes']:>10} "
            f"{r['temp_bytes_bound']:>10} {r['temp_in_local_V']:>6}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--devices", type=int, default=4, help="largest device count (virtual CPU)")
    p.add_argument("--iters", type=int, default=30, help="MU iterations per timed call")
    p.add_argument("--runs", type=int, default=5, help="alternating timing rounds")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--quick", action="store_true", help="halve the problem sizes")
    p.add_argument("--no-respawn", action="store_true", help="use the devices JAX sees")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "scaling.json"))
    args = p.parse_args(argv)
    if not args.no_respawn and os.environ.get(MARK) != "1":
        return respawn(argv, args.devices)

    import jax
    import numpy as np

    from tracegrad._bench._timing import environment
    from tracegrad._utils import write_json

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    n_dev = min(args.devices, len(jax.devices()))
    rows = measure(configs_for(n_dev, args.quick), args.iters, args.runs, np.dtype(args.dtype))
    print(fmt(rows))
    env = environment()
    env["devices"] = [str(d) for d in jax.devices()]
    write_json(
        args.output,
        {"environment": env, "iters": args.iters, "dtype": args.dtype, "rows": rows},
    )
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
