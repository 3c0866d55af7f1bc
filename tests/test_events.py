"""Metrics events: batched writes, and zero loss when the database dies mid-traffic or the
process that acknowledged them is killed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from rollout.events import EventWriter, OcrEvent, ocr_events, user_bucket

from staging.processes import wait_until

from .servers import Hook, PrivatePostgres


def event(i: int) -> OcrEvent:
    return OcrEvent(request_id=f"r{i}", engine="tesseract" if i % 3 else "documentai", stage=2, percentage=15,
                    duration_ms=100 + i % 50, success=i % 17 != 0, user_bucket=user_bucket(f"user{i % 100}"),
                    error_class=None if i % 17 else "OcrTimeoutError", confidence=0.9, pages=1)


def count(url: str) -> int:
    db = create_engine(url)
    with db.connect() as conn:
        n = conn.execute(select(func.count()).select_from(ocr_events)).scalar_one()
    db.dispose()
    return n


def test_events_are_written_in_batches(db_url, tmp_path):
    writer = EventWriter(db_url, tmp_path / "spool.jsonl", batch_size=100, flush_s=0.05)
    writer.init_schema()
    writer.start()
    for i in range(1000):
        writer.record(event(i))
    writer.close()
    assert count(db_url) == 1000 and writer.spool_depth() == 0


def test_user_ids_are_never_stored():
    assert user_bucket("jan.kowalski@example.com") != "jan.kowalski@example.com"
    assert len(user_bucket("u1")) == 16 and user_bucket("u1") == user_bucket("u1") != user_bucket("u2")


@pytest.fixture
def private_pg():
    pg = PrivatePostgres()
    pg.start()
    pg.wait_ready()
    yield pg
    pg.destroy()


def test_no_event_is_lost_when_postgres_is_killed_and_restarted(private_pg, tmp_path):
    writer = EventWriter(private_pg.url, tmp_path / "spool.jsonl", batch_size=50, flush_s=0.02, retry_s=0.1)
    writer.init_schema()
    writer.start()
    total = 3000
    done = threading.Event()

    def traffic():
        for i in range(total):
            writer.record(event(i))
            time.sleep(0.0005)
        done.set()

    t = threading.Thread(target=traffic)
    t.start()
    time.sleep(0.3)
    private_pg.stop("immediate")  # a crash, not a polite shutdown
    time.sleep(0.5)
    assert writer.spool_depth() > 0  # traffic went on into the spool
    private_pg.start()
    private_pg.wait_ready()
    t.join()
    writer.close()
    assert count(private_pg.url) == total
    db = create_engine(private_pg.url)
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute(select(ocr_events.c.request_id).order_by(ocr_events.c.id))]
    db.dispose()
    assert ids == [f"r{i}" for i in range(total)]  # in order, no duplicates
    assert writer.spool_depth() == 0


def test_a_frozen_database_is_seen_within_seconds_and_events_go_to_the_spool(private_pg, tmp_path):
    """The probe: under SIGSTOP, /health said healthy for 30 s while 1 592 events piled up in
    memory, not the spool. Now a write (or, while idle, a probe) unanswered for stall_s makes the
    writer 'stalled', new events go to disk, and after SIGCONT every event is stored once."""
    writer = EventWriter(private_pg.url, tmp_path / "spool.jsonl", batch_size=20, flush_s=0.05, retry_s=0.1,
                         stall_s=1.0, probe_s=0.5)
    writer.init_schema()
    writer.start()
    time.sleep(1.0)  # idle: the probe keeps the health known
    assert not writer.stalled and writer.db_ok and writer.last_write_at is not None
    private_pg.freeze()
    try:
        frozen_at = time.monotonic()
        while not writer.stalled and time.monotonic() - frozen_at < 5:
            time.sleep(0.05)
        assert writer.stalled, "an idle writer must notice a frozen database within 5 s"
        for i in range(500):
            writer.record(event(i))
        assert writer.queued() == 0 and writer.spool_depth() == 500  # on disk, not in memory
    finally:
        private_pg.thaw()
    deadline = time.monotonic() + 30
    while (writer.stalled or writer.spool_depth()) and time.monotonic() < deadline:
        time.sleep(0.1)
    writer.close()
    assert not writer.stalled and count(private_pg.url) == 500 and writer.spool_depth() == 0


def test_replaying_a_batch_that_was_already_stored_adds_nothing(db_url, tmp_path):
    """The database committed a batch but died before acknowledging it: the writer spooled it,
    and its replay must not store the events twice."""
    writer = EventWriter(db_url, tmp_path / "spool.jsonl", batch_size=10)
    writer.init_schema()
    batch = [event(i) for i in range(25)]
    for e in batch:
        writer.record(e)
    writer.flush()
    writer._spool(batch[:10])  # what the writer spools when a commit's acknowledgement is lost
    writer.record(event(99))
    writer.flush()
    assert count(db_url) == 26 and writer.spool_depth() == 0


def test_an_event_the_database_refuses_is_set_aside_not_retried_for_ever(db_url, tmp_path):
    """A row the database refuses (here NULL in a NOT NULL column) is an error about that row,
    not an outage: the rest of its batch and everything after it are stored, and the refused
    event is kept, with the reason, for a person."""
    import json

    writer = EventWriter(db_url, tmp_path / "spool.jsonl", batch_size=10)
    writer.init_schema()
    bad = event(5)
    bad.fallback = None  # what a schema change under a running writer looks like
    for e in [event(i) for i in range(5)] + [bad] + [event(i) for i in range(6, 12)]:
        writer.record(e)
    writer.flush()
    writer.record(event(12))
    writer.flush()
    assert count(db_url) == 12 and writer.spool_depth() == 0 and writer.db_ok
    [line] = (tmp_path / "spool.rejected").read_text().splitlines()
    rejected = json.loads(line)
    assert rejected["event"]["event_id"] == bad.event_id and "null" in rejected["reason"].lower()
    assert writer.rejected == 1


CHILD = r"""
import sys, time
from pathlib import Path
from rollout.events import EventWriter, OcrEvent

