"""Layout families of the generator and leave-one-family-out reading (issue 12, step 2 and 6).

Digital PDFs only (text layer, no OCR): the scan figures are bench/bench_accuracy.py's.
"""

from __future__ import annotations

import json

import pytest

from expectations.corpus.families import FAMILIES, FAMILY_NAMES, family_labels, withheld_labels
from expectations.corpus.generate import generate_family_corpus
from ocr_engines import labels
from ocr_engines.evaluation import golden_documents, run_documents, summarise


@pytest.fixture(scope="module")
def family_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("families")
    generate_family_corpus(out, 2, variants=("digital",), workers=1)
    return out


def test_families_are_reproducible_and_differ(family_corpus, tmp_path):
    again = tmp_path / "again"
    generate_family_corpus(again, 2, variants=("digital",), workers=1, families=["hurt_pl"])
    assert (again / "hurt_pl-001.pdf").read_bytes() == (family_corpus / "hurt_pl-001.pdf").read_bytes()
    # Families differ in wording: each has labels of its own that no other family prints.
    for name in FAMILY_NAMES:
        own = withheld_labels(name)
        assert len(own) >= 5, name
        for other in FAMILY_NAMES:
            if other != name:
                assert not own & family_labels(FAMILIES[other])


def test_every_family_prints_date_and_total(family_corpus):
    manifest = json.loads((family_corpus / "manifest.json").read_text())
    assert {entry["layout"] for entry in manifest["documents"]} == set(FAMILY_NAMES)
    for entry in manifest["documents"]:
        truth = json.loads((family_corpus / entry["truth"]).read_text())
        assert {"invoice_date", "total_amount", "supplier_name"} <= truth.keys(), entry["file"]


def test_withhold_takes_wording_out_and_restores_it():
    assert "kupujacy" in labels.RECEIVER
    removed = labels.withhold(withheld_labels("hurt_pl"))
    try:
        assert "kupujacy" not in labels.RECEIVER and "kupujacy" in removed
        assert not any(label == "kupujacy" for label in labels.ANY)
        assert "nabywca" in labels.RECEIVER  # wording other families print stays
    finally:
        labels.withhold(())
    assert "kupujacy" in labels.RECEIVER and "kupujacy" in labels.ANY


def test_left_out_families_are_read_without_their_wording(family_corpus):
    """Each family read with its own labels unknown: the label-free reading (invoice number
    after a 'number' word, dates by order, parties as tax-id blocks, totals by arithmetic)
    must carry it. Bench figure (6 per family, digital): 96 % of header fields."""
    docs = golden_documents(family_corpus)
    scores = []
    for name in FAMILY_NAMES:
        known = set().union(*(family_labels(f) for other, f in FAMILIES.items() if other != name))
        part = [d for d in docs if d.family == name]
        scores += list(run_documents(part, "tesseract", 1, withheld=tuple(withheld_labels(name)),
                                     known=tuple(known)))
    assert labels.RECEIVER == labels._ORIGINAL["RECEIVER"]  # the run restored the lexicon
    overall = summarise(scores, 1.0)["overall"]
    assert overall["errors"] == 0
    assert overall["header_exact_match"] >= 0.88, overall
    receipts = [s for s in scores if s.family == "receipt_en"]
    judged = [s.fields[k] for s in receipts for k in ("invoice_date", "total_amount")]
    assert sum(judged) / len(judged) >= 0.75
