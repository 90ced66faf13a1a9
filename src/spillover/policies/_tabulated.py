"""Exposure buckets, and ``TabulatedPolicy``: share probabilities replayed from a table.

A tabulated policy holds, per event, a probability for every (persona, exposure bucket). It is
built from an LLM's answers (:meth:`spillover.policies.LLMPolicy.table`), or learned from the
exposure table of any run (:meth:`TabulatedPolicy.from_exposures`, e.g. a feed-mode LLM run),
saved to a JSON file and replayed offline, without a server: the surrogate for million-agent
runs and parameter sweeps.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from spillover._files import existing_file
from spillover._vocab import REACH_SCALES
from spillover.exceptions import ConfigError, PolicyError
from spillover.personas import N_PERSONAS
from spillover.policies._protocol import ExposureBatch

if TYPE_CHECKING:
    from spillover.events import Event
    from spillover.trajectories import ExposureTable

__all__ = [
    "ANSWER_FROM_LOGPROBS",
    "ANSWER_FROM_UNKNOWN",
    "ANY_EVENT",
    "DEFAULT_BUCKETS",
    "ExposureBuckets",
    "TabulatedPolicy",
]

#: Lower edges of the default exposure buckets: 0, 1, 2, 3-4, 5-8, 9+.
DEFAULT_BUCKETS: Final[tuple[int, ...]] = (0, 1, 2, 3, 5, 9)
#: The event key of a table that applies to any event.
ANY_EVENT: Final[str] = "*"
_FORMAT: Final[str] = "spillover-tabulated-policy"
#: ``answer_samples`` code of a cell whose probability came from the model's log-probabilities.
ANSWER_FROM_LOGPROBS: Final[int] = 0
#: ``answer_samples`` code of a cell of unknown provenance (older tables, learned tables, cells
#: not asked); n >= 1 means the probability is the share of "yes" among n sampled answers.
ANSWER_FROM_UNKNOWN: Final[int] = -1


@dataclass(frozen=True)
class ExposureBuckets:
    """Groups of exposure counts m that share one LLM prompt (archetype mode).

    Parameters
    ----------
    lower : sequence of int
        Strictly increasing lower edges, starting at 0; bucket b holds
        ``lower[b] <= m < lower[b + 1]``, the last one is open-ended. The default
        ``(0, 1, 2, 3, 5, 9)`` gives 0, 1, 2, 3-4, 5-8 and 9+. ``range(K + 2)`` gives one bucket
        per exact count up to K and K+1 or more. A string ``"0,1,2,3,5,9"`` is accepted.
    """

    lower: tuple[int, ...] = DEFAULT_BUCKETS

    def __post_init__(self) -> None:
        raw: Any = self.lower
        if isinstance(raw, str):
            try:
                raw = [int(x) for x in raw.replace(" ", "").split(",") if x]
            except ValueError:
                raise ConfigError(
                    "buckets must be comma-separated integers such as '0,1,2,3,5,9'; "
                    f"got {self.lower!r}"
                ) from None
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        elif isinstance(raw, range):
            raw = list(raw)
        try:
            edges = tuple(int(x) for x in raw)
        except (TypeError, ValueError):
            raise ConfigError(f"buckets must be a list of integers; got {self.lower!r}") from None
        if any(isinstance(x, bool) for x in raw) or not edges or edges[0] != 0:
            raise ConfigError(f"buckets must start at 0 (the offline channel); got {list(edges)}")
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ConfigError(f"buckets must be strictly increasing; got {list(edges)}")
        object.__setattr__(self, "lower", edges)

    @classmethod
    def parse(cls, spec: ExposureBuckets | str | Sequence[int] | None) -> ExposureBuckets:
        """Buckets from lower edges given as a string ``"0,1,2,3,5,9"`` or a sequence."""
        if isinstance(spec, ExposureBuckets):
            return spec
        if spec is None:
            return cls()
        return cls(spec)  # type: ignore[arg-type]  # __post_init__ normalises it

    def __len__(self) -> int:
        return len(self.lower)

    def index(self, n_exposed: np.ndarray | int) -> np.ndarray:
        """Bucket of each exposure count."""
        m = np.asarray(n_exposed, dtype=np.int64)
        out: np.ndarray = np.searchsorted(np.asarray(self.lower), m, side="right") - 1
        return out

    def bounds(self, bucket: int) -> tuple[int, int | None]:
        """``(low, high)`` of a bucket; ``high`` None for the open last one."""
        low = self.lower[bucket]
        high = self.lower[bucket + 1] - 1 if bucket + 1 < len(self.lower) else None
        return low, high

    def label(self, bucket: int) -> str:
        low, high = self.bounds(bucket)
        if high is None:
            return f"{low}+"
        return str(low) if low == high else f"{low}-{high}"

    def labels(self) -> list[str]:
        return [self.label(b) for b in range(len(self))]

    def needed(self, max_degree: int) -> list[int]:
        """The buckets that exposure counts 0..max_degree fall in."""
        return sorted({int(b) for b in self.index(np.arange(max_degree + 1))})


def check_offline_reach(value: object) -> float | None:
    """``offline_reach`` is None (a table of per-round probabilities) or a number in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"offline_reach must be a number in [0, 1]; got {value!r}")
    return float(value)


