"""Offline events from a cascade's participation: threshold crossings or a point process.

Two rules (:class:`EmissionRule`):

- ``threshold``: an event in every round t in which the participating share reaches
  ``threshold`` from below (``P[t-1] < threshold n <= P[t]``);
- ``hawkes``: ``N[t] ~ Poisson(rate * P[t])`` events in round t, an intensity driven by the
  number of participants. Chained (each event seeds a cascade whose participation drives later
  events) the event stream is a discrete-time Hawkes process whose kernel is the expected
  participation curve of one cascade and whose branching ratio is ``rate * sum_t E[P[t]]``
  (:func:`spillover.loop.loop_reproductive_number`).

Events are :class:`spillover.events.Event` values in the ACLED schema: dated ``start_date +
round`` days, typed ``Protests`` (``Riots`` once the participating share reaches
``riot_level``), at a fictional place drawn with the run's ``events`` stream.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np

from spillover.events import Event
from spillover.exceptions import ConfigError

__all__ = ["EMISSION_MODES", "FICTIONAL_PLACES", "EmissionRule", "emission_rounds", "make_event"]

EMISSION_MODES: Final = ("threshold", "hawkes")

#: Fictional (admin1, location) pairs for emitted events; none is a real place.
FICTIONAL_PLACES: Final[tuple[tuple[str, str], ...]] = (
    ("Northern Reach", "Marrow Ford"),
    ("Upper Kessel", "Tarnwick"),
    ("Saltmarsh", "Eddering"),
    ("Greyvale", "Owlcombe"),
    ("Harrow Coast", "Linnet Quay"),
    ("Ambermoor", "Stillbrook"),
    ("Coldwater", "Vessy Cross"),
    ("Tamsin Hills", "Brackenridge"),
)


@dataclass(frozen=True)
class EmissionRule:
    """How a cascade's offline participation emits events.

    Attributes
    ----------
    mode : {"threshold", "hawkes"}
    threshold : float
        Participating share that triggers an event (``threshold`` mode), in (0, 1].
    rate : float
        Expected events per participant per round (``hawkes`` mode), >= 0.
    riot_level : float
        Participating share at or above which an event is typed ``Riots``, in (0, 1].
    """

    mode: str = "threshold"
    threshold: float = 0.05
    rate: float = 0.0005
    riot_level: float = 0.15

    def __post_init__(self) -> None:
        if self.mode not in EMISSION_MODES:
            raise ConfigError(
                f"emission mode must be one of {', '.join(EMISSION_MODES)}; got {self.mode!r}"
            )
        for name in ("threshold", "riot_level"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 < v <= 1.0:
                raise ConfigError(f"emission {name} must be a share in (0, 1]; got {v!r}")
        r = self.rate
        if (
            isinstance(r, bool)
            or not isinstance(r, int | float)
            or not (math.isfinite(r) and r >= 0)
        ):
            raise ConfigError(f"emission rate must be a finite number >= 0; got {r!r}")

    def to_dict(self) -> dict[str, object]:
        """Every field by name."""
        return asdict(self)


def emission_rounds(
    participating: np.ndarray, n_nodes: int, rule: EmissionRule, rng: np.random.Generator
) -> np.ndarray:
    """The round of each event emitted by one cascade, in increasing order.

    Parameters
    ----------
    participating : ndarray of int, shape (n_rounds + 1,)
        Participants at the end of each round.
    n_nodes : int
    rule : EmissionRule
    rng : Generator
        Used by the ``hawkes`` rule only (one Poisson draw per round, rounds 1..T in order).

    Returns
    -------
    ndarray of int64
        One entry per event (a round may appear several times under ``hawkes``).
    """
    p = np.asarray(participating, dtype=np.int64)
    if rule.mode == "threshold":
        level = rule.threshold * n_nodes
        up = (p[1:] >= level) & (p[:-1] < level)
        return np.flatnonzero(up).astype(np.int64) + 1
    counts = rng.poisson(rule.rate * p[1:].astype(np.float64))
    return np.repeat(np.arange(1, p.size, dtype=np.int64), counts)


def make_event(
    *,
    event_id: str,
    round_: int,
    participating: int,
    n_nodes: int,
    rule: EmissionRule,
    start_date: datetime.date,
    country: str,
    rng: np.random.Generator,
) -> Event:
    """An emitted offline event in the ACLED schema (fictional place, dated by round)."""
    admin1, location = FICTIONAL_PLACES[int(rng.integers(len(FICTIONAL_PLACES)))]
    share = participating / n_nodes
    riot = share >= rule.riot_level
    return Event(
        event_id=event_id,
        date=start_date + datetime.timedelta(days=int(round_)),
        country=country,
        event_type="Riots" if riot else "Protests",
        sub_event_type="Violent demonstration" if riot else "Peaceful protest",
        actors=("Rioters (fictional)",) if riot else ("Protesters (fictional)",),
        fatalities=0,
        summary=(
            f"[Simulated] Offline mobilisation after news spread online: {participating} of "
            f"{n_nodes} agents ({share:.1%}) taking part in round {round_}."
        ),
        admin1=admin1,
        location=location,
    )
