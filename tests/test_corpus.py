"""The golden invoice corpus: reproducible, internally consistent, and what its truth claims.

The committed subset in expectations/golden is the engine's yardstick, so these tests check it
against the generator (no drift), against the files on disk, and against the digital text layer.
"""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from stdnum import iban
from stdnum.pl import nip

from expectations.corpus import (DEFAULT_SEED, LAYOUT_NAMES, allocate, build_invoice,
                                 derive_seed, generate_corpus)
from expectations.corpus.fonts import text_width
from expectations.corpus.layouts import LAYOUTS, choose_typography
from expectations.corpus.sheet import PAGE_HEIGHT, PAGE_WIDTH, Sheet, TextOp

GOLDEN = Path(__file__).resolve().parents[1] / "expectations" / "golden"
GOLDEN_COUNT = 14


def _manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text(encoding="utf-8"))


def _golden_truths() -> list[tuple[dict, dict]]:
    """(manifest entry, truth) for every digital document of the committed subset."""
    return [(entry, json.loads((GOLDEN / entry["truth"]).read_text(encoding="utf-8")))
            for entry in _manifest(GOLDEN)["documents"] if entry["variant"] == "digital"]


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_same_seed_gives_identical_files_whatever_the_worker_count(tmp_path):
    generate_corpus(tmp_path / "one", count=3, seed=7, workers=1)
    generate_corpus(tmp_path / "two", count=3, seed=7, workers=2)

    first, second = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert len(first) == 3 * 3 * 2 + 1  # 3 invoices × 3 variants × (document + truth) + manifest
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_committed_subset_is_what_the_generator_produces(tmp_path):
    manifest = generate_corpus(tmp_path, count=GOLDEN_COUNT, seed=DEFAULT_SEED,
                               variants=("digital",), workers=1)

    for entry in manifest["documents"]:
        assert (tmp_path / entry["truth"]).read_text(encoding="utf-8") == \
            (GOLDEN / entry["truth"]).read_text(encoding="utf-8"), entry["truth"]
    committed = {(e["invoice"], e["pages"], e["layout"]) for e in _manifest(GOLDEN)["documents"]}
    assert {(e["invoice"], e["pages"], e["layout"]) for e in manifest["documents"]} == committed


def test_manifest_lists_exactly_the_files_on_disk():
    documents = _manifest(GOLDEN)["documents"]
    listed = {name for entry in documents for name in (entry["file"], entry["truth"])}

    on_disk = {path.name for path in GOLDEN.iterdir()} - {"manifest.json", "README.md"}
    assert listed == on_disk
    truths_by_invoice: dict[str, set[str]] = {}
    for entry in documents:
        truths_by_invoice.setdefault(entry["invoice"], set()).add(
            (GOLDEN / entry["truth"]).read_text(encoding="utf-8"))
    assert all(len(truths) == 1 for truths in truths_by_invoice.values())


def test_committed_subset_covers_every_kind_of_invoice():
    documents = _manifest(GOLDEN)["documents"]

    assert {entry["layout"] for entry in documents} == set(LAYOUT_NAMES)
    assert len(LAYOUT_NAMES) >= 7
    assert {entry["language"] for entry in documents} == {"pl", "en"}
    assert {entry["currency"] for entry in documents} == {"PLN", "EUR"}
    assert {entry["variant"] for entry in documents} == {"digital", "scan300", "scan_degraded"}
    assert any(entry["pages"] == 2 for entry in documents)


def test_any_seven_consecutive_invoices_show_every_layout():
    for start in range(1, 30):
        assert {allocate(index).layout for index in range(start, start + 7)} == set(LAYOUT_NAMES)


