"""The numba kernel of the coupled online-offline spread (one cascade on one graph).

Every agent is in one of five states (``STATE_NAMES``): S unaware, E engaged online (shares
the news and exposes its neighbours), P participating offline, F faded (stopped engaging
without going offline), L left offline participation. Each round t >= 1, every agent decides
from the state at the end of round t - 1, with its own keyed uniform ``u(key, t, agent)``
(the engine's generator, :mod:`spillover.engine._uniform`), so the order of visits never
changes an outcome:

- S with m engaged neighbours becomes E with ``1 - (1 - alpha)(1 - beta)^m``;
- E with m participating neighbours joins offline (P) with ``1 - (1 - eta)(1 - kappa)^m``,
  otherwise fades (F) with ``gamma``; the same uniform decides both (``u < join``: P;
  ``u < join + (1 - join) gamma``: F);
- P leaves (L) with ``delta``.

Bookkeeping is incremental: ``m_engaged[i]`` and ``m_part[i]`` change only when a neighbour
changes state, and a round visits the engaged and participating agents and the unaware agents
next to an engaged one (all unaware agents when ``alpha > 0``), so a round costs time in
proportion to the activity, not to the graph.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np

from spillover.engine import decision_uniform

__all__ = ["FLOW_NAMES", "STATE_NAMES", "run_cascade"]

#: Agent states, in the order of the ``counts`` columns.
STATE_NAMES: Final = ("unaware", "engaged", "participating", "faded", "left")
#: Transitions counted per round, in the order of the ``flows`` columns.
FLOW_NAMES: Final = ("newly_engaged", "joined", "faded_now", "left_now")

_S, _E, _P, _F, _L = 0, 1, 2, 3, 4


@numba.njit(cache=True)
def _shift(
    indptr: np.ndarray, indices: np.ndarray, agent: int, counter: np.ndarray, by: int
) -> None:
    for e in range(indptr[agent], indptr[agent + 1]):
        counter[indices[e]] += by


@numba.njit(cache=True)
def _rate_tables(rates: np.ndarray, k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-round probabilities by neighbour count m = 0..k_max: unaware to engaged
    (``p_share``) and engaged to participating (``p_join``)."""
    alpha, beta, eta, kappa = rates[0], rates[1], rates[3], rates[4]
    p_share = np.empty(k_max + 1)
    p_join = np.empty(k_max + 1)
    for m in range(k_max + 1):
        p_share[m] = 1.0 - (1.0 - alpha) * (1.0 - beta) ** m
        p_join[m] = 1.0 - (1.0 - eta) * (1.0 - kappa) ** m
    return p_share, p_join


@numba.njit(cache=True)
def _engage_seeds(
    indptr: np.ndarray,
    indices: np.ndarray,
    seeds: np.ndarray,
    state: np.ndarray,
    engaged_round: np.ndarray,
    active_e: np.ndarray,
    m_engaged: np.ndarray,
    m_unaware: np.ndarray,
) -> int:
    """Engage the seeds at round 0 and count them at their neighbours; return how many."""
    n_e = 0
    for s in seeds:
        state[s] = _E
        engaged_round[s] = 0
        active_e[n_e] = s
        n_e += 1
    for j in range(n_e):
        _shift(indptr, indices, active_e[j], m_engaged, 1)
        _shift(indptr, indices, active_e[j], m_unaware, -1)
    return n_e


@numba.njit(cache=True)
def _share_decisions(
    indptr: np.ndarray,
    indices: np.ndarray,
    t: int,
    key: np.uint64,
    alpha: float,
    p_share: np.ndarray,
    state: np.ndarray,
    m_engaged: np.ndarray,
    m_unaware: np.ndarray,
    stamp: np.ndarray,
    active_e: np.ndarray,
    n_e: int,
    n_unaware: int,
    share_at_risk: np.ndarray,
    share_done: np.ndarray,
    new_e: np.ndarray,
) -> int:
    """Round ``t``'s decisions of the unaware agents that can engage (next to an engaged
    agent, or everyone when alpha > 0); the engaging ones go to ``new_e``, their number is
    returned."""
    ne = 0
    if alpha > 0.0:
        for i in range(state.shape[0]):
            if state[i] == _S:
                m = m_engaged[i]
                share_at_risk[t, m] += 1
                if decision_uniform(key, t, i) < p_share[m]:
                    share_done[t, m] += 1
                    new_e[ne] = i
                    ne += 1
    else:
        exposed = 0
        for j in range(n_e):
            a = active_e[j]
            if m_unaware[a] == 0:
                continue
            for e in range(indptr[a], indptr[a + 1]):
                i = indices[e]
                if state[i] != _S or stamp[i] == t:
                    continue
                stamp[i] = t
                m = m_engaged[i]
                share_at_risk[t, m] += 1
                exposed += 1
                if decision_uniform(key, t, i) < p_share[m]:
                    share_done[t, m] += 1
                    new_e[ne] = i
                    ne += 1
        share_at_risk[t, 0] += n_unaware - exposed
    return ne


