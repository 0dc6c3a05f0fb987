"""``fit`` and the ``NMFResult`` it returns: the factors of one fit (or a batch of fits) and how
each one went.

The top of ``nmf``'s fit: ``NMFResult.transform`` refits with ``_fit.transform`` and
``NMFResult.to_model`` builds ``_model``'s ``NMF`` (whose own ``transform`` is
``_fit.transform``), so this module imports both, and ``fit`` wraps the pipeline's fields
(``_fit.fit_replicates``) in an ``NMFResult`` here; neither of them imports this module.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _progress
from ._fit import fit_replicates, transform
from ._model import NMF


class NMFResult(eqx.Module):
    """What ``tracegrad.nmf.fit`` returns.  Batch axes (``...``) are those of ``V``, or the key
    batch for replicates of an unbatched ``V``.

    Attributes:
        W: ``(..., M, K)`` fitted factor.
        H: ``(..., K, N)`` fitted factor.
        loss_history: ``(..., max_iter // 10 // s + 1)``: the square-root loss (``||V - WH||_F`` for
            Frobenius, ``sqrt(2 KL)`` for KL, scikit-learn's ``reconstruction_err_`` quantity;
            over observed entries when masked) at the initial factors, then after iterations 10,
            20, ...: the values the convergence test compares.  Entries after a problem stopped
            are NaN.  Recorded also when ``tol == 0`` (which never stops early).  The record has
            a fixed capacity of 1024 entries (``_loop.HISTORY_CAPACITY``), so that its size
            does not make ``max_iter`` part of the compiled program: ``s`` is 1 up to
            ``max_iter = 10230`` and above it the smallest power of two keeping at most 1024
            entries; entry ``j`` is then the loss after iteration ``10 s j`` (every check
            still runs the convergence test).
        loss_iterations: int32, shaped like ``loss_history``: the iteration after which each
            entry was recorded (``10 s j``, the same for every problem).
        n_iter: ``(...)`` int32, iterations run (scikit-learn's ``n_iter_``): the iteration at
            which the test passed, else ``max_iter``.
        converged: ``(...)`` bool, whether the relative-decrease test passed (it can pass at
            ``max_iter`` itself); always False when ``tol == 0``.
        loss: ``(...)`` square-root loss of the returned factors.
        loss_type: the loss's canonical name (``LOSSES``) or its float beta.
        solver, max_iter, tol: the solver name (``SOLVERS``) and stopping settings of the fit
            (``transform`` reuses them).
        alpha_W, alpha_H, l1_ratio: the regularisation the fit used.
    """

    W: jax.Array
    H: jax.Array
    loss_history: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    loss: jax.Array
    loss_iterations: jax.Array | None = None
    loss_type: str | float = eqx.field(static=True, default="frobenius")
    solver: str = eqx.field(static=True, default="mu")
    max_iter: int = eqx.field(static=True, default=200)
    tol: float = eqx.field(static=True, default=1e-4)
    alpha_W: float = eqx.field(static=True, default=0.0)
    alpha_H: float | str = eqx.field(static=True, default="same")
    l1_ratio: float = eqx.field(static=True, default=0.0)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch axes (``()`` for a single problem)."""
        return tuple(self.W.shape[:-2])

    def best(self, axis: int = 0) -> NMFResult:
        """The fit with the lowest final ``loss`` along batch ``axis`` (replicates: axis 0).

        NaN losses never win.  The chosen axis is removed from every field.
        """
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise TypeError(f"axis must be an int, got {type(axis).__name__} {axis!r}")
        axis = int(axis)
        nb = len(self.batch_shape)
        if nb == 0:
            return self
        if not -nb <= axis < nb:
            raise ValueError(
                f"axis {axis} is not a batch axis of a result with batch shape {self.batch_shape}"
            )
        axis = axis % nb
        loss = jnp.where(jnp.isnan(self.loss), jnp.inf, self.loss)
        idx = jnp.argmin(loss, axis=axis, keepdims=True)

        def pick(x):
            i = idx.reshape(idx.shape + (1,) * (x.ndim - nb))
            return jnp.squeeze(jnp.take_along_axis(x, i, axis=axis), axis=axis)

        fields = ["W", "H", "loss_history", "n_iter", "converged", "loss"]
        if self.loss_iterations is not None:
            fields.append("loss_iterations")
        return eqx.tree_at(
            lambda r: [getattr(r, f) for f in fields],
            self,
            [pick(getattr(self, f)) for f in fields],
        )

    def transform(self, V_new, *, mask=None) -> jax.Array:
        """``W`` for new data ``V_new (..., M', N)`` with this fit's ``H`` fixed.

        scikit-learn's ``NMF.transform``: ``fit(V_new, K, H0=self.H, update_H=False)`` with the
        same loss, solver, penalty, ``max_iter`` and ``tol``; ``W`` starts at
        ``sqrt(mean V_new / K)``, or zeros for ``"hals"`` and ``"ahals"``.  A batched result
        takes a ``V_new`` with the same batch axes (or an unbatched one, fitted against every
        ``H``).  A ``V_new`` without ``H``'s ``N`` columns raises a ValueError naming it.
        """
        return transform(
            V_new, self.H, loss=self.loss_type, solver=self.solver, max_iter=self.max_iter,
            tol=self.tol, alpha_W=self.alpha_W, alpha_H=self.alpha_H, l1_ratio=self.l1_ratio,
            mask=mask,
        )  # fmt: skip

    def to_model(self) -> NMF:
        """The fitted factors as an ``NMF`` module (same loss and regularisation)."""
        return NMF(
            self.W,
            self.H,
            loss_type=self.loss_type,
            alpha_W=self.alpha_W,
            alpha_H=self.alpha_H,
            l1_ratio=self.l1_ratio,
        )


def fit(
    V,
    rank: int,
    *,
    loss: str | float = "frobenius",
    max_iter: int = 200,
    tol: float = 1e-4,
    init: str = "random",
    W0=None,
    H0=None,
    key=None,
    alpha_W: float = 0.0,
    alpha_H: float | str = "same",
    l1_ratio: float = 0.0,
    mask=None,
    dtype=None,
    progress: bool | _progress.ProgressFn | None = None,
    mesh: jax.sharding.Mesh | None = None,
    mesh_axis: str | None = None,
    solver: str = "mu",
    update_W: bool = True,
    update_H: bool = True,
) -> NMFResult:
    """Non-negative matrix factorisation ``V ~ W H`` for any beta-divergence, batched.

    With ``solver="mu"`` (the default), the same iterates as
    ``sklearn.decomposition.NMF(solver="mu", beta_loss=beta)``: for each problem, ``W`` then
    ``H`` is multiplied by ``(grad^- / (grad^+ + l1 + l2 F))^gamma``, the split of the
    closed-form gradient of the loss (Frobenius: trace notes eq. 24; KL: eq. 27 with eq. 9;
    other betas: Févotte & Idier 2011, eq. 3.2), with scikit-learn's EPSILON clamps; every 10
    iterations the square-root loss ``e`` is computed and the problem stops once
    ``(e_previous - e) / e_initial < tol``.  ``solver="hals"`` gives the iterates and stopping
    of ``NMF(solver="cd", shuffle=False)`` (Frobenius); ``"amu"``/``"ahals"`` their
    accelerated forms (Gillis & Glineur 2012); ``"apg"`` and ``"ehals"`` alternate approximate
    NNLS solves (Nesterov steps, resp. A-HALS sweeps) with Ang & Gillis's (2019) extrapolation
    and reach a given Frobenius loss in the fewest iterations and least time
    (``benchmarks/RESULTS.md``).  The losses and solvers are the objects of
    ``LOSSES`` and ``SOLVERS`` (``docs/nmf-extending.md``).  Leading axes of ``V``
    are independent problems, all advanced together in one compiled program (a
    ``lax.while_loop``; many small problems go through it in cache-sized chunks, see
    ``_layout``), each stopping on its own.  On a multi-core CPU a batch
    is split into one contiguous group per core, each group's compiled loop run from its own
    host thread (``_workers``: XLA leaves most cores idle on small matmuls).  The
    split follows the core count, so results are bit-identical for the same key on the same
    machine, and agree to rounding across machines.

    Args:
        V: ``(..., M, N)`` non-negative data.  An unbatched ``V`` with a batch of keys (or of
            ``W0``/``H0``) fits one replicate per key on the same, uncopied ``V``.
        rank: number of components ``K`` (a warning when above ``min(M, N)``).
        loss: a name of ``LOSSES`` -- ``"frobenius"`` (``1/2 ||V - WH||_F^2``),
            ``"kl"``/``"kullback-leibler"``, ``"itakura-saito"``/``"is"`` -- or a float beta
            of the beta-divergence (2, 1, 0 are those three).  beta <= 0 needs ``V > 0``.
        max_iter: iteration cap, at most ``2**31 - 11`` (int32 counters).  A value of the
            compiled program, not part of it: a new ``max_iter`` compiles nothing.  Above
            10230 the loss history is thinned to at most 1024 entries
            (``NMFResult.loss_history``, ``NMFResult.loss_iterations``).
        tol: relative-decrease tolerance (0 disables the test; the history is still recorded).
            Scalar options (``tol``, ``alpha_*``, ``l1_ratio``, ``max_iter``) are Python
            numbers or concrete 0-d arrays; traced values are refused (TypeError).  They,
            the data and the key are values of the one compiled program a fit runs: changing
            them compiles nothing; shapes, dtype, loss, solver, rank, ``init`` and the batch
            layout select the program.
        init: ``"random"`` (``sqrt(mean(V)/K) |N(0,1)|``), ``"nndsvd"``, ``"nndsvda"``,
            ``"nndsvdar"``; ignored (as is ``key``) when ``W0``/``H0`` are given.
        W0: initial ``W`` ``(..., M, K)`` (with ``H0``: scikit-learn's ``init="custom"``);
            an unbatched one is shared by every problem of a batched ``V``.
        H0: initial ``H`` ``(..., K, N)``, given together with ``W0``.
        key: JAX PRNG key (or int seed) for random inits: one key (split per problem), one per
            problem (shape of ``V``'s batch axes), or, for an unbatched ``V``, a batch of keys
            giving replicates.  Default ``jax.random.key(0)``.  The same key gives bit-identical
            results on the same device.
        alpha_W: penalty on ``W`` as in scikit-learn >= 1.2, scaled by ``N``.
        alpha_H: penalty on ``H`` (scaled by ``M``); ``"same"`` uses ``alpha_W``.
        l1_ratio: the L1 share of the penalties, in [0, 1].
        mask: 0/1 array shaped like ``V``; only entries with mask 1 are fitted (weighted NMF).
            Entries with mask 0 are ignored, even if NaN or negative.
        dtype: computation dtype, float32 or float64; default ``V``'s (float32 stays float32;
            integer, bool or nested-list data: JAX's default float).  float64 -- asked for or
            a float64 NumPy ``V`` -- is honoured even when x64 is off (the fit runs under a
            scoped ``jax.enable_x64``).  Data whose largest entry is beyond the dtype's safe
            range is fitted on an exact power-of-4 rescaling, results scaled back
            (``_scale``); the factors and losses are never NaN/Inf silently.
        progress: None (off: the compiled loop has no callback), True (a line on stderr at
            each check) or ``callable(iterations_done, mean_loss)``, called at each check and
            once at the end.
        mesh: None (one device, the program as without this option) or a
            ``jax.sharding.Mesh`` to split the fit over (``_sharding``): several problems
            (batched ``V`` or replicates) are split along the problem axis; a single problem is
            split by rows of ``V`` and ``W`` (``H`` replicated), the compiler inserting the
            all-reduces of the ``H`` update's sums over ``M``.  Sizes that do not divide by the
            device count are padded (copies of the last problem; zero rows), with results
            those of the unpadded fit.  Results equal the one-device fit to float rounding and
            come back as ``jax.Array``s that may be sharded over the mesh.
        mesh_axis: the mesh axis to split along; may be omitted for a one-axis mesh.  Other
            mesh axes hold replicas.
        solver: ``"auto"`` (the solver ``AUTO_RULES`` picks for this loss, mask and layout:
            the soonest to a good loss on the benchmark suite; ``NMFResult.solver`` says which
            ran), or a name of ``SOLVERS``: ``"mu"``, ``"admm"``, ``"emu"`` (every loss, masks),
            ``"hals"``, ``"amu"``, ``"ahals"``, ``"apg"``, ``"ehals"`` (Frobenius, no mask);
            or a solver object with other settings, e.g. ``type(SOLVERS["apg"])(inner=10)``
            (Nesterov steps per subproblem; ``SOLVERS["ehals"]``: most sweeps) or
            ``type(SOLVERS["admm"])(rho=0.5)`` (a value of the program: compiles nothing).
        update_W: False keeps ``W`` fixed at ``W0`` (required then).
        update_H: False keeps ``H`` fixed at ``H0`` (required then): scikit-learn's
            ``transform``; without ``W0``, ``W`` starts at ``sqrt(mean V / K)`` or, for
            ``"hals"`` and ``"ahals"`` (as scikit-learn's cd), at zeros.

    Returns:
        ``NMFResult`` with ``W``, ``H``, ``loss_history``, ``n_iter``, ``converged``, ``loss``
        (``sqrt(2 D)``, scikit-learn's ``reconstruction_err_``).

    Raises:
        ValueError: an unknown loss or solver (the message lists the table), a solver that
            cannot minimise the loss (or take a mask), beta <= 0 with zeros in ``V``,
            ``update_H=False`` without ``H0``, negative entries (count and first index),
            NaN/Inf, rank < 1, shapes of ``W0``/``H0``/``mask``/``key`` that do not fit
            ``V``, bad options, a multi-axis ``mesh`` without ``mesh_axis`` or a
            ``mesh_axis`` it lacks, ``mesh_axis`` without ``mesh``, data beyond the dtype's
            range.  Under ``jit`` the values of ``V``, ``W0``, ``H0`` and ``mask`` are checked
            by ``equinox.error_if`` at run time.
        TypeError: a dtype other than float32/float64; a ``mesh`` that is not a ``Mesh``;
            complex or non-numeric data; a key that is no key; options of the wrong type.
        Exception: whatever a ``progress`` callable raises, as itself.
    """
    return NMFResult(**fit_replicates(**locals()))
