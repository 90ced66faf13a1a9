"""Run configuration: a frozen, validated value (files are parsed in :mod:`spillover.io`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, Literal

from spillover.exceptions import ConfigError

__all__ = ["GRAPH_KINDS", "POLICY_KINDS", "SimulationConfig"]

GraphKind = Literal["random-regular", "erdos-renyi", "watts-strogatz", "barabasi-albert"]
PolicyKind = Literal["persona", "constant"]
GRAPH_KINDS: Final[tuple[str, ...]] = (
    "random-regular",
    "erdos-renyi",
    "watts-strogatz",
    "barabasi-albert",
)
POLICY_KINDS: Final[tuple[str, ...]] = ("persona", "constant")


def _int_at_least(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {value}")


def _rate(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in [0, 1]; got {value!r}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1]; got {value}")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a run; the defaults are those of ``spillover demo``.

    Attributes
    ----------
    n_nodes, degree : int
        Agents, and the degree of the graph (k of a k-regular graph; the mean degree of an
        Erdős–Rényi graph; the ring degree of Watts–Strogatz; twice the links per new node of
        Barabási–Albert).
    graph : {"random-regular", "erdos-renyi", "watts-strogatz", "barabasi-albert"}
    rewire_prob : float
        Watts–Strogatz rewiring probability.
    edge_list : str or None
        A CSV or Parquet edge list to load instead of generating a graph.
    n_rounds, n_reps, n_seeds : int
        Last round, replicates, seed agents per replicate.
    policy : {"persona", "constant"}
        The default persona policy, or the same ``alpha`` and ``beta`` for everyone.
    alpha, beta : float or None
        Rates of the constant policy (required with it, rejected without it).
    events : str or None
        ACLED-format CSV; the bundled fictional examples when None.
    event_id : str or None
        The event to spread (``event_id_cnty``); the first in the file when None.
    personas : str
        ``"balanced"``, or a CSV/Parquet persona assignment file.
    seed : int or None
        Root seed; fresh entropy (recorded in the manifest) when None.
    by_persona : bool
        Write curves per persona.
    """

    n_nodes: int = 3200
    degree: int = 8
    graph: GraphKind = "random-regular"
    rewire_prob: float = 0.1
    edge_list: str | None = None
    n_rounds: int = 40
    n_reps: int = 10
    n_seeds: int = 5
    policy: PolicyKind = "persona"
    alpha: float | None = None
    beta: float | None = None
    events: str | None = None
    event_id: str | None = None
    personas: str = "balanced"
    seed: int | None = None
    by_persona: bool = False

    def __post_init__(self) -> None:
        _int_at_least("n_nodes", self.n_nodes, 1)
        _int_at_least("degree", self.degree, 0)
        _int_at_least("n_rounds", self.n_rounds, 1)
        _int_at_least("n_reps", self.n_reps, 1)
        _int_at_least("n_seeds", self.n_seeds, 1)
        if self.edge_list is None and self.n_seeds > self.n_nodes:
            raise ConfigError(f"n_seeds must be <= n_nodes ({self.n_nodes}); got {self.n_seeds}")
        if self.graph not in GRAPH_KINDS:
            raise ConfigError(f"graph must be one of {', '.join(GRAPH_KINDS)}; got {self.graph!r}")
        _rate("rewire_prob", self.rewire_prob)
        if self.policy not in POLICY_KINDS:
            raise ConfigError(
                f"policy must be one of {', '.join(POLICY_KINDS)}; got {self.policy!r}"
            )
        if self.policy == "constant":
            for name in ("alpha", "beta"):
                value = getattr(self, name)
                if value is None:
                    raise ConfigError(f"policy 'constant' needs {name} (--{name})")
                _rate(name, value)
        else:
            given = [n for n in ("alpha", "beta") if getattr(self, n) is not None]
            if given:
                raise ConfigError(
                    f"{' and '.join(given)} apply only to policy 'constant'; "
                    f"got policy {self.policy!r} (use --policy constant)"
                )
        if self.seed is not None:
            _int_at_least("seed", self.seed, 0)
        if not self.personas:
            raise ConfigError("personas must be 'balanced' or the path of an assignment file")

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown configuration key(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
