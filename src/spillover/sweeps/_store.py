"""The sweep folder: ``sweep.json``, cell run directories, the dataset, and a lock.

::

    SWEEP/
      sweep.json                  the sweep manifest (grid, seed, cells with status and errors)
      cells/cell-00007/           a normal run directory per cell (written atomically)
      dataset/{curves,exposures,fits}/cell=00007/part.parquet
      .lock                       held by the running driver (flock), so two drivers never mix

:func:`prepare_sweep_folder` creates it (or checks that an existing folder is a sweep's) and
:func:`clear_sweep_folder` empties it for ``force``, removing only what spillover wrote.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from spillover.exceptions import RunDirError
from spillover.io import (
    MARKER,
    check_replaceable,
    clear_stale,
    dumps_json,
    read_folder_json,
    read_marker,
    remove_owned,
    write_marker,
)
from spillover.sweeps._spec import default_models

__all__ = [
    "SWEEP_MANIFEST",
    "Sweep",
    "SweepCell",
    "clear_sweep_folder",
    "is_sweep",
    "load_sweep",
    "prepare_sweep_folder",
]

SWEEP_MANIFEST: Final[str] = "sweep.json"
FORMAT: Final[int] = 1


def cells_dir(sweep: Path) -> Path:
    return sweep / "cells"


def cell_dir(sweep: Path, cell: int) -> Path:
    return cells_dir(sweep) / f"cell-{cell:05d}"


def is_sweep(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a sweep folder: spillover's marker of kind ``sweep`` and a
    ``sweep.json`` (a ``sweep.json`` alone does not make one)."""
    own = read_marker(path) if Path(path).is_dir() else None
    return own is not None and own.kind == "sweep" and (Path(path) / SWEEP_MANIFEST).is_file()


