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
changes state, and a round visits the engaged and participating agents and a candidate list
of the unaware agents next to an engaged one (all unaware agents when ``alpha > 0``), so a
round costs time in proportion to the activity, not to the graph. An unaware agent joins the
list when it gets an engaged neighbour and leaves it when it engages or has none left; as in
the SI engine, decisions come from keyed uniforms, so the order of the list never changes a
result. While nobody participates and the engaged agents can neither join (``eta = 0``) nor
fade (``gamma = 0``), their decisions are skipped: they all stay, at ``m = 0``.
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
def _expose(
    indptr: np.ndarray,
    indices: np.ndarray,
    agent: int,
    state: np.ndarray,
    m_engaged: np.ndarray,
    cand: np.ndarray,
    listed: np.ndarray,
    n_cand: int,
) -> int:
    """Count a newly engaged ``agent`` at its neighbours; list the unaware ones not yet
    listed as candidates. Returns the candidates' number."""
    for e in range(indptr[agent], indptr[agent + 1]):
        v = indices[e]
        m_engaged[v] += 1
        if state[v] == _S and listed[v] == 0:
            listed[v] = 1
            cand[n_cand] = v
            n_cand += 1
    return n_cand


@numba.njit(cache=True)
def _engage_seeds(
    indptr: np.ndarray,
    indices: np.ndarray,
    seeds: np.ndarray,
    state: np.ndarray,
    engaged_round: np.ndarray,
    active_e: np.ndarray,
    m_engaged: np.ndarray,
    cand: np.ndarray,
    listed: np.ndarray,
) -> tuple[int, int]:
    """Engage the seeds at round 0 and count them at their neighbours; return how many, and
    the number of candidates listed."""
    n_e = 0
    for s in seeds:
        state[s] = _E
        engaged_round[s] = 0
        active_e[n_e] = s
        n_e += 1
    n_cand = 0
    for j in range(n_e):
        n_cand = _expose(indptr, indices, active_e[j], state, m_engaged, cand, listed, n_cand)
    return n_e, n_cand


@numba.njit(cache=True)
def _share_decisions(
    t: int,
    key: np.uint64,
    alpha: float,
    p_share: np.ndarray,
    state: np.ndarray,
    m_engaged: np.ndarray,
    cand: np.ndarray,
    listed: np.ndarray,
    n_cand: int,
    n_unaware: int,
    share_at_risk: np.ndarray,
    share_done: np.ndarray,
    new_e: np.ndarray,
) -> tuple[int, int]:
    """Round ``t``'s decisions of the unaware agents that can engage (the candidates, or
    everyone when alpha > 0); the engaging ones go to ``new_e``. Candidates no longer unaware
    or without an engaged neighbour leave the list. Returns how many engage and the
    candidates kept."""
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
        return ne, n_cand
    exposed = 0
    kept = 0
    for j in range(n_cand):
        i = cand[j]
        m = m_engaged[i]
        if state[i] != _S or m == 0:
            listed[i] = 0
            continue
        cand[kept] = i
        kept += 1
        share_at_risk[t, m] += 1
        exposed += 1
        if decision_uniform(key, t, i) < p_share[m]:
            share_done[t, m] += 1
            new_e[ne] = i
            ne += 1
    share_at_risk[t, 0] += n_unaware - exposed
    return ne, kept


@numba.njit(cache=True)
def _engaged_decisions(
    t: int,
    key: np.uint64,
    gamma: float,
    p_join: np.ndarray,
    active_e: np.ndarray,
    n_e: int,
    n_p: int,
    m_part: np.ndarray,
    join_at_risk: np.ndarray,
    join_done: np.ndarray,
    new_p: np.ndarray,
    new_f: np.ndarray,
) -> tuple[int, int]:
    """Round ``t``'s decisions of the engaged agents: join offline (to ``new_p``), fade (to
    ``new_f``) or stay; return how many joined and how many faded. With nobody participating
    (``n_p == 0``: every ``m`` is 0) and neither joining nor fading possible at m = 0, they
    all stay and only their number is counted."""
    np_ = 0
    nf = 0
    if n_p == 0 and p_join[0] == 0.0 and gamma == 0.0:
        join_at_risk[t, 0] += n_e
        return np_, nf
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
    m_part: np.ndarray,
    cand: np.ndarray,
    listed: np.ndarray,
    n_cand: int,
) -> int:
    """Apply every decision of round ``t`` together (synchronous update): new states, their
    rounds, the neighbour counts and the new candidates; return the candidates' number."""
    for j in range(ne):
        state[new_e[j]] = _E
        engaged_round[new_e[j]] = t
    for j in range(ne):
        n_cand = _expose(indptr, indices, new_e[j], state, m_engaged, cand, listed, n_cand)
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
    return n_cand


@numba.njit(cache=True)
def _still_engaged(
    active_e: np.ndarray,
    n_e: int,
    new_e: np.ndarray,
    ne: int,
    left: int,
    state: np.ndarray,
    engaged_round: np.ndarray,
    t: int,
) -> int:
    """Rebuild the engaged list: keep those still engaged (all of them when ``left``, the
    number that joined or faded, is 0), append the newcomers; return its length."""
    kept = 0
    if left == 0:
        kept = n_e
    else:
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
    cand = np.empty(n, dtype=np.int32)  # unaware agents with an engaged neighbour (listed)
    listed = np.zeros(n, dtype=np.int8)
    active_e = np.empty(n, dtype=np.int32)  # engaged agents
    active_p = np.empty(n, dtype=np.int32)  # participating agents
    n_p = 0
    new_e = np.empty(n, dtype=np.int32)
    new_p = np.empty(n, dtype=np.int32)
    new_f = np.empty(n, dtype=np.int32)
    new_l = np.empty(n, dtype=np.int32)

    n_e, n_cand = _engage_seeds(
        indptr, indices, seeds, state, engaged_round, active_e, m_engaged, cand, listed
    )
    n_unaware = n - n_e
    counts[0, _S] = n_unaware
    counts[0, _E] = n_e

    last_active = 0
    for t in range(1, n_rounds + 1):
        ne, n_cand = _share_decisions(
            t,
            key,
            alpha,
            p_share,
            state,
            m_engaged,
            cand,
            listed,
            n_cand,
            n_unaware,
            share_at_risk,
            share_done,
            new_e,
        )
        np_, nf = _engaged_decisions(
            t,
            key,
            gamma,
            p_join,
            active_e,
            n_e,
            n_p,
            m_part,
            join_at_risk,
            join_done,
            new_p,
            new_f,
        )
        nl = _participant_decisions(t, key, delta, active_p, n_p, new_l)
        n_cand = _apply_decisions(
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
            m_part,
            cand,
            listed,
            n_cand,
        )
        n_e = _still_engaged(active_e, n_e, new_e, ne, np_ + nf, state, engaged_round, t)
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
