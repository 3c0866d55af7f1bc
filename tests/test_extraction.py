"""The extraction result contract (docs/architecture.md) and the rules that turn checks into confidence."""

import json
import re
import subprocess

import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ocr_engines import FIELD_NAMES, get_engine
from ocr_engines.evaluation import golden_documents

FORMATS = {
    "invoice_date": r"\d{4}-\d{2}-\d{2}", "due_date": r"\d{4}-\d{2}-\d{2}", "delivery_date": r"\d{4}-\d{2}-\d{2}",
    "supplier_tax_id": r"\d+", "receiver_tax_id": r"\d+", "supplier_iban": r"[A-Z]{2}\d{2}[0-9A-Z]+",
    "net_amount": r"-?\d+\.\d{2}", "total_tax_amount": r"-?\d+\.\d{2}", "total_amount": r"-?\d+\.\d{2}",
    "currency": r"[A-Z]{3}",
}


@pytest.fixture(scope="module")
def engine():
    e = get_engine("tesseract")
    e.warm_up()
    return e


def test_result_follows_the_contract(engine, golden_dir):
    doc = next(d for d in golden_documents(golden_dir) if d.group == "scan300")
    data = engine.extract(doc.path).to_dict()
    assert set(data) == {"engine", "engine_version", "pages", "confidence", "fields", "line_items", "warnings",
                         "timings_ms", "capture"}
    assert data["capture"]["kind"] == "scan" and [p["rotated"] for p in data["capture"]["pages"]] == [0]
    assert data["engine"] == "tesseract" and re.fullmatch(r"\d+\.\d+\.\d+ \((tesserocr|cli)\)", data["engine_version"])
    assert 0 < data["confidence"] <= 1 and data["pages"] == 1
    assert set(data["fields"]) <= set(FIELD_NAMES)
    for name, field in data["fields"].items():
        assert set(field) == {"value", "confidence"} and field["value"] != ""
        assert 0 <= field["confidence"] <= 1
        if name in FORMATS:
            assert re.fullmatch(FORMATS[name], field["value"]), (name, field["value"])
    for item in data["line_items"]:
        assert re.fullmatch(r"\d+(\.\d+)?", item["quantity"]) and re.fullmatch(r"\d+\.\d{2}", item["amount"])
    assert data["timings_ms"]["ocr"] > 0 and "extract" in data["timings_ms"]


@pytest.mark.parametrize("suffix,backend", [(".tif", "cli"), (".pdf", "cli"), (".pdf", "tesserocr")])
def test_two_page_scans_are_read_page_by_page(golden_dir, suffix, backend):
    """A multi-page TIFF and an image-only PDF: both pages OCR'd, totals found on page 2; the PDF
    also in-process (tesserocr: pages rendered into memory, the second look read from memory)."""
    manifest = json.loads((golden_dir / "manifest.json").read_text())["documents"]
    two_page_scans = {e["file"] for e in manifest if e["pages"] == 2 and e["variant"] != "digital"}
    doc = next(d for d in golden_documents(golden_dir) if d.path.suffix == suffix and d.path.name in two_page_scans)
    result = get_engine("tesseract", backend=backend).extract(doc.path)
    assert result.pages == 2 and result.engine_version.endswith(f" ({backend})")
    assert result.value("total_amount") == doc.truth["total_amount"]


def test_both_backends_give_the_same_words_where_the_versions_agree(golden_dir):
    """tesserocr (in-process, its 5.5.x) and the cli (Debian's 5.3.0) give the same structure:
    on a clean 300 DPI scan, where the versions read alike, the same words with the same boxes and
    (block, paragraph, line) keys, and confidences on the same scale."""
    from ocr_engines.tesseract_backends import get_backend

    doc = next(d for d in golden_documents(golden_dir) if d.group == "scan300" and d.path.suffix == ".png")
    cli, inproc = (get_backend(b).read_file(doc.path, 1, 300, "pol+eng", 60, 3) for b in ("cli", "tesserocr"))
    assert set(cli) == set(inproc) == {0}

    def key(w):
        return w.text, w.x0, w.y0, w.x1, w.y1, w.line_key

    same = {key(w) for w in cli[0]} & {key(w) for w in inproc[0]}
    assert len(cli[0]) > 50 and len(same) >= 0.95 * max(len(cli[0]), len(inproc[0]))
    conf = {key(w): w.conf for w in cli[0]}  # the same 0..1 scale; the versions differ by a point or two
    assert sum(abs(w.conf - conf[key(w)]) <= 0.02 for w in inproc[0] if key(w) in same) >= 0.9 * len(same)


