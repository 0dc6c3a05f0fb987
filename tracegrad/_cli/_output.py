"""Tables and progress on the terminal: rich when installed (the ``cli`` extra), else plain."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

try:  # optional: nicer tables and a live progress bar
    import rich.console
    import rich.progress
    import rich.table

    HAVE_RICH = True
except ImportError:  # pragma: no cover - exercised where rich is absent
    rich = None
    HAVE_RICH = False


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (what tests and pipes see)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    """Print a table to stdout: rich on a terminal when available, plain text otherwise."""
    if rich is not None and sys.stdout.isatty():
        table = rich.table.Table(*headers, title=title or None)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        rich.console.Console().print(table)
        return
    if title:
        print(title)
    print(format_table(headers, rows))


class Progress:
    """Iteration progress on stderr: ``update(done, loss)``; silent when ``enabled`` is False.

    A rich bar on a terminal when rich is installed; otherwise one line every few seconds.
    """

    def __init__(self, total: int, description: str, enabled: bool = True):
        self.total = total
        self.enabled = enabled
        self._bar = None
        self._last = 0.0
        self.description = description
        if enabled and rich is not None and sys.stderr.isatty():
            self._bar = rich.progress.Progress(
                rich.progress.TextColumn("{task.description}"),
                rich.progress.BarColumn(),
                rich.progress.MofNCompleteColumn(),
                rich.progress.TextColumn("loss {task.fields[loss]}"),
                rich.progress.TimeElapsedColumn(),
                console=rich.console.Console(stderr=True),
            )
            self._task = self._bar.add_task(description, total=total, loss="-")

    def __enter__(self):
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, loss: float) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, loss=f"{loss:.6g}")
            return
        now = time.monotonic()
        if now - self._last >= 2.0 or done >= self.total:
            self._last = now
            print(
                f"{self.description}: {done}/{self.total} iterations, loss {loss:.6g}",
                file=sys.stderr,
            )
