"""A small, independent simulator of the readings of "two rates" (not spillover's engine).

Synchronous rounds on a random graph from networkx: each agent still uninformed at the start of
a round, with m informed neighbours, shares with a probability given by a *rule* of its
persona, its latent group and m. The rules cover the readings the verdict distinguishes
(offline-online, two groups, dose-responses, none) and mixtures of them. The output is the
exposure table that ``spillover fit`` reads, aggregated here independently of the engine.

Used by benchmarks/bench_verdict.py and by the statistical tests of the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from spillover.trajectories import ExposureTable

__all__ = ["SCENARIOS", "Scenario", "neighbour_lists", "simulate_exposures"]

N_PERSONAS = 32

#: p(persona, group, m) -> probability of sharing in a round; arrays of equal shape.
Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Scenario:
    name: str
    expected: str  # the reading the verdict should give
    rule: Rule
    share_1: float = 0.0  # fraction of agents in latent group 1 (0: no groups)
    description: str = ""


def _rule_si2(alpha: np.ndarray, beta: np.ndarray) -> Rule:
    def rule(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
        out: np.ndarray = 1.0 - (1.0 - alpha[persona]) * (1.0 - beta[persona]) ** m
        return out

    return rule


def _persona_spread(rng: np.random.Generator, centre: float, spread: float) -> np.ndarray:
    """Persona-level rates: centre times a log-normal factor (fixed per scenario)."""
    return centre * np.exp(spread * rng.standard_normal(N_PERSONAS))


_PRNG = np.random.default_rng(20261201)
_ALPHA_C = _persona_spread(_PRNG, 0.003, 0.4)
_BETA_C = _persona_spread(_PRNG, 0.05, 0.4)
_HALF = np.arange(N_PERSONAS) < N_PERSONAS // 2


def _saturating(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    # "The first informed neighbour matters, further ones add little": p(m) = 0.10 + 0.01 (m-1)
    online = np.where(m >= 1, 0.10 + 0.01 * (m - 1), 0.0)
    return 1.0 - (1.0 - 0.002) * (1.0 - online)


def _threshold(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.select([m == 0, m == 1], [0.002, 0.02], 0.12)


def _dose2(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    further = np.maximum(m - 1, 0)
    return 1.0 - (1 - 0.002) * (1 - 0.08 * (m >= 1)) * (1 - 0.02) ** further


_BUCKET_P = np.array([0.02, 0.30, 0.33, 0.35, 0.35, 0.36])
_BUCKET_FACTOR = np.exp(0.1 * _PRNG.standard_normal(N_PERSONAS))


def _llm_buckets(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    # Archetype mode: one probability per (persona, bucket 0, 1, 2, 3-4, 5-8, 9+).
    bucket = np.searchsorted(np.array([0, 1, 2, 3, 5, 9]), m, side="right") - 1
    out: np.ndarray = np.clip(_BUCKET_P[bucket] * _BUCKET_FACTOR[persona], 0.0, 0.95)
    return out


def _groups(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    beta = np.where(group == 1, 0.15, 0.03) * np.exp(0.2 * np.log(_BETA_C[persona] / 0.05))
    return 1.0 - (1.0 - _ALPHA_C[persona]) * (1.0 - beta) ** m


def _groups_dose(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    first = np.where(group == 1, 0.25, 0.05)
    online = np.where(m >= 1, first + 0.01 * (m - 1), 0.0)
    return 1.0 - (1.0 - 0.002) * (1.0 - online)


def _mix_si2_dose(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    si2 = _rule_si2(_ALPHA_C, _BETA_C)(persona, group, m)
    return np.where(_HALF[persona], si2, _saturating(persona, group, m))


def _si(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 - (1.0 - _BETA_C[persona]) ** m
    return out


def _offline_only(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    return np.broadcast_to(3.0 * _ALPHA_C[persona], m.shape).astype(np.float64)


#: Data of each reading, and mixtures, with the reading the verdict should give.
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("si2", "offline-online", _rule_si2(_ALPHA_C, _BETA_C),
                 description="si2, rates differ by persona (alpha ~0.003, beta ~0.05)"),
        Scenario("two-groups", "two-groups", _groups, share_1=0.5,
                 description="latent groups beta 0.15 / 0.03, share 0.5, persona spread"),
        Scenario("saturating", "exposure", _saturating,
                 description="p(m) = 0.10 + 0.01 (m - 1), alpha 0.002"),
        Scenario("threshold", "exposure", _threshold,
                 description="p(0) 0.002, p(1) 0.02, p(m >= 2) 0.12"),
        Scenario("dose2", "exposure", _dose2,
                 description="si-dose2: alpha 0.002, first 0.08, further 0.02"),
        Scenario("llm-buckets", "exposure", _llm_buckets,
                 description="piecewise constant on archetype buckets (0.02, then 0.30-0.36)"),
        Scenario("mix-si2-dose", "exposure", _mix_si2_dose,
                 description="half the personas si2, half saturating"),
        Scenario("mix-groups-dose", "two-groups", _groups_dose, share_1=0.3,
                 description="latent groups (first neighbour 0.25 / 0.05) on a saturating dose"),
        Scenario("si", "none", _si, description="online only (alpha 0)"),
        Scenario("offline-only", "none", _offline_only, description="offline only (beta 0)"),
    )
}  # fmt: skip


def neighbour_lists(graph: nx.Graph) -> tuple[np.ndarray, np.ndarray]:
    """CSR arrays (indptr, indices) of a graph's nodes 0..n-1."""
    n = graph.number_of_nodes()
    degrees = np.array([graph.degree(i) for i in range(n)], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(degrees)])
    indices = np.concatenate([np.fromiter(graph.neighbors(i), np.int64) for i in range(n)])
    return indptr, indices


