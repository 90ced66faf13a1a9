"""Results of runs: curves, the exposure table and adoptions, as frozen columnar values."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np

from spillover._pool import unique_inverse
from spillover.exceptions import ConfigError
from spillover.personas import N_PERSONAS

__all__ = ["Adoptions", "AgentHistories", "Curves", "ExposureTable"]


def _frozen_column(name: str, values: object, dtype: type) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ConfigError(f"column {name!r} must be 1-d; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise ConfigError(f"column {name!r} must hold integers; got dtype {arr.dtype}")
    info = np.iinfo(dtype)
    if arr.size and (arr.min() < info.min or arr.max() > info.max):
        bad = arr.max() if arr.max() > info.max else arr.min()
        raise ConfigError(f"column {name!r} holds {bad}, outside the range of {info.dtype}")
    if arr.dtype == dtype and not arr.flags.writeable and arr.base is None:
        # Already frozen and owning its memory (the engine hands over such columns): nobody
        # can write to it, so it is kept rather than copied.
        return arr
    out: np.ndarray = np.array(arr, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class _Columns:
    """Equal-length integer columns; subclasses declare each as a field with its integer dtype
    in the metadata, ``field(metadata={"dtype": np.int32})``."""

    _table: ClassVar[str] = "table"

    @classmethod
    def _columns(cls) -> tuple[tuple[str, type], ...]:
        """``(name, dtype)`` of the columns, in contract order (that of the fields)."""
        return tuple((f.name, f.metadata["dtype"]) for f in fields(cls) if "dtype" in f.metadata)

    @classmethod
    def column_dtypes(cls) -> dict[str, type]:
        """``{name: integer dtype}`` of the columns, in contract order (as written to Parquet)."""
        return dict(cls._columns())

    def __post_init__(self) -> None:
        lengths = set()
        columns = self._columns()
        for name, dtype in columns:
            col = _frozen_column(name, getattr(self, name), dtype)
            object.__setattr__(self, name, col)
            lengths.add(col.shape[0])
        if len(lengths) > 1:
            raise ConfigError(f"{self._table}: columns must have equal lengths; got {lengths}")
        for name, _ in columns:
            col = getattr(self, name)
            if col.size and col.min() < 0:
                row = int(np.argmin(col))
                raise ConfigError(
                    f"{self._table}: column {name!r} must be >= 0; row {row} has {col[row]}"
                )
            if name == "persona" and col.size and col.max() >= N_PERSONAS:
                row = int(np.argmax(col))
                raise ConfigError(
                    f"{self._table}: column 'persona' must be a catalog index 0-"
                    f"{N_PERSONAS - 1}; row {row} has {col[row]}"
                )

    def __len__(self) -> int:
        return int(getattr(self, self._columns()[0][0]).shape[0])

    def columns(self) -> dict[str, np.ndarray]:
        """The columns by name, in contract order."""
        return {name: getattr(self, name) for name, _ in self._columns()}


@dataclass(frozen=True)
class ExposureTable(_Columns):
    """Sufficient statistics of the agent-level likelihood (DESIGN section 6).

    One row per (replicate, round, persona, n_exposed) with ``at_risk`` susceptible agents that
    had ``n_exposed`` informed neighbours at the start of the round, of whom ``shared`` shared
    in that round. Rows with ``at_risk == 0`` are omitted.
    """

    replicate: np.ndarray = field(metadata={"dtype": np.int32})
    round: np.ndarray = field(metadata={"dtype": np.int32})
    persona: np.ndarray = field(metadata={"dtype": np.int16})
    n_exposed: np.ndarray = field(metadata={"dtype": np.int32})
    at_risk: np.ndarray = field(metadata={"dtype": np.int64})
    shared: np.ndarray = field(metadata={"dtype": np.int64})

    _table: ClassVar[str] = "exposures"

    def __post_init__(self) -> None:
        super().__post_init__()
        over = self.shared > self.at_risk
        if over.any():
            row = int(np.flatnonzero(over)[0])
            raise ConfigError(
                f"exposures: shared must be <= at_risk; row {row} has "
                f"shared={self.shared[row]}, at_risk={self.at_risk[row]}"
            )

    def totals_by_exposure(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pool over replicates, rounds and personas: (n_exposed, at_risk, shared) per m."""
        if len(self) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        m_values, inverse = unique_inverse(self.n_exposed)
        at_risk = np.bincount(inverse, weights=self.at_risk).astype(np.int64)
        shared = np.bincount(inverse, weights=self.shared).astype(np.int64)
        return m_values.astype(np.int64), at_risk, shared