@pytest.mark.parametrize("entry, truth", _golden_truths(), ids=lambda value: value.get("invoice"))
def test_truth_values_are_valid_and_normalised(entry, truth):
    assert nip.is_valid(truth["supplier_tax_id"]) and re.fullmatch(r"\d{10}",
                                                                    truth["supplier_tax_id"])
    assert nip.is_valid(truth["receiver_tax_id"]) and re.fullmatch(r"\d{10}",
                                                                    truth["receiver_tax_id"])
    if "supplier_iban" in truth:
        assert iban.is_valid(truth["supplier_iban"])
        assert re.fullmatch(r"PL\d{26}", truth["supplier_iban"])
    for field in ("invoice_date", "delivery_date", "due_date"):
        if field in truth:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", truth[field])
    for field in ("net_amount", "total_tax_amount", "total_amount"):
        if field in truth:
            assert re.fullmatch(r"\d+\.\d{2}", truth[field])
    assert truth["currency"] == entry["currency"]
    assert {item["vat_rate"] for item in truth["line_items"]} <= {"23", "8", "5", "0"}


@pytest.mark.parametrize("entry, truth", _golden_truths(), ids=lambda value: value.get("invoice"))
def test_truth_amounts_add_up_to_the_grosz(entry, truth):
    items = truth["line_items"]
    assert 1 <= len(items) <= 8
    for item in items:
        line_net = Decimal(item["quantity"]) * Decimal(item["unit_price"])
        assert abs(line_net - Decimal(item["amount"])) <= Decimal("0.005")
    if "net_amount" in truth:
        assert sum(Decimal(item["amount"]) for item in items) == Decimal(truth["net_amount"])
        assert (Decimal(truth["net_amount"]) + Decimal(truth["total_tax_amount"])
                == Decimal(truth["total_amount"]))


def test_ksef_truth_carries_the_totals_it_prints_only_per_rate():
    ksef = [truth for entry, truth in _golden_truths() if entry["layout"] == "ksef"]

    assert ksef
    assert all({"net_amount", "total_tax_amount", "total_amount"} <= truth.keys()
               for truth in ksef)


@pytest.mark.parametrize("entry, truth", _golden_truths(), ids=lambda value: value.get("invoice"))
def test_digital_text_layer_shows_what_the_truth_claims(entry, truth):
    document = pdfium.PdfDocument(GOLDEN / entry["file"])
    text = "\n".join(page.get_textpage().get_text_range() for page in document)
    digits_joined = re.sub(r"(?<=\d)[- ](?=\d)", "", text)  # "521-301-72-28" -> "5213017228"

    assert len(document) == entry["pages"]
    assert truth["invoice_id"] in text
    assert truth["supplier_tax_id"] in digits_joined
    assert truth["supplier_name"] in text and truth["receiver_name"] in text
    assert all(item["description"] in text for item in truth["line_items"])


def test_scans_carry_their_resolution():
    for entry in _manifest(GOLDEN)["documents"]:
        if entry["variant"] == "digital" or entry["file"].endswith(".pdf"):
            continue
        with Image.open(GOLDEN / entry["file"]) as image:
            assert image.mode == "L"
            assert round(image.info["dpi"][0]) == entry["dpi"]
            assert getattr(image, "n_frames", 1) == entry["pages"]
        expected = (300, 300) if entry["variant"] == "scan300" else (150, 200)
        assert expected[0] <= entry["dpi"] <= expected[1]


@pytest.mark.parametrize("index", range(1, GOLDEN_COUNT + 1))
@pytest.mark.parametrize("language", ["pl", "en"])
def test_text_lines_keep_apart_and_on_the_page(index, language):
    allocation = allocate(index)
    invoice = build_invoice(derive_seed(DEFAULT_SEED, index), language, allocation.currency,
                            allocation.two_pages)
    layout = LAYOUTS[allocation.layout]
    sheet = Sheet()
    layout.draw(sheet, invoice, layout.labels[language], choose_typography(invoice, layout))

    assert sheet.page_count == (2 if allocation.two_pages else 1)
    for page in sheet.pages:
        boxes = [_text_box(op) for op in page if isinstance(op, TextOp) and op.text.strip()]
        for left, right, top, bottom, text, _ in boxes:
            assert 0 < left and right < PAGE_WIDTH and 0 < top and bottom < PAGE_HEIGHT, text
        clashes = [(a[4], b[4]) for number, a in enumerate(boxes) for b in boxes[number + 1:]
                   if _too_close(a, b)]
        assert clashes == []


