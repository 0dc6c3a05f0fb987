"""The Kalman filter pieces whose gain the registry derives (``kalman.*`` identities)."""

from ._gain import gain as gain
