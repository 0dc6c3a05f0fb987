"""Accelerated multiplicative updates, A-MU (Gillis & Glineur 2012), Frobenius loss.

Each factor gets several MU steps from one set of products (``_accelerated``): for ``W``,
``V H^T`` and ``H H^T`` are formed once and ``W <- W * V H^T / (W (H H^T) + l1 + l2 W)`` is
repeated; then ``H`` likewise with ``W^T V`` and ``W^T W``.  One outer iteration is one
``W`` phase and one ``H`` phase; the stop rule is MU's (relative decrease every 10).
"""

from __future__ import annotations

from .._contract import g_h, gram_h, gram_w, v_ht, w_g, wt_v
from ._accelerated import inner_budget, repeat
from ._base import AbstractDecreaseRule, AbstractStepSolver
from ._mu import ratio_step


class AcceleratedMU(AbstractStepSolver, AbstractDecreaseRule):
    """A-MU: MU on the Frobenius loss with the products reused across inner updates."""

    name = "amu"
    zero_W_start = False
    worker_threads = True
    frobenius_only = True

    def step(self, data, W, H, loss, pen, mask, active, update_W, update_H, dims):
        m, n, k = dims
        if update_W:
            num, G = v_ht(data, H), gram_h(H)

            def upd_w(F, act):
                return ratio_step(F, num, w_g(F, G), pen.l1_W, pen.l2_W, act), None

            W, _ = repeat(upd_w, W, active, inner_budget(m, n, k))
        if update_H:
            num, G = wt_v(W, data), gram_w(W)

            def upd_h(F, act):
                return ratio_step(F, num, g_h(G, F), pen.l1_H, pen.l2_H, act), None

            H, _ = repeat(upd_h, H, active, inner_budget(n, m, k))
        return W, H, None