@numba.njit(cache=True)
def _engaged_decisions(
    t: int,
    key: np.uint64,
    gamma: float,
    p_join: np.ndarray,
    active_e: np.ndarray,
    n_e: int,
    m_part: np.ndarray,
    join_at_risk: np.ndarray,
    join_done: np.ndarray,
    new_p: np.ndarray,
    new_f: np.ndarray,
) -> tuple[int, int]:
    """Round ``t``'s decisions of the engaged agents: join offline (to ``new_p``), fade (to
    ``new_f``) or stay; return how many joined and how many faded."""
    np_ = 0
    nf = 0
    for j in range(n_e):
        i = active_e[j]
        m = m_part[i]
        join_at_risk[t, m] += 1
        if p_join[m] == 0.0 and gamma == 0.0:
            continue  # stays engaged whatever its uniform
        u = decision_uniform(key, t, i)
        if u < p_join[m]:
            new_p[np_] = i
            np_ += 1
            join_done[t, m] += 1
        elif u < p_join[m] + (1.0 - p_join[m]) * gamma:
            new_f[nf] = i
            nf += 1
    return np_, nf


@numba.njit(cache=True)
def _participant_decisions(
    t: int, key: np.uint64, delta: float, active_p: np.ndarray, n_p: int, new_l: np.ndarray
) -> int:
    """Round ``t``'s decisions of the participating agents: those leaving go to ``new_l``,
    their number is returned."""
    nl = 0
    for j in range(n_p):
        i = active_p[j]
        if decision_uniform(key, t, i) < delta:
            new_l[nl] = i
            nl += 1
    return nl


@numba.njit(cache=True)
def _apply_decisions(
    indptr: np.ndarray,
    indices: np.ndarray,
    t: int,
    state: np.ndarray,
    new_e: np.ndarray,
    ne: int,
    new_p: np.ndarray,
    np_: int,
    new_f: np.ndarray,
    nf: int,
    new_l: np.ndarray,
    nl: int,
    engaged_round: np.ndarray,
    joined_round: np.ndarray,
    left_round: np.ndarray,
    m_engaged: np.ndarray,
    m_unaware: np.ndarray,
    m_part: np.ndarray,
) -> None:
    """Apply every decision of round ``t`` together (synchronous update): new states, their
    rounds, and the neighbour counts."""
    for j in range(ne):
        i = new_e[j]
        state[i] = _E
        engaged_round[i] = t
        _shift(indptr, indices, i, m_engaged, 1)
        _shift(indptr, indices, i, m_unaware, -1)
    for j in range(np_):
        i = new_p[j]
        state[i] = _P
        joined_round[i] = t
        _shift(indptr, indices, i, m_engaged, -1)
        _shift(indptr, indices, i, m_part, 1)
    for j in range(nf):
        i = new_f[j]
        state[i] = _F
        _shift(indptr, indices, i, m_engaged, -1)
    for j in range(nl):
        i = new_l[j]
        state[i] = _L
        left_round[i] = t
        _shift(indptr, indices, i, m_part, -1)


@numba.njit(cache=True)
def _still_engaged(
    active_e: np.ndarray,
    n_e: int,
    new_e: np.ndarray,
    ne: int,
    state: np.ndarray,
    engaged_round: np.ndarray,
    t: int,
) -> int:
    """Rebuild the engaged list: keep those still engaged, append the newcomers; return its
    length."""
    kept = 0
    for j in range(n_e):
        i = active_e[j]
        if state[i] == _E and engaged_round[i] < t:
            active_e[kept] = i
            kept += 1
    for j in range(ne):
        active_e[kept] = new_e[j]
        kept += 1
    return kept


@numba.njit(cache=True)
def _still_participating(
    active_p: np.ndarray, n_p: int, new_p: np.ndarray, np_: int, state: np.ndarray
) -> int:
    """Rebuild the participating list: keep those still participating, append the newcomers;
    return its length."""
    kept = 0
    for j in range(n_p):
        i = active_p[j]
        if state[i] == _P:
            active_p[kept] = i
            kept += 1
    for j in range(np_):
        active_p[kept] = new_p[j]
        kept += 1
    return kept


@numba.njit(cache=True)
def _degrees(indptr: np.ndarray) -> np.ndarray:
    """Every agent's number of neighbours, as int32."""
    n = indptr.shape[0] - 1
    degree = np.empty(n, dtype=np.int32)
    for i in range(n):
        degree[i] = indptr[i + 1] - indptr[i]
    return degree


