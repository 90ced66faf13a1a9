"""Reading run configuration files (TOML or YAML) into :class:`SimulationConfig`."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from spillover.config import SimulationConfig
from spillover.exceptions import ConfigError

__all__ = ["read_config"]


def _schema() -> Any:
    # pydantic is imported here, not at package import: only file parsing needs it.
    from pydantic import BaseModel, ConfigDict

    class SimulationFile(BaseModel):
        """The keys a config file may hold: the fields of SimulationConfig, nothing else."""

        model_config = ConfigDict(extra="forbid", strict=True)

        n_nodes: int | None = None
        degree: int | None = None
        graph: str | None = None
        rewire_prob: float | None = None
        edge_list: str | None = None
        n_rounds: int | None = None
        n_reps: int | None = None
        n_seeds: int | None = None
        policy: str | None = None
        alpha: float | None = None
        beta: float | None = None
        events: str | None = None
        event_id: str | None = None
        personas: str | None = None
        seed: int | None = None
        by_persona: bool | None = None

    return SimulationFile


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            detail = str(exc).replace("\n", " ")
            raise ConfigError(f"{path}: not valid YAML: {detail}") from None
    raise ConfigError(f"{path}: config files must end in .toml, .yaml or .yml")


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a config file; return only the keys it sets.

    The keys are the fields of :class:`~spillover.config.SimulationConfig`. A ``[simulate]``
    table (TOML) or ``simulate:`` mapping (YAML) may hold them instead of the top level.
    Relative paths inside the file are resolved against the file's folder.

    Raises
    ------
    ConfigError
        Missing or unreadable file, bad syntax, an unknown key or a value of the wrong type.
    """
    from pydantic import ValidationError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = _load(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc}") from None
    if isinstance(raw, dict) and set(raw) == {"simulate"}:
        raw = raw["simulate"]
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a table of settings at the top level")
    try:
        parsed = _schema().model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{p}: {where}: {first['msg']} (got {first.get('input')!r})") from None
    values: dict[str, Any] = parsed.model_dump(exclude_none=True)
    for key in ("edge_list", "events", "personas"):
        value = values.get(key)
        if value and not (key == "personas" and value == "balanced"):
            values[key] = str(p.parent / value) if not Path(value).is_absolute() else value
    known = set(SimulationConfig.__dataclass_fields__)
    assert set(values) <= known
    return values
