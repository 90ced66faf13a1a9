"""Benchmark: spillover's SI engine against EoN and NDlib on one and the same graph.

What it measures
----------------
On a random ``--degree``-regular graph of ``--n-nodes`` nodes (default 1,000,000 and 8), with
``--n-seeds`` seed nodes shared by all three engines and per-round sharing probability
``--beta`` (no offline channel), the wall-clock time (``time.perf_counter``) and peak memory of:

- graph build: ``spillover.graphs.random_regular`` and ``networkx.random_regular_graph``;
- graph to networkx: ``Graph.to_networkx()`` of the saved graph, which is what the peers run on;
- engine compile (cold cache): ``spillover.engine.warm_up()`` and a tiny ``simulate`` with an
  empty numba cache, and engine warm-up (disk cache): the same in each engine worker, loading
  the cached code (``warm_up()`` alone does not cover the kernel specialisation ``simulate``
  uses; see ``_engine_warm_up``);
- spillover engine: one ``spillover.engine.simulate`` run to saturation with
  ``ConstantPolicy(alpha=0, beta)``, after the warm-up (so compilation is not timed);
- EoN: ``EoN.fast_SIR(G, tau, gamma=0)``, continuous-time SI with ``tau = -log(1 - beta)``, so
  that an edge transmits within one unit of time with probability ``beta``;
- NDlib: ``ndlib.models.epidemics.SIModel`` with ``beta`` (the same discrete synchronous rule
  ``1 - (1 - beta)**m`` as spillover), iterated until every reachable node is infected or
  ``--ndlib-max-iterations``; its time includes building the model and its initial status.

The graph is built once by ``spillover.graphs.random_regular`` (the first timed build saves it as
an ``.npz`` of CSR arrays in a temporary folder) and every worker loads that file, so all engines
run on the identical graph from the identical seed nodes. The final informed counts are printed
next to the number of nodes reachable from the seeds, to show the engines did comparable work.

Each measured step runs in a fresh process (this file, started with the hidden ``--worker``
option), so its peak memory is its own. Peak RSS is the process's high-water mark (``VmHWM`` of
``/proc/self/status`` on Linux, else ``ru_maxrss``): on Linux a child's ``ru_maxrss`` starts at
the parent's peak, inherited through exec, so it is recorded (``ru_maxrss_kib`` in the JSON) but
not used. On Linux the high-water mark is reset (``/proc/self/clear_refs``) once a worker has
imported its modules, and for the engine runs (spillover, EoN, NDlib) again once the graph is
loaded into the engine's own format (a ``Graph``, or a networkx graph for the peers): their peak
is that of the run while holding the graph, not of loading or converting it. "peak MB" is the
peak minus that of an idle worker that imported the same modules (for the spillover engine, also
warmed up); "raw MB" is the peak itself. Times and peaks are medians over the repeats; ratios
are of medians measured in the same run: engines against the spillover engine, graph steps
against ``spillover.graphs.random_regular``.

How to run
----------
``make bench`` (installs the peers of the ``bench`` dependency group, then runs the defaults:
about 23 minutes at 1,000,000 nodes on the 2-core development machine, 13 of them NDlib's three
runs), or directly::

    .venv/bin/python benchmarks/bench_engine.py --n-nodes 100000          # about 2 minutes
    .venv/bin/python benchmarks/bench_engine.py --peer-repeats 1          # 1M, about 9 minutes
    .venv/bin/python benchmarks/bench_engine.py --peers none --nx-build-repeats 0 --json b.json

Progress goes to stderr; the report (machine, table, work done) to stdout. Results and the
reading of them: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PEERS = ("eon", "ndlib")
VERSIONED = ("spillover", "numpy", "numba", "scipy", "networkx", "EoN", "ndlib")
SATURATION = 0.999  # fraction of reachable nodes that counts as saturated

Config = dict[str, Any]
Result = dict[str, Any]


# -- memory ----------------------------------------------------------------------------------


def _ru_maxrss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere


def _peak_rss_kib() -> int:
    """High-water mark of this process's resident set, in KiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return _ru_maxrss_kib()


