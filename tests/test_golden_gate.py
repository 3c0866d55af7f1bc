"""The GX golden gate on the committed golden set's digital subset, read by the real Tesseract engine.

GX is imported once for the module (it takes seconds); OCR runs once (the read cache is shared by
every test here, which is also how a migration run's repeated gates use it).
"""

import copy
import json
import os
import shutil
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert

from rollout.db import make_db, ocr_events, upgrade
from rollout.events import OcrEvent
from rollout.health.golden_gate import (GOLDEN_SUITE, NO_SHADOW_SAMPLE, SHADOW_SUITE, document_kind, document_name,
                                        golden_results, gx_history, run_golden_gate, subset_documents)
from rollout.health.gx_suites import SuiteIntegrityError, declared_expectations, default_gx_dir

pytest.importorskip("great_expectations")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gx-read-cache")


@pytest.fixture(scope="module")
def golden_rows(golden_dir, cache_dir):
    return golden_results(golden_dir, "tesseract", subset="digital", cache_dir=cache_dir)


def _gate(db, golden_dir, tmp_path, cache_dir, **kw):
    kw.setdefault("run_id", f"test-{uuid.uuid4().hex[:8]}")
    upgrade(db)  # the schema, as the DAG's first task leaves it
    kw.setdefault("subset", "digital")
    return run_golden_gate(db, golden_dir, engine_name="tesseract", data_docs_dir=tmp_path / "docs",
                           cache_dir=cache_dir, **kw)


def _failed(outcome: dict, suite: str = GOLDEN_SUITE) -> set[tuple[str, str]]:
    (found,) = [s for s in outcome["suites"] if s["suite"] == suite]
    return {(f["expectation"], f.get("column")) for f in found["failed"]}


def test_rows_score_the_real_engine_and_come_from_the_cache(golden_dir, golden_rows, cache_dir):
    assert len(golden_rows) == 14 and {r["group"] for r in golden_rows} == {"digital"}
    assert all(r["error"] is None and r["engine"] == "tesseract" for r in golden_rows)
    one = next(r for r in golden_rows if r["document"] == "inv-0001.pdf")
    truth = json.loads((golden_dir / "inv-0001.json").read_text())
    assert one["total_grosze"] == int(truth["total_amount"].replace(".", ""))
    assert one["net_grosze"] + one["tax_grosze"] == one["total_grosze"] and one["amounts_diff_grosze"] == 0
    assert one["supplier_tax_id"] == truth["supplier_tax_id"] and one["supplier_tax_id_valid"] is True
    # inv-0004 (minimal layout, cash) prints no due date, net/VAT totals or account: no flag, not a miss
    minimal = next(r for r in golden_rows if r["document"] == "inv-0004.pdf")
    assert minimal["match_due_date"] is None and minimal["supplier_iban_valid"] is None
    assert minimal["amounts_diff_grosze"] is None
    # a second gate in the same migration run reads the cache: the stored timings come back unchanged
    assert golden_results(golden_dir, "tesseract", subset="digital", cache_dir=cache_dir) == golden_rows


def test_gate_passes_on_the_engine_and_is_stored(db_url, golden_dir, golden_rows, tmp_path, cache_dir):
    out = _gate(db_url, golden_dir, tmp_path, cache_dir, stage=1)
    assert out["success"] is True, out["suites"]
    (suite,) = out["suites"]
    declared = declared_expectations(GOLDEN_SUITE)
    assert suite["evaluated"] == suite["successful"] == len(declared) == 25
    assert out["documents"] == suite["documents"] == 14 and out["documents_per_kind"] == {"digital": 14}
    assert suite["observed"]["match_invoice_id"] == 1.0 and suite["observed"]["confidence"] >= 0.95

    index = tmp_path / "docs" / "index.html"
    assert out["data_docs"] == str(index) and index.is_file()
    assert GOLDEN_SUITE in index.read_text()
    page = tmp_path / "docs" / suite["data_docs"].split(str(tmp_path / "docs") + "/", 1)[1]
    assert page.is_file() and "match_total_amount" in page.read_text()

    (row,) = [r for r in gx_history(db_url, limit=50) if r["id"] in out["ids"]]
    assert row["suite"] == GOLDEN_SUITE and row["success"] is True and row["stage"] == 1
    counts = row["evaluated_expectations"], row["successful_expectations"], row["unsuccessful_expectations"]
    assert counts == (25, 25, 0)
    assert row["documents"] == 14 and row["data_docs_path"] == suite["data_docs"]
    assert row["results"]["failed"] == [] and row["results"]["observed"]["match_total_amount"] == 1.0
    assert row["results"]["documents_per_kind"] == {"digital": 14}


