"""The process-pool engine: same results as in-process, typed errors cross the process boundary,
and concurrent use (which crashes pdfium in threads) is safe."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from ocr_engines import errors as E
from ocr_engines import get_engine
from ocr_engines.evaluation import golden_documents
from ocr_engines.pool import PooledEngine


@pytest.fixture(scope="module")
def pooled():
    engine = PooledEngine("tesseract", workers=2)
    engine.warm_up()
    yield engine
    engine.close()


def test_same_result_as_in_process(pooled, golden_dir):
    doc = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    direct = get_engine("tesseract").extract(doc.path).to_dict()
    via_pool = pooled.extract(doc.path).to_dict()
    assert via_pool["fields"] == direct["fields"] and via_pool["line_items"] == direct["line_items"]
    assert pooled.version == direct["engine_version"]


def test_typed_errors_cross_the_process_boundary(pooled, tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(E.EmptyDocumentError, match="empty.pdf"):
        pooled.extract(empty)


def test_concurrent_pdf_reads_are_safe(pooled, golden_dir):
    """Threads sharing pdfium crash the process; the service's threads share this pool instead."""
    docs = [d for d in golden_documents(golden_dir) if d.group == "digital"]
    with ThreadPoolExecutor(4) as threads:
        results = list(threads.map(lambda d: pooled.extract(d.path), docs * 2))
    assert [r.value("invoice_id") for r in results] == [d.truth["invoice_id"] for d in docs * 2]


def test_in_process_pdfium_use_is_serialised(golden_dir):
    engine = get_engine("tesseract")
    docs = [d for d in golden_documents(golden_dir) if d.group == "digital"]
    with ThreadPoolExecutor(4) as threads:
        results = list(threads.map(lambda d: engine.extract(d.path), docs * 3))
    assert [r.value("total_amount") for r in results] == [d.truth["total_amount"] for d in docs * 3]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_async_reads_match_and_share_the_workers(pooled, golden_dir, tmp_path, loop):
    """The service awaits the workers on its event loop (uvicorn's: uvloop); a thread (the shadow
    reads) uses the same pool at once. uvloop leaves a polled pipe non-blocking: a thread's read
    of a worker the loop used before must still wait for its answer."""
    import asyncio

    import uvloop

    run = uvloop.run if loop == "uvloop" else asyncio.run
    docs = [d for d in golden_documents(golden_dir) if d.group == "digital"]

    async def both():
        loop_reads = [pooled.extract_async(d.path) for d in docs * 2]
        in_thread = asyncio.to_thread(lambda: [pooled.extract(d.path) for d in docs * 2])
        return await asyncio.gather(*loop_reads, in_thread)

    *from_loop, from_thread = run(both())
    assert [r.value("invoice_id") for r in from_loop] == [d.truth["invoice_id"] for d in docs * 2]
    assert [r.value("invoice_id") for r in from_thread] == [d.truth["invoice_id"] for d in docs * 2]
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(E.EmptyDocumentError):
        run(pooled.extract_async(empty))
    assert len(pooled.pids()) == 2  # no worker was lost on the way


def test_an_answer_longer_than_the_pipe_buffer_arrives_whole(pooled, tmp_path):
    """A long document's answer (its text alone is > 64 KiB) is written in pieces: the loop must
    read it whole, not fail half-way on a non-blocking pipe."""
    import uvloop
    from reportlab.pdfgen import canvas

    path = tmp_path / "long.pdf"
    c = canvas.Canvas(str(path), invariant=1)
    for page in range(30):
        for line in range(60):
            c.drawString(40, 800 - 12 * line, f"Pozycja {page * 60 + line:05d} usluga doradcza wg umowy nr "
                                             f"{page:03d}/{line:03d}/2026 kwota 100,00 PLN")
        c.showPage()
    c.save()
    result = uvloop.run(pooled.extract_async(path))
    assert result.pages == 30 and len(result.text.encode()) > 100 * 1024
    assert "Pozycja 01799" in result.text
    assert len(pooled.pids()) == 2


def test_a_dead_worker_fails_only_its_document_and_is_replaced(golden_dir):
    """ProcessPoolExecutor refuses all work after one crash; this pool loses one document."""
    import os
    import signal
    import threading
    import time

    scan = next(d for d in golden_documents(golden_dir) if d.group == "scan300")
    digital = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    engine = PooledEngine("tesseract", workers=1)
    try:
        engine.warm_up()
        [victim] = engine.pids()
        outcome: dict = {}
        reader = threading.Thread(target=lambda: outcome.update(error=_raises(engine.extract, scan.path)))
        reader.start()
        time.sleep(0.2)  # the scan takes about a second: the worker is mid-read
        os.kill(victim, signal.SIGKILL)
        reader.join(30)
        assert isinstance(outcome["error"], E.EngineCrashedError) and outcome["error"].code == "engine_crashed"
        # The next document waits for the replacement and is read by it.
        assert engine.extract(digital.path).value("invoice_id") == digital.truth["invoice_id"]
        assert len(engine.pids()) == 1 and engine.pids() != [victim]
    finally:
        engine.close()
    with pytest.raises(E.EngineUnavailableError, match="closed"):
        engine.extract(digital.path)