def check_reach_scale(value: object) -> str:
    """``offline_reach_scale`` is one of :data:`REACH_SCALES`."""
    if value not in REACH_SCALES:
        raise ConfigError(
            f"offline_reach_scale must be one of {', '.join(REACH_SCALES)}; got {value!r}"
        )
    return str(value)


def salience(event: Event | None, scale: str) -> float:
    """The factor the offline reach of ``event`` is multiplied by.

    ``"none"``: 1. ``"fatalities"``: ``1 + ln(1 + fatalities)``: 1 for an event without deaths,
    about 2.9 for 6 and 5.6 for 100, so that news of deadlier events is met offline more often
    while one massacre does not reach everyone at once (a modelling choice, docs/llm.md).
    """
    if scale == "none" or event is None:
        return 1.0
    return 1.0 + math.log1p(event.fatalities)


def event_offline_reach(reach: float | None, event: Event | None, scale: str) -> float | None:
    """The per-round offline reach of ``event``: ``reach x salience``, at most 1 (None stays
    None: a table of per-round probabilities)."""
    if reach is None:
        return None
    return min(1.0, reach * salience(event, scale))


def with_offline_reach(answers: np.ndarray, reach: float | None) -> np.ndarray:
    """Per-round share probabilities from an LLM's answers and the offline reach.

    ``answers[:, 0]`` is P(share | met the news offline) and ``answers[:, b]`` for ``b >= 1``
    P(share | the news in the feed from bucket b's informed neighbours). Each round an agent
    meets the news offline with probability ``reach``, so ``alpha = reach * answers[:, 0]``;
    an agent with informed neighbours shares through either channel:
    ``p_b = 1 - (1 - alpha) * (1 - answers[:, b])``. ``reach`` None: the answers are per-round
    probabilities already (tables learned from runs), returned unchanged.

    Parameters
    ----------
    answers : ndarray, shape (n_personas, n_buckets)
    reach : float in [0, 1] or None
    """
    if reach is None:
        return answers
    alpha = reach * answers[:, :1]
    out = np.empty_like(answers)
    out[:, :1] = alpha
    out[:, 1:] = 1.0 - (1.0 - alpha) * (1.0 - answers[:, 1:])
    return out


def _persona_by_bucket(name: str, values: Any, n_buckets: int, dtype: type) -> np.ndarray:
    """``values`` as a (persona x bucket) array of ``dtype``; ConfigError for another shape."""
    arr: np.ndarray = np.array(values, dtype=dtype)
    if arr.shape != (N_PERSONAS, n_buckets):
        raise ConfigError(
            f"{name} must have shape ({N_PERSONAS}, {n_buckets}) (persona x bucket); "
            f"got {arr.shape}"
        )
    return arr


def _as_table(name: str, values: Any, n_buckets: int) -> np.ndarray:
    arr = _persona_by_bucket(name, values, n_buckets, np.float64)
    ok = np.isnan(arr) | ((arr >= 0.0) & (arr <= 1.0))
    if not ok.all():
        c, b = (int(x) for x in np.argwhere(~ok)[0])
        raise ConfigError(f"{name}[{c}, {b}] must be in [0, 1] (or missing); got {arr[c, b]}")
    arr.flags.writeable = False
    return arr