def write_json_atomic(document: Any, path: Path) -> None:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_text(dumps_json(document, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_sweep_manifest(path: Path) -> dict[str, Any]:
    doc = read_folder_json(path, SWEEP_MANIFEST, "a sweep folder")
    if not isinstance(doc, dict) or "cells" not in doc or "grid" not in doc:
        raise RunDirError(f"{path / SWEEP_MANIFEST} is not a sweep manifest")
    return doc


@contextlib.contextmanager
def sweep_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the sweep folder for the life of a driver.

    The lock is an ``flock`` on ``SWEEP/.lock``: the kernel drops it when the process dies,
    so a killed sweep never leaves a stale lock behind.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS: no locking
        yield
        return
    handle = (path / ".lock").open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(
                f"another `spillover sweep` is running on {path}; wait for it or use another out",
                params=("out",),
            ) from None
        _check_no_writers(path)
        yield
    finally:
        handle.close()


#: Held (shared) by every process while it writes a cell: a driver killed with its lock
#: released may leave workers behind, and no new driver starts while any of them lives.
WRITERS_LOCK: Final[str] = ".writers.lock"


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the sweep's writers lock (shared) while a cell of the sweep at ``path`` is written.

    Where the folder cannot be reached (a remote worker without the shared filesystem, which
    then fails writing its cell anyway) nothing is held.
    """
    try:
        import fcntl

        handle = (Path(path) / WRITERS_LOCK).open("a")
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield
    finally:
        handle.close()


def _check_no_writers(path: Path) -> None:
    import fcntl

    handle = (path / WRITERS_LOCK).open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(
                f"processes of an earlier sweep still write cells in {path}; wait for them to "
                "end (or stop them) before running the sweep again"
            ) from None
    finally:
        handle.close()


def clean_stale(path: Path) -> None:
    """Delete what killed runs leave behind: staging folders and temporary files.

    Staging folders of cells are removed only when the process that wrote them is gone (a
    worker still alive keeps its own); the driver's temporary files are removed outright, the
    caller holding the sweep's lock.
    """
    clear_stale(cells_dir(path))
    dataset = path / "dataset"
    if dataset.is_dir():
        for tmp in dataset.glob("*/cell=*/.*.tmp-*"):
            tmp.unlink(missing_ok=True)
    for tmp in path.glob(f".{SWEEP_MANIFEST}.tmp-*"):
        tmp.unlink(missing_ok=True)


def prepare_sweep_folder(root: Path) -> None:
    """Create the sweep folder, or check that an existing one is a spillover sweep."""
    if root.exists() and (root.is_symlink() or not root.is_dir()):
        raise RunDirError(f"sweep output {root} exists and is not a directory")
    own = read_marker(root) if root.is_dir() else None
    if own is not None and own.kind != "sweep":
        raise RunDirError(
            f"sweep output {root} is a spillover {own.kind} folder, not a sweep folder; "
            "choose another out",
            params=("out",),
        )
    if (
        own is None
        and root.is_dir()
        and any(p.name not in (".lock", WRITERS_LOCK) for p in root.iterdir())
    ):
        raise RunDirError(
            f"sweep output {root} exists and is not a sweep folder (no {MARKER} marker); "
            "choose another out",
            params=("out",),
        )
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise RunDirError(f"sweep output {root} is not writable")
    if own is None:
        _mark(root)


def _mark(root: Path, keep: Sequence[str] = ()) -> None:
    write_marker(
        root,
        "sweep",
        files=[SWEEP_MANIFEST],
        dirs=["cells", "dataset"],
        keep=[".lock", WRITERS_LOCK, *keep],
    )


def clear_sweep_folder(root: Path) -> None:
    """Empty a sweep folder for ``force``: exactly the files spillover wrote, refused when
    anything else is there. The locks and the answer caches stay (answers are keyed by the
    whole request, so they stay valid, and they were paid for)."""
    check_replaceable(root, "sweep", what="sweep output")
    remove_owned(root)
    own = read_marker(root)
    _mark(root, keep=sorted(own.keep) if own is not None else ())


@dataclass(frozen=True)
class SweepCell:
    """One cell as recorded in ``sweep.json``.

    Attributes
    ----------
    cell : int
    params : mapping
        The cell's swept values.
    status : {"complete", "failed", "pending"}
    error : str or None
        Why it failed.
    run_dir : Path
        Its run directory (exists only when complete).
    elapsed_s : float or None
    """

    cell: int
    params: Mapping[str, Any]
    status: str
    error: str | None
    run_dir: Path
    elapsed_s: float | None = None


TABLE_NAMES: Final[tuple[str, ...]] = ("curves", "exposures", "fits", "cells")


@dataclass(frozen=True)
class Sweep:
    """A sweep folder, read back (see :func:`load_sweep`).

    Attributes
    ----------
    path : Path
    seed : int
        The root seed.
    grid : tuple of (key, tuple of values)
        Swept keys in cell order, with their values.
    base : mapping
        Values shared by every cell.
    models : tuple of str
        Models fitted on each cell.
    cells : tuple of SweepCell
        In cell order.
    status : str
        ``complete`` when every cell is, ``incomplete``, ``running`` or ``interrupted``.
    manifest : mapping
        The whole ``sweep.json``.
    """

    path: Path
    seed: int
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    base: Mapping[str, Any]
    models: tuple[str, ...]
    cells: tuple[SweepCell, ...]
    status: str
    manifest: Mapping[str, Any]

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept parameters, in grid order."""
        return tuple(k for k, _ in self.grid)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def complete_cells(self) -> tuple[SweepCell, ...]:
        return tuple(c for c in self.cells if c.status == "complete")

    def failed_cells(self) -> tuple[SweepCell, ...]:
        return tuple(c for c in self.cells if c.status == "failed")

    @property
    def is_loop(self) -> bool:
        """Whether the cells are chained coupled runs (a sweep file with a ``[loop]`` section)."""
        return "loop" in self.manifest

    @property
    def loop(self) -> Mapping[str, Any]:
        """A loop sweep's ``[loop]`` values (empty for an SI sweep)."""
        return MappingProxyType(dict(self.manifest.get("loop") or {}))

    def dataset_path(self, table: str) -> Path:
        """Folder of one dataset table (``curves``, ``exposures`` or ``fits``)."""
        return self.path / "dataset" / table

    def read_table(self, table: str) -> Any:
        """One dataset table as a :class:`pyarrow.Table` (with its ``cell`` column).

        Runs the same SQL views as ``spillover query``: ``curves``, ``exposures``, ``fits``
        or ``cells``.
        """
        from spillover.sweeps._loop_dataset import LOOP_DATASET_TABLES
        from spillover.sweeps._query import query_sweep

        names = (*LOOP_DATASET_TABLES, "cells") if self.is_loop else TABLE_NAMES
        if table not in names:
            raise RunDirError(f"table must be one of {', '.join(names)}; got {table!r}")
        return query_sweep(self.path, f"SELECT * FROM {table} ORDER BY cell")


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read a sweep folder written by ``spillover sweep``.

    Raises
    ------
    RunDirError
        When ``path`` is not a sweep folder or its ``sweep.json`` cannot be read.
    """
    root = Path(path)
    doc = read_sweep_manifest(root)
    grid = tuple((str(k), tuple(v)) for k, v in doc["grid"])
    cells = tuple(
        SweepCell(
            cell=int(c["cell"]),
            params=MappingProxyType(dict(c.get("params", {}))),
            status=str(c.get("status", "pending")),
            error=c.get("error"),
            run_dir=root / str(c.get("run_dir", f"cells/cell-{int(c['cell']):05d}")),
            elapsed_s=c.get("elapsed_s"),
        )
        for c in doc["cells"]
    )
    return Sweep(
        path=root,
        seed=int(doc["seed"]),
        grid=grid,
        base=MappingProxyType(dict(doc.get("base", {}))),
        models=tuple(doc.get("settings", {}).get("models", default_models())),
        cells=cells,
        status=str(doc.get("status", "incomplete")),
        manifest=MappingProxyType(doc),
    )
