"""Name the likely mistake in a wrong Hessian-vector product by matching it against known slips.

Works on dense operators (small arguments): ``C`` the candidate's matrix (column j is the
candidate applied to the j-th unit direction) and ``H`` the float64 Hessian, both ``n x n``
over the flattened argument.  The slips tried, in order, each accepted only when it reproduces
``C`` to ``tol`` (normwise, relative):

1. ``C = a H``: a constant factor, or the sign (a = -1);
2. for a square matrix argument, with ``P`` the transposition ``vec(V) -> vec(V^T)``:
   ``C = a H P`` (the direction transposed: ``V^T`` used where ``V`` belongs) or ``C = a P H``
   (the result transposed);
3. ``C`` not symmetric and ``H = a (C + C^T)``: missing symmetrisation (``M V`` returned where
   ``(M + M^T) V`` belongs, or ``2 M V`` where ``(M + M^T) V`` belongs);
4. per-appearance blocks: the objective's jaxpr is split so that each use of the argument is a
   variable of its own, ``f(x) = F(x_1, ..., x_k)``, and ``H = sum_ij H_ij`` with
   ``H_ij = d^2 F / dx_i dx_j`` (the second-order form of trace notes eq. 18).  Tried:
   a dropped cross term ``H_ij + H_ji``, a dropped, doubled or negated block, one of the two
   halves of a cross term dropped, and the direction transposed inside one block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.extend import core as jcore

from .grad import small_fraction  # a constant as a small fraction, as first order names it

DENSE_MAX_SIZE = 400
"""Largest flattened argument whose Hessian the diagnosis forms densely."""

_MAX_APPEARANCES = 8


def _fit(c: np.ndarray, basis: np.ndarray) -> tuple[float, float]:
    """Least-squares ``a`` in ``c ~ a * basis`` and the relative residual."""
    bb = float(np.vdot(basis, basis))
    if bb == 0.0:
        return 0.0, np.inf
    a = float(np.vdot(basis, c)) / bb
    scale = max(float(np.linalg.norm(c)), abs(a) * np.sqrt(bb), 1e-300)
    return a, float(np.linalg.norm(c - a * basis) / scale)


def _close(c: np.ndarray, target: np.ndarray, tol: float) -> bool:
    scale = max(float(np.linalg.norm(target)), float(np.linalg.norm(c)), 1e-300)
    return float(np.linalg.norm(c - target)) <= tol * scale


def _factor_text(a: str, what: str) -> str:
    if a == "-1":
        return f"sign flipped: candidate = -{what}"
    return f"scaled by a constant: candidate = {a} x {what}"


def transpose_permutation(shape: tuple[int, ...]) -> np.ndarray | None:
    """Index map of ``vec(V) -> vec(V^T)`` for a square matrix argument, else None."""
    if len(shape) != 2 or shape[0] != shape[1]:
        return None
    n = shape[0]
    return np.arange(n * n).reshape(n, n).T.ravel()


# ---------------------------------------------------------------------------------------------
# the objective split per appearance of the argument


class Appearances:
    """``f`` as a function of one copy of ``args[argnum]`` per use in its jaxpr.

    Attributes:
        labels: one label per use (the primitive, and the source line where jax recorded it).
        split: ``split(*copies)``, equal to ``f`` when every copy is the same array.
    """

    def __init__(self, f: Callable, argnum: int, args: Sequence):
        args = tuple(args)

        def of_x(x):
            return f(*args[:argnum], x, *args[argnum + 1 :])

        closed = jax.make_jaxpr(of_x)(args[argnum])
        jaxpr = closed.jaxpr
        xvar = jaxpr.invars[0]
        self._closed = closed
        self._uses = [
            k
            for k, eqn in enumerate(jaxpr.eqns)
            if any(isinstance(v, jcore.Var) and v is xvar for v in eqn.invars)
        ]
        self.labels = tuple(_label(jaxpr.eqns[k]) for k in self._uses)

    def __len__(self) -> int:
        return len(self._uses)

    def split(self, *copies):
        jaxpr, consts = self._closed.jaxpr, self._closed.consts
        xvar = jaxpr.invars[0]
        slot = {k: i for i, k in enumerate(self._uses)}
        env: dict = dict(zip(jaxpr.constvars, consts, strict=True))

        def read(v, k):
            if isinstance(v, jcore.Literal):
                return v.val
            if v is xvar:
                return copies[slot[k]]
            return env[v]

        for k, eqn in enumerate(jaxpr.eqns):
            invals = [read(v, k) for v in eqn.invars]
            params = eqn.primitive.get_bind_params(eqn.params)
            subfuns: list = []
            if isinstance(params, tuple):  # older jax: (subfuns, params)
                subfuns, params = params
            out = eqn.primitive.bind(*subfuns, *invals, **params)
            if not eqn.primitive.multiple_results:
                out = [out]
            for v, o in zip(eqn.outvars, out, strict=True):
                env[v] = o
        return read(jaxpr.outvars[0], -1)


def _label(eqn) -> str:
    name = eqn.params.get("name") if eqn.primitive.name in ("jit", "pjit") else None
    what = str(name) if name else eqn.primitive.name
    try:
        from jax._src import source_info_util  # private, so only used for a friendlier label

        where = source_info_util.summarize(eqn.source_info)
    except Exception:  # noqa: BLE001 - a label without a line is still a label
        where = ""
    return f"{what} at {where}" if where and not where.startswith("<unknown") else what


def appearance_blocks(f: Callable, argnum: int, args: Sequence) -> tuple[list, np.ndarray]:
    """Labels and the ``k x k`` blocks ``H_ij`` (each ``n x n``) of the split objective."""
    app = Appearances(f, argnum, args)
    k = len(app)
    if k < 2 or k > _MAX_APPEARANCES:
        return list(app.labels), np.zeros((0, 0, 0, 0))
    x = args[argnum]
    n = int(np.size(x))

    def stacked(xs):
        return app.split(*xs)

    xs = tuple(x for _ in range(k))
    hess = jax.jit(jax.hessian(stacked))(xs)
    blocks = np.empty((k, k, n, n))
    for i in range(k):
        for j in range(k):
            blocks[i, j] = np.asarray(hess[i][j], np.float64).reshape(n, n)
    return list(app.labels), blocks


# ---------------------------------------------------------------------------------------------
# matching


def _broken_or_scaled(C: np.ndarray, H: np.ndarray, tol: float) -> str | None:
    """The first checks of both diagnoses: NaN or Inf, all zeros, or a multiple of ``H``."""
    if not np.all(np.isfinite(C)):
        return "the candidate returns NaN or Inf"
    if not np.any(C):
        return "the candidate is identically zero (nothing returned, or every term dropped)"
    a, resid = _fit(C, H)
    if resid <= tol:
        frac = small_fraction(a, tol)
        return _factor_text(frac if frac is not None else f"{a:.4g}", "H v")
    return None


def diagnose_dense(
    C: np.ndarray,
    H: np.ndarray,
    shape: tuple[int, ...],
    tol: float,
    blocks: np.ndarray | None = None,
    labels: Sequence[str] = (),
    argname: str = "x",
) -> str:
    """The likely mistake, given the candidate's and the true dense Hessians (float64)."""
    found = _broken_or_scaled(C, H, tol)
    if found:
        return found
    perm = transpose_permutation(shape)
    if perm is not None:
        for basis, text in (
            (H[:, perm], f"the direction transposed: H applied to V^T where V belongs ({argname})"),
            (H[perm, :], "the result transposed: (H V)^T returned where H V belongs"),
        ):
            a, resid = _fit(C, basis)
            if resid <= tol:
                frac = small_fraction(a, tol)
                return text if frac == "1" else f"{text}, times {frac or f'{a:.4g}'}"
    sym = C + C.T
    if not _close(C, C.T, tol):
        a, resid = _fit(H, sym)
        if resid <= tol:
            frac = small_fraction(a, tol)
            if frac == "1":
                return (
                    "missing symmetrisation: the candidate applies a non-symmetric M (M V) "
                    "where the Hessian is M + M^T ((M + M^T) V belongs)"
                )
            if frac == "1/2":
                return (
                    "missing symmetrisation: the candidate is 2 M V, right only for symmetric "
                    "M; the Hessian is M + M^T ((M + M^T) V belongs)"
                )
    if blocks is not None and blocks.size:
        found = _diagnose_blocks(C, H, blocks, labels, perm, tol, argname)
        if found:
            return found
    if not _close(C, C.T, tol):
        return "no simple pattern; the candidate is not symmetric (a Hessian always is)"
    return "no simple pattern (not a multiple, transpose, symmetrisation or per-term slip of H)"