@dataclass(frozen=True)
class Adoptions(_Columns):
    """Every agent that shared: ``replicate, agent, persona, round`` (seeds at round 0)."""

    replicate: np.ndarray = field(metadata={"dtype": np.int32})
    agent: np.ndarray = field(metadata={"dtype": np.int64})
    persona: np.ndarray = field(metadata={"dtype": np.int16})
    round: np.ndarray = field(metadata={"dtype": np.int32})

    _table: ClassVar[str] = "adoptions"


@dataclass(frozen=True)
class Curves:
    """Cumulative informed counts by replicate and round, in total and by persona.

    Parameters
    ----------
    informed_by_persona : ndarray of int64, shape (n_reps, n_rounds + 1, n_personas)
        Informed agents of each persona at the end of each round (round 0: the seeds).
    n_nodes : int
        Agents in the network.
    """

    informed_by_persona: np.ndarray
    n_nodes: int

    def __post_init__(self) -> None:
        arr = np.array(self.informed_by_persona, dtype=np.int64)
        if arr.ndim != 3:
            raise ConfigError(
                "Curves: informed_by_persona must have shape "
                f"(n_reps, n_rounds + 1, n_personas); got {arr.shape}"
            )
        arr.flags.writeable = False
        object.__setattr__(self, "informed_by_persona", arr)

    @property
    def n_reps(self) -> int:
        return int(self.informed_by_persona.shape[0])

    @property
    def n_rounds(self) -> int:
        return int(self.informed_by_persona.shape[1]) - 1

    @property
    def informed(self) -> np.ndarray:
        """Cumulative informed count, shape (n_reps, n_rounds + 1)."""
        out: np.ndarray = self.informed_by_persona.sum(axis=2)
        out.flags.writeable = False
        return out

    def fraction(self) -> np.ndarray:
        """Informed fraction, shape (n_reps, n_rounds + 1)."""
        out: np.ndarray = self.informed / self.n_nodes
        return out


@dataclass(frozen=True)
class AgentHistories(_Columns):
    """Per-agent sufficient statistics of latent-class models (one row per non-seed agent).

    For an agent at risk from round 1 to the round before it shared (or to the last round):
    ``rounds_at_risk`` rounds without sharing, ``exposure_rounds`` the sum of its informed
    neighbours over those rounds, and, if it shared (``shared`` = 1), ``exposed_at_share`` its
    informed neighbours in the round it shared. Under ``p = 1 - exp(-(h_a + m h_b))`` an
    agent's likelihood is ``exp(-(rounds_at_risk h_a + exposure_rounds h_b))`` times
    ``1 - exp(-(h_a + exposed_at_share h_b))`` if it shared, so these columns carry every
    agent's whole history; a model whose rates are a property of the agent (latent groups)
    needs them, and the pooled exposure table is not enough.
    """

    replicate: np.ndarray = field(metadata={"dtype": np.int32})
    agent: np.ndarray = field(metadata={"dtype": np.int64})
    persona: np.ndarray = field(metadata={"dtype": np.int16})
    rounds_at_risk: np.ndarray = field(metadata={"dtype": np.int32})
    exposure_rounds: np.ndarray = field(metadata={"dtype": np.int64})
    exposed_at_share: np.ndarray = field(metadata={"dtype": np.int32})
    shared: np.ndarray = field(metadata={"dtype": np.int8})

    _table: ClassVar[str] = "agents"

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self) and self.shared.max() > 1:
            raise ConfigError("agents: column 'shared' must be 0 or 1")
