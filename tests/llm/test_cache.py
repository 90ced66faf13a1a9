"""The SQLite answer cache and CachedBackend: modes, keys, commits as answers arrive."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from spillover.exceptions import CacheMissError, ConfigError, LLMError
from spillover.llm import CachedBackend, FakeBackend, LLMRequest, LLMResponse, SQLiteStore


def request(i: int, **kw: object) -> LLMRequest:
    return LLMRequest(model="m", messages=(("user", f"q{i}"),), **kw)  # type: ignore[arg-type]


def test_store_round_trip_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    store = SQLiteStore(path)
    r = LLMResponse(text='{"share": "yes"}', share=True, probability=0.7, prompt_tokens=9)
    store.put("k1", request(1), r)
    assert store.get("k1") == LLMResponse(**{**r.__dict__, "cached": True})
    assert store.get("nope") is None and len(store) == 1 and store.keys() == {"k1"}
    store.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    ro = SQLiteStore(path, read_only=True)
    assert ro.get("k1") is not None
    with pytest.raises(ConfigError, match="read-only"):
        ro.put("k2", request(2), r)
    ro.close()


def test_store_refuses_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="cannot be opened"):
        SQLiteStore(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        SQLiteStore(tmp_path / "missing.sqlite", read_only=True)


def test_read_write_answers_from_the_cache_and_asks_only_for_the_rest(tmp_path: Path) -> None:
    fake = FakeBackend()
    cached = CachedBackend(fake, SQLiteStore(tmp_path / "c.sqlite"))
    first = cached.complete([request(i) for i in range(5)])
    assert len(fake.requests) == 5
    second = cached.complete([request(i) for i in range(8)])
    assert len(fake.requests) == 8  # only the 3 new ones were asked
    assert [r.share for r in second[:5]] == [r.share for r in first]
    assert all(r.cached for r in second[:5]) and not any(r.cached for r in second[5:])
    assert fake.accounting.cache_hits == 5 and fake.accounting.cache_misses == 8
    cached.close()
    assert fake.closed


def test_identical_requests_in_a_batch_are_asked_once(tmp_path: Path) -> None:
    fake = FakeBackend()
    cached = CachedBackend(fake, SQLiteStore(tmp_path / "c.sqlite"))
    seen: list[int] = []
    out = cached.complete(
        [request(1), request(1), request(2)], on_response=lambda i, r: seen.append(i)
    )
    assert len(fake.requests) == 2 and out[0] == out[1] and sorted(seen) == [0, 1, 2]
    cached.close()


def test_samples_and_decisions_are_never_collapsed(tmp_path: Path) -> None:
    fake = FakeBackend()
    cached = CachedBackend(fake, SQLiteStore(tmp_path / "c.sqlite"))
    reqs = [request(1, sample_index=s) for s in range(4)]
    reqs += [request(1, discriminator=f"k/r{r}/a7") for r in range(3)]
    cached.complete(reqs)
    assert len(fake.requests) == 7 and len(cached.store or []) == 7
    cached.close()


def test_modes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    fake = FakeBackend()
    rw = CachedBackend(fake, SQLiteStore(path))
    rw.complete([request(1)])
    rw.close()

    fake2 = FakeBackend()
    ro = CachedBackend(fake2, SQLiteStore(path, read_only=True), "read_only")
    assert ro.complete([request(1)])[0].cached and fake2.requests == []
    with pytest.raises(CacheMissError, match="holds no answer for 1 of 2"):
        ro.complete([request(1), request(2)])
    assert fake2.requests == []
    ro.close()

    fake3 = FakeBackend(probability=lambda r: 1.0)
    refresh = CachedBackend(fake3, SQLiteStore(path), "refresh")
    assert not refresh.complete([request(1)])[0].cached and len(fake3.requests) == 1
    refresh.close()
    again = CachedBackend(FakeBackend(), SQLiteStore(path))
    assert again.complete([request(1)])[0].share is True  # overwritten by refresh
    again.close()

    fake4 = FakeBackend()
    off = CachedBackend(fake4, None, "off")
    off.complete([request(1)])
    off.complete([request(1)])
    assert len(fake4.requests) == 2
    off.close()
    with pytest.raises(ConfigError, match="needs a cache file"):
        CachedBackend(FakeBackend(), None, "read_write")
    with pytest.raises(ConfigError, match="cache_mode"):
        CachedBackend(FakeBackend(), None, "sometimes")  # type: ignore[arg-type]


def test_answers_received_before_a_failure_stay_stored(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    failing = CachedBackend(FakeBackend(fail_after=3), SQLiteStore(path))
    with pytest.raises(LLMError, match="the 3 answers received before the failure are stored"):
        failing.complete([request(i) for i in range(6)])
    failing.close()
    fresh = FakeBackend()
    resumed = CachedBackend(fresh, SQLiteStore(path))
    resumed.complete([request(i) for i in range(6)])
    assert [r.messages for r in fresh.requests] == [request(i).messages for i in range(3, 6)]
    resumed.close()


def test_the_cache_holds_requests_and_answers_but_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-NEVER-STORED-42"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    path = tmp_path / "c.sqlite"
    cached = CachedBackend(FakeBackend(identity="http://127.0.0.1:1/v1"), SQLiteStore(path))
    cached.complete([request(i) for i in range(3)])
    cached.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in data
    assert b"q1" in data  # the request is stored for audit


def test_opening_waits_while_another_process_writes_the_new_file(tmp_path: Path) -> None:
    """Sweep workers open one new cache together: while one still writes the file in rollback
    mode (before its switch to WAL), the others' switch to WAL is refused as ``database is
    locked`` at once, without SQLite's busy wait. Opening must wait and succeed."""
    import sqlite3
    import threading

    path = tmp_path / "shared.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE scratch (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = SQLiteStore(path)
        store.put("k", request(1), LLMResponse(text="yes", share=True))
        assert store.keys() == {"k"}
        store.close()
    finally:
        release.join()
        other.close()
