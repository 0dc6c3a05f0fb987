"""Numerical constants of the multiplicative-update solver, as scikit-learn defines them.

Every clamp in the MU rules and the losses uses one of these, so the iterates agree with
``sklearn.decomposition.NMF(solver="mu")`` started from the same factors.
"""

from __future__ import annotations

import numpy as np

EPSILON = float(np.finfo(np.float32).eps)
"""Guard against division by zero: ``WH < EPSILON`` is raised to it before ``V / WH``, a zero
MU denominator becomes it, and KL losses skip ``V <= EPSILON``.  Float32's epsilon in every dtype,
as scikit-learn's ``_nmf.EPSILON``."""

H_FLOOR = float(np.finfo(np.float64).eps)
"""After a KL update of ``H``, entries below this are set to exactly zero (scikit-learn's
stability clamp for beta <= 1; float64's epsilon in every dtype, as there)."""

CHECK_EVERY = 10
"""The convergence test (and the loss history) runs after every ``CHECK_EVERY``-th iteration."""

INITS = ("random", "nndsvd", "nndsvda", "nndsvdar")
"""Initialisation schemes (``W0``/``H0`` given is scikit-learn's ``init="custom"``)."""
