"""Running ``fit`` over a ``jax.sharding.Mesh``: which axis is split, padding, the sharded loop.

tracegrad adds no scheduler of its own: the arrays are placed with ``NamedSharding`` and the
same ``fit_loop`` is compiled once by XLA's SPMD partitioner (GSPMD), which inserts whatever
collectives the layout needs.  Two layouts, chosen from the shapes:

``batch``: several problems (a batched ``V``, or replicates of one ``V``).  The problem axis
of ``V``, ``mask``, ``W``, ``H`` and of every per-problem record is split over the mesh axis;
a shared (replicate) ``V`` is replicated on every device.  Problems are independent, so the
only communication is the tiny "all problems done?" reduction of the loop condition.

``rows``: a single problem.  ``V`` (and ``mask``, and the kept ``V^T``) and ``W`` are split by
rows ``M``; ``H`` is replicated.  The ``W`` update is row-local (``V H^T``, ``W (H H^T)``,
``(V / WH) H^T`` only need the local rows and the whole ``H``); the ``H`` update's products over
``M`` -- ``W^T V``, ``W^T W``, KL's ``W^T (V / WH)`` and column sums of ``W`` -- are per-device
partial sums that the compiler finishes with all-reduces of ``K x N``/``K x K`` arrays, as are
the loss sums.

Padding, so that any size runs on any mesh (results are those of the unpadded problem):

* batch: the problem axis is padded to a multiple of the device count with copies of the last
  problem (data, mask, initial factors).  A copy converges exactly when its original does, so
  it neither lengthens the loop nor changes any real problem; the copies are dropped from the
  result and from the ``progress`` mean loss.
* rows: ``V`` (and ``mask``) get zero rows and ``W`` zero rows, after the initialisation (which
  sees only the real rows).  A zero row of ``W`` facing a zero row of ``V`` stays exactly zero
  under both MU rules (its numerator ``V H^T`` row is 0), so it adds exact zeros to every sum
  over ``M`` and to both losses; the penalty scaling uses the real ``M``.

Padding happens inside the compiled program; inputs whose split axis already divides by the
device count are placed with ``jax.device_put`` before the fit (so a large ``V`` never sits
whole on one device), others are placed by the compiler.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.core
import jax.numpy as jnp
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._loop import fit_loop


@dataclasses.dataclass(frozen=True)
class Spec:
    """How one fit is laid out over the mesh (hashable: a static argument of the loop).

    ``mesh`` is the caller's mesh re-typed with ``Auto`` axes (GSPMD propagation), ``axis`` the
    name of the split axis, ``n`` its size, ``mode`` ``"batch"`` or ``"rows"``, ``size`` the
    real length of the split axis (problems or rows) and ``padded`` its length after padding.
    """

    mesh: Mesh
    axis: str
    n: int
    mode: str
    size: int
    padded: int

    def named(self, *spec) -> NamedSharding:
        return NamedSharding(self.mesh, P(*spec))

    def v_sharding(self, v_batched: bool) -> NamedSharding:
        """``V``/``mask``: ``(B, M, N)`` split on ``B``; ``(M, N)`` split on ``M`` (rows) or
        replicated (replicates)."""
        if self.mode == "rows":
            return self.named(self.axis)
        return self.named(self.axis) if v_batched else self.named()

    def w_sharding(self) -> NamedSharding:
        """``W (B, M, K)``: split on ``B`` (batch) or ``M`` (rows)."""
        return self.named(self.axis) if self.mode == "batch" else self.named(None, self.axis)

    def h_sharding(self) -> NamedSharding:
        """``H (B, K, N)``: split on ``B`` (batch), replicated (rows)."""
        return self.named(self.axis) if self.mode == "batch" else self.named()


def check_mesh(mesh, mesh_axis) -> tuple[Mesh, str]:
    """The mesh with ``Auto`` axes and the name of the axis to split; errors name the mesh.

    Raises:
        TypeError: ``mesh`` is not a ``jax.sharding.Mesh``.
        ValueError: a multi-axis mesh without ``mesh_axis``, or a ``mesh_axis`` it lacks.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"mesh must be a jax.sharding.Mesh (e.g. jax.make_mesh((n,), ('batch',))), "
            f"got {type(mesh).__name__}"
        )
    names = tuple(mesh.axis_names)
    if mesh_axis is None:
        if len(names) != 1:
            raise ValueError(
                f"mesh has axes {names} (shape {dict(mesh.shape)}): pass mesh_axis= to name "
                f"the one that splits the problems (batch) or the rows of V"
            )
        mesh_axis = names[0]
    elif mesh_axis not in names:
        raise ValueError(f"mesh_axis {mesh_axis!r} is not an axis of the mesh (axes: {names})")
    auto = Mesh(mesh.devices, names, axis_types=(AxisType.Auto,) * len(names))
    return auto, mesh_axis