def _text_box(op: TextOp) -> tuple[float, float, float, float, str, float]:
    width = text_width(op.text, op.font, op.size)
    left = {"left": op.x, "right": op.x - width, "center": op.x - width / 2}[op.align]
    return left, left + width, op.y - 0.75 * op.size, op.y + 0.2 * op.size, op.text, op.size


def _too_close(a: tuple, b: tuple) -> bool:
    """Lines overlap vertically and are less than ~2 characters apart horizontally."""
    gap = 1.2 * min(a[5], b[5])
    return a[0] < b[1] + gap and b[0] < a[1] + gap and a[2] < b[3] and b[2] < a[3]


# --- capture conditions (expectations/corpus/capture.py) -------------------------------------

def _capture_module():
    from expectations.corpus import capture

    return capture


@pytest.fixture(scope="module")
def one_page_invoice():
    from expectations.corpus import render_invoice

    allocation = allocate(1)
    invoice = build_invoice(derive_seed(DEFAULT_SEED, 1), allocation.language,
                            allocation.currency, allocation.two_pages)
    rendered = render_invoice(invoice, allocation.layout)
    assert rendered.pages == 1
    return invoice, rendered


def _capture(invoice_and_rendered, condition, split, seed=3, **overrides):
    """One capture; `overrides` replace entries of the split's parameter ranges."""
    capture = _capture_module()
    invoice, rendered = invoice_and_rendered
    rng = np.random.default_rng(seed)
    if not overrides:
        return capture.capture_pages_from_pdf(
            rendered.pdf, condition, rng, split, seller_hint=invoice.seller.name,
            avoid_tax_ids=(invoice.seller.nip, invoice.buyer.nip))
    ranges = dict(capture.PARAMETER_RANGES[condition][split], **overrides)
    if condition == "stamped":
        return capture.stamped_capture(rendered.pdf, rng, ranges, seller_hint=invoice.seller.name,
                                       avoid_tax_ids=(invoice.seller.nip, invoice.buyer.nip))
    return {"rotated": capture.rotated_capture, "fax": capture.fax_capture}[condition](
        rendered.pdf, rng, ranges)


@pytest.fixture(scope="module")
def heldout_captures(one_page_invoice):
    return {condition: _capture(one_page_invoice, condition, "heldout")
            for condition in ("rotated", "photo", "fax", "stamped")}


def test_capture_is_byte_deterministic(one_page_invoice, heldout_captures):
    again = _capture(one_page_invoice, "fax", "heldout")
    assert again[0].data == heldout_captures["fax"][0].data
    assert again[1] == heldout_captures["fax"][1]
    assert _capture(one_page_invoice, "fax", "heldout", seed=4)[0].data != again[0].data
    stamped = _capture(one_page_invoice, "stamped", "heldout")
    assert stamped[0].data == heldout_captures["stamped"][0].data


# recorded parameter -> the range it was drawn from (abs: a signed draw of a magnitude)
_RECORDED = {"skew_deg": "skew_abs_deg", "roll_deg": "roll_abs_deg",
             "stamp_rotation_deg": "stamp_rotation_abs_deg"}


def test_heldout_parameters_fall_in_their_range_and_outside_the_tune_range(heldout_captures):
    capture = _capture_module()
    checked = 0
    for condition, (_, params) in heldout_captures.items():
        heldout = capture.PARAMETER_RANGES[condition]["heldout"]
        tune = capture.PARAMETER_RANGES[condition]["tune"]
        for name, value in params.items():
            key = _RECORDED.get(name, name)
            if not isinstance(heldout.get(key), tuple) or heldout[key] == tune[key]:
                continue
            values = value if isinstance(value, list) else [value]
            for drawn in values:
                drawn = abs(drawn) if key.endswith("_abs_deg") else drawn
                low, high = heldout[key]
                assert low <= drawn <= high, (condition, name, drawn)
                assert not tune[key][0] <= drawn < tune[key][1] or drawn == tune[key][1] == low, \
                    (condition, name, drawn)
                checked += 1
        for key, span in heldout.items():  # every continuous range that differs is disjoint
            if isinstance(span, tuple) and span != tune[key]:
                assert span[0] >= tune[key][1] or span[1] <= tune[key][0], (condition, key)
    assert checked >= 12
    assert heldout_captures["stamped"][1]["ink"] == "violet"
    assert heldout_captures["fax"][1]["resolution"] == "150x150"


