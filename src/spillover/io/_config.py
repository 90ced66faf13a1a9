"""Reading run configuration files (TOML or YAML) into :class:`SimulationConfig`."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from spillover._files import existing_file
from spillover._redact import looks_secret, redact, shown
from spillover.config import FLAT_KEYS, LLM_FIELDS, SimulationConfig, flat_types
from spillover.exceptions import ConfigError

__all__ = [
    "load_config",
    "load_settings_document",
    "read_config",
    "read_settings_file",
    "validation_message",
]


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
        offline_reach: float | None = None
        offline_reach_scale: str | None = None

    return SimulationFile


def _llm_schema() -> Any:
    """A strict pydantic model of the LLM settings (flat names), built from the types of
    LLMConfig and SimulationConfig: the vocabularies are those of :mod:`spillover._vocab`."""
    from pydantic import ConfigDict, create_model

    hints = flat_types()
    definitions: dict[str, Any] = {
        name: (hints[name] | None, None) for name in (*LLM_FIELDS, "policy_table")
    }
    # Buckets may be written as a list of integers as well as "0,1,2", and several servers
    # (replicas of one model) as a list of URLs.
    definitions["llm_buckets"] = (str | list[int] | None, None)
    definitions["llm_base_url"] = (str | list[str] | None, None)
    return create_model(
        "LLMSettings", __config__=ConfigDict(extra="forbid", strict=True), **definitions
    )


_SECRET_WORDS = re.compile(r"key|token|secret|passw|cred", re.IGNORECASE)
#: Settings files larger than this are refused before they are parsed.
MAX_SETTINGS_BYTES: Final[int] = 4 * 1024 * 1024


#: Parts of a pydantic error location that name a member of a type union, not a setting.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|list|dict|none)$|[\[\]-]")


def validation_message(exc: Any, rename: Callable[[str], str] | None = None) -> str:
    """One line for the first error of a pydantic ValidationError, never echoing secrets.

    The setting is named as the file names it: ``rename`` maps the first part of the error's
    location (``llm_concurrency`` to ``llm.concurrency``), and the members of a type union that
    pydantic adds to it are left out. The offending value is shown only for a known key of the
    wrong type, capped at 80 characters (:func:`spillover._redact.shown`); an unknown key is
    named without its value (someone may have pasted an API key into the file), and nothing is
    shown for keys that look like credentials or for values that look like one.
    """
    first = exc.errors()[0]
    head, *rest = [str(x) for x in first["loc"]] or [""]
    parts = [rename(head) if rename else head]
    parts += [x for x in rest if not _UNION_MEMBER.search(x)]
    where = ".".join(parts)[:80]
    if first.get("type") == "extra_forbidden":
        return f"{redact(where)}: unknown setting"
    if _SECRET_WORDS.search(where):
        return f"{where}: {first['msg']}"
    value = first.get("input")
    if looks_secret(value):
        return f"{where}: {first['msg']} (the value is not shown: it looks like a credential)"
    return f"{where}: {first['msg']} (got {shown(value)})"


def _yaml_loader() -> Any:
    import yaml

    class SettingsLoader(yaml.SafeLoader):
        """PyYAML's safe loader without aliases: ``*name`` references are refused, so a file's
        parsed size is bounded by its own size (no "billion laughs")."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "aliases (*name) are not accepted in spillover settings files; "
                    "write the values out",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    return SettingsLoader


_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _toml_error(path: Path, exc: Exception) -> ConfigError:
    message = str(exc)
    found = _TOML_WHERE.search(message)
    problem = message[: found.start()] if found else message.replace("(at end of document)", "")
    where = f"line {found.group(1)}, column {found.group(2)}" if found else "end of file"
    return ConfigError(f"{path}: not valid TOML at {where}: {redact(problem.strip())[:80]}")


def _yaml_error(path: Path, exc: Any) -> ConfigError:
    # Never str(exc): PyYAML's message quotes the offending line, which may hold a key.
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
    problem = getattr(exc, "problem", None) or type(exc).__name__
    context = getattr(exc, "context", None)
    detail = f"{context}: {problem}" if context else str(problem)
    return ConfigError(f"{path}: not valid YAML at {where}: {redact(detail)[:120]}")


