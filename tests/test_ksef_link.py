"""The KSeF reference on a visualisation: the verification link (QR code or text layer) and the
KSeF number, read, checked, and winning over OCR where they disagree."""

from datetime import date

import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr_engines import get_engine, ksef_link
from ocr_engines.extract.reader import Found

NIP_A, NIP_B = "3982597916", "9074833787"  # checksum-valid
HASH = "ZwNRafU-A1g-J7UiGsVS8c1cTc7YJHZFxiuz17gOD_h"  # 43 characters: SHA-256 in Base64URL
LINK_B = f"https://qr.ksef.mf.gov.pl/invoice/{NIP_B}/06-03-2026/{HASH}"


@pytest.mark.parametrize("text, nip, issued", [
    (LINK_B, NIP_B, date(2026, 3, 6)),
    (f"see {LINK_B} to verify", NIP_B, date(2026, 3, 6)),
    # a text layer wraps it: pdfium marks the hyphen at the break as U+FFFE
    (f"https://qr.ksef.mf.gov.pl/invoice/{NIP_B}/06-03-2026/ZwNRafU-A1g\ufffe\nJ7UiGsVS8c1cTc7YJHZFxiuz17gOD_h\n"
     "8941168339-20260821-470280C63C6B-AE", NIP_B, date(2026, 3, 6)),
    # wrapped after the date: the whole hash on the next line
    (f"https://qr.ksef.mf.gov.pl/invoice/{NIP_B}/06-03-2026/\n{HASH}\n8941168339-20260821-470280C63C6B-AE",
     NIP_B, date(2026, 3, 6)),
    # wrapped with no hyphen: the hash is short of 43 characters, the next line's word goes on
    (f"https://qr.ksef.mf.gov.pl/invoice/{NIP_B}/06-03-2026/ZwNRafU-A1g-J7Ui\nGsVS8c1cTc7YJHZFxiuz17gOD_h Wytworzona",
     NIP_B, date(2026, 3, 6)),
])
def test_a_valid_link_is_parsed(text, nip, issued):
    link = ksef_link.parse_link(text)
    assert link is not None and (link.seller_nip, link.issue_date) == (nip, issued)
    assert link.url == LINK_B


@pytest.mark.parametrize("text", [
    LINK_B.replace(NIP_B, "9074833788"),  # NIP checksum fails
    LINK_B.replace("06-03-2026", "31-02-2026"),  # not a date
    LINK_B.replace("qr.ksef.mf.gov.pl", "qr.ksef.example.com"),  # not the Ministry's host
    LINK_B[:-1],  # a hash of 42 characters: not a SHA-256
    LINK_B.replace("/invoice/", "/faktura/"),
    "",
])
def test_an_invalid_link_is_none(text):
    assert ksef_link.parse_link(text) is None


@pytest.mark.parametrize("text, hint, number", [
    ("Numer KSeF: 8941168339-20260821-470280C63C6B-AE", None, "8941168339-20260821-470280C63C6B-AE"),
    # Tesseract splits off a '1' and reads O for 0; an en dash with spaces
    ("Numer KSEF:7834868159-2026081 1-634C45893E7A-DD", None, "7834868159-20260811-634C45893E7A-DD"),
    ("8941168339 – 2O260821 – 47O280C63C6B – AE", None, "8941168339-20260821-470280C63C6B-AE"),
    # one NIP digit misread: the link's seller NIP puts it right
    ("8941168389-20260821-470280C63C6B-AE", "8941168339", "8941168339-20260821-470280C63C6B-AE"),
    ("8941168339-20261321-470280C63C6B-AE", None, None),  # month 13
    ("1234567890-20260821-470280C63C6B-AE", None, None),  # NIP checksum fails
    ("8941168339-20260821-470280C63C6B-AE", NIP_B, None),  # another seller's number
    ("Nr rachunku 12 1020 1026 0000 0102 0001 2345", None, None),
])
def test_the_ksef_number_is_found_through_ocr_misreads(text, hint, number):
    assert ksef_link.find_number(text, hint) == number


