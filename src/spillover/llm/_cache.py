"""The answer cache: a SQLite store, and ``CachedBackend`` in front of any backend.

Every answer is committed as soon as it arrives (SQLite in WAL mode, one transaction per
answer), so a run killed at any moment, even with SIGKILL, loses nothing already answered, and
the same command run again asks only for what is missing: resume comes for free.

The key of an answer is the sha256 of the canonical JSON of the request: server identity (base
URL), model, messages, temperature, max tokens, prompt version, sample index, discriminator,
answer format and whether log-probabilities were asked for
(:meth:`spillover.llm.LLMRequest.cache_key`). Samples and feed decisions that must differ
differ in sample index or discriminator, so the cache never collapses them. The API key is not
part of a request and so never reaches the store.

Modes:

- ``read_write`` (default): answer from the store, ask the backend for the rest, store them;
- ``read_only``: answer from the store only; a missing answer raises CacheMissError;
- ``refresh``: ask the backend for everything again and overwrite what is stored;
- ``off``: pass everything through, store nothing.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from spillover._redact import redact
from spillover._vocab import CACHE_MODES, CacheMode
from spillover.exceptions import CacheMissError, ConfigError, LLMError
from spillover.llm._accounting import Accounting
from spillover.llm._backend import LLMBackend, ResponseCallback
from spillover.llm._types import LLMRequest, LLMResponse

__all__ = ["CACHE_MODES", "CacheMode", "CachedBackend", "SQLiteStore"]


_SCHEMA: Final[str] = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_FORMAT: Final[str] = "spillover-llm-cache-1"
# How long opening waits for other processes that hold the file's locks.
_OPEN_TIMEOUT_S: Final[float] = 60.0


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SQLiteStore:
    """Answers by key in one SQLite file (WAL journal, a commit per answer).

    Parameters
    ----------
    path : str or path-like
        The database file; created with its folder when missing.
    read_only : bool
        Open without write access (the file must exist).

    Raises
    ------
    ConfigError
        When the file is not a spillover cache or cannot be opened.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.Lock()
        if read_only and not self.path.is_file():
            raise ConfigError(f"cache {self.path} does not exist (cache mode read_only)")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + _OPEN_TIMEOUT_S
        attempt = 0
        while True:
            try:
                self._db, row = self._open()
                break
            except sqlite3.OperationalError as exc:
                # Another process creating the file or switching it to WAL holds a lock that
                # SQLite's busy handler does not always wait for: wait and open again.
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise ConfigError(
                        f"cache {self.path} cannot be opened as a spillover cache: {exc}"
                    ) from None
                attempt += 1
                time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))
            except sqlite3.DatabaseError as exc:
                raise ConfigError(
                    f"cache {self.path} cannot be opened as a spillover cache: {exc}"
                ) from None
        if row is None or row[0] != _FORMAT:
            self._db.close()
            raise ConfigError(f"cache {self.path} is not a spillover LLM cache (format {row!r})")

    def _open(self) -> tuple[sqlite3.Connection, Any]:
        """One attempt to connect, set up the schema and read the format row."""
        if self.read_only:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30.0)
        else:
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        try:
            if not self.read_only:
                (mode,) = db.execute("PRAGMA journal_mode").fetchone()
                if str(mode).lower() != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives the process being killed (not a power cut).
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                db.execute(
                    "INSERT OR IGNORE INTO meta (name, value) VALUES ('format', ?)", (_FORMAT,)
                )
                db.commit()
            row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        except BaseException:
            db.close()
            raise
        return db, row

    def get_many(self, keys: Sequence[str]) -> dict[str, LLMResponse]:
        """The stored answers among ``keys``."""
        found: dict[str, LLMResponse] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, response FROM answers WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, response in rows:
                    found[key] = LLMResponse.from_json(response, cached=True)
        return found

    def get(self, key: str) -> LLMResponse | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, request: LLMRequest, response: LLMResponse) -> None:
        """Store one answer and commit it at once."""
        if self.read_only:
            raise ConfigError(f"cache {self.path} is open read-only")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        # Parsed answers and redacted, bounded texts only (whatever backend answered).
        row = response.sanitised().to_json()
        asked = redact(json.dumps(request.to_dict(), ensure_ascii=False))
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, request, response, created_utc) "
                "VALUES (?, ?, ?, ?)",
                (key, asked, row, stamp),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()
        return int(n)

    def keys(self) -> set[str]:
        with self._lock:
            return {k for (k,) in self._db.execute("SELECT key FROM answers")}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedBackend:
    """A backend that answers from a :class:`SQLiteStore` first (see the module docstring).

    Parameters
    ----------
    inner : LLMBackend
        Who answers what the store does not hold.
    store : SQLiteStore or None
        The store (None only with ``mode="off"``).
    mode : {"read_write", "read_only", "refresh", "off"}
    """

    def __init__(
        self, inner: LLMBackend, store: SQLiteStore | None, mode: CacheMode = "read_write"
    ) -> None:
        if mode not in CACHE_MODES:
            raise ConfigError(f"cache_mode must be one of {', '.join(CACHE_MODES)}; got {mode!r}")
        if store is None and mode != "off":
            raise ConfigError(
                f"cache mode {mode!r} needs a cache file (store=SQLiteStore(path))",
                params=("llm.cache_mode", "llm.cache"),
            )
        if store is not None and store.read_only and mode in ("read_write", "refresh"):
            raise ConfigError(
                f"cache mode {mode!r} needs a writable cache; {store.path} is read-only"
            )
        self.inner = inner
        self.store = store
        self.mode: CacheMode = mode
        self.identity: str = inner.identity
        self.accounting: Accounting = inner.accounting

    def keys_for(self, requests: Sequence[LLMRequest]) -> list[str]:
        return [r.cache_key(self.identity) for r in requests]

    def cached_count(self, requests: Sequence[LLMRequest]) -> int:
        """How many of ``requests`` the store already answers (for dry runs)."""
        if self.store is None or self.mode in ("off", "refresh"):
            return 0
        keys = self.keys_for(requests)
        found = self.store.get_many(keys)
        return sum(1 for k in keys if k in found)

    def complete(
        self, requests: Sequence[LLMRequest], *, on_response: ResponseCallback | None = None
    ) -> list[LLMResponse]:
        """Answers from the store, the rest from the inner backend (stored as they arrive).

        Raises
        ------
        CacheMissError
            In ``read_only`` mode, when some answer is not stored.
        LLMError
            From the inner backend; answers received before the failure stay stored.
        """
        reqs = list(requests)
        if self.mode == "off" or self.store is None:
            return self.inner.complete(reqs, on_response=on_response)
        store = self.store
        keys = self.keys_for(reqs)
        t0 = time.perf_counter()
        found = {} if self.mode == "refresh" else store.get_many(keys)
        results: list[LLMResponse | None] = [None] * len(reqs)
        # Identical requests in one batch are asked once.
        missing: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if key in found:
                results[i] = found[key]
            else:
                missing.setdefault(key, []).append(i)
        hits = len(reqs) - sum(len(v) for v in missing.values())
        self.accounting.add(
            cache_hits=hits, cache_misses=len(missing), wall_s=time.perf_counter() - t0
        )
        if on_response is not None:
            for i, r in enumerate(results):
                if r is not None:
                    on_response(i, r)
        if missing and self.mode == "read_only":
            first = reqs[next(iter(missing.values()))[0]]
            raise CacheMissError(
                f"cache {store.path} (read_only) holds no answer for {len(missing)} of "
                f"{len(reqs)} requests, e.g. {first.describe()}; run with cache mode read_write "
                "to ask the server"
            )
        if not missing:
            return [r for r in results if r is not None]
        order = list(missing)
        todo = [reqs[missing[k][0]] for k in order]
        done = [False] * len(todo)

        def arrived(j: int, response: LLMResponse) -> None:
            if done[j]:
                return
            key = order[j]
            store.put(key, todo[j], response)
            done[j] = True
            for i in missing[key]:
                results[i] = response
                if on_response is not None:
                    on_response(i, response)

        try:
            answers = self.inner.complete(todo, on_response=arrived)
        except LLMError as exc:
            raise type(exc)(
                f"{redact(str(exc))}; the {sum(done)} answers received before the failure are "
                f"stored in {store.path}, and running the same command again resumes from them"
            ) from None
        for j, response in enumerate(answers):
            arrived(j, response)  # for backends that do not report answers as they arrive
        out = [r for r in results if r is not None]
        if len(out) != len(reqs):
            raise LLMError(f"{type(self.inner).__name__} returned fewer answers than requested")
        return out

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            if self.store is not None:
                self.store.close()

    def describe(self) -> dict[str, Any]:
        return {
            **self.inner.describe(),
            "cache": None if self.store is None else str(self.store.path),
            "cache_mode": self.mode,
        }