def _reset_peak_rss() -> bool:
    """Reset the high-water mark to the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _start_run() -> Result:
    """Called once the graph is loaded: from here on the peak is that of the run."""
    return {"load_peak_kib": _peak_rss_kib(), "peak_reset_after_load": _reset_peak_rss()}


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- worker side: preparation (also what the idle baseline does) -------------------------------


SPILLOVER_MODULES = ("numpy", "spillover.graphs", "spillover.engine", "spillover.policies")
NETWORKX_MODULES = ("numpy", "networkx", "spillover.graphs")


def _importer(*modules: str) -> Callable[[], Result]:
    def prepare() -> Result:
        for module in modules:
            importlib.import_module(module)
        return {}

    return prepare


def _engine_warm_up() -> Result:
    """``warm_up()``, then one tiny ``simulate``: together they compile or load what it runs.

    ``warm_up()`` alone passes writable arrays, while ``simulate`` passes the read-only arrays
    of a ``Graph``: a second specialisation of the kernel, compiled (or loaded from the disk
    cache) on the first ``simulate`` call. The tiny run keeps that out of the timed run.
    """
    from spillover.engine import simulate, warm_up
    from spillover.graphs import random_regular
    from spillover.policies import ConstantPolicy

    start = time.perf_counter()
    warm_up()
    middle = time.perf_counter()
    simulate(random_regular(10, 2, rng=0), ConstantPolicy(alpha=0.0, beta=0.5), n_rounds=2)
    end = time.perf_counter()
    return {"seconds": end - start, "warm_up_s": middle - start, "first_simulate_s": end - middle}


def _prepare_engine() -> Result:
    _importer(*SPILLOVER_MODULES)()
    return _engine_warm_up()


PREPARE: dict[str, Callable[[], Result]] = {
    "spillover": _importer(*SPILLOVER_MODULES),
    "engine": _prepare_engine,
    "networkx": _importer(*NETWORKX_MODULES),
    "eon": _importer(*NETWORKX_MODULES, "EoN"),
    "ndlib": _importer(*NETWORKX_MODULES, "ndlib.models.epidemics", "ndlib.models.ModelConfig"),
}


# -- worker side: the measured steps -----------------------------------------------------------


def _load_graph(path: str) -> Any:
    import numpy as np

    from spillover.graphs import Graph

    with np.load(path) as data:
        return Graph(data["indptr"], data["indices"], name=str(data["name"]))


def _to_networkx(path: str) -> tuple[Any, float]:
    graph = _load_graph(path)
    start = time.perf_counter()
    g = graph.to_networkx()
    return g, time.perf_counter() - start


def _measure_graph_spillover(cfg: Config) -> Result:
    import numpy as np

    from spillover.graphs import random_regular

    start = time.perf_counter()
    graph = random_regular(cfg["n_nodes"], cfg["degree"], rng=cfg["seed"])
    seconds = time.perf_counter() - start
    out: Result = {"seconds": seconds, "peak_kib": _peak_rss_kib(), "n_edges": graph.n_edges}
    if cfg.get("save_graph"):
        np.savez(cfg["save_graph"], indptr=graph.indptr, indices=graph.indices, name=graph.name)
    return out


def _measure_graph_networkx(cfg: Config) -> Result:
    import networkx as nx

    start = time.perf_counter()
    g = nx.random_regular_graph(cfg["degree"], cfg["n_nodes"], seed=cfg["seed"])
    return {"seconds": time.perf_counter() - start, "n_edges": g.number_of_edges()}


def _measure_to_networkx(cfg: Config) -> Result:
    g, seconds = _to_networkx(cfg["graph"])
    return {"seconds": seconds, "n_edges": g.number_of_edges()}


def _measure_compile_cold(cfg: Config) -> Result:
    return _engine_warm_up()


def _measure_engine(cfg: Config) -> Result:
    import numpy as np

    from spillover.engine import simulate
    from spillover.policies import ConstantPolicy

    graph = _load_graph(cfg["graph"])
    policy = ConstantPolicy(alpha=0.0, beta=cfg["beta"])
    seeds = np.array(cfg["seeds"], dtype=np.int64)
    loaded = _start_run()
    start = time.perf_counter()
    result = simulate(graph, policy, n_rounds=cfg["rounds"], seeds=seeds, rng=cfg["seed"])
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        **loaded,
        "final": int(result.curves.informed[0, -1]),
        "last_round": int(result.last_active_round[0]),
    }


# -- the plain kernel: the same model, written the obvious way -------------------------------


def _plain_kernel() -> Callable[..., int]:
    """A plain numba kernel of the same SI model, the baseline of the engine's speed.

    Incremental informed-neighbour counts and an at-risk list, one sequential random stream,
    no bookkeeping (no tables, no personas): what one writes first for a fast simulation.
    Returns the number of informed nodes at saturation (or after ``n_rounds``).
    """
    import numba
    import numpy as np

    @numba.njit(cache=True)
    def plain_si(indptr, indices, beta, seeds, n_rounds, seed):  # type: ignore[no-untyped-def]
        np.random.seed(seed)  # noqa: NPY002 (numba: its own sequential stream)
        n = indptr.shape[0] - 1
        informed = np.zeros(n, np.bool_)
        n_exposed = np.zeros(n, np.int32)
        at_risk = np.empty(n, np.int32)
        newly = np.empty(n, np.int32)
        n_at_risk = 0
        n_new = 0
        for s in seeds:
            informed[s] = True
            newly[n_new] = s
            n_new += 1
        total = n_new
        for _ in range(n_rounds):
            for j in range(n_new):
                u = newly[j]
                for e in range(indptr[u], indptr[u + 1]):
                    v = indices[e]
                    n_exposed[v] += 1
                    if not informed[v] and n_exposed[v] == 1:
                        at_risk[n_at_risk] = v
                        n_at_risk += 1
            kept = 0
            n_new = 0
            for j in range(n_at_risk):
                i = at_risk[j]
                if informed[i]:
                    continue
                at_risk[kept] = i
                kept += 1
                if np.random.random() < 1.0 - (1.0 - beta) ** n_exposed[i]:  # noqa: NPY002
                    newly[n_new] = i
                    n_new += 1
            n_at_risk = kept
            for j in range(n_new):
                informed[newly[j]] = True
            total += n_new
            if n_new == 0 and n_at_risk == 0:
                break
        return total

    return plain_si  # type: ignore[no-any-return]


def _measure_paired(cfg: Config) -> Result:
    """The spillover engine and the plain kernel, alternately, in one process on one graph.

    Alternating the two in the same process exposes both to the same load on the machine,
    so the ratio of their medians is the figure to compare.
    """
    import numpy as np

    from spillover.engine import simulate
    from spillover.policies import ConstantPolicy

    graph = _load_graph(cfg["graph"])
    policy = ConstantPolicy(alpha=0.0, beta=cfg["beta"])
    seeds = np.array(cfg["seeds"], dtype=np.int64)
    plain = _plain_kernel()
    indptr, indices = np.ascontiguousarray(graph.indptr), graph.indices
    plain(indptr, indices, cfg["beta"], seeds, cfg["rounds"], 0)  # compile or load
    engine_s, plain_s, finals = [], [], []
    for rep in range(cfg["pair_repeats"]):
        start = time.perf_counter()
        result = simulate(graph, policy, n_rounds=cfg["rounds"], seeds=seeds, rng=cfg["seed"] + rep)
        engine_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        final = plain(indptr, indices, cfg["beta"], seeds, cfg["rounds"], cfg["seed"] + rep)
        plain_s.append(time.perf_counter() - start)
        finals.append((int(result.curves.informed[0, -1]), int(final)))
    engine, base = statistics.median(engine_s), statistics.median(plain_s)
    return {
        "seconds": engine,
        "engine_s": engine_s,
        "plain_s": plain_s,
        "plain_median_s": base,
        "speedup": base / engine,
        "finals": finals,
    }


def _measure_eon(cfg: Config) -> Result:
    import math

    import EoN
    import numpy as np

    g, convert_s = _to_networkx(cfg["graph"])
    tau = -math.log1p(-cfg["beta"])
    loaded = _start_run()
    _say(f"  EoN.fast_SIR(tau={tau:.6g}, gamma=0) on {g.number_of_nodes():,} nodes ...")
    start = time.perf_counter()
    times, _, i, r = EoN.fast_SIR(
        g, tau, 0.0, initial_infecteds=list(cfg["seeds"]), rng=np.random.default_rng(cfg["seed"])
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        **loaded,
        "to_networkx_s": convert_s,
        "final": int(i[-1] + r[-1]),
        "final_time": float(times[-1]),
        "tau": tau,
    }


def _measure_ndlib(cfg: Config) -> Result:
    import ndlib.models.epidemics as ep
    import ndlib.models.ModelConfig as mc

    g, convert_s = _to_networkx(cfg["graph"])
    target, cap = cfg["target"], cfg["ndlib_max_iterations"]
    loaded = _start_run()
    start = time.perf_counter()
    model = ep.SIModel(g, seed=cfg["seed"])
    config = mc.Configuration()
    config.add_model_parameter("beta", cfg["beta"])
    config.add_model_initial_configuration("Infected", list(cfg["seeds"]))
    model.set_initial_status(config)
    infected = model.iteration(node_status=False)["node_count"][1]  # iteration 0: the seeds
    setup_s = time.perf_counter() - start
    iterations = 0
    while infected < target and iterations < cap:
        infected = model.iteration(node_status=False)["node_count"][1]
        iterations += 1
        if iterations % 10 == 0:
            elapsed = time.perf_counter() - start
            _say(f"  NDlib iteration {iterations}: {infected:,} infected ({elapsed:.1f} s)")
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        **loaded,
        "to_networkx_s": convert_s,
        "setup_s": setup_s,
        "final": int(infected),
        "iterations": iterations,
    }


def _graph_info(cfg: Config) -> Result:
    """Not measured: the seed nodes and the number of nodes reachable from them."""
    import numpy as np
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    graph = _load_graph(cfg["graph"])
    n = graph.n_nodes
    rng = np.random.default_rng(cfg["seed"])
    seeds = np.sort(rng.choice(n, size=cfg["n_seeds"], replace=False))
    adjacency = csr_array((np.ones(graph.indices.size, np.int8), graph.indices, graph.indptr))
    _, labels = connected_components(adjacency, directed=False)
    target = int(np.isin(labels, labels[seeds]).sum())
    return {"seeds": seeds.tolist(), "target": target, "summary": graph.summary()}


# Worker steps: the preparation they share with their idle baseline, and the measurement.
WORKERS: dict[str, tuple[str, Callable[[Config], Result]]] = {
    "graph-spillover": ("spillover", _measure_graph_spillover),
    "graph-networkx": ("networkx", _measure_graph_networkx),
    "to-networkx": ("networkx", _measure_to_networkx),
    "compile-cold": ("spillover", _measure_compile_cold),
    "engine": ("engine", _measure_engine),
    "paired": ("engine", _measure_paired),
    "eon": ("eon", _measure_eon),
    "ndlib": ("ndlib", _measure_ndlib),
    "graph-info": ("spillover", _graph_info),
}


def _worker_main(step: str, cfg: Config, result_path: Path, idle: bool) -> int:
    prepare_key, measure = WORKERS[step]
    out: Result = {"step": step, "idle": idle, "prepare": PREPARE[prepare_key]()}
    # The idle baseline and the step both count from here: after the imports (and warm-up).
    out["import_peak_kib"] = _peak_rss_kib()
    out["peak_reset_after_imports"] = _reset_peak_rss()
    if not idle:
        out.update(measure(cfg))
    out.setdefault("peak_kib", _peak_rss_kib())
    out["ru_maxrss_kib"] = _ru_maxrss_kib()
    result_path.write_text(json.dumps(out))
    return 0


# -- parent side -------------------------------------------------------------------------------


class StepFailed(RuntimeError):
    """A worker process exited with an error (its traceback is on stderr above)."""


@dataclass(frozen=True)
class Step:
    key: str  # worker step
    label: str  # row of the table
    runs: int
    ratio_to: str | None = None  # "engine" or "graph"
    env: dict[str, str] = field(default_factory=dict)
    extra: Config = field(default_factory=dict)


@dataclass
class Outcome:
    step: Step
    samples: list[Result] = field(default_factory=list)
    baseline_kib: int | None = None
    error: str | None = None

    def median(self, key: str) -> float:
        return statistics.median(s[key] for s in self.samples)


class Runner:
    """Runs worker processes of this file and remembers the idle baselines."""

    def __init__(self, workdir: Path, cfg: Config) -> None:
        self.workdir = workdir
        self.cfg = cfg
        self.baselines: dict[str, int] = {}
        self._count = 0

    def call(
        self,
        key: str,
        *,
        idle: bool = False,
        env: dict[str, str] | None = None,
        extra: Config | None = None,
    ) -> Result:
        self._count += 1
        result_path = self.workdir / f"result-{self._count}.json"
        cfg = {**self.cfg, **(extra or {})}
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", key]
        command += ["--config", json.dumps(cfg), "--result", str(result_path)]
        if idle:
            command.append("--idle")
        # Worker stdout (chatter of the peers) goes to stderr: stdout carries the report only.
        completed = subprocess.run(
            command, stdout=sys.stderr, env={**os.environ, **(env or {})}, check=False
        )
        if completed.returncode != 0:
            raise StepFailed(f"worker {key!r} exited with code {completed.returncode}")
        result: Result = json.loads(result_path.read_text())
        return result

    def baseline(self, key: str) -> int:
        prepare_key = WORKERS[key][0]
        if prepare_key not in self.baselines:
            _say(f"baseline: idle worker for {prepare_key!r} imports")
            self.baselines[prepare_key] = self.call(key, idle=True)["peak_kib"]
        return self.baselines[prepare_key]

    def run(self, step: Step) -> Outcome:
        outcome = Outcome(step)
        try:
            outcome.baseline_kib = self.baseline(step.key)
            for i in range(step.runs):
                _say(f"{step.label}: run {i + 1}/{step.runs} ...")
                # Step extras (the path to save the graph at) apply to the first run only.
                sample = self.call(step.key, env=step.env, extra=step.extra if i == 0 else None)
                outcome.samples.append(sample)
                delta = (sample["peak_kib"] - outcome.baseline_kib) / 1024
                _say(
                    f"{step.label}: run {i + 1}/{step.runs}: {sample['seconds']:.3f} s, "
                    f"peak {sample['peak_kib'] / 1024:.0f} MB ({delta:+.0f} MB over idle)"
                )
        except StepFailed as exc:
            outcome.error = str(exc)
            _say(f"{step.label}: FAILED: {exc}")
        return outcome


def _versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):
        memory_gb = float("nan")
    return {
        "load_average": _load_average(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "python": platform.python_version(),
        "versions": _versions(),
    }


def _summaries(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    refs = {}
    for o in outcomes:
        if o.samples and o.step.key == "engine":
            refs["engine"] = o.median("seconds")
        if o.samples and o.step.key == "graph-spillover":
            refs["graph"] = o.median("seconds")
    rows = []
    for o in outcomes:
        row: dict[str, Any] = {"label": o.step.label, "key": o.step.key, "runs": len(o.samples)}
        row["error"] = o.error
        if o.samples:
            seconds = [s["seconds"] for s in o.samples]
            peak = statistics.median(s["peak_kib"] for s in o.samples) / 1024
            row |= {
                "median_s": statistics.median(seconds),
                "min_s": min(seconds),
                "max_s": max(seconds),
                "peak_mb": peak,
                "peak_delta_mb": peak - (o.baseline_kib or 0) / 1024,
                "baseline_mb": (o.baseline_kib or 0) / 1024,
                "samples": o.samples,
            }
            ref = o.step.ratio_to
            if ref in refs:
                row["ratio"] = row["median_s"] / refs[ref]
                row["ratio_to"] = ref
        rows.append(row)
        if o.step.key == "paired" and o.samples:
            sample = o.samples[0]
            row |= {"runs": len(sample["engine_s"]), "min_s": min(sample["engine_s"])}
            row["max_s"] = max(sample["engine_s"])
            plain = sample["plain_s"]
            rows.append(
                {
                    "label": "plain numba kernel (paired)",
                    "key": "plain",
                    "runs": len(plain),
                    "error": None,
                    "median_s": statistics.median(plain),
                    "min_s": min(plain),
                    "max_s": max(plain),
                    "ratio": sample["speedup"],
                    "ratio_to": "paired engine",
                }
            )
        if o.step.key == "engine" and o.samples:
            warm = [s["prepare"]["seconds"] for s in o.samples]
            rows.append(
                {
                    "label": "engine warm-up (disk cache)",
                    "key": "warm-up",
                    "runs": len(warm),
                    "error": None,
                    "median_s": statistics.median(warm),
                    "min_s": min(warm),
                    "max_s": max(warm),
                }
            )
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _print_report(machine: dict[str, Any], params: Config, rows: list[dict[str, Any]]) -> None:
    v = machine["versions"]
    print(
        f"machine: {machine['platform']}; {machine['cpu']}; {machine['cpu_count']} CPUs; "
        f"{machine['memory_gb']} GB"
    )
    print(
        f"python {machine['python']}; spillover {v['spillover']}, numpy {v['numpy']}, "
        f"numba {v['numba']}, scipy {v['scipy']}, networkx {v['networkx']}, EoN {v['EoN']}, "
        f"ndlib {v['ndlib']}"
    )
    print(
        f"load average (1, 5, 15 min) at start {machine['load_average']}, "
        f"at end {machine['load_average_end']} (other work on the machine slows every step)"
    )
    print(
        f"graph: random {params['degree']}-regular, {params['n_nodes']:,} nodes; "
        f"{params['n_seeds']} seeds; beta {params['beta']}; seed {params['seed']}; "
        f"medians of the runs shown"
    )
    print()
    header = (
        f"{'step':<32} {'runs':>4} {'median s':>10} {'min s':>10} {'max s':>10} "
        f"{'peak MB':>9} {'raw MB':>8}  ratio"
    )
    print(header)
    print("-" * (len(header) + 10))
    for row in rows:
        if row.get("error"):
            print(f"{row['label']:<32} FAILED: {row['error']}")
            continue
        ratio = f"{row['ratio']:.2f}x {row['ratio_to']}" if "ratio" in row else ""
        line = (
            f"{row['label']:<32} {row['runs']:>4} {_fmt(row.get('median_s'), '10.3f')} "
            f"{_fmt(row.get('min_s'), '10.3f'):>10} {_fmt(row.get('max_s'), '10.3f'):>10} "
            f"{_fmt(row.get('peak_delta_mb'), '9.0f'):>9} {_fmt(row.get('peak_mb'), '8.0f'):>8}"
            f"  {ratio}"
        )
        print(line.rstrip())
    print()
    print("peak MB: peak RSS minus that of an idle worker with the same imports; raw MB: the peak")
    print("itself. Engine rows: peak of the run, holding the graph in the engine's own format.")
    print("ratio: median time over that of the spillover engine (engine) or graph build (graph).")
    for row in rows:
        if row["key"] == "plain":
            print(
                f"plain kernel / spillover engine, alternating in one process: "
                f"{row['ratio']:.2f}x (median {row['median_s']:.3f} s against "
                f"{row['median_s'] / row['ratio']:.3f} s, {row['runs']} pairs; the engine "
                f"row of that pair is 'spillover engine (paired)')"
            )
    for row in rows:
        if row["key"] == "compile-cold" and row.get("samples"):
            sample = row["samples"][0]
            print(
                f"engine compile (cold cache): warm_up() {sample['warm_up_s']:.2f} s, then the "
                f"first simulate {sample['first_simulate_s']:.2f} s (its own specialisation)"
            )
    print()
    target = params["target"]
    print(f"work done (nodes reachable from the seeds: {target:,})")
    details = {
        "engine": ("last_round", "round of the last share {:.0f}"),
        "eon": ("final_time", "continuous time at the last infection {:.2f}"),
        "ndlib": ("iterations", "iterations {:.0f}"),
    }
    for row in rows:
        if row["key"] not in details or not row.get("samples"):
            continue
        finals = [s["final"] for s in row["samples"]]
        saturated = all(f >= SATURATION * target for f in finals)
        key, text = details[row["key"]]
        detail = text.format(statistics.median(s[key] for s in row["samples"]))
        if row["key"] == "ndlib":
            setup = statistics.median(s["setup_s"] for s in row["samples"])
            detail += f" (model setup {setup:.1f} s of the time)"
        print(
            f"  {row['label']:<30} final informed {min(finals):>11,} .. {max(finals):>11,}"
            f"  saturated: {'yes' if saturated else 'NO'}; {detail} (median)"
        )
        if not saturated:
            _say(f"WARNING: {row['label']} did not reach {SATURATION:.1%} of the reachable nodes")
    for row in rows:
        if row["key"] == "paired" and row.get("samples"):
            finals = row["samples"][0]["finals"]
            engine = [f for f, _ in finals]
            plain = [f for _, f in finals]
            saturated = all(min(f, g) >= SATURATION * target for f, g in finals)
            print(
                f"  {'engine and plain (paired)':<30} final informed {min(engine):>11,} .. "
                f"{max(engine):>11,} and {min(plain):>11,} .. {max(plain):>11,}"
                f"  saturated: {'yes' if saturated else 'NO'}"
            )


def _parse_peers(text: str) -> tuple[str, ...]:
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if names == ["none"]:
        return ()
    unknown = sorted(set(names) - set(PEERS))
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {', '.join(PEERS)}, or none; got {text!r}"
        )
    return tuple(dict.fromkeys(names))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time spillover's engine against EoN and NDlib on the same random "
        "regular graph (each step in a fresh process; medians over the repeats).",
    )
    add = parser.add_argument
    add("--n-nodes", type=_positive, default=1_000_000, help="nodes (default 1,000,000)")
    add("--degree", type=_positive, default=8, help="degree of the regular graph (default 8)")
    add("--repeats", type=_positive, default=3, help="runs of each spillover step (default 3)")
    add(
        "--peer-repeats",
        type=_positive,
        default=None,
        help="runs of each peer step and of graph to networkx (default: --repeats)",
    )
    add(
        "--nx-build-repeats",
        type=_non_negative,
        default=1,
        help="runs of networkx.random_regular_graph (default 1: ~25 s at 1M; 0 skips it)",
    )
    add(
        "--peers",
        type=_parse_peers,
        default=PEERS,
        help="comma-separated peers to run: eon,ndlib (default), or none",
    )
    add("--seed", type=int, default=1, help="seed of the graph, seed nodes and runs (default 1)")
    add("--beta", type=float, default=0.1, help="per-round sharing probability (default 0.1)")
    add("--n-seeds", type=_positive, default=10, help="seed nodes (default 10)")
    add("--rounds", type=_positive, default=200, help="n_rounds of the spillover run (200)")
    add(
        "--pair-repeats",
        type=_non_negative,
        default=7,
        help="alternating runs of the engine and the plain kernel in one process (7; 0 skips)",
    )
    add("--ndlib-max-iterations", type=_positive, default=1000, help="NDlib cap (1000)")
    add("--json", type=Path, default=None, metavar="PATH", help="also write the figures here")
    add("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    add("--config", help=argparse.SUPPRESS)
    add("--result", type=Path, help=argparse.SUPPRESS)
    add("--idle", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        return _worker_main(args.worker, json.loads(args.config), args.result, args.idle)
    if not 0.0 < args.beta < 1.0:
        _parser().error(f"--beta must be in (0, 1); got {args.beta}")
    peer_repeats = args.peer_repeats or args.repeats
    machine = _machine()
    for peer in args.peers:
        name = {"eon": "EoN", "ndlib": "ndlib"}[peer]
        if machine["versions"][name] == "not installed":
            _say(f"{name} is not installed: run `make bench` (or uv sync --group bench)")
            return 2

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        workdir = Path(tmp)
        graph_path = workdir / "graph.npz"
        params: Config = {
            "n_nodes": args.n_nodes,
            "degree": args.degree,
            "seed": args.seed,
            "beta": args.beta,
            "n_seeds": args.n_seeds,
            "rounds": args.rounds,
            "pair_repeats": args.pair_repeats,
            "ndlib_max_iterations": args.ndlib_max_iterations,
            "graph": str(graph_path),
        }
        runner = Runner(workdir, params)
        started = time.perf_counter()
        outcomes = [
            runner.run(
                Step(
                    "graph-spillover",
                    "graph build: spillover",
                    args.repeats,
                    "graph",
                    extra={"save_graph": str(graph_path)},
                )
            )
        ]
        if outcomes[0].error:
            return 1
        try:
            info = runner.call("graph-info")
        except StepFailed as exc:
            _say(f"reading the saved graph failed: {exc}")
            return 1
        params |= {"seeds": info["seeds"], "target": info["target"]}
        _say(f"graph saved: {info['summary']}; {info['target']:,} nodes reachable from seeds")

        steps = []
        if args.nx_build_repeats:
            steps.append(
                Step("graph-networkx", "graph build: networkx", args.nx_build_repeats, "graph")
            )
        if args.peers:
            steps.append(Step("to-networkx", "graph to networkx", peer_repeats, "graph"))
        cold_cache = {"NUMBA_CACHE_DIR": str(workdir / "numba-cache")}
        steps.append(Step("compile-cold", "engine compile (cold cache)", 1, env=cold_cache))
        steps.append(Step("engine", "spillover engine", args.repeats, "engine"))
        if args.pair_repeats:
            steps.append(Step("paired", "spillover engine (paired)", 1))
        labels = {"eon": "EoN fast_SIR (gamma=0)", "ndlib": "NDlib SIModel"}
        steps += [Step(peer, labels[peer], peer_repeats, "engine") for peer in args.peers]
        outcomes += [runner.run(step) for step in steps]
        _say(f"done in {time.perf_counter() - started:.0f} s")

    machine["load_average_end"] = _load_average()
    rows = _summaries(outcomes)
    _print_report(machine, params, rows)
    if args.json is not None:
        payload = {"machine": machine, "params": params, "baselines_kib": runner.baselines}
        payload["graph"] = info["summary"]
        payload["steps"] = rows
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        _say(f"figures written to {args.json}")
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
