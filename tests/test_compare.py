"""Shadow comparison: hand-made pairs for each rule, then real results of both engines."""

import pytest

from ocr_engines import errors as E
from ocr_engines import get_engine
from ocr_engines.compare import EXTRA, IGNORED, MATCH, MISMATCH, MISSING, IgnoreRule, compare
from ocr_engines.evaluation import golden_documents


def result(**fields):
    return {"fields": {k: {"value": v, "confidence": 0.9} for k, v in fields.items()}, "line_items": []}


def test_normalised_equality_per_field_type():
    c = compare(result(total_amount="1703.55", invoice_date="2026-11-27", supplier_tax_id="5213017228",
                       supplier_iban="PL61109010140000071219812874", currency="PLN"),
                result(total_amount="1703.550", invoice_date="27.11.2026", supplier_tax_id="521-301-72-28",
                       supplier_iban="pl61 1090 1014 0000 0712 1981 2874", currency="pln"))
    assert {d.status for d in c.fields.values()} == {MATCH}
    assert c.agreement == 1.0


def test_amounts_differ_by_one_grosz():
    c = compare(result(total_amount="1703.55"), result(total_amount="1703.56"))
    assert c.fields["total_amount"].status == MISMATCH and c.agreement == 0.0


def test_missing_and_extra_fields_count_against_agreement():
    c = compare(result(invoice_id="FV/1/2026", due_date="2026-12-01"), result(invoice_id="FV/1/2026", currency="PLN"))
    assert c.fields["due_date"].status == MISSING
    assert c.fields["currency"].status == EXTRA
    assert c.agreement == pytest.approx(1 / 3)
    assert c.mismatched_fields == ["due_date", "currency"]


def test_ignore_rules():
    control = result(supplier_name="Łódzkie Sukno Sp. z o.o.", due_date="2026-12-01")
    candidate = result(supplier_name="LÓDZKIE SUKNO Sp. z o.o.", due_date="2026-12-02")
    assert compare(control, candidate).agreement == 0.0
    c = compare(control, candidate, [IgnoreRule.parse("supplier_name:case"), IgnoreRule.parse("due_date")])
    assert c.fields["supplier_name"].status == MATCH and c.fields["due_date"].status == IGNORED
    assert c.agreement == 1.0
    with pytest.raises(ValueError):
        IgnoreRule.parse("no_such_field")
    with pytest.raises(ValueError):
        IgnoreRule.parse("due_date:sometimes")


def test_candidate_error_is_a_total_disagreement():
    c = compare(result(invoice_id="FV/1"), E.OcrTimeoutError("x.pdf: OCR took longer than 60 s"))
    assert c.candidate_error == "ocr_timeout: x.pdf: OCR took longer than 60 s"
    assert c.fields["invoice_id"].status == MISSING and c.agreement == 0.0


def test_control_error_leaves_agreement_undecided():
    c = compare(E.QuotaExceededError("quota"), result(invoice_id="FV/1"))
    assert c.control_error and c.agreement is None


def test_line_items_compared_by_value():
    item = {"description": "Kawa", "quantity": "2", "unit_price": "10.00", "amount": "20.00", "vat_rate": "23"}
    same = dict(item, quantity="2.0", unit_price="10")
    other = dict(item, amount="20.01")
    c = compare({"fields": {}, "line_items": [item, item]}, {"fields": {}, "line_items": [same, other]})
    assert c.items_matched == 1 and c.items_total == 2 and c.line_items.status == MISMATCH


@pytest.fixture(scope="module")
def engines(google_engine):
    return google_engine(), get_engine("tesseract")


def test_real_results_of_both_engines(engines, golden_dir):
    """Digital PDFs: the engines agree fully; scans: mostly, and every disagreement is named."""
    google, tesseract = engines
    docs = golden_documents(golden_dir)
    digital = [d for d in docs if d.group == "digital"][:4]
    scans = [d for d in docs if d.group == "scan_degraded"][:3]
    for doc in digital:
        c = compare(google.extract(doc.path), tesseract.extract(doc.path))
        assert c.agreement == 1.0 and c.line_items.status == MATCH, doc.path.name
    for doc in scans:
        c = compare(google.extract(doc.path), tesseract.extract(doc.path))
        assert c.agreement is not None and c.agreement >= 0.8, (doc.path.name, c.mismatched_fields)
        truth_fields = {k for k in doc.truth if k != "line_items"}
        assert set(c.fields) >= truth_fields
