"""Which files spillover wrote: the ownership marker of the folders it writes.

A folder is spillover's only if it carries the marker file ``.spillover-owned``, written with
the folder's contents. The first line names the kind of folder; each further line names one
path, relative to the folder, that spillover wrote::

    spillover-owned 1 kind=run pid=1234
    file curves.parquet
    file manifest.json
    dir cells
    keep llm-cache.sqlite

``file`` entries are removed when the folder is replaced; ``dir`` entries are folders removed
once empty; ``keep`` entries are spillover's but never removed (the answer cache and its
SQLite side files: their answers were paid for; the lock file a driver holds). A subfolder
that carries its own marker is judged by it. A ``staging`` folder (kind ``staging``, being
written by process ``pid``) is spillover's as a whole.

Replacing a folder removes exactly the files its marker names, and is refused when anything
else is there, naming the first foreign entry. Nothing here ever follows a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from spillover.exceptions import RunDirError

__all__ = [
    "MARKER",
    "Ownership",
    "check_replaceable",
    "clear_stale",
    "foreign_entries",
    "is_inside",
    "new_staging",
    "owns_file",
    "pid_alive",
    "publish",
    "read_marker",
    "record",
    "remove_owned",
    "write_marker",
    "write_owned_text",
]

MARKER = ".spillover-owned"
_HEADER = "spillover-owned 1"
_SIDE_FILES = ("", "-wal", "-shm", "-journal")
_KIND_NAMES = {"run": "run directory", "sweep": "sweep folder", "figures": "figures folder"}
_STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<what>partial|old)-(?P<pid>\d+)$")
#: Written into every HTML page spillover renders: a page is recognised as spillover's by it.
GENERATOR_META = '<meta name="generator" content="spillover">'


@dataclass(frozen=True)
class Ownership:
    """A parsed marker: the folder's kind, the writing process, and what spillover wrote."""

    kind: str
    pid: int | None
    files: frozenset[str]
    dirs: frozenset[str]
    keep: frozenset[str]

    def owns(self, rel: str) -> bool:
        """Whether the file ``rel`` (relative, POSIX) is one spillover wrote here."""
        if self.kind == "staging" or rel in self.files or rel == MARKER:
            return True
        return any(
            rel.endswith(side) and rel[: len(rel) - len(side)] in self.keep for side in _SIDE_FILES
        )

    def implied_dirs(self) -> frozenset[str]:
        """Folders that hold an owned entry (or are named by a ``dir`` entry)."""
        out = set(self.dirs)
        for rel in (*self.files, *self.keep, *self.dirs):
            out.update(str(p) for p in PurePosixPath(rel).parents if str(p) != ".")
        return frozenset(out)


def _safe_rel(rel: str) -> bool:
    path = PurePosixPath(rel)
    return bool(rel) and not path.is_absolute() and ".." not in path.parts and "\\" not in rel


def read_marker(folder: str | os.PathLike[str]) -> Ownership | None:
    """The marker of ``folder``, or None when it has none (or an unreadable one)."""
    path = Path(folder) / MARKER
    try:
        if path.is_symlink() or not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    # Only whole lines count: an append cut short by a kill leaves a partial last line.
    lines = text.split("\n")[:-1]
    if not lines or not lines[0].startswith(_HEADER):
        return None
    fields = dict(f.split("=", 1) for f in lines[0][len(_HEADER) :].split() if "=" in f)
    entries: dict[str, set[str]] = {"file": set(), "dir": set(), "keep": set()}
    for line in lines[1:]:
        tag, _, rel = line.partition(" ")
        if tag in entries and _safe_rel(rel):
            entries[tag].add(rel)
    pid = fields.get("pid", "")
    return Ownership(
        kind=fields.get("kind", ""),
        pid=int(pid) if pid.isdigit() else None,
        files=frozenset(entries["file"]),
        dirs=frozenset(entries["dir"]),
        keep=frozenset(entries["keep"]),
    )


def _lines(tag: str, rels: Iterable[str]) -> str:
    out = []
    for rel in rels:
        if not _safe_rel(rel) or "\n" in rel:
            raise RunDirError(f"internal: {rel!r} cannot be recorded as a spillover file")
        out.append(f"{tag} {rel}\n")
    return "".join(out)


