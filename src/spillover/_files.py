"""The input files a command names: one check, so a folder is never reported as missing."""

from __future__ import annotations

import os
from pathlib import Path

from spillover.exceptions import ConfigError

__all__ = ["existing_file"]


def existing_file(path: str | os.PathLike[str], what: str, kind: str) -> Path:
    """``path`` as a :class:`Path` when it names a file; else one :class:`ConfigError`.

    ``what`` opens the message (``"sweep file"``, ``"events.file:"``) and ``kind`` says what
    the file should have been (``"a TOML or YAML file"``): a directory is named as one, and
    anything else that is not a file as missing.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a directory, not {kind}")
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist")
    return p
