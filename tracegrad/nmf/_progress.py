"""Progress reports from inside the compiled loop, through ``jax.debug.callback``.

The compiled loop carries an integer token, not the Python callable: callables live in a table
here, so a new callable (a fresh lambda, a new progress bar) does not recompile the fit.  When
progress is off the loop is compiled without any callback at all.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable

import numpy as np

ProgressFn = Callable[[int, float], None]
"""``progress(iterations_done, loss)``; ``loss`` is the mean over problems of the latest
square-root loss (the quantity of the convergence test)."""

_LOCK = threading.Lock()
_TABLE: dict[int, ProgressFn] = {}
_COUNTER = itertools.count(1)


def print_progress(done: int, loss: float) -> None:
    """The ``progress=True`` reporter: one line on stderr per convergence check."""
    print(f"nmf: {done} iterations, loss {loss:.6g}", file=sys.stderr, flush=True)


class _Reporter:
    """A progress callable that remembers the first exception it raised.

    The exception still propagates (JAX then aborts the compiled loop, wrapping it in a
    runtime error); ``raise_callback_error`` lets ``fit`` re-raise the callable's own
    exception instead of that wrapper.
    """

    def __init__(self, fn: ProgressFn):
        self.fn = fn
        self.error: BaseException | None = None

    def __call__(self, done: int, loss: float) -> None:
        if self.error is not None:
            raise self.error
        try:
            self.fn(done, loss)
        except BaseException as err:
            self.error = err
            raise


def raise_callback_error(fn) -> None:
    """Re-raise the exception a ``resolve``d progress callable raised, if it did."""
    err = getattr(fn, "error", None)
    if err is not None:
        raise err.with_traceback(err.__traceback__) from None


def resolve(progress: bool | ProgressFn | None) -> ProgressFn | None:
    """``None``/``False`` -> off; ``True`` -> ``print_progress``; a callable -> itself.

    The callable comes back wrapped (``_Reporter``) so that an exception it raises inside the
    compiled loop reaches the caller as itself.
    """
    if progress is None or progress is False:
        return None
    if progress is True:
        return _Reporter(print_progress)
    if not callable(progress):
        raise TypeError(
            f"progress must be None, True or a callable(done, loss), got {type(progress).__name__}"
        )
    return _Reporter(progress)


def register(fn: ProgressFn) -> int:
    """Store ``fn`` and return its token."""
    with _LOCK:
        token = next(_COUNTER)
        _TABLE[token] = fn
    return token


def unregister(token: int) -> None:
    """Forget the callable behind ``token``."""
    with _LOCK:
        _TABLE.pop(token, None)


def emit(token, done, loss) -> None:
    """Host side of the callback: call the registered function, if still registered."""
    with _LOCK:
        fn = _TABLE.get(int(np.asarray(token)))
    if fn is not None:
        fn(int(np.asarray(done)), float(np.asarray(loss)))