@numba.njit(cache=True)
def _record_round(
    counts: np.ndarray,
    flows: np.ndarray,
    t: int,
    ne: int,
    np_: int,
    nf: int,
    nl: int,
    n_unaware: int,
    n_e: int,
    n_p: int,
) -> None:
    """Round ``t``'s row of ``flows`` (transitions made) and of ``counts`` (agents by state)."""
    flows[t, 0] = ne
    flows[t, 1] = np_
    flows[t, 2] = nf
    flows[t, 3] = nl
    counts[t, _S] = n_unaware
    counts[t, _E] = n_e
    counts[t, _P] = n_p
    counts[t, _F] = counts[t - 1, _F] + nf
    counts[t, _L] = counts[t - 1, _L] + nl


@numba.njit(cache=True)
def run_cascade(
    indptr: np.ndarray,
    indices: np.ndarray,
    rates: np.ndarray,
    seeds: np.ndarray,
    n_rounds: int,
    key: np.uint64,
    counts: np.ndarray,
    flows: np.ndarray,
    share_at_risk: np.ndarray,
    share_done: np.ndarray,
    join_at_risk: np.ndarray,
    join_done: np.ndarray,
    engaged_round: np.ndarray,
    joined_round: np.ndarray,
    left_round: np.ndarray,
) -> int:
    """Simulate one cascade in place; return the last round in which any agent changed state.

    Parameters
    ----------
    indptr, indices : CSR arrays of an undirected simple graph with ``n`` nodes.
    rates : (6,) float64, ``alpha, beta, gamma, eta, kappa, delta`` (per-round probabilities).
    seeds : (s,) int64, distinct agents engaged at round 0.
    n_rounds : int, last round T.
    key : uint64, the cascade's decision key.
    counts : (T + 1, 5) int64, zeroed; agents in each state at the end of each round.
    flows : (T + 1, 4) int64, zeroed; transitions made in each round (row 0 stays 0).
    share_at_risk, share_done : (T + 1, K + 1) int64, zeroed; unaware agents by engaged
        neighbours at the start of round t, and how many of them engaged in round t.
    join_at_risk, join_done : (T + 1, K + 1) int64, zeroed; engaged agents by participating
        neighbours at the start of round t, and how many of them joined offline in round t.
    engaged_round, joined_round, left_round : (n,) int32, filled with -1; the round each agent
        engaged, joined offline, left offline.
    """
    n = indptr.shape[0] - 1
    alpha, gamma, delta = rates[0], rates[2], rates[5]
    p_share, p_join = _rate_tables(rates, share_at_risk.shape[1] - 1)

    state = np.zeros(n, dtype=np.int8)
    m_engaged = np.zeros(n, dtype=np.int32)
    m_part = np.zeros(n, dtype=np.int32)
    # Unaware neighbours: an engaged agent with none cannot expose anybody, so its
    # neighbourhood is not scanned (the engaged set of an SI online layer only grows).
    m_unaware = _degrees(indptr)
    stamp = np.full(n, -1, dtype=np.int32)
    active_e = np.empty(n, dtype=np.int32)  # engaged agents
    active_p = np.empty(n, dtype=np.int32)  # participating agents
    n_p = 0
    new_e = np.empty(n, dtype=np.int32)
    new_p = np.empty(n, dtype=np.int32)
    new_f = np.empty(n, dtype=np.int32)
    new_l = np.empty(n, dtype=np.int32)

    n_e = _engage_seeds(
        indptr, indices, seeds, state, engaged_round, active_e, m_engaged, m_unaware
    )
    n_unaware = n - n_e
    counts[0, _S] = n_unaware
    counts[0, _E] = n_e

    last_active = 0
    for t in range(1, n_rounds + 1):
        ne = _share_decisions(
            indptr,
            indices,
            t,
            key,
            alpha,
            p_share,
            state,
            m_engaged,
            m_unaware,
            stamp,
            active_e,
            n_e,
            n_unaware,
            share_at_risk,
            share_done,
            new_e,
        )
        np_, nf = _engaged_decisions(
            t, key, gamma, p_join, active_e, n_e, m_part, join_at_risk, join_done, new_p, new_f
        )
        nl = _participant_decisions(t, key, delta, active_p, n_p, new_l)
        _apply_decisions(
            indptr,
            indices,
            t,
            state,
            new_e,
            ne,
            new_p,
            np_,
            new_f,
            nf,
            new_l,
            nl,
            engaged_round,
            joined_round,
            left_round,
            m_engaged,
            m_unaware,
            m_part,
        )
        n_e = _still_engaged(active_e, n_e, new_e, ne, state, engaged_round, t)
        n_p = _still_participating(active_p, n_p, new_p, np_, state)
        n_unaware -= ne

        _record_round(counts, flows, t, ne, np_, nf, nl, n_unaware, n_e, n_p)
        if ne + np_ + nf + nl > 0:
            last_active = t
        if n_e == 0 and n_p == 0 and (alpha == 0.0 or n_unaware == 0):
            # Nothing can change any more: the remaining rounds repeat this one.
            for u2 in range(t + 1, n_rounds + 1):
                counts[u2, :] = counts[t, :]
                share_at_risk[u2, 0] = n_unaware
            break
    return last_active
