"""Run directories (DESIGN section 6), written atomically.

Everything is written into a hidden sibling folder first; ``manifest.json`` (with
``"status": "complete"``) is written last, then the ownership marker naming every file
(:mod:`spillover.io._owned`), and the folder is renamed into place only then. A failed or
interrupted run leaves no directory under the requested name, and never one that looks
complete.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from spillover._redact import redact_tree
from spillover.exceptions import RunDirError
from spillover.io._owned import check_replaceable, is_inside, new_staging, publish
from spillover.personas import N_PERSONAS

if TYPE_CHECKING:
    import pyarrow as pa

    from spillover._rng import SeedRecord
    from spillover.config import SimulationConfig
    from spillover.engine import Posts
    from spillover.events import Event
    from spillover.graphs import Graph
    from spillover.policies import Policy, TabulatedPolicy
    from spillover.trajectories import AgentHistories, Curves, SimulationResult

__all__ = [
    "MANIFEST",
    "check_output_dir",
    "curves_table",
    "dependency_versions",
    "dumps_json",
    "json_safe",
    "read_manifest",
    "run_dir_writer",
    "write_json",
    "write_run_dir",
    "write_table",
]

MANIFEST = "manifest.json"
_DEPENDENCIES = ("numpy", "scipy", "numba", "pyarrow", "networkx", "matplotlib", "typer")


def dependency_versions() -> dict[str, str]:
    """Versions of Python, spillover and its main dependencies.

    Read once per process (installed versions do not change under a running process; a sweep
    worker writes hundreds of manifests, and each lookup scans the installed distributions).
    """
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for name in ("spillover", *_DEPENDENCIES):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return tuple(versions.items())


def check_output_dir(
    out: str | os.PathLike[str], *, force: bool, keep: Iterable[str | None] = ()
) -> Path:
    """Fail early, before any work, if ``out`` cannot be written as a run directory.

    ``force`` replaces a previous run, never an arbitrary folder: only an empty directory or
    a spillover run directory (its marker, :mod:`spillover.io._owned`) holding nothing but
    what spillover wrote. ``keep`` are paths that must survive the run (the answer cache):
    one inside ``out`` is refused, since the run directory is replaced as a whole.
    """
    path = Path(out)
    for kept in keep:
        if kept is not None and is_inside(kept, path):
            raise RunDirError(
                f"the answer cache {kept} lies inside the output {path}, which is written as a "
                "whole; keep the cache outside the run directory"
            )
    if path.exists() and not force:
        raise RunDirError(
            f"output {path} already exists; choose another out or pass force",
            params=("out", "force"),
        )
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output {path} exists and is not a directory")
    check_replaceable(path, "run")
    if path.resolve() == Path.cwd().resolve() or path.resolve().parent == path.resolve():
        raise RunDirError(f"output {path} is the current or root folder; choose a new folder")
    # Missing parent folders are created when writing; the nearest existing one must be a
    # writable folder.
    ancestor = path.resolve().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunDirError(f"cannot create output {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        raise RunDirError(f"cannot create output {path}: {ancestor} is not writable")
    return path


@contextlib.contextmanager
def run_dir_writer(
    out: str | os.PathLike[str], *, force: bool = False, keep: Iterable[str | None] = ()
) -> Iterator[Path]:
    """Yield a staging folder; on success move it to ``out``, on any failure delete it.

    The staging folder carries a ``staging`` marker naming this process; leftovers of dead
    processes are cleared first. On success the folder's marker names every file written,
    so that a later ``force`` removes exactly those.
    """
    final = check_output_dir(out, force=force, keep=keep)
    staging = new_staging(final)
    try:
        yield staging
        if not (staging / MANIFEST).is_file():
            raise RunDirError(f"internal: {MANIFEST} was not written into {staging}")
        publish(staging, final, "run")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


#: Columns of agent ids, stored delta-encoded instead of through a dictionary: ids come in
#: increasing runs (by replicate, or by round within one), so the deltas take a few bits
#: each. At 100,000 agents x 10 replicates this halves ``adoptions.parquet`` and
#: ``agents.parquet`` and writes them a quarter faster (``benchmarks/bench_sweep.py``).
_DELTA_COLUMNS = frozenset({"agent"})


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` as zstd-compressed Parquet (agent ids delta-encoded)."""
    import pyarrow.parquet as pq

    delta = [name for name in table.column_names if name in _DELTA_COLUMNS]
    # pyarrow takes a list of column names for use_dictionary too (its annotation says bool).
    dictionary: Any = [n for n in table.column_names if n not in delta] if delta else True
    pq.write_table(
        table,
        path,
        compression="zstd",
        use_dictionary=dictionary,
        column_encoding=dict.fromkeys(delta, "DELTA_BINARY_PACKED") or None,
    )


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no such numbers).

    An infeasible model's log-likelihood (-inf) or a standard error that does not exist (NaN)
    become ``null``; the accompanying ``status`` and ``message`` say why.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.floating):
        return json_safe(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def dumps_json(document: Any, **kwargs: Any) -> str:
    """Strict JSON text (no NaN/Infinity tokens, which standard parsers reject)."""
    return json.dumps(json_safe(document), allow_nan=False, **kwargs)


def write_json(document: Any, path: Path) -> None:
    path.write_text(dumps_json(document, indent=2) + "\n", encoding="utf-8")


def read_folder_json(folder: str | os.PathLike[str], name: str, what: str) -> Any:
    """The JSON document ``name`` of ``folder`` (a run directory's or a sweep's manifest).

    Raises
    ------
    RunDirError
        When the file is missing (``folder`` is not ``what``) or cannot be read or parsed.
    """
    path = Path(folder) / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{folder} is not {what}: {name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path} cannot be read: {exc}") from None


def curves_table(curves: Curves, *, by_persona: bool) -> pa.Table:
    """``replicate, round, informed, n_nodes`` (plus ``persona`` when by persona)."""
    import pyarrow as pa

    n_reps, n_t, n_c = curves.informed_by_persona.shape
    if by_persona:
        rep, rnd, per = np.meshgrid(
            np.arange(n_reps), np.arange(n_t), np.arange(n_c), indexing="ij"
        )
        return pa.table(
            {
                "replicate": pa.array(rep.ravel().astype(np.int32)),
                "round": pa.array(rnd.ravel().astype(np.int32)),
                "persona": pa.array(per.ravel().astype(np.int16)),
                "informed": pa.array(curves.informed_by_persona.ravel()),
                "n_nodes": pa.array(np.full(rep.size, curves.n_nodes, dtype=np.int64)),
            }
        )
    rep2, rnd2 = np.meshgrid(np.arange(n_reps), np.arange(n_t), indexing="ij")
    return pa.table(
        {
            "replicate": pa.array(rep2.ravel().astype(np.int32)),
            "round": pa.array(rnd2.ravel().astype(np.int32)),
            "informed": pa.array(curves.informed.ravel()),
            "n_nodes": pa.array(np.full(rep2.size, curves.n_nodes, dtype=np.int64)),
        }
    )


def _columns_table(columns: dict[str, np.ndarray]) -> pa.Table:
    import pyarrow as pa

    return pa.table({name: pa.array(values) for name, values in columns.items()})


def _posts_table(columns: dict[str, Any]) -> pa.Table:
    """``replicate, round, agent, text, post_status, copied``: post texts are data, stored as
    plain strings; ``copied`` is null for a post that copies nothing."""
    import pyarrow as pa

    return pa.table(
        {
            "replicate": pa.array(columns["replicate"]),
            "round": pa.array(columns["round"]),
            "agent": pa.array(columns["agent"]),
            "text": pa.array(columns["text"], type=pa.string()),
            "post_status": pa.array(columns["post_status"], type=pa.string()),
            "copied": pa.array(columns["copied"], type=pa.string()),
        }
    )


class RunRecord(Protocol):
    """What a run directory is written from (:class:`spillover.RunOutput` is one).

    ``io`` reads these attributes only, so it needs nothing from the layers that run a
    simulation.
    """

    @property
    def config(self) -> SimulationConfig: ...
    @property
    def seed(self) -> SeedRecord: ...
    @property
    def graph(self) -> Graph: ...
    @property
    def persona_of_node(self) -> np.ndarray: ...
    @property
    def event(self) -> Event: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def result(self) -> SimulationResult: ...
    @property
    def agents(self) -> AgentHistories | None: ...
    @property
    def timings(self) -> dict[str, float]: ...
    @property
    def posts(self) -> Posts | None: ...
    @property
    def llm(self) -> dict[str, Any] | None: ...
    @property
    def llm_table(self) -> TabulatedPolicy | None: ...
    @property
    def graph_seed(self) -> SeedRecord | None: ...


def manifest(run: RunRecord, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest document of a finished run (no secrets: none are part of a run)."""
    result = run.result
    counts = np.bincount(run.persona_of_node, minlength=N_PERSONAS)
    doc: dict[str, Any] = {
        "status": "complete",
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "config": run.config.to_dict(),
        "versions": dependency_versions(),
        "seed": run.seed.to_dict(),
        **({"graph_seed": run.graph_seed.to_dict()} if run.graph_seed is not None else {}),
        "graph": run.graph.summary(),
        "event": run.event.to_dict(),
        "policy": run.policy.describe(),
        "personas": {
            "assignment": run.config.personas,
            "count_by_persona": [int(c) for c in counts],
        },
        "replicates": {
            "n_reps": result.n_reps,
            "seeds": result.seeds.tolist(),
            "last_active_round": result.last_active_round.tolist(),
            "final_informed": result.curves.informed[:, -1].tolist(),
        },
        "timings": {k: round(v, 6) for k, v in run.timings.items()},
    }
    llm = run.llm
    if llm is not None:
        # Model, server URL, prompt versions, cache and accounting; the API key is never part
        # of a run (only the name of its environment variable is).
        doc["llm"] = llm
    if extra:
        doc.update(extra)
    # No credential reaches a manifest, even one typed into a flag or a URL.
    return dict(redact_tree(doc))


def write_run_dir(
    run: RunRecord,
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    extra: dict[str, Any] | None = None,
    attach: Callable[[Path], None] | None = None,
    agent_tables: bool = True,
) -> Path:
    """Write a run directory atomically; return its path.

    Files: ``curves.parquet``, ``exposures.parquet``, ``adoptions.parquet``, ``agents.parquet``,
    for LLM runs ``llm_table.json`` (the answers as a replayable table) and in feed mode
    ``posts.parquet``, and, last, ``manifest.json``. ``extra`` entries are merged into the
    manifest; ``attach(folder)`` may write further files (figures, fits) into the staging
    folder before the manifest. ``agent_tables=False`` leaves out the two per-agent tables
    (``adoptions.parquet``, ``agents.parquet``; a sweep's ``agent_tables`` setting), and the
    manifest says so (``"agent_tables": false``).
    """
    import time

    final = Path(out)
    with run_dir_writer(final, force=force, keep=(run.config.llm.cache,)) as staging:
        t0 = time.perf_counter()
        write_table(
            curves_table(run.result.curves, by_persona=run.config.by_persona),
            staging / "curves.parquet",
        )
        write_table(_columns_table(run.result.exposures.columns()), staging / "exposures.parquet")
        if agent_tables:
            if run.agents is None:
                raise RunDirError("internal: a run without agent histories cannot write them")
            adoptions = run.result.adoptions.columns()
            write_table(_columns_table(adoptions), staging / "adoptions.parquet")
            write_table(_columns_table(run.agents.columns()), staging / "agents.parquet")
        posts = run.posts
        if posts is not None:
            write_table(_posts_table(posts.columns()), staging / "posts.parquet")
        llm_table = run.llm_table
        if llm_table is not None:
            llm_table.save(staging / "llm_table.json")
        if attach is not None:
            attach(staging)
        timings = dict(run.timings, write_s=time.perf_counter() - t0)
        doc = manifest(run, extra=extra)
        if not agent_tables:
            doc["agent_tables"] = False
        doc["timings"] = {k: round(v, 6) for k, v in timings.items()}
        write_json(doc, staging / MANIFEST)
    return final


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a run directory; RunDirError when missing or incomplete."""
    doc = read_folder_json(run_dir, MANIFEST, "a run directory")
    if not isinstance(doc, dict) or doc.get("status") != "complete":
        raise RunDirError(
            f"{run_dir} is not a complete run (status "
            f"{doc.get('status') if isinstance(doc, dict) else None!r})"
        )
    return doc
