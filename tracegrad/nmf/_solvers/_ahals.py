"""Accelerated HALS, A-HALS (Gillis & Glineur 2012), Frobenius loss.

Each factor gets several HALS sweeps (``_hals.sweep``) from one set of products
(``_accelerated``): ``G = H H^T + l2 I`` and ``R = V H^T - l1`` are formed once per ``W``
phase and reused.  The stop rule is coordinate descent's, with each iteration's violation
taken from the first sweep of each phase (the projected gradient at the phase's start, as in
plain HALS).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._accelerated import inner_budget, repeat
from ._base import AbstractStepSolver, AbstractViolationRule
from ._hals import h_system, sweep, w_system


class AcceleratedHALS(AbstractStepSolver, AbstractViolationRule):
    """A-HALS: HALS sweeps repeated on the same products, per-problem inner stop."""

    name = "ahals"
    zero_W_start = True
    worker_threads = True
    frobenius_only = True

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        m, n, k = dims
        viol = jnp.zeros(W.shape[:-2], W.dtype)
        if update_W:
            G, R = w_system(data, H, pen)
            Wt, v = repeat(
                lambda F, act: sweep(F, G, R, act),
                jnp.swapaxes(W, -1, -2),
                active,
                inner_budget(m, n, k),
            )
            W, viol = jnp.swapaxes(Wt, -1, -2), viol + v
        if update_H:
            G, R = h_system(data, W, pen)
            H, v = repeat(lambda F, act: sweep(F, G, R, act), H, active, inner_budget(n, m, k))
            viol = viol + v
        return W, H, viol
