"""``[mesh] devices`` as a ``jax.sharding.Mesh``, for ``tracegrad nmf`` and its
``--select-rank`` hand-over alike (a leaf module: neither command imports the other for it).
"""

from __future__ import annotations

import jax
import numpy as np

from ._errors import CLIError


def make_mesh(devices: int) -> jax.sharding.Mesh | None:
    """A one-axis mesh (axis ``"devices"``) over the first ``devices`` devices; None for 1.

    ``0`` takes every device JAX sees.  Asking for more than exist is an error that says how
    many there are and, on CPU, how to get more (the count is fixed when JAX starts).
    """
    if devices < 0:
        raise CLIError(f"--devices must be >= 0, got {devices}")
    available = jax.devices()
    n = len(available) if devices == 0 else devices
    if n == 1:
        return None
    if n > len(available):
        platform = available[0].platform
        hint = (
            f"set XLA_FLAGS=--xla_force_host_platform_device_count={n} in the environment "
            f"before starting tracegrad (JAX reads it once, at start-up)"
            if platform == "cpu"
            else "use a machine with more devices, or jax.distributed for several hosts"
        )
        raise CLIError(
            f"mesh: {n} devices requested but JAX sees {len(available)} {platform} "
            f"device{'s' if len(available) != 1 else ''}; {hint}"
        )
    return jax.sharding.Mesh(np.array(available[:n]), ("devices",))