def test_cross_check_puts_the_link_values_in_and_says_so():
    fields = {"supplier_tax_id": Found(NIP_A, 0.97), "invoice_id": Found("FV/1", 0.9)}
    warnings: list[str] = []
    link = ksef_link.parse_link(LINK_B)
    corrected = ksef_link.cross_check(fields, link, warnings, lambda v: Found(v, 0.99))
    assert corrected == ["supplier_tax_id", "invoice_date"]
    assert fields["supplier_tax_id"].value == NIP_B and fields["invoice_date"].value == "2026-03-06"
    assert fields["invoice_id"].value == "FV/1"
    assert any(NIP_A in w and "KSeF verification link" in w for w in warnings)
    assert any("did not find" in w for w in warnings)
    # agreeing values are left alone and not reported
    again: list[str] = []
    assert ksef_link.cross_check(fields, link, again, lambda v: Found(v, 0.99)) == [] and again == []


def _qr(text: str) -> Image.Image:
    import numpy as np
    import zxingcpp

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    return Image.fromarray(np.asarray(zxingcpp.write_barcode_to_image(code, scale=5))).convert("L")


def _invoice_page(path, qr_link: str | None) -> None:
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 34)
    page = Image.new("L", (1654, 2339), 255)  # A4 at 200 DPI
    draw = ImageDraw.Draw(page)
    lines = ["Faktura VAT nr FV/7/2026", "Data wystawienia: 05.03.2026", "Sprzedawca: Alfa Sp. z o.o.",
             f"NIP: {NIP_A}", "Nabywca: Beta S.A.", "Razem do zapłaty: 123,00 PLN",
             "Numer KSeF: 9074833787-20260306-470280C63C6B-AE"]
    for i, line in enumerate(lines):
        draw.text((150, 150 + 70 * i), line, font=font, fill=0)
    if qr_link:
        page.paste(_qr(qr_link), (150, 900))
    page.save(path, dpi=(200, 200))


def test_decoding_a_qr_code_from_an_image_file(tmp_path):
    _invoice_page(tmp_path / "page.png", LINK_B)
    assert ksef_link.decode_qr_file(tmp_path / "page.png") == [LINK_B]
    _invoice_page(tmp_path / "plain.png", None)
    assert ksef_link.decode_qr_file(tmp_path / "plain.png") == []


def test_the_engine_returns_the_reference_and_the_link_wins_over_ocr(tmp_path):
    """A scan whose OCR'd NIP and date disagree with its QR link: the link's values are returned,
    a warning says what OCR had read, and the document confidence is lower than without it."""
    engine = get_engine("tesseract")
    _invoice_page(tmp_path / "with-qr.png", LINK_B)
    _invoice_page(tmp_path / "no-qr.png", None)
    plain = engine.extract(tmp_path / "no-qr.png")
    assert plain.value("supplier_tax_id") == NIP_A and plain.value("invoice_date") == "2026-03-05"
    # the number is printed, the link is not: the number alone
    assert plain.ksef == {"number": "9074833787-20260306-470280C63C6B-AE", "verification_url": None}

    checked = engine.extract(tmp_path / "with-qr.png")
    assert checked.ksef == {"number": "9074833787-20260306-470280C63C6B-AE", "verification_url": LINK_B,
                            "link_source": "qr"}
    assert checked.value("supplier_tax_id") == NIP_B and checked.value("invoice_date") == "2026-03-06"
    assert any(f"OCR read {NIP_A}" in w for w in checked.warnings)
    assert any("OCR read 2026-03-05" in w for w in checked.warnings)
    assert checked.confidence < plain.confidence
    assert checked.to_dict()["ksef"]["verification_url"] == LINK_B and "ksef" not in _without_reference()


def _without_reference() -> dict:
    from ocr_engines.result import ExtractionResult

    return ExtractionResult("tesseract", "5", 1).to_dict()


def test_a_digital_pdf_that_prints_the_number_but_not_the_link_has_its_code_decoded(tmp_path):
    """A text layer with the KSeF number and the QR code as an image, the link not printed: the
    page is rendered for the code alone."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    _qr(LINK_B).save(tmp_path / "qr.png")
    pdf = canvas.Canvas(str(tmp_path / "invoice.pdf"), pagesize=A4)
    pdf.setFont("Helvetica", 11)
    for i, line in enumerate(["Faktura VAT nr FV/7/2026", "Data wystawienia: 2026-03-06", f"NIP: {NIP_B}",
                              "Numer KSeF: 9074833787-20260306-470280C63C6B-AE"]):
        pdf.drawString(60, 780 - 18 * i, line)
    pdf.drawImage(str(tmp_path / "qr.png"), 60, 450, width=150, height=150)
    pdf.save()
    result = get_engine("tesseract").extract(tmp_path / "invoice.pdf")
    assert result.ksef == {"number": "9074833787-20260306-470280C63C6B-AE", "verification_url": LINK_B,
                           "link_source": "qr"}