def write_marker(
    folder: Path,
    kind: str,
    *,
    files: Iterable[str] = (),
    dirs: Iterable[str] = (),
    keep: Iterable[str] = (),
    pid: int | None = None,
) -> None:
    """Write (or rewrite) the marker of ``folder`` atomically."""
    header = f"{_HEADER} kind={kind}" + (f" pid={pid}" if pid is not None else "") + "\n"
    text = header + _lines("file", sorted(files)) + _lines("dir", sorted(dirs))
    text += _lines("keep", sorted(keep))
    tmp = folder / f"{MARKER}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / MARKER)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def record(
    folder: Path, *, files: Iterable[str] = (), dirs: Iterable[str] = (), keep: Iterable[str] = ()
) -> bool:
    """Add entries to the marker of ``folder`` (one append); False when it has no marker."""
    text = _lines("file", files) + _lines("dir", dirs) + _lines("keep", keep)
    marker = folder / MARKER
    if marker.is_symlink() or not marker.is_file():
        return False
    if text:
        fd = os.open(folder / MARKER, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
    return True


def _foreign(root: Path, own: Ownership, prefix: str = "") -> Iterator[str]:
    if own.kind == "staging":
        return
    implied = own.implied_dirs()

    def visit(rel_dir: str) -> Iterator[str]:
        with os.scandir(root / rel_dir if rel_dir else root) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=False):
                sub = read_marker(entry.path)
                if sub is not None:
                    yield from _foreign(Path(entry.path), sub, f"{prefix}{rel}/")
                elif rel in implied:
                    yield from visit(rel)
                else:
                    yield f"{prefix}{rel}/"
            elif not own.owns(rel) and not (
                entry.name.startswith(f"{MARKER}.tmp-") and rel_dir == ""
            ):
                yield f"{prefix}{rel}"

    yield from visit("")


def foreign_entries(folder: str | os.PathLike[str], *, limit: int = 1) -> list[str]:
    """Up to ``limit`` entries of ``folder`` (sorted) that spillover did not write.

    A folder without a marker is foreign as a whole unless it is empty: its first entry is
    returned.
    """
    root = Path(folder)
    own = read_marker(root)
    if own is None:
        return sorted(p.name for p in root.iterdir())[:limit]
    out: list[str] = []
    for rel in _foreign(root, own):
        out.append(rel)
        if len(out) >= limit:
            break
    return out


def check_replaceable(folder: Path, kind: str, *, what: str = "output") -> None:
    """Raise RunDirError unless ``folder`` may be replaced as a spillover folder of ``kind``.

    It may when it is missing, empty, or carries a marker of that kind and holds nothing
    else than what the marker names.
    """
    if not folder.exists():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise RunDirError(f"{what} {folder} exists and is not a directory")
    own = read_marker(folder)
    name = _KIND_NAMES.get(kind, f"{kind} folder")
    if own is None:
        if any(folder.iterdir()):
            raise RunDirError(
                f"{what} {folder} exists and is not a spillover {name} (no {MARKER} marker); "
                "it is not replaced: choose another out",
                params=("out",),
            )
        return
    if own.kind != kind:
        raise RunDirError(
            f"{what} {folder} is a spillover {_KIND_NAMES.get(own.kind, own.kind)}, not a "
            f"{name}; it is not replaced: choose another out",
            params=("out",),
        )
    foreign = foreign_entries(folder)
    if foreign:
        raise RunDirError(
            f"{what} {folder} holds {foreign[0]}, which spillover did not write; nothing was "
            "replaced: move it out of the folder or choose another out",
            params=("out",),
        )


def _no_link_between(root: Path, rel: str) -> bool:
    """Whether no folder between ``root`` and ``root/rel`` is a symbolic link."""
    current = root
    for part in PurePosixPath(rel).parts[:-1]:
        current = current / part
        if current.is_symlink() or not current.is_dir():
            return False
    return True