CORRUPTIONS = {
    "totals_do_not_add_up": (lambda r: r.update(total_grosze=r["total_grosze"] + 2, amounts_diff_grosze=-2),
                             ("expect_column_values_to_be_between", "amounts_diff_grosze")),
    "invalid_nip": (lambda r: r.update(supplier_tax_id="1234567890", supplier_tax_id_valid=False),
                    ("expect_column_values_to_be_in_set", "supplier_tax_id_valid")),
    "critical_field_missing": (lambda r: r.update(invoice_id=None),
                               ("expect_column_values_to_not_be_null", "invoice_id")),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_gate_fails_on_corrupt_rows(case, golden_dir, golden_rows, tmp_path, cache_dir):
    corrupt, expected = CORRUPTIONS[case]
    rows = copy.deepcopy(golden_rows)
    corrupt(next(r for r in rows if r["amounts_diff_grosze"] == 0))  # a document with all three amounts
    db = f"sqlite:///{tmp_path / 'gate.db'}"
    out = _gate(db, golden_dir, tmp_path, cache_dir, rows=rows, stage=2)
    assert out["success"] is False
    assert _failed(out) == {expected}
    (stored,) = gx_history(db)
    assert stored["success"] is False and stored["unsuccessful_expectations"] == 1
    assert [f["column"] for f in stored["results"]["failed"]] == [expected[1]]


def test_an_amount_off_by_one_grosz_passes(golden_dir, golden_rows, tmp_path, cache_dir):
    rows = copy.deepcopy(golden_rows)
    for r in rows:
        if r["amounts_diff_grosze"] == 0:
            r["total_grosze"] += 1
            r["amounts_diff_grosze"] = -1
    assert _gate(f"sqlite:///{tmp_path / 'gate.db'}", golden_dir, tmp_path, cache_dir, rows=rows)["success"] is True


def _shadow_events(db_url, at: datetime, n: int, total_ok_every: int):
    db = make_db(db_url)
    upgrade(db)
    with db.begin() as conn:
        for i in range(n):
            fields = {"invoice_id": "match", "invoice_date": "match", "supplier_tax_id": "match", "net_amount": "match",
                      "total_amount": "mismatch" if i % total_ok_every == 0 else "match"}
            agreement = sum(v == "match" for v in fields.values()) / len(fields)
            conn.execute(insert(ocr_events).values(OcrEvent(
                request_id=f"r{i}", engine="tesseract", stage=1, percentage=5, duration_ms=900, success=True,
                confidence=0.95, pages=1, shadow=True, shadow_agreement=agreement, field_agreement=fields,
                at=at - timedelta(seconds=i)).to_row()))
    db.dispose()


def test_shadow_sample_is_validated_when_there_is_one(db_url, golden_dir, golden_rows, tmp_path, cache_dir):
    now = datetime.now(timezone.utc)
    window = (now - timedelta(hours=1), now + timedelta(seconds=1))
    out = _gate(db_url, golden_dir, tmp_path, cache_dir, rows=golden_rows, shadow_window=window)
    shadow = out["suites"][1]
    assert shadow["suite"] == SHADOW_SUITE and shadow["success"] is None and shadow["skipped"] == NO_SHADOW_SAMPLE
    assert out["success"] is True  # no shadow sample is not a failure

    _shadow_events(db_url, now, 30, total_ok_every=10)  # total_amount agrees on 27/30
    out = _gate(db_url, golden_dir, tmp_path, cache_dir, rows=golden_rows, shadow_window=window)
    shadow = out["suites"][1]
    assert shadow["success"] is True and shadow["documents"] == 30
    assert shadow["evaluated"] == len(declared_expectations(SHADOW_SUITE))

    _shadow_events(db_url, now - timedelta(minutes=1), 30, total_ok_every=2)  # 42/60 now
    out = _gate(db_url, golden_dir, tmp_path, cache_dir, rows=golden_rows, shadow_window=window)
    assert out["success"] is False and _failed(out, SHADOW_SUITE) == {
        ("expect_column_mean_to_be_between", "agree_total_amount")}
    stored = {r["id"]: r for r in gx_history(db_url, limit=100)}
    assert [stored[i]["suite"] for i in out["ids"]] == [GOLDEN_SUITE, SHADOW_SUITE]
    assert stored[out["ids"][1]]["success"] is False


def test_a_dropped_expectation_is_an_error_not_a_pass(golden_dir, golden_rows, tmp_path, cache_dir):
    gx_dir = tmp_path / "gx"
    shutil.copytree(default_gx_dir(), gx_dir)
    path = gx_dir / "expectations" / f"{GOLDEN_SUITE}.json"
    suite = json.loads(path.read_text())
    suite["expectations"].append({"type": "expect_column_values_to_be_valid_polish_nip", "kwargs": {"column": "x"},
                                  "meta": {}, "id": str(uuid.uuid4()), "severity": "critical"})
    path.write_text(json.dumps(suite))
    with pytest.raises(SuiteIntegrityError, match="declares 26 expectations, GX loaded 25"):
        _gate(f"sqlite:///{tmp_path / 'gate.db'}", golden_dir, tmp_path, cache_dir, rows=golden_rows, gx_dir=gx_dir)


def test_suites_load_in_the_gx_file_context(tmp_path):
    import great_expectations as gx

    root = tmp_path / "gx"
    shutil.copytree(default_gx_dir(), root)  # a copy: opening the context creates uncommitted/
    context = gx.get_context(mode="file", context_root_dir=str(root))
    for name in (GOLDEN_SUITE, SHADOW_SUITE):
        assert len(context.suites.get(name).expectations) == len(declared_expectations(name))


@pytest.mark.parametrize("corpus", ["ksef-official", "ksef-thirdparty"])
def test_gate_runs_on_a_committed_renderer_subset(golden_dir, tmp_path, cache_dir, corpus):
    """golden_subset 'ksef-official:digital' (the official KSeF visualiser) or 'ksef-thirdparty:
    digital' (three other renderers): layouts this team did not design instead of the golden set;
    the folder is found by name."""
    out = _gate(f"sqlite:///{tmp_path / 'gx.db'}", golden_dir, tmp_path, cache_dir, subset=f"{corpus}:digital",
                run_id="test-ksef")
    (suite,) = out["suites"]
    assert out["documents"] == suite["documents"] == 6
    assert out["documents_per_kind"] == {f"{corpus}:digital": 6}
    assert out["success"] is True, suite["failed"]
    assert suite["evaluated"] == suite["successful"] == len(declared_expectations(GOLDEN_SUITE))
    assert suite["observed"]["match_total_amount"] == 1.0 and suite["observed"]["match_line_items"] == 1.0


def test_an_unknown_golden_subset_is_refused():
    from rollout.migration import MigrationPlan, PlanError

    assert MigrationPlan.from_params({"golden_subset": "ksef-official:scan"}).golden_subset == "ksef-official:scan"
    with pytest.raises(PlanError, match="golden_subset must be one of"):
        MigrationPlan.from_params({"golden_subset": "ksef-official:bogus"})


def test_the_default_subset_reads_scans_and_the_ksef_official_invoices(golden_dir):
    """The plan's default, "mixed": a fixed sample of 4 digital, 4 clean and 4 degraded scans of
    the golden set (12 different invoices, all 7 layouts), all of ksef-official, PDF and scan, and
    ksef-thirdparty's PDFs (three other renderers); rows name every document once, a corpus's under
    its name."""
    from rollout.migration import MigrationPlan

    assert MigrationPlan().golden_subset == MigrationPlan.from_params({}).golden_subset == "mixed"
    folder, docs = subset_documents(golden_dir, "mixed")
    kinds = Counter(document_kind(d.path, d.group, folder) for d in docs)
    assert kinds == {"digital": 4, "scan300": 4, "scan_degraded": 4, "ksef-official:digital": 6,
                     "ksef-official:scan_clean": 3, "ksef-official:scan_degraded": 3, "ksef-thirdparty:digital": 6}
    names = [document_name(d.path, folder) for d in docs]
    assert len(set(names)) == len(names) == 30
    assert {"inv-0001.pdf", "inv-0005-scan300.png", "inv-0009-degraded.jpg", "ksef-official/pdf/001.pdf",
            "ksef-official/scans/025.pdf", "ksef-thirdparty/pdf/003.pdf"} <= set(names)
    golden = [d for d in docs if d.family not in ("ksef-official", "ksef-thirdparty")]
    assert len({d.name for d in golden}) == 12 and len({d.family for d in golden}) == 7
    assert [d.path for d in subset_documents(golden_dir, "mixed")[1]] == [d.path for d in docs]  # fixed


def _counting_reads(monkeypatch) -> list[str]:
    """The names of the documents the engine reads in this process from now on (it still reads them)."""
    from ocr_engines.tesseract import TesseractEngine

    reads, extract = [], TesseractEngine.extract

    def counting(self, path):
        reads.append(Path(path).name)
        return extract(self, path)

    monkeypatch.setattr(TesseractEngine, "extract", counting)
    return reads


def test_the_read_cache_hits_until_the_engine_fingerprint_changes(golden_dir, tmp_path, monkeypatch):
    from ocr_engines import calibration

    reads = _counting_reads(monkeypatch)
    cache = tmp_path / "cache"
    paths = [str(golden_dir / "inv-0001.pdf"), str(golden_dir / "inv-0002.pdf")]

    def read():
        return golden_results(golden_dir, "tesseract", subset="digital", cache_dir=cache, paths=paths)

    first = read()
    assert reads == ["inv-0001.pdf", "inv-0002.pdf"]
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")}
    assert len(entries) == 2
    # nothing changed: no read, nothing written, the same rows
    assert read() == first and len(reads) == 2
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")} == entries

    # one byte of the calibration table changed: another fingerprint, both documents read again
    changed = tmp_path / "calibration.json"
    text = calibration.CALIBRATION_FILE.read_text()
    assert text.count("0.998") == 1
    changed.write_text(text.replace("0.998", "0.997"))
    monkeypatch.setattr(calibration, "CALIBRATION_FILE", changed)
    calibration._table.cache_clear()
    try:
        read()
    finally:
        monkeypatch.undo()
        calibration._table.cache_clear()
    assert reads == ["inv-0001.pdf", "inv-0002.pdf"] * 2
    assert len(list(cache.rglob("*.json"))) == 4 and len(list((cache / "tesseract").iterdir())) == 2


def test_the_engine_fingerprint_covers_the_traineddata_and_options(tmp_path, monkeypatch):
    """Same inputs, same fingerprint (a copy of the traineddata elsewhere too); a changed byte of
    a language's traineddata or another option gives another one."""
    from ocr_engines.evaluation import engine_fingerprint
    from ocr_engines.tesseract_backends import tessdata_dir

    options = {"languages": "pol+eng", "backend": "cli", "target_xheight_px": 20.0}
    base = engine_fingerprint("tesseract", options)
    assert engine_fingerprint("tesseract", dict(options)) == base
    assert engine_fingerprint("tesseract", {**options, "target_xheight_px": 24.0}) != base
    assert engine_fingerprint("tesseract", {**options, "languages": "eng"}) != base

    copy = tmp_path / "tessdata"
    copy.mkdir()
    for name in ("eng", "osd", "pol"):
        source = Path(tessdata_dir()) / f"{name}.traineddata"
        if name == "pol":
            shutil.copyfile(source, copy / source.name)
        else:
            (copy / source.name).symlink_to(source)
    monkeypatch.setenv("TESSDATA_PREFIX", str(copy))
    assert engine_fingerprint("tesseract", options) == base
    pol = copy / "pol.traineddata"
    data = bytearray(pol.read_bytes())
    data[-1] ^= 1
    pol.write_bytes(bytes(data))
    stat = pol.stat()
    os.utime(pol, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new mtime, whatever the clock
    assert engine_fingerprint("tesseract", options) != base
