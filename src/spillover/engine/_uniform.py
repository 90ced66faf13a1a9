"""Keyed uniforms: the random number behind each decision is a function of (key, round, agent).

A counter-based generator (two rounds of the SplitMix64 finaliser) rather than a sequential
stream: a decision does not depend on the order in which agents are visited, so the engine may
skip agents that cannot share, and a later asynchronous policy may answer in any order, without
changing a single outcome. ``key`` is drawn per replicate from the run's dynamics stream.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np

__all__ = ["decision_uniform", "decision_uniforms"]

_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)
_ROUND_STEP: Final = np.uint64(0x9E3779B97F4A7C15)
_AGENT_STEP: Final = np.uint64(0xD1B54A32D192ED03)
_S30: Final = np.uint64(30)
_S27: Final = np.uint64(27)
_S31: Final = np.uint64(31)
_S11: Final = np.uint64(11)
_INV_2_53: Final = 1.0 / 9007199254740992.0


@numba.njit(cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(cache=True, inline="always")
def decision_uniform(key: np.uint64, round_: int, agent: int) -> float:
    """The uniform in [0, 1) that decides whether ``agent`` shares in ``round_``."""
    z = _mix64(key ^ (np.uint64(round_) * _ROUND_STEP))
    z = _mix64(z + np.uint64(agent) * _AGENT_STEP)
    return float(z >> _S11) * _INV_2_53


def decision_uniforms(key: int, round_: int, agents: np.ndarray) -> np.ndarray:
    """Vectorised :func:`decision_uniform` for many agents of one round (numpy, no JIT).

    Used by reference implementations and tests; wrapping uint64 arithmetic as the kernel does.
    """
    agents = np.asarray(agents, dtype=np.uint64)
    k = np.array([key], dtype=np.uint64)
    r = np.array([round_], dtype=np.uint64)

    def mix(z: np.ndarray) -> np.ndarray:
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        out: np.ndarray = z ^ (z >> _S31)
        return out

    z = mix(k ^ (r * _ROUND_STEP))
    z = mix(z + agents * _AGENT_STEP)
    out: np.ndarray = (z >> _S11).astype(np.float64) * _INV_2_53
    return out
