"""The one place that turns user seeds into random generators.

Public entry points accept ``int | SeedSequence | Generator | None`` and call :func:`seed_record`
once; everything downstream receives :class:`numpy.random.SeedSequence` children or
:class:`numpy.random.Generator` objects built here. ``None`` draws fresh entropy, which is
recorded so that the run can be repeated.

Streams are separated by a fixed spawn key per purpose, so that changing, say, how personas are
placed never changes the graph drawn for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np

from spillover.exceptions import ConfigError

__all__ = ["STREAMS", "SeedLike", "SeedRecord", "as_generator", "seed_record"]

SeedLike: TypeAlias = "int | np.random.SeedSequence | np.random.Generator | SeedRecord | None"

#: Spawn-key index of each independent stream of a run.
STREAMS: Final[dict[str, int]] = {
    "graph": 0,
    "personas": 1,
    "seeds": 2,
    "dynamics": 3,
    "events": 4,
}


@dataclass(frozen=True)
class SeedRecord:
    """The entropy a run was seeded with, enough to repeat it exactly.

    Attributes
    ----------
    entropy
        The root entropy (an int, possibly drawn fresh when the user gave ``None``).
    spawn_key
        The spawn key of the root sequence (empty for a plain integer seed).
    """

    entropy: int
    spawn_key: tuple[int, ...] = ()

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
