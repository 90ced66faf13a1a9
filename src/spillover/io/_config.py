"""Reading run configuration files (TOML or YAML) into :class:`SimulationConfig`."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from spillover.config import LLM_FIELDS, SimulationConfig
from spillover.exceptions import ConfigError

__all__ = ["load_settings_document", "read_config", "validation_message"]


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


_SECRET_WORDS = re.compile(r"key|token|secret|passw", re.IGNORECASE)


def validation_message(exc: Any) -> str:
    """One line for the first error of a pydantic ValidationError, never echoing secrets.

    The offending value is shown only for a known key of the wrong type; an unknown key is
    named without its value (someone may have pasted an API key into the file), and nothing
    is shown for keys that look like credentials.
    """
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"])
    if first.get("type") == "extra_forbidden":
        return f"{where}: unknown setting"
    if _SECRET_WORDS.search(where):
        return f"{where}: {first['msg']}"
    return f"{where}: {first['msg']} (got {first.get('input')!r})"


def load_settings_document(path: Path, what: str = "config") -> Any:
    """The parsed TOML or YAML document of a settings file (config or sweep file)."""
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
    raise ConfigError(f"{path}: {what} files must end in .toml, .yaml or .yml")


# Keys besides the schema's: the LLM settings (flat, or without their ``llm_`` prefix in an
# ``[llm]`` section) and the tabulated policy's file.
_EXTRA_KEYS = (*LLM_FIELDS, "policy_table")
_PATH_KEYS = ("edge_list", "events", "personas", "cache", "policy_table")


def _llm_key(name: str) -> str:
    return name if name in ("cache", "cache_mode") or name.startswith("llm_") else f"llm_{name}"


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a config file; return only the keys it sets.

    The keys are the fields of :class:`~spillover.config.SimulationConfig`, at the top level or
    in a ``[simulate]`` table (TOML) / ``simulate:`` mapping (YAML). LLM settings may also sit in
    an ``[llm]`` section (``base_url``, ``model``, ``mode``, ``api_key_env``, ``concurrency``,
    ..., ``cache``, ``cache_mode``), at the top level or inside ``[simulate]``. Relative paths
    (``edge_list``, ``events``, ``personas``, ``cache``, ``policy_table``) are resolved against
    the file's folder.

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
        raw = load_settings_document(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a table of settings at the top level")
    doc = dict(raw)
    if "simulate" in doc and set(doc) - {"simulate", "llm"}:
        raise ConfigError(f"{p}: settings go either at the top level or in [simulate], not both")
    llm_section = doc.pop("llm", None)
    if set(doc) == {"simulate"} and isinstance(doc["simulate"], dict):
        doc = dict(doc["simulate"])
        inner = doc.pop("llm", None)
        if inner is not None and llm_section is not None:
            raise ConfigError(f"{p}: give the [llm] section once, not at two levels")
        llm_section = inner if inner is not None else llm_section
    extra: dict[str, Any] = {k: doc.pop(k) for k in _EXTRA_KEYS if k in doc}
    if llm_section is not None:
        if not isinstance(llm_section, dict):
            raise ConfigError(f"{p}: [llm] must be a table of settings")
        for name, value in llm_section.items():
            key = _llm_key(str(name))
            if key not in LLM_FIELDS:
                known = ", ".join(k.removeprefix("llm_") for k in LLM_FIELDS)
                raise ConfigError(f"{p}: llm.{name}: unknown LLM setting (known: {known})")
            extra[key] = value
    try:
        parsed = _schema().model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"{p}: {validation_message(exc)}") from None
    values: dict[str, Any] = {**parsed.model_dump(exclude_none=True), **extra}
    for key in _PATH_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value and not (key == "personas" and value == "balanced"):
            values[key] = value if Path(value).is_absolute() else str(p.parent / value)
    if isinstance(values.get("llm_buckets"), list):
        values["llm_buckets"] = ",".join(str(x) for x in values["llm_buckets"])
    assert set(values) <= set(SimulationConfig.__dataclass_fields__)
    return values
