"""The model registry: one :class:`ModelSpec` per model name, read by every consumer.

Entries are of two kinds (``ModelSpec.kind``): ``spread`` models of SI runs, listed in
:data:`MODELS` (and :data:`ESTIMATORS`, :data:`CURVE_ESTIMATORS`, :func:`sweep_models`), and
``coupled`` models of the online-offline loop (``loop-mf``, ``loop-pair``), listed in
:data:`COUPLED_MODELS` only; :func:`get_model` finds both.

``spillover fit``, selection, the report's overlays, curve fits and sweep defaults all look
models up here. The built-in specs are defined next to their estimators (``_estimators.py``,
``_groups.py``, ``_persona.py``, ``_pair.py``, ``_dose.py``, ``_dose_persona.py``) and listed
in :data:`_BUILTIN` (the order in which models are fitted and reported); :func:`register_model`
adds one at run time. Models fitted when none are named: :func:`default_models`. How to add a
model: docs/extending.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from spillover.exceptions import ConfigError
from spillover.fit._base import ExposureEstimator
from spillover.fit._dose import DOSE2_SPEC, DOSE_SPEC
from spillover.fit._dose_persona import DOSE_PERSONA_SPEC
from spillover.fit._estimators import SI2_SPEC, SI_SPEC
from spillover.fit._groups import GROUPS2_SPEC
from spillover.fit._pair import PAIR_SPEC
from spillover.fit._persona import PERSONA_SPEC
from spillover.fit._result import FitResult
from spillover.fit._spec import ModelSpec
from spillover.models import LOOP_MF_MAP, LOOP_MF_ODE, LOOP_PAIR_MAP, LOOP_PAIR_ODE
from spillover.trajectories import ExposureTable

__all__ = [
    "COUPLED_MODELS",
    "CURVE_ESTIMATORS",
    "ESTIMATORS",
    "MODELS",
    "check_model_names",
    "default_models",
    "fit_exposures",
    "get_model",
    "register_model",
    "sweep_models",
    "unregister_model",
]

#: The coupled online-offline models of docs/loop.md, fitted by ``fit_coupling`` on a loop run
#: (map, ODE, closure, whether it needs a k-regular graph).
LOOP_MF_SPEC, LOOP_PAIR_SPEC = (
    ModelSpec.of(
        m,
        o,
        f"coupled online-offline loop, {closure} (docs/loop.md)",
        kind="coupled",
        needs_regular=regular,
    )
    for m, o, closure, regular in (
        (LOOP_MF_MAP, LOOP_MF_ODE, "homogeneous mean field", False),
        (LOOP_PAIR_MAP, LOOP_PAIR_ODE, "pair closure", True),
    )
)

_BUILTIN: tuple[ModelSpec, ...] = (
    SI_SPEC,
    SI2_SPEC,
    GROUPS2_SPEC,
    PERSONA_SPEC,
    PAIR_SPEC,
    DOSE2_SPEC,
    DOSE_SPEC,
    DOSE_PERSONA_SPEC,
    LOOP_MF_SPEC,
    LOOP_PAIR_SPEC,
)
_SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in _BUILTIN}

T = TypeVar("T")


class _View(Mapping[str, T]):
    """A read-only, live view of the registry: what it holds when it is read."""

    def __init__(self, pick: Callable[[ModelSpec], T | None]) -> None:
        self._pick = pick

    def _items(self) -> dict[str, T]:
        out: dict[str, T] = {}
        for name, spec in _SPECS.items():
            value = self._pick(spec)
            if value is not None:
                out[name] = value
        return out

    def __getitem__(self, name: str) -> T:
        return self._items()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)})"


#: Every registered spread (SI) model by name, in report order: what ``spillover fit``,
#: selection, the report and sweeps apply to SI runs.
MODELS: Mapping[str, ModelSpec] = _View(lambda spec: spec if spec.kind == "spread" else None)
#: The registered coupled models (``loop-mf``, ``loop-pair``), fitted on loop runs.
COUPLED_MODELS: Mapping[str, ModelSpec] = _View(
    lambda spec: spec if spec.kind == "coupled" else None
)
#: Agent-level models (fitted on an exposure table or agent histories) -> estimator class.
ESTIMATORS: Mapping[str, type[ExposureEstimator]] = _View(
    lambda spec: spec.estimator if spec.kind == "spread" else None
)
#: Models that can be fitted to curves alone (all need the graph's degree) -> their spec.
CURVE_ESTIMATORS: Mapping[str, ModelSpec] = _View(
    lambda s: s if s.curve_fit and s.kind == "spread" else None
)


def get_model(name: str) -> ModelSpec:
    """The spec of a registered model.

    Raises
    ------
    ConfigError
        Naming the unknown model and the known ones.
    """
    try:
        return _SPECS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(_SPECS)}") from None


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a model to the registry (after the built-in ones); returns ``spec``.

    Raises
    ------
    ConfigError
        When the name is taken and ``replace`` is false, or ``spec`` is not a ModelSpec.
    """
    if not isinstance(spec, ModelSpec):
        raise ConfigError(f"register_model expects a ModelSpec; got {type(spec).__name__}")
    if spec.name in _SPECS and not replace:
        raise ConfigError(f"model {spec.name!r} is already registered (pass replace=True)")
    _SPECS[spec.name] = spec
    return spec


def unregister_model(name: str) -> None:
    """Remove a model added with :func:`register_model` (built-in models stay)."""
    if any(spec.name == name for spec in _BUILTIN):
        raise ConfigError(f"model {name!r} is built in and cannot be removed")
    _SPECS.pop(name, None)


def sweep_models() -> tuple[str, ...]:
    """The models a sweep fits on every cell when its file names none."""
    return tuple(
        name for name, spec in _SPECS.items() if spec.sweep_default and spec.kind == "spread"
    )


def check_model_names(models: Sequence[str], known: Sequence[str]) -> tuple[str, ...]:
    """``models`` without repeats, after checking every name is in ``known``.

    Raises
    ------
    ConfigError
    """
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ConfigError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    if not models:
        raise ConfigError("no model to fit: give at least one model name")
    return tuple(dict.fromkeys(models))


def default_models() -> tuple[str, ...]:
    """The spread models fitted when none are named (``fit_default``), in report order:
    every one but ``si-dose-persona``, which is fitted when named."""
    return tuple(name for name, spec in MODELS.items() if spec.fit_default)


def fit_exposures(exposures: ExposureTable, models: Sequence[str] | None = None) -> list[FitResult]:
    """Fit each named agent-level model (the :func:`default_models` with an estimator when
    none are named); results in the order asked."""
    known = tuple(ESTIMATORS)
    chosen = [n for n in default_models() if n in ESTIMATORS] if models is None else models
    names = check_model_names(chosen, known)
    return [get_model(name).make_estimator().fit(exposures).result_ for name in names]