def simulate_exposures(
    rule: Rule,
    rng: np.random.Generator,
    *,
    n_nodes: int = 3200,
    degree: int = 8,
    n_reps: int = 10,
    n_rounds: int = 40,
    n_seeds: int = 5,
    share_1: float = 0.0,
    graph: str = "regular",
    frailty: float | None = None,
) -> ExposureTable:
    """Simulate ``n_reps`` replicates on one random graph; return their exposure table.

    ``graph``: ``regular`` (random k-regular), ``er`` (Erdos-Renyi of mean degree k) or ``ba``
    (Barabasi-Albert with k/2 edges per new node). ``frailty``: each agent's hazard is
    multiplied by its own gamma variate of mean 1 and this variance (drawn per replicate),
    ``p -> 1 - (1 - p)^u``: per-agent rates around the rule's.
    """
    seed = int(rng.integers(2**31))
    if graph == "regular":
        g = nx.random_regular_graph(degree, n_nodes, seed=seed)
    elif graph == "er":
        g = nx.fast_gnp_random_graph(n_nodes, degree / (n_nodes - 1), seed=seed)
    elif graph == "ba":
        g = nx.barabasi_albert_graph(n_nodes, degree // 2, seed=seed)
    else:
        raise ValueError(f"unknown graph {graph!r}")
    indptr, indices = neighbour_lists(g)
    owner = np.repeat(np.arange(n_nodes), np.diff(indptr))
    persona = rng.permutation(np.arange(n_nodes) % N_PERSONAS)
    width = int(np.diff(indptr).max()) + 1
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("rep", "round", "persona", "m", "n", "s")}
    for rep in range(n_reps):
        group = (rng.random(n_nodes) < share_1).astype(np.int64)
        u = rng.gamma(1.0 / frailty, frailty, n_nodes) if frailty else None
        informed = np.zeros(n_nodes, dtype=bool)
        informed[rng.choice(n_nodes, n_seeds, replace=False)] = True
        for t in range(1, n_rounds + 1):
            at_risk = ~informed
            if not at_risk.any():
                break
            m = np.bincount(owner, weights=informed[indices], minlength=n_nodes).astype(np.int64)
            who = np.flatnonzero(at_risk)
            p = rule(persona[who], group[who], m[who])
            if u is not None:
                p = -np.expm1(u[who] * np.log1p(-np.minimum(p, 1.0 - 1e-12)))
            new = who[rng.random(who.size) < p]
            key = persona[who] * width + m[who]
            n = np.bincount(key, minlength=N_PERSONAS * width)
            s = np.bincount(persona[new] * width + m[new], minlength=N_PERSONAS * width)
            keep = np.flatnonzero(n)
            cols["rep"].append(np.full(keep.size, rep))
            cols["round"].append(np.full(keep.size, t))
            cols["persona"].append(keep // width)
            cols["m"].append(keep % width)
            cols["n"].append(n[keep])
            cols["s"].append(s[keep])
            informed[new] = True
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    return ExposureTable(
        replicate=cat["rep"],
        round=cat["round"],
        persona=cat["persona"],
        n_exposed=cat["m"],
        at_risk=cat["n"],
        shared=cat["s"],
    )