def _as_counts(name: str, values: Any, n_buckets: int) -> np.ndarray:
    arr = _persona_by_bucket(name, values, n_buckets, np.int64)
    if (arr < ANSWER_FROM_UNKNOWN).any():
        c, b = (int(x) for x in np.argwhere(arr < ANSWER_FROM_UNKNOWN)[0])
        raise ConfigError(
            f"{name}[{c}, {b}] must be -1 (unknown), 0 (log-probabilities) or a sample "
            f"count n >= 1; got {arr[c, b]}"
        )
    arr.flags.writeable = False
    return arr


def _source_name(n: int) -> str | None:
    if n == ANSWER_FROM_LOGPROBS:
        return "logprobs"
    return "samples" if n > 0 else None


def _counts_from_document(where: str, doc: Any, tables: Mapping[str, np.ndarray]) -> Any:
    """``answer_samples`` from the document's ``answers_from`` (None when absent)."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: 'answers_from' must map event ids to {{source, n}}")
    out = {}
    for k, entry in doc.items():
        if str(k) not in tables:
            raise ConfigError(f"{where}: 'answers_from' names event {k!r}, which has no table")
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), list):
            raise ConfigError(f"{where}: answers_from[{k!r}] must hold 'source' and 'n' lists")
        source, counts = entry["source"], entry.get("n")
        if not isinstance(counts, list) or len(counts) != len(source):
            raise ConfigError(f"{where}: answers_from[{k!r}]: 'n' must match 'source' row by row")
        rows = []
        for i, (srow, nrow) in enumerate(zip(source, counts, strict=True)):
            if not isinstance(srow, list) or not isinstance(nrow, list) or len(srow) != len(nrow):
                raise ConfigError(f"{where}: answers_from[{k!r}] row {i} is malformed")
            row = []
            for s, n in zip(srow, nrow, strict=True):
                if s == "logprobs":
                    row.append(ANSWER_FROM_LOGPROBS)
                elif s == "samples":
                    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                        raise ConfigError(
                            f"{where}: answers_from[{k!r}] row {i}: a sample-based cell needs "
                            f"n >= 1; got {n!r}"
                        )
                    row.append(n)
                elif s is None:
                    row.append(ANSWER_FROM_UNKNOWN)
                else:
                    raise ConfigError(
                        f"{where}: answers_from[{k!r}] row {i}: source must be 'logprobs', "
                        f"'samples' or null; got {s!r}"
                    )
            rows.append(row)
        out[str(k)] = rows
    return out


@dataclass(frozen=True)
class TabulatedPolicy:
    """Share probabilities looked up by (event, persona, exposure bucket).

    Parameters
    ----------
    probabilities : mapping of str to array, shape (32, n_buckets)
        Per event id (or :data:`ANY_EVENT`), the probability for each persona (catalog order)
        and bucket; NaN where the table has no value (asking for it raises PolicyError).
    buckets : ExposureBuckets
    source : mapping
        Provenance recorded with the table (model, server, prompt versions, how it was built).
    offline_reach : float in [0, 1] or None
        None: the values are per-round share probabilities (tables learned from runs). A
        number: the values are an LLM's answers (bucket 0: P(share | met offline)), and the
        per-round probabilities follow :func:`with_offline_reach`.
    offline_reach_scale : {"none", "fatalities"}
        How the reach depends on the event (:func:`event_offline_reach`).
    answer_samples : mapping of str to int array, shape (32, n_buckets), optional
        Per event, where each cell's value came from: :data:`ANSWER_FROM_LOGPROBS` (0) the
        model's log-probabilities, n >= 1 the share of "yes" among n sampled answers,
        :data:`ANSWER_FROM_UNKNOWN` (-1) not known. None (tables learned from runs, tables
        written before this was recorded): every cell unknown.
    """

    probabilities: Mapping[str, np.ndarray]
    buckets: ExposureBuckets = field(default_factory=ExposureBuckets)
    source: Mapping[str, Any] = field(default_factory=dict)
    offline_reach: float | None = None
    offline_reach_scale: str = "none"
    answer_samples: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        given: Any = self.buckets
        if not isinstance(given, ExposureBuckets):
            object.__setattr__(self, "buckets", ExposureBuckets(given))
        tables = {
            str(k): _as_table(f"probabilities[{k!r}]", v, len(self.buckets))
            for k, v in dict(self.probabilities).items()
        }
        if not tables:
            raise ConfigError("a TabulatedPolicy needs at least one event's table")
        object.__setattr__(self, "probabilities", tables)
        object.__setattr__(self, "source", dict(self.source))
        object.__setattr__(self, "offline_reach", check_offline_reach(self.offline_reach))
        object.__setattr__(self, "offline_reach_scale", check_reach_scale(self.offline_reach_scale))
        if self.answer_samples is not None:
            counts = {
                str(k): _as_counts(f"answer_samples[{k!r}]", v, len(self.buckets))
                for k, v in dict(self.answer_samples).items()
            }
            extra = sorted(set(counts) - set(tables))
            if extra:
                raise ConfigError(f"answer_samples names event(s) without a table: {extra}")
            object.__setattr__(self, "answer_samples", counts)

    def samples_of(self, event_id: str) -> np.ndarray:
        """The ``answer_samples`` codes of one event's table (all -1 when not recorded)."""
        if self.answer_samples is not None and event_id in self.answer_samples:
            return self.answer_samples[event_id]
        return np.full((N_PERSONAS, len(self.buckets)), ANSWER_FROM_UNKNOWN, dtype=np.int64)

    def with_probabilities(self, probabilities: Mapping[str, np.ndarray]) -> TabulatedPolicy:
        """The same table (buckets, provenance, reach) with other values."""
        return TabulatedPolicy(
            probabilities,
            self.buckets,
            self.source,
            self.offline_reach,
            self.offline_reach_scale,
            self.answer_samples,
        )

    def with_reach(
        self, offline_reach: float | None, offline_reach_scale: str | None = None
    ) -> TabulatedPolicy:
        """The same answers under another offline reach (and salience scale, None: this
        table's), tables of LLM answers only."""
        if self.offline_reach is None and offline_reach is not None:
            raise ConfigError(
                "offline_reach applies to tables of LLM answers (llm_table.json); this table "
                "holds per-round probabilities"
            )
        scale = self.offline_reach_scale if offline_reach_scale is None else offline_reach_scale
        if self.offline_reach is None and scale != "none":
            raise ConfigError(
                "offline_reach_scale applies to tables of LLM answers (llm_table.json); this "
                "table holds per-round probabilities"
            )
        return TabulatedPolicy(
            self.probabilities, self.buckets, self.source, offline_reach, scale, self.answer_samples
        )

    def table_for(self, event: Event | None) -> np.ndarray:
        """The (32, n_buckets) table that applies to ``event``."""
        if event is not None and event.event_id in self.probabilities:
            return self.probabilities[event.event_id]
        if ANY_EVENT in self.probabilities:
            return self.probabilities[ANY_EVENT]
        if event is None and len(self.probabilities) == 1:
            return next(iter(self.probabilities.values()))
        known = ", ".join(sorted(self.probabilities))
        raise PolicyError(
            f"TabulatedPolicy has no table for event "
            f"{None if event is None else event.event_id!r}; it holds: {known}"
        )

    def share_probability(self, batch: ExposureBatch, event: Event | None) -> np.ndarray:
        reach = event_offline_reach(self.offline_reach, event, self.offline_reach_scale)
        table = with_offline_reach(self.table_for(event), reach)
        persona = np.asarray(batch.persona, dtype=np.int64)
        if persona.size and (persona.min() < 0 or persona.max() >= N_PERSONAS):
            raise PolicyError(f"persona indices must be in 0..{N_PERSONAS - 1}")
        bucket = self.buckets.index(batch.n_exposed)
        p = table[persona, bucket]
        missing = np.isnan(p)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise PolicyError(
                f"TabulatedPolicy has no probability for persona {int(persona[i])}, exposure "
                f"bucket {self.buckets.label(int(bucket[i]))} "
                f"(n_exposed {int(batch.n_exposed[i])}); "
                "build the table with every bucket (LLMPolicy.tabulate) or from a run that "
                "reached it"
            )
        return np.asarray(p, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "tabulated",
            "buckets": list(self.buckets.lower),
            "bucket_labels": self.buckets.labels(),
            "events": sorted(self.probabilities),
            "source": dict(self.source),
            "offline_reach": self.offline_reach,
            "offline_reach_scale": self.offline_reach_scale,
        }

    def to_document(self) -> dict[str, Any]:
        """The JSON document :meth:`save` writes."""
        doc: dict[str, Any] = {
            "format": _FORMAT,
            "version": 1,
            "buckets": list(self.buckets.lower),
            "bucket_labels": self.buckets.labels(),
            "personas": "catalog order (docs/personas.md), one row per persona",
            "events": {
                k: [[None if math.isnan(x) else float(x) for x in row] for row in v.tolist()]
                for k, v in sorted(self.probabilities.items())
            },
            "source": dict(self.source),
            "offline_reach": self.offline_reach,
            "offline_reach_scale": self.offline_reach_scale,
            "values": (
                "per-round share probabilities"
                if self.offline_reach is None
                else "LLM answers: bucket 0 is P(share | met the news offline), applied as "
                "alpha = offline_reach x P; bucket b >= 1 is P(share | news in the feed), "
                "combined with alpha as 1 - (1 - alpha) (1 - P)"
            ),
        }
        if self.answer_samples is not None:
            doc["answers_from"] = {
                k: {
                    "source": [[_source_name(int(n)) for n in row] for row in v.tolist()],
                    "n": [[int(n) if n > 0 else None for n in row] for row in v.tolist()],
                }
                for k, v in sorted(self.answer_samples.items())
            }
        return doc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table as JSON (missing values as null); return the path."""
        p = Path(path)
        p.write_text(json.dumps(self.to_document(), indent=1) + "\n", encoding="utf-8")
        return p

    @classmethod
    def from_document(cls, doc: Any, *, where: str = "table") -> TabulatedPolicy:
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ConfigError(f"{where} is not a spillover tabulated policy (format {_FORMAT!r})")
        events = doc.get("events")
        if not isinstance(events, dict) or not events:
            raise ConfigError(f"{where}: 'events' must map event ids to tables")
        tables = {
            str(k): np.array(
                [[math.nan if x is None else x for x in row] for row in v], dtype=float
            )
            for k, v in events.items()
        }
        return cls(
            tables,
            ExposureBuckets(tuple(doc.get("buckets", DEFAULT_BUCKETS))),
            doc.get("source", {}),
            doc.get("offline_reach"),
            doc.get("offline_reach_scale", "none"),
            _counts_from_document(where, doc.get("answers_from"), tables),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TabulatedPolicy:
        """Read a table written by :meth:`save`.

        Raises
        ------
        ConfigError
            When the file is missing or is not a tabulated policy.
        """
        p = existing_file(path, "policy table", "a JSON policy table")
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"policy table {p} cannot be read: {exc}") from None
        return cls.from_document(doc, where=str(p))

    @classmethod
    def from_exposures(
        cls,
        exposures: ExposureTable,
        *,
        buckets: ExposureBuckets | Sequence[int] | None = None,
        event_id: str = ANY_EVENT,
        source: Mapping[str, Any] | None = None,
    ) -> TabulatedPolicy:
        """Learn a table from a run's exposure table: the learned surrogate.

        The probability of (persona c, bucket b) is the maximum-likelihood estimate
        ``sum(shared) / sum(at_risk)`` over the rows of that persona whose ``n_exposed`` falls in
        bucket b (all replicates and rounds pooled). A cell with nobody at risk takes the pooled
        estimate of its bucket over all personas; a bucket nobody reached takes the value of
        the nearest lower bucket of the same persona.

        Parameters
        ----------
        exposures : ExposureTable
        buckets : ExposureBuckets or sequence of int, optional
        event_id : str
            The event the table is for (:data:`ANY_EVENT`: any event).
        source : mapping, optional
            Provenance to record.
        """
        bk = ExposureBuckets.parse(buckets)
        nb = len(bk)
        at_risk = np.zeros((N_PERSONAS, nb))
        shared = np.zeros((N_PERSONAS, nb))
        b = bk.index(exposures.n_exposed)
        np.add.at(at_risk, (exposures.persona.astype(np.int64), b), exposures.at_risk)
        np.add.at(shared, (exposures.persona.astype(np.int64), b), exposures.shared)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = shared / at_risk
            pooled = shared.sum(axis=0) / at_risk.sum(axis=0)
        empty = at_risk == 0
        p[empty] = np.broadcast_to(pooled, p.shape)[empty]
        for j in range(1, nb):
            gap = np.isnan(p[:, j])
            p[gap, j] = p[gap, j - 1]
        doc = {
            "built_from": "exposure table (maximum likelihood per persona and bucket)",
            "at_risk": at_risk.astype(np.int64).tolist(),
            "shared": shared.astype(np.int64).tolist(),
            **dict(source or {}),
        }
        return cls({event_id: p}, bk, doc)
