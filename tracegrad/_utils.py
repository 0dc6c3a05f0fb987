"""Small utilities shared across tracegrad: early input validation and atomic file writes.

Validation (the checker, the NMF core, the Kalman module, derive): everything runs in Python on
concrete values, before tracing, and raises with the names and shapes involved.  Traced values
(inside a user's ``jit``) are passed through untouched: they cannot be inspected, and the jitted
code paths guard themselves with ``equinox.error_if``.

Atomic writes (the CLI, the NMF rank selection, the benchmarks): a temporary file in the
target's folder, then ``os.replace``.  An interrupted run never leaves a half-written result
behind: readers see the old file or the complete new one.  The result gets the mode the umask
gives a newly created file (``0666 & ~umask``), not the ``0600`` of the temporary file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import jax
import jax.core
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when ``x`` holds values we can inspect now (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def require_finite(name: str, x) -> None:
    """Raise ``ValueError`` naming ``name`` if a concrete floating ``x`` holds NaN or Inf."""
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.inexact):
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(bad.sum()) - n_nan
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {n_nan} NaN and {n_inf} Inf entries (first at index {first}); "
            f"refusing non-finite input"
        )


def require_floating(name: str, x) -> None:
    """Raise ``TypeError`` if ``x`` is not a floating-point array."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {dtype}")


def require_ndim(name: str, x, ndim: int | Sequence[int]) -> None:
    """Raise ``ValueError`` if ``x.ndim`` is not (one of) ``ndim``."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if jnp.ndim(x) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {jnp.shape(x)}")


def shape_str(shape) -> str:
    """``(3, 4)`` as ``3x4``, the spelling used in error messages."""
    return "x".join(str(int(s)) for s in shape) if len(shape) else "scalar"


def _umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    ``suffix`` keeps the extension some writers insist on (``numpy.savez`` appends ``.npz``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent
    )
    try:  # mkstemp makes the file 0600; the result gets the mode a plain open() would give
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], mode: str = "w") -> Path:
    """Write ``path`` atomically with ``write(fileobj)``."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Atomically write ``payload`` as indented JSON."""
    return atomic_write(path, lambda fh: json.dump(payload, fh, indent=2, sort_keys=False))