def remove_owned(folder: Path) -> bool:
    """Remove what spillover wrote in ``folder`` and, if nothing is left, the folder.

    Only marker-named files (and nested spillover folders, by their own markers) are removed;
    ``keep`` entries stay, with a marker naming them. Returns whether the folder is gone.
    """
    own = read_marker(folder)
    if own is None:
        with contextlib.suppress(OSError):
            folder.rmdir()  # an empty folder only
        return not folder.exists()
    if own.kind == "staging":
        shutil.rmtree(folder, ignore_errors=True)
        return not folder.exists()
    for dirpath, dirnames, _ in os.walk(folder):
        for name in list(dirnames):
            sub = Path(dirpath) / name
            if not sub.is_symlink() and read_marker(sub) is not None:
                remove_owned(sub)
                dirnames.remove(name)
    for rel in own.files:
        path = folder / rel
        if _no_link_between(folder, rel) and (path.is_symlink() or path.is_file()):
            path.unlink(missing_ok=True)
    for rel in sorted(own.implied_dirs(), key=lambda r: r.count("/"), reverse=True):
        path = folder / rel
        if _no_link_between(folder, rel) and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()
    kept = [r for r in own.keep if any((folder / f"{r}{s}").exists() for s in _SIDE_FILES)]
    if kept:
        write_marker(folder, own.kind, keep=kept)
        return False
    (folder / MARKER).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
    return not folder.exists()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie or one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale(parent: Path, name: str | None = None) -> None:
    """Remove staging and replaced folders left in ``parent`` by processes that are gone.

    ``.NAME.partial-PID`` (a staging folder) and ``.NAME.old-PID`` (a replaced folder) are
    removed when process PID no longer exists, by their markers: a staging folder is
    spillover's as a whole, a replaced one loses what its marker names. One without a marker
    is removed only if it is empty. ``name`` limits this to one target's leftovers.
    """
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        match = _STAGING.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or pid_alive(pid) or entry.is_symlink() or not entry.is_dir():
            continue
        remove_owned(entry)


def new_staging(final: Path) -> Path:
    """A fresh hidden staging folder next to ``final``, marked as this process's.

    Leftovers of dead processes for the same target are cleared first.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(final.parent, final.name)
    staging = final.parent / f".{final.name}.partial-{os.getpid()}"
    if staging.exists():
        if read_marker(staging) is None and any(staging.iterdir()):
            raise RunDirError(f"{staging} exists and was not written by spillover; move it away")
        shutil.rmtree(staging)
    staging.mkdir()
    write_marker(staging, "staging", pid=os.getpid())
    return staging


def _seal(staging: Path, kind: str, keep: Iterable[str]) -> None:
    files: list[str] = []
    dirs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(staging):
        base = Path(dirpath)
        rel_base = base.relative_to(staging).as_posix()
        for name in list(dirnames):
            if read_marker(base / name) is not None:
                dirnames.remove(name)  # judged by its own marker
            else:
                dirs.append(name if rel_base == "." else f"{rel_base}/{name}")
        for name in filenames:
            rel = name if rel_base == "." else f"{rel_base}/{name}"
            if rel != MARKER:
                files.append(rel)
    write_marker(staging, kind, files=files, dirs=dirs, keep=keep)


def publish(staging: Path, final: Path, kind: str, *, keep: Iterable[str] = ()) -> None:
    """Seal ``staging`` as a ``kind`` folder and move it to ``final``.

    An existing ``final`` must be replaceable (:func:`check_replaceable`); it is renamed
    aside, the new folder renamed into place, and then exactly what the old marker named is
    removed (anything that appeared meanwhile stays in the renamed folder).
    """
    _seal(staging, kind, keep)
    if not final.exists() and not final.is_symlink():
        staging.rename(final)
        return
    check_replaceable(final, kind)
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if old.exists():
        remove_owned(old)
    final.rename(old)
    staging.rename(final)
    remove_owned(old)


def owns_file(path: Path) -> bool:
    """Whether spillover wrote the file ``path``: its folder's marker names it, or it is an
    HTML page spillover rendered (it carries spillover's generator tag)."""
    own = read_marker(path.parent)
    if own is not None and own.owns(path.name):
        return True
    if path.suffix == ".html" and path.is_file() and not path.is_symlink():
        with contextlib.suppress(OSError), path.open("rb") as handle:
            return GENERATOR_META.encode() in handle.read(4096)
    return False


def write_owned_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically, replacing only a file spillover wrote.

    The file is recorded in its folder's marker when the folder is spillover's.
    """
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise RunDirError(f"{target} exists and is not a file; choose another out", params=("out",))
    if target.exists() and not owns_file(target):
        raise RunDirError(
            f"{target} exists and was not written by spillover; it is not replaced: move it "
            "away or choose another out",
            params=("out",),
        )
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    record(target.parent, files=[tmp.name, target.name])
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (symbolic links resolved)."""
    p, f = Path(path), Path(folder)
    for a, b in ((p.absolute(), f.absolute()), (p.resolve(), f.resolve())):
        if a == b or a.is_relative_to(b):
            return True
    return False
