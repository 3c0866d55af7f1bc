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


def test_async_reads_match_and_share_the_workers(pooled, golden_dir, tmp_path):
    """The service awaits the workers on its event loop; a thread may use the same pool at once."""
    import asyncio

    docs = [d for d in golden_documents(golden_dir) if d.group == "digital"]

    async def both():
        in_thread = asyncio.to_thread(lambda: [pooled.extract(d.path) for d in docs])
        return await asyncio.gather(in_thread, *(pooled.extract_async(d.path) for d in docs * 2))

    from_thread, *from_loop = asyncio.run(both())
    assert [r.value("invoice_id") for r in from_loop] == [d.truth["invoice_id"] for d in docs * 2]
    assert [r.value("invoice_id") for r in from_thread] == [d.truth["invoice_id"] for d in docs]
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(E.EmptyDocumentError):
        asyncio.run(pooled.extract_async(empty))
