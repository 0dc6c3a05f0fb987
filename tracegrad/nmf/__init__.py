"""Batched non-negative matrix factorisation (``tracegrad.nmf``).

Losses (``LOSSES``: the beta-divergence family) and solvers (``SOLVERS``: multiplicative
updates, HALS, their accelerated forms and two extrapolated alternating-NNLS solvers) are
objects, one module each.  The MU updates are
the registry's gradients split into negative and positive parts (Frobenius: trace notes eq. 24;
KL: eq. 27 and eq. 9); the iterates match scikit-learn's MU and CD solvers.
"""

from ._constants import EPSILON as EPSILON
from ._gradients import registry_gradient as registry_gradient
from ._init import init_factors as init_factors
from ._losses import LOSSES as LOSSES
from ._losses import AbstractLoss as AbstractLoss
from ._losses import Beta as Beta
from ._losses import Frobenius as Frobenius
from ._losses import ItakuraSaito as ItakuraSaito
from ._losses import KullbackLeibler as KullbackLeibler
from ._model import NMF as NMF
from ._result import NMFResult as NMFResult
from ._result import fit as fit
from ._select_rank import RankSelection as RankSelection
from ._select_rank import select_rank as select_rank
from ._solvers import ADMM as ADMM
from ._solvers import AUTO_RULES as AUTO_RULES
from ._solvers import HALS as HALS
from ._solvers import SOLVERS as SOLVERS
from ._solvers import AbstractDecreaseRule as AbstractDecreaseRule
from ._solvers import AbstractSolver as AbstractSolver
from ._solvers import AbstractStepSolver as AbstractStepSolver
from ._solvers import AbstractViolationRule as AbstractViolationRule
from ._solvers import AcceleratedHALS as AcceleratedHALS
from ._solvers import AcceleratedMU as AcceleratedMU
from ._solvers import AutoRule as AutoRule
from ._solvers import ExtrapolatedAPG as ExtrapolatedAPG
from ._solvers import ExtrapolatedHALS as ExtrapolatedHALS
from ._solvers import ExtrapolatedMU as ExtrapolatedMU
from ._solvers import MultiplicativeUpdate as MultiplicativeUpdate
from ._solvers import auto_solver as auto_solver
from ._updates import gradient_parts as gradient_parts
