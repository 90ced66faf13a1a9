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
    alpha, beta, gamma, eta, kappa, delta = (
        rates[0],
        rates[1],
        rates[2],
        rates[3],
        rates[4],
        rates[5],
    )
    k_max = share_at_risk.shape[1] - 1
    p_share = np.empty(k_max + 1)
    p_join = np.empty(k_max + 1)
    for m in range(k_max + 1):
        p_share[m] = 1.0 - (1.0 - alpha) * (1.0 - beta) ** m
        p_join[m] = 1.0 - (1.0 - eta) * (1.0 - kappa) ** m

    state = np.zeros(n, dtype=np.int8)
    m_engaged = np.zeros(n, dtype=np.int32)
    m_part = np.zeros(n, dtype=np.int32)
    # Unaware neighbours: an engaged agent with none cannot expose anybody, so its
    # neighbourhood is not scanned (the engaged set of an SI online layer only grows).
    m_unaware = np.empty(n, dtype=np.int32)
    for i in range(n):
        m_unaware[i] = indptr[i + 1] - indptr[i]
    stamp = np.full(n, -1, dtype=np.int32)
    active_e = np.empty(n, dtype=np.int32)  # engaged agents
    active_p = np.empty(n, dtype=np.int32)  # participating agents
    n_e = 0
    n_p = 0
    new_e = np.empty(n, dtype=np.int32)
    new_p = np.empty(n, dtype=np.int32)
    new_f = np.empty(n, dtype=np.int32)
    new_l = np.empty(n, dtype=np.int32)
    n_unaware = n

    for s in seeds:
        state[s] = _E
        engaged_round[s] = 0
        active_e[n_e] = s
        n_e += 1
        n_unaware -= 1
    for j in range(n_e):
        _shift(indptr, indices, active_e[j], m_engaged, 1)
        _shift(indptr, indices, active_e[j], m_unaware, -1)
    counts[0, _S] = n_unaware
    counts[0, _E] = n_e

    last_active = 0
    for t in range(1, n_rounds + 1):
        ne = 0
        np_ = 0
        nf = 0
        nl = 0
        # Unaware agents that can engage: next to an engaged agent, or everyone when alpha > 0.
        if alpha > 0.0:
            for i in range(n):
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
        for j in range(n_p):
            i = active_p[j]
            if decision_uniform(key, t, i) < delta:
                new_l[nl] = i
                nl += 1

        # Apply every decision of the round together (synchronous update).
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

        # Rebuild the active lists: keep those still in their state, append the newcomers.
        kept = 0
        for j in range(n_e):
            i = active_e[j]
            if state[i] == _E and engaged_round[i] < t:
                active_e[kept] = i
                kept += 1
        for j in range(ne):
            active_e[kept] = new_e[j]
            kept += 1
        n_e = kept
        kept = 0
        for j in range(n_p):
            i = active_p[j]
            if state[i] == _P:
                active_p[kept] = i
                kept += 1
        for j in range(np_):
            active_p[kept] = new_p[j]
            kept += 1
        n_p = kept
        n_unaware -= ne

        flows[t, 0] = ne
        flows[t, 1] = np_
        flows[t, 2] = nf
        flows[t, 3] = nl
        counts[t, _S] = n_unaware
        counts[t, _E] = n_e
        counts[t, _P] = n_p
        counts[t, _F] = counts[t - 1, _F] + nf
        counts[t, _L] = counts[t - 1, _L] + nl
        if ne + np_ + nf + nl > 0:
            last_active = t
        if n_e == 0 and n_p == 0 and (alpha == 0.0 or n_unaware == 0):
            # Nothing can change any more: the remaining rounds repeat this one.
            for u2 in range(t + 1, n_rounds + 1):
                counts[u2, :] = counts[t, :]
                share_at_risk[u2, 0] = n_unaware
            break
    return last_active
