"""Console helpers of the command line: error lines, progress bars, tables."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["bar_progress", "err_console", "out_console", "replicate_progress"]

# Tables stay readable when output goes to a file or a pipe (where rich would assume 80 columns).
out_console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)


def bar_progress(*columns: ProgressColumn, after: Sequence[ProgressColumn] = ()) -> Progress:
    """Progress bars on stderr: description, bar, done of total, ``columns``, elapsed time, then
    ``after``."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *columns,
        TimeElapsedColumn(),
        *after,
        console=err_console,
        transient=False,
    )


@contextlib.contextmanager
def replicate_progress(
    total: int, *, enabled: bool = True, label: str = "simulating"
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over replicates on stderr; yields the engine's progress callback."""
    if not enabled:
        yield lambda done, total: None
        return
    with bar_progress(TextColumn("replicates")) as progress:
        task = progress.add_task(label, total=total)

        def update(done: int, total_: int) -> None:
            progress.update(task, completed=done, total=total_)

        yield update
