"""The one place that turns user seeds into random generators.

Public entry points accept ``int | SeedSequence | Generator | None`` and call :func:`seed_record`
once; everything downstream receives :class:`numpy.random.SeedSequence` children or
:class:`numpy.random.Generator` objects built here. ``None`` draws fresh entropy, which is
recorded so that the run can be repeated.

Streams are separated by a fixed spawn key per purpose, so that changing, say, how personas are
placed never changes the graph drawn for the same seed. :class:`SeedRecord` and :data:`STREAMS`
are public (``spillover.SeedRecord``, ``spillover.STREAMS``): a run's manifest records its seed
record, and ``spillover.run(config, rng=SeedRecord.from_dict(manifest["seed"]))`` replays it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np

from spillover.exceptions import ConfigError

__all__ = ["STREAMS", "SeedLike", "SeedRecord", "as_generator", "seed_record"]

SeedLike: TypeAlias = "int | np.random.SeedSequence | np.random.Generator | SeedRecord | None"

#: Spawn-key index of each independent stream of a run. Who draws from which:
#:
#: - ``graph``: the generated graph (``spillover.run``; ``random_regular(..., rng=rec.generator(
#:   "graph"))`` and the other generators reproduce it);
#: - ``personas``: the balanced persona placement (``assign_balanced(n, rng=rec.generator(
#:   "personas"))``, and ``simulate`` when ``persona_of_node`` is omitted);
#: - ``seeds``: the seed agents, keyed by replicate (``simulate``; the loop keys it by
#:   replicate and cascade);
#: - ``dynamics``: the decision key of each replicate (``simulate``; the loop: replicate and
#:   cascade);
#: - ``events``: emission and fictional places of the offline events of a loop run;
#: - ``llm_noise``: the bootstrap tables of ``spillover fit --llm-noise`` (the redrawn answers
#:   of an LLM run's sampled cells).
#: - ``forecast``: the parameter draws and chain-binomial replicates of the forecast bands of
#:   ``spillover fit --fit-rounds`` (each model keyed further by its name).
STREAMS: Final[dict[str, int]] = {
    "graph": 0,
    "personas": 1,
    "seeds": 2,
    "dynamics": 3,
    "events": 4,
    "llm_noise": 5,
    "forecast": 6,
}


@dataclass(frozen=True)
class SeedRecord:
    """The entropy a run was seeded with, enough to repeat it exactly.

    ``spillover simulate --seed N`` (and ``spillover.run(config, rng=N)``) runs on
    ``SeedRecord(N)``; cell ``c`` of a sweep with root seed ``R`` on ``SeedRecord(R, (c,))``.
    Every purpose draws from its own named stream (:data:`STREAMS`):
    ``record.generator("graph")`` is the generator of the graph, ``record.stream("seeds", r)``
    the sequence of replicate r's seed agents, and so on. The manifest's ``seed`` entry is
    :meth:`to_dict`; :meth:`from_dict` reads it back.

    Attributes
    ----------
    entropy
        The root entropy (an int, possibly drawn fresh when the user gave ``None``).
    spawn_key
        The spawn key of the root sequence (empty for a plain integer seed).
    """

    entropy: int
    spawn_key: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, doc: dict[str, object]) -> SeedRecord:
        """The record of a manifest's ``seed`` entry (``{"entropy": ..., "spawn_key": [...]}``)."""
        entropy, key = doc.get("entropy"), doc.get("spawn_key", [])
        if isinstance(entropy, bool) or not isinstance(entropy, int) or entropy < 0:
            raise ConfigError(f"seed.entropy must be an integer >= 0; got {entropy!r}")
        if not isinstance(key, list | tuple) or not all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in key
        ):
            raise ConfigError(f"seed.spawn_key must be a list of integers >= 0; got {key!r}")
        return cls(entropy, tuple(key))

    @property
    def streams(self) -> dict[str, tuple[int, ...]]:
        """The spawn key of each named stream of this record (before any replicate key)."""
        return {name: (*self.spawn_key, index) for name, index in STREAMS.items()}

    @property
    def root(self) -> np.random.SeedSequence:
        """The root :class:`~numpy.random.SeedSequence`."""
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key)

    def stream(self, name: str, *extra: int) -> np.random.SeedSequence:
        """The seed sequence of one named stream, optionally keyed further (replicate, ...)."""
        if name not in STREAMS:
            raise ConfigError(f"unknown random stream {name!r}; expected one of {sorted(STREAMS)}")
        return np.random.SeedSequence(
            self.entropy, spawn_key=(*self.spawn_key, STREAMS[name], *extra)
        )

    def generator(self, name: str, *extra: int) -> np.random.Generator:
        """A fresh :class:`~numpy.random.Generator` on one named stream."""
        return np.random.Generator(np.random.PCG64(self.stream(name, *extra)))

    def to_dict(self) -> dict[str, object]:
        return {"entropy": self.entropy, "spawn_key": list(self.spawn_key)}


def seed_record(seed: SeedLike) -> SeedRecord:
    """Normalise a user seed into a :class:`SeedRecord`.

    A :class:`~numpy.random.Generator` is consumed once (128 bits are drawn from it) so that the
    caller's generator advances and the run is still recorded by plain entropy.
    """
    if isinstance(seed, SeedRecord):
        return seed
    if seed is None:
        ss = np.random.SeedSequence()
        return SeedRecord(int(ss.entropy), tuple(ss.spawn_key))  # type: ignore[arg-type]
    if isinstance(seed, np.random.SeedSequence):
        if not isinstance(seed.entropy, int):
            raise ConfigError("seed: a SeedSequence with non-integer entropy is not supported")
        return SeedRecord(int(seed.entropy), tuple(int(k) for k in seed.spawn_key))
    if isinstance(seed, np.random.Generator):
        hi, lo = (int(x) for x in seed.integers(0, 2**64, size=2, dtype=np.uint64))
        return SeedRecord((hi << 64) | lo)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(
            f"seed must be an int, SeedSequence, Generator or None; got {type(seed).__name__}"
        )
    if seed < 0:
        raise ConfigError(f"seed must be >= 0; got {seed}")
    return SeedRecord(int(seed))


def as_generator(rng: SeedLike) -> np.random.Generator:
    """A generator from any seed-like value; a Generator is returned as it is."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.Generator(np.random.PCG64(seed_record(rng).root))