def _diagnose_blocks(C, H, blocks, labels, perm, tol, argname) -> str | None:
    k = blocks.shape[0]

    def name(i):
        return f"use {i + 1} of {argname} ({labels[i]})" if i < len(labels) else f"use {i + 1}"

    for i in range(k):
        for j in range(i + 1, k):
            cross = blocks[i, j] + blocks[j, i]
            if np.any(cross) and _close(C, H - cross, tol):
                return (
                    f"a dropped cross term: the mixed second derivative between {name(i)} and "
                    f"{name(j)} is missing"
                )
    for i in range(k):
        for j in range(k):
            b = blocks[i, j]
            if not np.any(b) or _close(b, H, tol):
                continue
            where = (
                f"{name(i)}"
                if i == j
                else f"{name(i)} then {name(j)} (one half of their mixed derivative)"
            )
            for coef, text in ((-1.0, "dropped"), (1.0, "doubled"), (-2.0, "negated")):
                if _close(C, H + coef * b, tol):
                    return f"a {text} term: the second derivative through {where} is {text}"
            if perm is not None and _close(C, H - b + b[:, perm], tol):
                return (
                    f"the direction transposed in one term: V^T where V belongs in the "
                    f"second derivative through {where}"
                )
    return None


def diagnose_directional(
    CV: np.ndarray, HV: np.ndarray, HVt: np.ndarray | None, tol: float, argname: str = "x"
) -> str:
    """The likely mistake from products along a few directions only (large arguments).

    ``CV``, ``HV``: ``(k, n)`` candidate and true products; ``HVt``: the true Hessian applied
    to the transposed directions (square matrix arguments), else None.
    """
    found = _broken_or_scaled(CV, HV, tol)
    if found:
        return found
    if HVt is not None:
        a, resid = _fit(CV, HVt)
        if resid <= tol:
            return f"the direction transposed: H applied to V^T where V belongs ({argname})"
    return (
        "no simple pattern found along the test directions (argument too large for the "
        f"dense diagnosis, over {DENSE_MAX_SIZE} entries)"
    )