def test_rotated_page_is_turned_losslessly(one_page_invoice):
    from expectations.corpus.scan import render_pages

    document, params = _capture(one_page_invoice, "rotated", "heldout", turn_cw_deg=[90])
    height, width = render_pages(one_page_invoice[1].pdf, 200)[0].shape
    with Image.open(io.BytesIO(document.data)) as image:
        assert params["turn_cw_deg"] == [90] and document.extension == ".png"
        assert image.size == (height, width)  # landscape: the portrait page on its side
        assert image.mode == "L" and round(image.info["dpi"][0]) == 200


def test_fax_is_bilevel_and_standard_resolution_is_half_height(one_page_invoice,
                                                                 heldout_captures):
    from expectations.corpus.scan import render_pages

    document, params = _capture(one_page_invoice, "fax", "tune")
    height, width = render_pages(one_page_invoice[1].pdf, 200)[0].shape
    with Image.open(io.BytesIO(document.data)) as image:
        assert params["resolution"] == "200x100" and document.extension == ".tif"
        assert image.mode == "1" and image.size == (width, (height + 1) // 2)
        assert tuple(round(v) for v in image.info["dpi"]) == (200, 100)
        assert set(np.unique(np.asarray(image.convert("L")))) <= {0, 255}
    with Image.open(io.BytesIO(heldout_captures["fax"][0].data)) as image:
        assert image.mode == "1" and tuple(round(v) for v in image.info["dpi"]) == (150, 150)


def test_photo_has_the_whole_page_inside_the_frame(heldout_captures):
    document, params = heldout_captures["photo"]
    with Image.open(io.BytesIO(document.data)) as image:
        assert document.extension == ".jpg" and image.mode == "RGB"
        assert list(image.size) == params["frame_px"][0]
        assert 2000 <= max(image.size) <= 4000
        width, height = image.size
    for x, y in params["page_corners_px"][0]:
        assert 0 < x < width and 0 < y < height
    assert 0.55 <= params["page_fill_actual"][0] <= 0.85


def test_stamp_is_another_company_with_a_valid_nip(one_page_invoice):
    invoice, _ = one_page_invoice
    document, params = _capture(one_page_invoice, "stamped", "tune", text=["paid_company"],
                                over_seller=1.0, dpi=[200])  # 200 dpi: a faster test
    assert nip.is_valid(params["stamp_nip"])
    assert params["stamp_nip"] not in (invoice.seller.nip, invoice.buyer.nip)
    assert params["stamp_company"] not in (invoice.seller.name, invoice.buyer.name)
    assert params["placement"] == "seller" and params["ink"] in ("red", "blue")
    with Image.open(io.BytesIO(document.data)) as image:
        assert image.mode == "RGB"
        pixels = np.asarray(image, dtype=np.int16)
    spread = pixels.max(axis=2) - pixels.min(axis=2)
    assert (spread > 60).sum() > 500  # coloured ink: the stamp and the signature


def test_capture_corpus_feeds_the_evaluation_by_variant(tmp_path):
    capture = _capture_module()
    from ocr_engines.evaluation import golden_documents

    manifest = capture.generate_capture_corpus(tmp_path, count=1, split="heldout",
                                               conditions=("fax",), workers=1)
    entries = {entry["variant"]: entry for entry in manifest["documents"]}
    assert entries.keys() == {"digital", "capture_fax"}
    assert entries["digital"]["invoice"] == allocate(1001).stem
    assert entries["capture_fax"]["capture"]["split"] == "heldout"
    assert (tmp_path / "inv-1001-fax.tif").is_file()
    documents = golden_documents(tmp_path)
    assert sorted(d.group for d in documents) == ["capture_fax", "digital"]
    truth = json.loads((tmp_path / "inv-1001.json").read_text(encoding="utf-8"))
    assert all(document.truth == truth for document in documents)