def load_settings_document(path: Path, what: str = "config") -> Any:
    """The parsed TOML or YAML document of a settings file (config or sweep file).

    Syntax errors name the file, line and column, never the text of the line. YAML aliases
    are refused, and so are files over :data:`MAX_SETTINGS_BYTES`. A missing file, or a folder,
    is one :class:`ConfigError` naming it as such.
    """
    existing_file(path, f"{what} file", "a TOML or YAML file")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: {what} files must end in .toml, .yaml or .yml")
    size = path.stat().st_size
    if size > MAX_SETTINGS_BYTES:
        raise ConfigError(
            f"{path}: a {what} file of {size:,} bytes is too large "
            f"(at most {MAX_SETTINGS_BYTES:,} bytes)"
        )
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _toml_error(path, exc) from None
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader()) or {}
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None


# Keys besides the schema's: the LLM settings (flat, or without their ``llm_`` prefix in an
# ``[llm]`` section) and the tabulated policy's file.
_EXTRA_KEYS = (*LLM_FIELDS, "policy_table")
_PATH_KEYS = ("edge_list", "events", "personas", "cache", "policy_table", "llm_gguf")


def read_settings_file(path: str | os.PathLike[str], what: str = "config") -> Any:
    """:func:`load_settings_document` of an existing file (config, sweep or study file).

    Raises
    ------
    ConfigError
        When the file does not exist, is a folder or cannot be read, or as
        :func:`load_settings_document`.
    """
    p = Path(path)
    try:
        return load_settings_document(p, what)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} file {p} cannot be read: {exc}") from None


def _llm_key(name: str) -> str:
    return name if name in ("cache", "cache_mode") or name.startswith("llm_") else f"llm_{name}"


def _llm_name(key: str) -> str:
    """The name in a config file of a key of its LLM settings: ``llm.concurrency``, and the
    key read beside them (``policy_table``) as it is."""
    return f"llm.{key.removeprefix('llm_')}" if key in LLM_FIELDS else key


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a config file; return only the keys it sets.

    The keys are the flat keys of :class:`~spillover.config.SimulationConfig`
    (:data:`~spillover.config.FLAT_KEYS`: its fields, and ``llm_model``, ``cache``, ... for
    those of its :class:`~spillover.config.LLMConfig`), at the top level or
    in a ``[simulate]`` table (TOML) / ``simulate:`` mapping (YAML). LLM settings may also sit in
    an ``[llm]`` section (``base_url``, ``model``, ``mode``, ``api_key_env``, ``concurrency``,
    ..., ``cache``, ``cache_mode``), at the top level or inside ``[simulate]``; ``base_url``
    may be a list of URLs (replicas of one model). Relative paths
    (``edge_list``, ``events``, ``personas``, ``cache``, ``policy_table``) are resolved against
    the file's folder.

    Raises
    ------
    ConfigError
        Missing or unreadable file, bad syntax, an unknown key or a value of the wrong type.
    """
    from pydantic import ValidationError

    p = Path(path)
    raw = read_settings_file(p)
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
                raise ConfigError(
                    f"{p}: llm.{redact(str(name))[:80]}: unknown LLM setting (known: {known})"
                )
            extra[key] = value
    try:
        parsed = _schema().model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"{p}: {validation_message(exc)}") from None
    try:
        _llm_schema().model_validate(extra)
    except ValidationError as exc:
        message = validation_message(exc, rename=_llm_name)
        raise ConfigError(f"{p}: {message}") from None
    values: dict[str, Any] = {**parsed.model_dump(exclude_none=True), **extra}
    for key in _PATH_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value and not (key == "personas" and value == "balanced"):
            values[key] = value if Path(value).is_absolute() else str(p.parent / value)
    if isinstance(values.get("llm_buckets"), list):
        values["llm_buckets"] = ",".join(str(x) for x in values["llm_buckets"])
    assert set(values) <= set(FLAT_KEYS)
    return values


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> SimulationConfig:
    """The config ``spillover simulate --config PATH`` runs: defaults, then the file's values,
    then ``overrides`` (the flags that were given; ``None`` values are ignored).

    ``llm_base_url``, ``llm_local`` and ``llm_gguf`` imply policy ``llm`` and ``policy_table``
    policy ``tabulated`` unless a policy is given.

    Raises
    ------
    ConfigError
        As :func:`read_config`, or a value that breaks a rule of the config.
    """
    values: dict[str, Any] = read_config(path) if path is not None else {}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "policy" not in values:
        if (
            values.get("llm_base_url") is not None
            or values.get("llm_local") is True
            or values.get("llm_gguf") is not None
        ):
            values["policy"] = "llm"
        elif values.get("policy_table") is not None:
            values["policy"] = "tabulated"
    return SimulationConfig.from_flat(values)
