"""Snapshot distribution with a real Redis we can stop and start, and SQL as the source of truth."""

import shutil
import time

import pytest

from rollout.actions import apply_action
from rollout.distribution import FlagReader, publish
from rollout.flags import FlagStore

from .servers import RedisProcess


@pytest.fixture
def redis_proc():
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is required (apt-get install redis-server)")
    r = RedisProcess()
    r.start()
    yield r
    if r.proc.poll() is None:
        r.stop()


def test_changes_reach_readers_through_redis_at_once(tmp_path, redis_proc):
    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}", on_change=lambda s: publish(redis_proc.url, s))
    publish(redis_proc.url, store.init())
    reader = FlagReader(store, redis_proc.url, refresh_s=30).start()  # only a notification can be fast
    try:
        assert reader.status().source == "redis"
        apply_action(store, "advance", "ops", "go")
        deadline = time.monotonic() + 3
        while reader.get().percentage != 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.get().percentage == 5 and reader.status().source == "redis"
    finally:
        reader.stop()


def test_redis_down_falls_back_to_sql_then_recovers(tmp_path, redis_proc):
    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}")
    publish(redis_proc.url, store.init())
    reader = FlagReader(store, redis_proc.url, sql_check_s=3600)
    reader.refresh()
    redis_proc.stop()
    apply_action(store, "advance", "ops", "while redis is down")  # publication impossible
    reader.refresh()
    status = reader.status()
    assert (status.source, status.redis, reader.get().percentage) == ("sql", "down", 5)
    redis_proc.start()  # back, but empty: the reader serves SQL's state and keeps the version
    reader.refresh()
    assert reader.get().version == store.snapshot().version


def test_stale_redis_is_repaired_from_sql(tmp_path, redis_proc):
    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}")
    publish(redis_proc.url, store.init())
    apply_action(store, "advance", "ops", "not published")
    reader = FlagReader(store, redis_proc.url, sql_check_s=0)
    reader.refresh()
    assert reader.get().percentage == 5
    reader2 = FlagReader(store, redis_proc.url, sql_check_s=3600)
    reader2.refresh()
    assert reader2.get().percentage == 5 and reader2.status().source == "redis"  # Redis was repaired


def test_both_down_keeps_the_last_known_good_snapshot(tmp_path, redis_proc):
    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}")
    store.init()
    publish(redis_proc.url, apply_action(store, "advance", "ops", "5 %"))
    reader = FlagReader(FlagStore("postgresql+psycopg://postgres@127.0.0.1:1/none"), redis_proc.url, sql_check_s=0)
    reader.refresh()
    assert reader.get().percentage == 5
    redis_proc.stop()
    reader.refresh()
    status = reader.status()
    assert (status.source, status.redis, status.sql) == ("last-known-good", "down", "down")
    assert reader.get().percentage == 5


def test_without_redis_readers_poll_sql(tmp_path):
    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}")
    store.init()
    reader = FlagReader(store, None, refresh_s=0.05).start()
    try:
        apply_action(store, "enable", "ops", "all")
        deadline = time.monotonic() + 3
        while reader.get().percentage != 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reader.get().percentage == 100 and reader.status().source == "sql"
        assert reader.status().redis == "not configured"
    finally:
        reader.stop()
