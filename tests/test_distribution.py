"""Snapshot distribution with a real Redis we can stop and start, and SQL as the source of truth."""

import shutil
import time

import pytest

from rollout.actions import apply_action
from rollout.distribution import SNAPSHOT_KEY, FlagReader, publish
from rollout.flags import FlagStore
from rollout.stages import DEFAULT_FLAGS, Snapshot

from staging.processes import wait_until

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


# ---------------------------------------------------------------- what Redis holds is checked


@pytest.mark.parametrize("junk", [
    b"not json", b'{"version": 2, "stage": 1, "percentage": 5, "flags": []}',
    b'{"version": 2, "stage": 1, "flags": {}}', b'{"version": 9, "stage": 6, "percentage": 250, "flags": {}}',
    b'{"version": 9, "stage": 0, "percentage": 0, "flags": {"maintenance_mode": "false"}}', b"[1, 2]",
])
def test_a_malformed_or_out_of_range_snapshot_in_redis_is_never_served_and_changes_still_arrive(
        tmp_path, redis_proc, junk):
    import redis

    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}", on_change=lambda s: publish(redis_proc.url, s))
    store.init()
    apply_action(store, "advance", "ops", "5 %")
    reader = FlagReader(store, redis_proc.url, refresh_s=0.05, sql_check_s=3600).start()
    try:
        assert reader.get().percentage == 5
        client = redis.Redis.from_url(redis_proc.url)
        client.set(SNAPSHOT_KEY, junk)
        assert wait_until(lambda: reader.status().invalid_reads >= 1, 5.0, 0.02)
        assert reader.get().percentage == 5 and "Redis was unusable" in reader.status().anomaly
        assert wait_until(lambda: client.get(SNAPSHOT_KEY) != junk, 5.0, 0.02)  # repaired from the database
        # the refresh thread lives on: the next changes reach it (a dead thread would serve 5 % for ever)
        apply_action(store, "maintenance-on", "ops", "incident")
        assert wait_until(lambda: reader.get().flag("maintenance_mode"), 5.0, 0.02)
        apply_action(store, "rollback", "ops", "back")
        assert wait_until(lambda: reader.get().percentage == 0, 5.0, 0.02)
    finally:
        reader.stop()


def test_a_redis_version_the_database_does_not_hold_is_never_served(tmp_path, redis_proc):
    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}", on_change=lambda s: publish(redis_proc.url, s))
    publish(redis_proc.url, store.init())
    reader = FlagReader(store, redis_proc.url, refresh_s=0.05, sql_check_s=3600).start()
    try:
        ahead = Snapshot(version=999, stage=6, percentage=100, flags={**DEFAULT_FLAGS, "use_opensource_ocr": True})
        publish(redis_proc.url, ahead)
        assert wait_until(lambda: "Redis held version 999" in reader.status().anomaly, 5.0, 0.02)
        assert reader.get().percentage == 0 and reader.get().version < 999
        # an emergency change reaches the reader (it would be ignored behind version 999)
        apply_action(store, "maintenance-on", "ops", "emergency")
        assert wait_until(lambda: reader.get().flag("maintenance_mode"), 5.0, 0.02)
        assert reader.get().version == store.snapshot().version
    finally:
        reader.stop()


def test_a_flag_database_gone_back_in_version_is_served_and_reported(tmp_path):
    import sqlalchemy as sa

    store = FlagStore(f"sqlite:///{tmp_path / 'f.db'}")
    store.init()
    reader = FlagReader(store, None, refresh_s=0.05).start()
    try:
        apply_action(store, "advance", "ops", "5 %")
        apply_action(store, "advance", "ops", "15 %")
        assert wait_until(lambda: reader.get().percentage == 15, 5.0, 0.02)
        # the database restored from a copy taken at 5 % (version 2)
        with sa.create_engine(f"sqlite:///{tmp_path / 'f.db'}").begin() as conn:
            conn.execute(sa.text("UPDATE rollout_state SET version = 2, stage = 1, percentage = 5"))
        assert wait_until(lambda: reader.get().percentage == 5, 5.0, 0.02)
        assert "went back from version 3 to 2" in reader.status().anomaly
        from rollout.health.judge import service_status

        status = reader.status()
        assert service_status(flag_source=status.source, redis=status.redis, sql=status.sql, spool_depth=0,
                              breakers={}, events_db="ok", workers={}, flag_anomaly=status.anomaly) == "degraded"
    finally:
        reader.stop()
