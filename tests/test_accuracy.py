"""Accuracy floors on the committed golden subset: a regression in extraction fails CI.

Targets (issue 2): field exact-match 100 % on digital PDFs, >= 99 % on clean 300-DPI scans,
>= 95 % on degraded scans. On the committed ksef-official subset (invoices of the official KSeF
visualiser, a layout we did not design: issue 12), the floors are what the engine reads today, so
that a change that helps our own layouts but hurts an unfamiliar one fails CI.
"""

import json
import subprocess
import time

import pytest

from ocr_engines.evaluation import golden_documents, run_documents, summarise

FLOORS = {"digital": 1.0, "scan300": 0.99, "scan_degraded": 0.95}
# Line items (position-wise exact match of all five keys): not an issue target, but pinned at
# what the engine reaches on the subset today so that a regression fails CI.
ITEM_FLOORS = {"digital": 1.0, "scan300": 0.85, "scan_degraded": 0.70}


# ksef-official subset (6 invoices: 6 digital, 3 clean and 3 degraded 2-page scans): header
# fields (12) and line-item F1.
KSEF_FLOORS = {"digital": (1.0, 1.0), "scan_clean": (1.0, 0.9), "scan_degraded": (0.97, 0.55)}


@pytest.fixture(scope="module")
def ksef_report(ksef_dir):
    scores = list(run_documents(golden_documents(ksef_dir), "tesseract", workers=2))
    rep = summarise(scores, 1.0)
    rep["_scores"] = scores
    return rep


@pytest.mark.parametrize("variant", sorted(KSEF_FLOORS))
def test_ksef_official_floors(ksef_report, variant):
    group = ksef_report["groups"][variant]
    header, items = KSEF_FLOORS[variant]
    misses = {s.path: s.mismatches for s in ksef_report["_scores"] if s.group == variant and s.mismatches}
    assert group["errors"] == 0
    assert group["header_exact_match"] >= header, misses
    assert group["line_item_f1"] >= items, misses


@pytest.fixture(scope="module")
def report(golden_dir):
    docs = golden_documents(golden_dir)
    start = time.perf_counter()
    scores = list(run_documents(docs, "tesseract", workers=2))
    rep = summarise(scores, time.perf_counter() - start)
    rep["_scores"] = scores
    return rep


def test_every_variant_is_present(report):
    assert set(report["groups"]) == set(FLOORS)
    assert report["errors"] == []


@pytest.mark.parametrize("variant", sorted(FLOORS))
def test_field_exact_match_floor(report, variant):
    group = report["groups"][variant]
    misses = {s.path: s.mismatches for s in report["_scores"] if s.group == variant and s.mismatches}
    assert group["field_exact_match"] >= FLOORS[variant], misses


@pytest.mark.parametrize("variant", sorted(ITEM_FLOORS))
def test_line_item_floor(report, variant):
    group = report["groups"][variant]
    assert group["line_item_exact_match"] >= ITEM_FLOORS[variant]


def test_digital_pdfs_are_read_completely(report):
    digital = report["groups"]["digital"]
    assert digital["all_fields_correct"] == 1.0
    assert digital["per_field"]["line_items"] == 1.0
    assert digital["cer"] == 0.0


def test_evaluate_cli_reports_json(cli, golden_dir):
    proc = subprocess.run([*cli, "evaluate", "--golden", str(golden_dir), "--limit", "3", "--workers", "1",
                           "--output", "json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["documents"] == 3 and out["pages"] >= 3 and out["pages_per_s"] > 0
    assert 0 <= out["overall"]["field_exact_match"] <= 1
    assert "invoice_id" in out["overall"]["per_field"]


def test_evaluate_works_on_any_directory(tmp_path, golden_dir, cli):
    """No manifest, nested folders, other names: still evaluated (one group 'all')."""
    doc = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    nested = tmp_path / "customer-a"
    nested.mkdir()
    (nested / "march.pdf").write_bytes(doc.path.read_bytes())
    (nested / "march.json").write_text(json.dumps(doc.truth))
    (tmp_path / "orphan.pdf").write_bytes(doc.path.read_bytes())  # no truth: skipped
    proc = subprocess.run([*cli, "evaluate", "--golden", str(tmp_path), "--output", "json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["documents"] == 1 and list(out["groups"]) == ["all"]
    assert out["overall"]["all_fields_correct"] == 1.0


def test_evaluate_cli_refuses_a_directory_without_truth(tmp_path, cli):
    proc = subprocess.run([*cli, "evaluate", "--golden", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5 and "no_documents" in proc.stderr


def test_ksef_reference_on_the_ksef_official_subset(ksef_report, ksef_dir):
    """The KSeF number and verification link printed on a visualisation (QR code, text) are
    returned exactly, on digital PDFs and on clean and degraded scans; an invoice that prints
    none gets none (xml/NNN.meta.json: what the page prints, {} when nothing)."""
    checked = 0
    for score in ksef_report["_scores"]:
        stem = score.path.rsplit("/", 1)[-1].removesuffix(".pdf")
        printed = json.loads((ksef_dir / "xml" / f"{stem}.meta.json").read_text())
        if not printed:
            assert score.ksef is None, score.path
            continue
        checked += 1
        assert score.ksef["number"] == printed["nrKSeF"], score.path
        assert score.ksef["verification_url"] == printed["qrCode"], score.path
        # scans: from the QR code; a digital PDF prints the link in its text layer
        assert score.ksef["link_source"] == ("qr" if score.group.startswith("scan") else "text"), score.path
    assert checked == 6  # 001, 004, 007: each a digital PDF and a scan
