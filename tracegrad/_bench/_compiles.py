"""Counting XLA compilations with ``jax.monitoring``: how many, how long, how many from cache.

JAX records ``/jax/core/compile/backend_compile_duration`` once per program it hands to XLA
(``pxla._cached_compilation``), around ``compiler.compile_or_get_cached``: so the event also
fires, with a short duration, when the persistent compilation cache supplies the executable;
such a hit additionally records ``/jax/compilation_cache/cache_hits``.  Tracing and lowering
to MLIR, which a cache hit does not save, are recorded as ``jaxpr_trace_duration`` and
``jaxpr_to_mlir_module_duration``.

The listeners are registered once per process, on first use (never on import), and count only
while a ``count_compiles`` block is open; blocks may nest and events from any thread count
(``fit`` may run its loop in worker threads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"
TRACE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
)


@dataclasses.dataclass(eq=False)  # identity: _active holds open blocks by identity
class Compiles:
    """XLA compilations seen inside one ``count_compiles`` block.

    ``count``: programs compiled or fetched from the persistent cache; ``seconds``: their
    backend compile time (a cache hit's is its retrieval); ``cache_hits``: how many of them the
    persistent cache supplied; ``trace_seconds``: tracing and lowering to MLIR.
    """

    count: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    trace_seconds: float = 0.0

    def fields(self, prefix: str = "") -> dict:
        """The JSON fields a benchmark row carries: ``compile_count``, ``compile_s``, ..."""
        return {
            f"{prefix}compile_count": self.count,
            f"{prefix}compile_s": self.seconds,
            f"{prefix}cache_hits": self.cache_hits,
            f"{prefix}trace_s": self.trace_seconds,
        }


_lock = threading.Lock()
_active: list[Compiles] = []
_installed = False


def _on_duration(event: str, duration_secs: float, **kwargs) -> None:
    if event != BACKEND_COMPILE_EVENT and event not in TRACE_EVENTS:
        return
    with _lock:
        for c in _active:
            if event == BACKEND_COMPILE_EVENT:
                c.count += 1
                c.seconds += duration_secs
            else:
                c.trace_seconds += duration_secs


def _on_event(event: str, **kwargs) -> None:
    if event != CACHE_HIT_EVENT:
        return
    with _lock:
        for c in _active:
            c.cache_hits += 1


def _install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _installed = True


@contextlib.contextmanager
def count_compiles() -> Iterator[Compiles]:
    """Count the XLA compilations (and cache hits) while the block runs.

    ``with count_compiles() as compiles: jax.jit(f)(x)``, then ``compiles.count`` and
    ``compiles.seconds``.
    """
    _install()
    compiles = Compiles()
    with _lock:
        _active.append(compiles)
    try:
        yield compiles
    finally:
        with _lock:
            _active.remove(compiles)