writer = EventWriter(sys.argv[1], Path(sys.argv[2]), batch_size=50, flush_s=0.2).start()
i = 0
while True:  # the request path: record, then answer; the answer is the acknowledgement
    writer.record(OcrEvent(request_id=f"k{i}", engine="tesseract", stage=2, percentage=15, duration_ms=100,
                           success=True, confidence=0.9, pages=1))
    print(f"ack k{i}", flush=True)
    i += 1
    time.sleep(0.001)
"""


def test_events_acknowledged_by_a_killed_process_are_replayed_by_the_next_writer_once(pg_url, tmp_path):
    """An OCR replica answered 200 for events still in its memory queue, then was SIGKILLed (no
    close, no flush). Its journal is on disk: the next writer on that spool replays every
    acknowledged event, and the events already stored are not stored twice."""
    spool = tmp_path / "spool.jsonl"
    EventWriter(pg_url, spool).init_schema()
    child = subprocess.Popen([sys.executable, "-c", CHILD, pg_url, str(spool)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    acked: list[str] = []
    try:
        while True:
            line = child.stdout.readline()
            assert line, "the child ended on its own"
            acked.append(line.split()[1])
            # killed mid-traffic once some events are stored and some acknowledged ones are not yet:
            # frozen first (SIGSTOP), so what the database holds cannot change before the SIGKILL
            if len(acked) >= 300 and count(pg_url) > 0:
                os.kill(child.pid, signal.SIGSTOP)
                if count(pg_url) < len(acked):
                    break
                os.kill(child.pid, signal.SIGCONT)
        # a live writer's journal is not taken: its lock is held
        assert EventWriter(pg_url, spool).adopt_orphaned_journals() == 0
    finally:
        child.kill()
        rest, _ = child.communicate()
    acked += [line.split()[1] for line in rest.splitlines()]  # answered before the kill, still in the pipe
    stored_before = count(pg_url)
    assert 0 < stored_before < len(acked)
    heir = EventWriter(pg_url, spool, batch_size=50, flush_s=0.05)
    adopted = heir.adopt_orphaned_journals()
    heir.flush()
    heir.close()
    db = create_engine(pg_url)
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute(select(ocr_events.c.request_id))]
    db.dispose()
    print(f"acknowledged {len(acked)}, stored before the kill {stored_before}, adopted from the journal {adopted}, "
          f"stored now {len(ids)}")
    assert set(acked) <= set(ids)  # none lost
    assert len(ids) == len(set(ids))  # none twice (the adopted journal overlapped stored rows or not)
    assert adopted >= len(acked) - stored_before
    assert not list(tmp_path.glob("spool.journal-*")) and heir.spool_depth() == 0


# ---------------------------------------------------------------- a full disk, a torn spool (issue 20, class 2)


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs for the spool, and a way to fill it up and free it again."""
    where = tmp_path / "disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(where)], check=True)
    filler = where / "filler"

    def fill():
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:  # ENOSPC: the disk is full
            pass
        finally:
            os.close(fd)

    try:
        yield where, fill, lambda: filler.unlink(missing_ok=True)
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_under_the_spool_with_the_database_down_counts_what_it_loses_and_keeps_the_rest(
        private_pg, small_disk):
    from rollout.health.alerts import CRITICAL, AlertStore, EventLossAlarm, notifiers_from
    from rollout.health.judge import service_status

    where, fill, free = small_disk
    writer = EventWriter(private_pg.url, where / "spool.jsonl", batch_size=20, flush_s=0.02, retry_s=0.05,
                         probe_s=0, max_queue=50)
    writer.init_schema()
    hook = Hook([])
    alarm = EventLossAlarm(writer.db, notifiers_from(hook.url, retries=0), "replica-1", retry_s=0.1).start()
    writer.on_lost = alarm  # as build_service wires it
    writer.start()
    private_pg.stop("immediate")
    fill()
    total = 300
    for i in range(total):
        writer.record(event(i))
    assert wait_until(lambda: not writer.spool_ok and not writer.db_ok, 10.0, 0.02)
    assert writer._thread.is_alive() and not writer.can_keep

    def health() -> str:
        return service_status(flag_source="sql", redis="ok", sql="ok", spool_depth=writer.spool_depth(), breakers={},
                              events_db="ok" if writer.db_ok else "down", workers={},
                              events_lost=writer.lost, events_keepable=writer.can_keep)

    assert health() == "unhealthy"  # out of the balancer while nothing can be kept
    assert 0 < writer.lost < total  # memory holds MEMORY_FACTOR x max_queue; the rest is counted
    # the critical alert goes out while the database (where alerts are stored) is still down
    assert wait_until(lambda: hook.received, 10, 0.02)
    told = hook.received[0]
    assert told["severity"] == CRITICAL and told["key"] == "events_lost:replica-1" and told["details"]["lost"] > 0
    free()
    private_pg.start()
    private_pg.wait_ready()
    assert wait_until(lambda: count(private_pg.url) + writer.lost + writer.torn >= total, 30, 0.02)
    assert writer._thread.is_alive() and writer.db_ok and writer.spool_ok is not None
    writer.close()
    assert count(private_pg.url) + writer.lost + writer.torn == total  # every event stored or counted
    assert health() == "degraded"  # up again, and the loss is said
    # ... and stored, open, with the whole count, once the database is back: not notified twice
    assert wait_until(lambda: not alarm.pending, 10, 0.02)
    alarm.stop()
    stored = AlertStore(writer.db, notifiers=[]).recent(10, open_only=True)
    assert [(a["key"], a["severity"], a["details"]["lost"]) for a in stored] == [
        ("events_lost:replica-1", CRITICAL, writer.lost)]
    assert len(hook.received) == len({m["details"]["lost"] for m in hook.received})  # once per new count
    hook.close()


def test_a_torn_last_line_in_the_spool_is_set_aside_and_the_rest_replayed(db_url, tmp_path):
    spool = tmp_path / "spool.jsonl"
    lines = [event(i).to_json() for i in range(5)]
    spool.write_text("\n".join(lines) + "\n" + lines[0][:37])  # the last append cut by a full disk
    writer = EventWriter(db_url, spool, flush_s=0.02)
    writer.init_schema()
    before = count(db_url)
    writer.start()
    try:
        assert wait_until(lambda: count(db_url) == before + 5, 10.0, 0.02)
        assert writer.torn == 1 and writer.torn_path.read_text() == lines[0][:37] + "\n"
        writer.record(event(99))  # and the writer goes on
        assert wait_until(lambda: count(db_url) == before + 6, 10.0, 0.02)
        assert writer._thread.is_alive()
    finally:
        writer.close()