def test_a_killed_worker_leaves_no_tesseract_process_and_no_temporary_files(golden_dir, tmp_path, monkeypatch):
    """The probe: after SIGKILL the worker's Tesseract child kept running, and 2 /tmp/tess_*
    files leaked per kill (the cli backend: Tesseract as a child process)."""
    import glob
    import os
    import signal
    import tempfile
    import threading
    import time

    import psutil

    # a temporary directory of this test's own (the workers are spawned: they take TMPDIR): other
    # tests' pools, running beside this one, make and remove their scratch folders in /tmp
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", None)
    scan = next(d for d in golden_documents(golden_dir) if d.group == "scan300")
    engine = PooledEngine("tesseract", workers=1, backend="cli")
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "tess_*")))
    scratch_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "ocr-tesseract-worker-*")))
    try:
        engine.warm_up()
        [victim] = engine.pids()
        reader = threading.Thread(target=lambda: _raises(engine.extract, scan.path))
        reader.start()
        deadline = time.monotonic() + 20
        children = []
        while not children and time.monotonic() < deadline:  # wait until Tesseract runs
            children = [c for c in psutil.Process(victim).children() if "tesseract" in c.name()]
            time.sleep(0.02)
        assert children, "no Tesseract child seen"
        os.kill(victim, signal.SIGKILL)
        reader.join(30)
        deadline = time.monotonic() + 10
        while len(engine.pids()) != 1 or engine.pids() == [victim]:
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.05)
        time.sleep(0.2)
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        assert not set(glob.glob(os.path.join(tempfile.gettempdir(), "tess_*"))) - before
        scratch = set(glob.glob(os.path.join(tempfile.gettempdir(), "ocr-tesseract-worker-*")))
        assert len(scratch - scratch_before) == 1  # the replacement's; the killed worker's is gone
    finally:
        engine.close()


def test_a_worker_that_cannot_start_is_a_typed_error():
    with pytest.raises(E.UnknownEngineError):
        PooledEngine("no-such-engine", workers=1).warm_up()


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return exc
    return None


def test_with_no_worker_left_callers_get_a_typed_error_not_a_wait_forever(golden_dir, monkeypatch):
    """The only worker dies and its replacement cannot start (here: the cli backend's Tesseract
    gone from PATH): the waiting read is refused with a typed error, later reads are refused at
    once, and once the cause is fixed the pool starts afresh."""
    import os
    import signal
    import time

    digital = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    engine = PooledEngine("tesseract", workers=1, backend="cli")
    try:
        engine.warm_up()
        [victim] = engine.pids()
        monkeypatch.setenv("PATH", "/nonexistent")  # inherited by the replacement process
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while engine.pids() and time.monotonic() < deadline:  # dead while idle, as an OOM kill would leave it
            time.sleep(0.02)
        with ThreadPoolExecutor(1) as threads:
            waiting = threads.submit(engine.extract, digital.path)
            with pytest.raises(E.EngineUnavailableError, match="no tesseract worker is running.*not installed"):
                waiting.result(timeout=60)
        assert engine.pids() == [] and engine.workers_status()["live"] == 0
        with pytest.raises(E.EngineUnavailableError, match="not installed"):
            engine.extract(digital.path)
        monkeypatch.undo()
        assert engine.extract(digital.path).value("invoice_id") == digital.truth["invoice_id"]
        assert engine.workers_status() == {"configured": 1, "live": 1, "pids": engine.pids(),
                                           "version": engine.version}
        assert engine.version.endswith(" (cli)")
    finally:
        engine.close()


def test_a_read_past_the_deadline_is_ended_and_its_worker_replaced(golden_dir):
    """A read that does not answer in time (a scan takes about a second; the deadline here is 0.25 s) is
    ended with OcrTimeoutError, from a thread and from the event loop; its worker is killed and
    replaced, and the next document is read. The OCR runs in the worker itself (tesserocr): the
    hang the deadline ends is inside the worker's own native code, not in a child it waits for."""
    import uvloop

    scan = next(d for d in golden_documents(golden_dir) if d.group == "scan300")
    digital = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    engine = PooledEngine("tesseract", workers=1, deadline_s=0.25, backend="tesserocr")
    try:
        engine.warm_up()
        assert engine.version.endswith(" (tesserocr)")
        [first] = engine.pids()
        with pytest.raises(E.OcrTimeoutError, match="did not answer within 0.25 s"):
            engine.extract(scan.path)
        with pytest.raises(E.OcrTimeoutError, match="did not answer within 0.25 s"):
            uvloop.run(engine.extract_async(scan.path))
        assert engine.extract(digital.path).value("invoice_id") == digital.truth["invoice_id"]
        assert uvloop.run(engine.extract_async(digital.path)).value("invoice_id") == digital.truth["invoice_id"]
        assert len(engine.pids()) == 1 and first not in engine.pids()
    finally:
        engine.close()
    with pytest.raises(ValueError, match="deadline_s"):
        PooledEngine("tesseract", workers=1, deadline_s=0)


