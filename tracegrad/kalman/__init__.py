"""Linear Kalman filtering built on the registry's derivation (``kalman.*`` identities).

* ``gain(P, H, R)``: the optimal gain ``P H^T (H P H^T + R)^{-1}``, by a solve.
* ``update(x, P, z, H, R, gain=None)``: measurement update, Joseph-form covariance.
* ``predict(x, P, F, Q)``: time update.

All batched over leading axes, dtype-preserving (float32, float64; half precision is refused),
validated before tracing (shapes named in errors, covariances checked) and guarded by
``equinox.error_if`` inside ``jit`` (non-finite inputs, non-symmetric or indefinite
covariances).  Positive definiteness of ``R`` is a conditioning threshold: ``R`` is accepted
when its condition number ``kappa(R) = lambda_max / lambda_min`` is positive and below
``1 / (m eps)``, ``eps`` the epsilon of the precision of the test (float64 on concrete inputs,
so a float32 ``R = diag(1, 1e-8)`` is accepted); details in ``_checks``.

Source: the Kalman gain derivation (the Covariance Update Equation, the trace derivative
of the posterior covariance and the Kalman Gain Equation).
"""

from ._gain import gain as gain
from ._predict import predict as predict
from ._update import update as update