def test_auto_falls_back_to_the_cli_when_tesserocr_cannot_load(monkeypatch):
    """No binding (here: its import fails): auto reads with the tesseract program and says so in
    the version; asking for tesserocr by name is a typed error."""
    import sys

    from ocr_engines import errors as E
    from ocr_engines.tesseract_backends import get_backend

    get_backend.cache_clear()
    monkeypatch.setitem(sys.modules, "tesserocr", None)  # 'import tesserocr' raises ImportError
    try:
        assert get_engine("tesseract", backend="auto").version.endswith(" (cli)")
        with pytest.raises(E.EngineUnavailableError, match="tesserocr backend cannot load"):
            get_engine("tesseract", backend="tesserocr").warm_up()
    finally:
        get_backend.cache_clear()


def test_digital_pdf_uses_the_text_layer_without_ocr(engine, golden_dir):
    doc = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    result = engine.extract(doc.path)
    assert "ocr" not in result.timings_ms
    assert result.value("invoice_id") == doc.truth["invoice_id"]


def _invoice_pdf(path, nip: str, net: str, vat: str, total: str, due: str = "2026-12-11"):
    pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    c = canvas.Canvas(str(path), invariant=1)
    c.setFont("DejaVu", 10)
    lines = ["Faktura VAT nr FV/2026/11/0427", "Data wystawienia: 2026-11-27", f"Termin płatności: {due}",
             "Sprzedawca:", "Przedsiębiorstwo Łukasz Sp. z o.o.", f"NIP: {nip}", "",
             f"Wartość netto: {net} PLN", f"Kwota VAT: {vat} PLN", f"Do zapłaty: {total} PLN"]
    for i, line in enumerate(lines):
        c.drawString(60, 780 - 16 * i, line)
    c.save()
    return path


def test_checksum_invalid_nip_is_never_confident(engine, tmp_path):
    result = engine.extract(_invoice_pdf(tmp_path / "bad-nip.pdf", "521-301-72-29", "100,00", "23,00", "123,00"))
    assert result.fields["supplier_tax_id"].value == "5213017229"
    assert result.fields["supplier_tax_id"].confidence <= 0.2
    assert any("NIP checksum" in w for w in result.warnings)
    good = engine.extract(_invoice_pdf(tmp_path / "good-nip.pdf", "521-301-72-28", "100,00", "23,00", "123,00"))
    assert good.fields["supplier_tax_id"].confidence >= 0.9 and not good.warnings


def test_totals_that_do_not_add_up_are_distrusted(engine, tmp_path):
    result = engine.extract(_invoice_pdf(tmp_path / "sum.pdf", "5213017228", "100,00", "23,00", "124,00"))
    assert result.fields["total_amount"].confidence <= 0.2
    assert any("net + VAT" in w for w in result.warnings)


def test_due_date_before_issue_date_is_distrusted(engine, tmp_path):
    result = engine.extract(_invoice_pdf(tmp_path / "dates.pdf", "5213017228", "100,00", "23,00", "123,00",
                                         due="2026-11-01"))
    assert result.fields["due_date"].confidence <= 0.2


def test_cli_extract_json(cli, golden_dir):
    doc = next(d for d in golden_documents(golden_dir) if d.group == "digital")
    proc = subprocess.run([*cli, "extract", str(doc.path), "--output", "json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {k: v["value"] for k, v in data["fields"].items()} == {
        k: v for k, v in doc.truth.items() if k != "line_items"}