def test_a_crash_inside_in_process_ocr_fails_only_its_document(golden_dir, caplog):
    """Tesseract in the worker (tesserocr) segfaults mid-page (SIGSEGV while the worker spends
    CPU in recognition): the caller gets EngineCrashedError, the worker is replaced, and the next
    document is read, as when a Tesseract child died."""
    import logging
    import os
    import signal
    import threading
    import time

    import psutil

    scan = next(d for d in golden_documents(golden_dir) if d.group == "scan300")
    digital = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    engine = PooledEngine("tesseract", workers=1, backend="tesserocr")
    try:
        engine.warm_up()
        [victim] = engine.pids()
        worker = psutil.Process(victim)
        idle_cpu = sum(worker.cpu_times()[:2])
        outcome: dict = {}
        reader = threading.Thread(target=lambda: outcome.update(error=_raises(engine.extract, scan.path)))
        reader.start()
        deadline = time.monotonic() + 20
        while sum(worker.cpu_times()[:2]) - idle_cpu < 0.3:  # the PNG decodes in ms: 0.3 s in, it recognises
            assert time.monotonic() < deadline and reader.is_alive(), "the worker never got busy"
            time.sleep(0.01)
        assert not worker.children()  # no Tesseract process: the OCR runs in the worker
        with caplog.at_level(logging.ERROR, logger="ocr_engines.pool"):
            os.kill(victim, signal.SIGSEGV)
            reader.join(30)
            assert isinstance(outcome["error"], E.EngineCrashedError) and "died" in outcome["error"].message
            assert engine.extract(digital.path).value("invoice_id") == digital.truth["invoice_id"]
        assert len(engine.pids()) == 1 and engine.pids() != [victim]
        assert f"(pid {victim}) died with exit code -{int(signal.SIGSEGV)}" in caplog.text
    finally:
        engine.close()


def test_callers_that_give_up_while_waiting_never_cost_the_pool_a_worker(golden_dir):
    """A request cancelled while it waits for a worker, in the very turn the worker is handed to
    it (here: the read before it finishes and cancels it, as a hedged or first-wins caller does),
    must give the worker back: a lost one would make every later read wait forever."""
    import asyncio

    import uvloop

    digital = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    engine = PooledEngine("tesseract", workers=1)

    async def rounds():
        for _ in range(3):
            waiting: list[asyncio.Task] = []

            async def first():
                result = await engine.extract_async(digital.path)
                waiting[0].cancel()  # the worker is being handed to it in this same turn
                return result

            holder = asyncio.create_task(first())
            await asyncio.sleep(0)
            waiting.append(asyncio.create_task(engine.extract_async(digital.path)))
            await holder
            with pytest.raises(asyncio.CancelledError):
                await waiting[0]
            # with one worker, a lost one would make this wait forever
            await asyncio.wait_for(engine.extract_async(digital.path), 30)

    try:
        engine.warm_up()
        uvloop.run(rounds())
        asyncio.run(rounds())
        with ThreadPoolExecutor(1) as thread:
            assert thread.submit(engine.extract, digital.path).result(30).value("invoice_id") == \
                digital.truth["invoice_id"]
    finally:
        engine.close()


def test_close_lets_reads_in_flight_finish_and_refuses_new_ones(golden_dir):
    """Shutting down while documents are being read: those reads still get their answers (from
    the loop and from a thread), the workers are stopped afterwards, and new reads are refused."""
    import asyncio
    import os
    import time

    import uvloop

    scan = next(d for d in golden_documents(golden_dir) if d.group == "scan300")
    engine = PooledEngine("tesseract", workers=2)
    engine.warm_up()
    pids = engine.pids()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:  # exited and reaped
            return False

    async def read_while_closing():
        in_thread = asyncio.create_task(asyncio.to_thread(engine.extract, scan.path))
        on_loop = asyncio.create_task(engine.extract_async(scan.path))
        await asyncio.sleep(0.3)  # both reads are under way
        await asyncio.to_thread(engine.close)
        return await asyncio.wait_for(asyncio.gather(on_loop, in_thread), 60)

    results = uvloop.run(read_while_closing())
    assert [r.value("invoice_id") for r in results] == [scan.truth["invoice_id"]] * 2
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)
    with pytest.raises(E.EngineUnavailableError, match="closed"):
        uvloop.run(engine.extract_async(scan.path))
