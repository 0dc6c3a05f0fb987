"""Batched non-negative matrix factorisation by multiplicative updates (``tracegrad.nmf``).

The updates are the registry's gradients split into negative and positive parts (Frobenius:
trace notes eq. 24; KL: eq. 27 and eq. 9); the iterates match scikit-learn's MU solver.
"""

from ._constants import EPSILON as EPSILON
from ._fit import fit as fit
from ._gradients import gradient_parts as gradient_parts
from ._gradients import registry_gradient as registry_gradient
from ._init import init_factors as init_factors
from ._model import NMF as NMF
from ._result import NMFResult as NMFResult
from ._select_rank import RankSelection as RankSelection
from ._select_rank import select_rank as select_rank
