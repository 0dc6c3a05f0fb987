"""Output destinations checked before any work starts, so a finished run is never lost.

Every command that writes a file names its destinations first; ``output_file`` and
``output_dir`` refuse one that cannot be written (its parent is a regular file, it is an
existing directory where a file goes, its folder is not writable, an empty name, a wrong
extension) with one line naming the flag or config key, and create missing parent folders.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ._errors import CLIError


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(".")


def _writable_dir(folder: Path, label: str, shown: Path) -> None:
    """Create ``folder`` (and parents) and prove a file can be created in it."""
    existing = _nearest_existing(folder)
    if existing.exists() and not existing.is_dir():
        raise CLIError(f"{label} {shown}: {existing} is a file, not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"{label} {shown}: cannot create {folder}: {err.strerror or err}") from None
    try:  # the only reliable test (ACLs, read-only mounts, root): create and remove a file
        fd, probe = tempfile.mkstemp(prefix=".tracegrad-probe.", dir=folder)
    except OSError as err:
        raise CLIError(
            f"{label} {shown}: cannot write in {folder}: {err.strerror or err}"
        ) from None
    os.close(fd)
    os.unlink(probe)


def output_file(path: str | os.PathLike, label: str, suffix: str | None = None) -> Path:
    """Check that a result file can be written at ``path``; create its missing parents.

    Args:
        path: the destination.
        label: the flag or config key that named it, for the message (``"--output"``).
        suffix: the extension the file must have (``".npz"``), or None for any.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        CLIError: empty, wrong extension, an existing directory, a parent that is a file, or a
            folder that cannot be written.
    """
    text = os.fspath(path)
    if not text.strip():
        raise CLIError(f"{label} is empty: give a file name")
    target = Path(text)
    if suffix is not None and target.suffix != suffix:
        raise CLIError(f"{label} {target}: must end in {suffix}")
    if target.is_dir():
        raise CLIError(f"{label} {target}: is a directory, not a file")
    _writable_dir(target.parent, label, target)
    return target


def output_dir(path: str | os.PathLike, label: str, files: tuple[str, ...] = ()) -> Path:
    """Check that ``path`` is (or can be made) a writable directory; ``files`` will go in it.

    Raises:
        CLIError: empty, an existing regular file, not writable, or one of ``files`` already
            exists there as a directory.
    """
    text = os.fspath(path)
    if not text.strip():
        raise CLIError(f"{label} is empty: give a directory")
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"{label} {folder}: is a file, not a directory")
    _writable_dir(folder, label, folder)
    for name in files:
        if (folder / name).is_dir():
            raise CLIError(f"{label} {folder}: {folder / name} is a directory, not a file")
    return folder
