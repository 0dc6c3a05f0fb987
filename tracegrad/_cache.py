"""JAX's persistent compilation cache, turned on at the caller's request (never on import)."""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache


class CompilationCacheWarning(RuntimeWarning):
    """The compilation cache directory cannot be used; the run goes on without the cache."""


def _user_cache_home() -> Path:
    """The platform's per-user cache directory (XDG on Linux and the BSDs)."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    # the XDG spec says a relative value is invalid and is to be ignored
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def default_cache_dir() -> Path:
    """``$TRACEGRAD_CACHE_DIR`` if set and not empty, else ``<user cache dir>/tracegrad/jax``."""
    chosen = os.environ.get("TRACEGRAD_CACHE_DIR")
    if chosen:
        return Path(chosen).expanduser().resolve()
    return (_user_cache_home() / "tracegrad" / "jax").expanduser().resolve()


def _unusable(path: Path) -> OSError | None:
    """Why ``path`` cannot hold cache entries (create it, write and remove a file), or None."""
    try:
        # 0o700: JAX runs what it finds in the cache, so a new directory is the user's alone
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".tracegrad-probe-") as probe:
            probe.write(b"tracegrad")
            probe.flush()
            os.fsync(probe.fileno())  # a full disk can accept the write and fail the flush
    except OSError as err:
        return err
    return None


def _enable(path: str | os.PathLike[str] | None) -> tuple[Path, bool]:
    """Turn the cache on at ``path`` (default :func:`default_cache_dir`); ``(path, enabled)``."""
    resolved = default_cache_dir() if path is None else Path(path).expanduser().resolve()
    err = _unusable(resolved)
    if err is not None:
        warnings.warn(
            f"compilation cache directory {resolved} cannot be used "
            f"({type(err).__name__}: {err.strerror or err}); running without the cache",
            CompilationCacheWarning,
            stacklevel=3,
        )
        return resolved, False
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(resolved))
    # CPU programs compile in well under JAX's default 1 s threshold, and many are small;
    # cache every program (-1: no size threshold, and JAX does not override it per filesystem)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    # JAX opens its cache once per process, at the first compile after a directory is set,
    # and keeps it; forget that one so a directory set after some compiles (or a second,
    # different directory) is the one used from the next compile on
    _jax_cache.reset_cache()
    return resolved, True


def enable_compilation_cache(path: str | os.PathLike[str] | None = None) -> Path:
    """Turn on JAX's persistent compilation cache, so a new process reuses compiled programs.

    A cold `tracegrad.nmf.fit` spends most of its first call compiling; with the cache on, a
    later process with the same shapes, dtypes and options loads the compiled program from
    disk instead. The cache is JAX's own (`jax_compilation_cache_dir`); this function picks the
    directory, checks that it can be written, and lowers JAX's thresholds (a minimum compile
    time of 1 s and a per-filesystem minimum entry size) so that the short compiles of CPU
    programs are cached too.

    Importing tracegrad never turns the cache on; the `tracegrad` command does, unless given
    `--no-compile-cache` or run with `TRACEGRAD_NO_COMPILE_CACHE=1`. The setting is global for
    the process, as JAX's configuration is. JAX runs what it finds in the directory: keep it
    private to you.

    A directory that cannot be created or written (read-only, full, a file in the way) is not
    an error: one `tracegrad.CompilationCacheWarning` names it and the run goes on uncached
    (JAX's cache settings are left as they were). A failure later, when JAX reads or writes an
    entry, is a warning from JAX, not an error (unless `jax_raise_persistent_cache_errors` is
    set).

    Args:
        path: the cache directory, created if missing. Default: `$TRACEGRAD_CACHE_DIR` if set,
            else the user cache directory + `tracegrad/jax`: `$XDG_CACHE_HOME` or `~/.cache`
            on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.

    Returns:
        The absolute cache directory (also when it could not be used and a warning said so).
    """
    return _enable(path)[0]