def make_spec(mesh: Mesh, axis: str, v_batched: bool, n_problems: int, m: int) -> Spec:
    """Batch layout for several problems, rows layout for one problem of an unbatched ``V``."""
    n = int(mesh.shape[axis])
    if v_batched or n_problems > 1:
        mode, size = "batch", n_problems
    else:
        mode, size = "rows", m
    padded = -(-size // n) * n
    return Spec(mesh=mesh, axis=axis, n=n, mode=mode, size=size, padded=padded)


def place(x, sharding: NamedSharding, spec: Spec):
    """``jax.device_put`` a concrete ``x`` unless it is split along an axis that needs padding
    (it is padded inside the compiled loop, and the compiler places it); tracers pass."""
    if x is None or isinstance(x, jax.core.Tracer):
        return x
    if spec.padded != spec.size and not sharding.is_fully_replicated:
        return x
    return jax.device_put(x, sharding)


def _pad_edge(x, pad: int):
    """Append ``pad`` copies of the last entry along axis 0."""
    return jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)])


def _pad_zero(x, pad: int, axis: int):
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, pad)
    return jnp.pad(x, widths)


def sharded_fit_loop(V, mask, W0, H0, pen, tol, max_iter, token, *, loss, spec, transposed,
                     solver, update_W, update_H):  # fmt: skip
    """``_loop.fit_loop`` laid out over ``spec.mesh``: pad, constrain, run, unpad (traced
    inside ``_execute.mesh_program``)."""
    v_batched = V.ndim == 3
    pad = spec.padded - spec.size
    if pad and spec.mode == "batch":
        W0, H0 = _pad_edge(W0, pad), _pad_edge(H0, pad)
        if v_batched:
            V = _pad_edge(V, pad)
            mask = None if mask is None else _pad_edge(mask, pad)
    elif pad:
        V = _pad_zero(V, pad, 0)
        mask = None if mask is None else _pad_zero(mask, pad, 0)
        W0 = _pad_zero(W0, pad, 1)

    wsc = jax.lax.with_sharding_constraint
    vs, ws, hs = spec.v_sharding(v_batched), spec.w_sharding(), spec.h_sharding()
    V = wsc(V, vs)
    mask = None if mask is None else wsc(mask, vs)

    def constrain(W, H):
        return wsc(W, ws), wsc(H, hs)

    W0, H0 = constrain(W0, H0)
    outs = fit_loop(
        V, W0, H0, pen, tol, max_iter, loss=loss, mask=mask, solver=solver,
        update_W=update_W, update_H=update_H, progress_token=token, transposed=transposed,
        constrain=constrain, progress_real=spec.size if spec.mode == "batch" else None,
        real_m=spec.size if spec.mode == "rows" else None,
    )  # fmt: skip
    W, H, history, n_iter, converged, final = outs
    if pad and spec.mode == "batch":
        W, H, history, n_iter, converged, final = (
            x[: spec.size] for x in (W, H, history, n_iter, converged, final)
        )
    elif pad:
        W = W[:, : spec.size]
    return W, H, history, n_iter, converged, final
