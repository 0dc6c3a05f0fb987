"""Linear Kalman filtering built on the registry's derivation (``kalman.*`` identities).

* ``gain(P, H, R)``: the optimal gain ``P H^T (H P H^T + R)^{-1}``, by a solve.
* ``update(x, P, z, H, R, gain=None)``: measurement update, Joseph-form covariance.
* ``predict(x, P, F, Q)``: time update.

All batched over leading axes, dtype-preserving, validated before tracing (shapes named in
errors, covariances checked) and guarded by ``equinox.error_if`` inside ``jit``.  Source:
/work/shared/seeds/kalman-gain-derivation.md.
"""

from ._gain import gain as gain
from ._predict import predict as predict
from ._update import update as update
