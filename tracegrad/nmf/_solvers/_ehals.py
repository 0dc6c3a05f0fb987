"""Extrapolated accelerated HALS, ``"ehals"``; Frobenius.

Ang & Gillis 2019's extrapolation with restarts (``_extrapolated``) around A-HALS subproblem
solves: each factor gets up to ``inner`` HALS sweeps (``_hals.sweep``) from one set of
products, stopping early once a sweep changes the factor by at most ``DELTA`` times the
first sweep's change (Gillis & Glineur 2012, as ``"ahals"``).  Ang & Gillis's own experiments
pair their extrapolation with this A-HALS inner loop.  Where the HALS sweep's ``K``
sequential column updates are cheap against the products (many small problems in one
batch), this reaches a given loss soonest; with one large problem, ``"apg"`` does
(``benchmarks/RESULTS.md``, "NMF solvers").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._accelerated import repeat
from ._extrapolated import AbstractExtrapolated
from ._hals import sweep

INNER = 5
"""Most HALS sweeps per subproblem: (b) of ``benchmarks/RESULTS.md`` reached scikit-learn
cd's 200-iteration loss soonest with 5 (of 2, 3, 5, 8, 17)."""


class ExtrapolatedHALS(AbstractExtrapolated):
    """Up to ``inner`` HALS sweeps per factor (early stop as A-HALS), extrapolated.
    Frobenius, no mask.

    Attributes:
        inner: most sweeps per subproblem (static; ``INNER`` by default).
    """

    name = "ehals"
    gamma = 1.01  # Ang & Gillis's code's defaults for HALS-type updates
    gamma_bar = 1.005
    inner: int | jax.Array = INNER
    inner_unit = "HALS sweeps"

    def subproblem(self, F, G, R, right, active):
        if right:  # the sweep runs over rows: W^T (B, K, M)
            F, R = jnp.swapaxes(F, -1, -2), jnp.swapaxes(R, -1, -2)
        F, _ = repeat(lambda X, act: sweep(X, G, R, act), F, active, self.inner)
        return jnp.swapaxes(F, -1, -2) if right else F
