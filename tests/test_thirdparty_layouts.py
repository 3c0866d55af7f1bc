"""Layouts nobody here designed (issue 28): cells that wrap, statutory labels, labels as whole
phrases, per-rate rows. On the committed third-party renderer invoices
(expectations/ksef-thirdparty) and on the smallest page that shows each rule."""

from pathlib import Path

import pytest

from ocr_engines import get_engine
from ocr_engines.evaluation import canonical_item, golden_documents
from ocr_engines.extract.items import join_lines
from ocr_engines.result import HEADER_FIELDS

ROOT = Path(__file__).resolve().parent.parent
THIRDPARTY = ROOT / "expectations" / "ksef-thirdparty"


@pytest.fixture(scope="module")
def engine():
    return get_engine("tesseract")


def _page(tmp_path, cells: list[tuple[float, float, str]], size: float = 9) -> Path:
    """A one-page digital PDF with each text at (x, y) points from the top left."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    path = tmp_path / "inv.pdf"
    c = canvas.Canvas(str(path), invariant=1)
    c.setFont("DejaVu", size)
    for x, y, text in cells:
        c.drawString(x, 842 - y, text)
    c.save()
    return path


def _values(engine, path: Path) -> dict[str, str]:
    return {k: v.value for k, v in engine.extract(path).fields.items()}


HEAD = [(40, 40, "Faktura VAT nr FV/2026/11/7"), (40, 56, "Data wystawienia: 2026-11-02"),
        (40, 80, "Sprzedawca:"), (300, 80, "Nabywca:"),
        (40, 94, "Hurtownia Medyczna „Słonecznik” Sławomir"), (300, 94, "Apteka Pod Lwem Sp. z o.o."),
        (40, 105, "Kowalczyk"), (300, 105, "NIP: 7272261824"),
        (40, 116, "NIP: 5213017228"), (40, 127, "ul. Długa 5, 00-950 Warszawa")]


# ---------------------------------------------------------------- the renderers' own output


def test_the_third_party_renderers_digital_invoices_read_whole(engine):
    """Every header field and every line item of the committed ksef-thirdparty invoices: wrapped
    descriptions (top-aligned and centred cells), wrapped party names, statutory labels, a
    rate cell that wraps. Before issue 28: 0.66 of ksef2-xsl's fields, line-item F1 0.00-0.41."""
    docs = [d for d in golden_documents(THIRDPARTY) if d.group == "digital"]
    assert len(docs) == 6
    wrong = {}
    for doc in docs:
        result = engine.extract(doc.path).to_dict()
        got = {k: v["value"] for k, v in result["fields"].items()}
        for name in HEADER_FIELDS:
            if name in doc.truth and got.get(name) != str(doc.truth[name]):
                wrong[(doc.name, name)] = (doc.truth[name], got.get(name))
        want_items = [canonical_item(i) for i in doc.truth["line_items"]]
        got_items = [canonical_item(i) for i in result["line_items"]]
        if want_items != got_items:
            wrong[(doc.name, "line_items")] = [(w, g) for w, g in zip(want_items, got_items) if w != g]
    assert not wrong, wrong


# ---------------------------------------------------------------- cells that wrap


def test_a_three_line_description_under_its_numbers_is_one_item(tmp_path, engine):
    """Top-aligned cells: the numbers on the description's first line, the rest below."""
    table = [(40, 160, "Lp"), (60, 160, "Nazwa towaru lub usługi"), (250, 160, "Ilość"), (300, 160, "Cena netto"),
             (380, 160, "Stawka VAT"), (460, 160, "Wartość netto"),
             (40, 175, "1"), (60, 175, "Nawóz azotowy saletra"), (250, 175, "6"), (300, 175, "1 374.99"),
             (380, 175, "8%"), (460, 175, "8 249.94"),
             (60, 185, "amonowa 34%, big-bag 500"), (60, 195, "kg"),
             (40, 210, "2"), (60, 210, "Ziemia uniwersalna 80 l"), (250, 210, "36"), (300, 210, "27.08"),
             (380, 210, "8%"), (460, 210, "974.88"),
             (40, 240, "Kwota należności ogółem: 9 963.28 PLN")]
    result = engine.extract(_page(tmp_path, HEAD + table))
    assert [i["description"] for i in result.line_items] == [
        "Nawóz azotowy saletra amonowa 34%, big-bag 500 kg", "Ziemia uniwersalna 80 l"]
    assert [i["amount"] for i in result.line_items] == ["8249.94", "974.88"]


def test_a_centred_cell_gives_its_lines_above_and_below_the_numbers_to_one_item(tmp_path, engine):
    """ksef-monitor's narrow column: the numbers sit level with the middle of their cell, and
    no line of the description is level with them."""
    table = [(40, 160, "Lp."), (60, 160, "Nazwa (rodzaj) towaru lub usługi"), (200, 160, "J.m."), (250, 160, "Ilość"),
             (300, 160, "Cena jedn. netto"), (380, 160, "Wart. netto"), (460, 160, "Stawka VAT"),
             (60, 175, "Jaja kurze"), (60, 184, "ściółkowe rozm. L"),
             (40, 189, "1"), (200, 189, "op."), (250, 189, "34,00"), (300, 189, "24,52"), (380, 189, "833,68"), (460, 189, "5%"),
             (60, 194, "(wytłaczanka 30"), (60, 203, "szt.)"),
             (60, 218, "Masło ekstra 82%"),
             (40, 223, "2"), (200, 223, "szt."), (250, 223, "250,00"), (300, 223, "8,90"), (380, 223, "2 225,00"), (460, 223, "5%"),
             (60, 228, "200 g"),
             (40, 260, "Kwota należności ogółem: 3 211,98 PLN")]
    result = engine.extract(_page(tmp_path, HEAD + table, size=7))
    assert [i["description"] for i in result.line_items] == [
        "Jaja kurze ściółkowe rozm. L (wytłaczanka 30 szt.)", "Masło ekstra 82% 200 g"]


def test_a_word_hyphenated_at_a_line_end_is_joined_when_the_lexicon_knows_it():
    assert join_lines(["Usługi przetwór-", "stwa spożywczego"]) == "Usługi przetwórstwa spożywczego"
    assert join_lines(["worek big-", "bag 500 kg"]) == "worek big-bag 500 kg"
    assert join_lines(["Środek ochrony roślin –", "fungicyd 1 l"]) == "Środek ochrony roślin – fungicyd 1 l"
    assert join_lines(["Usługi przetwór\u00ad", "stwa"]) == "Usługi przetwórstwa"
    assert join_lines(["Usługi przetwór\ufffe", "stwa"]) == "Usługi przetwórstwa"


def test_a_party_name_over_two_lines_is_whole_and_stops_at_its_identifiers(tmp_path, engine):
    values = _values(engine, _page(tmp_path, HEAD + [(40, 200, "Kwota należności ogółem: 100,00 PLN")]))
    assert values["supplier_name"] == "Hurtownia Medyczna „Słonecznik” Sławomir Kowalczyk"
    assert values["receiver_name"] == "Apteka Pod Lwem Sp. z o.o."  # its NIP line is not its name
    assert values["supplier_tax_id"] == "5213017228"


def test_a_legal_form_on_the_next_line_completes_a_name_that_already_has_one(tmp_path, engine):
    page = [(40, 40, "Faktura VAT nr FV/2026/11/7"), (40, 56, "Data wystawienia: 2026-11-02"),
            (40, 80, "SPRZEDAWCA"), (40, 94, "NIP: 5213017228"),
            (40, 105, "BAŁTYK Zakład Przetwórstwa Spożywczego Sp. z o.o."), (40, 116, "Sp.k."),
            (40, 127, "Kod kraju: PL"), (40, 200, "Kwota należności ogółem: 100,00 PLN")]
    values = _values(engine, _page(tmp_path, page))
    assert values["supplier_name"] == "BAŁTYK Zakład Przetwórstwa Spożywczego Sp. z o.o. Sp.k."


# ---------------------------------------------------------------- labels


def test_a_statutory_label_reads_with_its_value_on_the_next_line(tmp_path, engine):
    """The FA(3) schema's description of P_2 as the label, and 'Numer telefonu' elsewhere on the
    page: the invoice number is the value of the whole label, never the phone number."""
    page = [(40, 40, "Numer telefonu: +48 734 420 714"),
            (40, 60, "Kolejny numer faktury, nadany w ramach jednej lub więcej serii, który w sposób"),
            (40, 71, "jednoznaczny identyfikuje fakturę:"), (40, 82, "F/7855/08/26"),
            (40, 100, "Data wystawienia, z zastrzeżeniem art. 106na ust. 1 ustawy: 2026-08-03"),
            (40, 120, "Imię i nazwisko lub nazwa: Bąk i Głowacki Sp. z o.o."),
            (40, 200, "Kwota należności ogółem: 100,00 PLN")]
    values = _values(engine, _page(tmp_path, page))
    assert values["invoice_id"] == "F/7855/08/26"
    assert values["invoice_date"] == "2026-08-03"


def test_a_phone_number_label_is_not_an_invoice_number_label(tmp_path, engine):
    page = [(40, 40, "Numer telefonu: +48 734 420 714"), (40, 60, "Data wystawienia: 2026-08-03"),
            (40, 200, "Do zapłaty: 100,00 PLN")]
    assert "invoice_id" not in _values(engine, _page(tmp_path, page))


# ---------------------------------------------------------------- totals


def test_a_zero_rate_row_and_a_rate_cell_that_wraps_count_in_the_summary(tmp_path, engine):
    """Per-rate rows only: a 0 % row prints its net alone; '22% lub' / '23%' is one rate cell."""
    page = HEAD + [
        (40, 160, "Podsumowanie wg stawek"),
        (40, 175, "Stawka VAT"), (150, 175, "Suma wartości sprzedaży netto"), (330, 175, "Kwota podatku"),
        (40, 190, "22% lub"), (150, 190, "482.40"), (330, 190, "110.95"), (40, 200, "23%"),
        (40, 215, "0%"), (150, 215, "1000.00"),
        (40, 240, "Kwota należności ogółem: 1593.35 PLN")]
    values = _values(engine, _page(tmp_path, page))
    assert (values["net_amount"], values["total_tax_amount"], values["total_amount"]) == (
        "1482.40", "110.95", "1593.35")


def test_a_total_given_only_in_words_is_read(tmp_path, engine):
    """No amount printed in digits: the statement in words is the total (before: none)."""
    page = HEAD + [(40, 205, "Słownie: jeden tysiąc dwieście trzydzieści złotych 00/100")]
    assert _values(engine, _page(tmp_path, page))["total_amount"] == "1230.00"


def test_the_total_in_words_agrees_with_the_total_that_adds_up(tmp_path, engine):
    page = HEAD + [(40, 160, "Razem netto: 1 000,00 zł"), (40, 175, "Kwota VAT: 230,00 zł"),
                   (40, 190, "Do zapłaty: 1 230,00 zł"),
                   (40, 205, "Słownie: jeden tysiąc dwieście trzydzieści złotych 00/100")]
    values = _values(engine, _page(tmp_path, page))
    assert (values["net_amount"], values["total_tax_amount"], values["total_amount"]) == (
        "1000.00", "230.00", "1230.00")


def test_amounts_in_polish_words():
    from decimal import Decimal

    from ocr_engines.extract.values import amount_in_words

    assert amount_in_words("Słownie: dziewiętnaście tysięcy siedemset osiemdziesiąt dwa złote 71/100") == Decimal("19782.71")
    assert amount_in_words("słownie: dwa tysiące sto dziewięćdziesiąt dziewięć euro 70/100") == Decimal("2199.70")
    assert amount_in_words("Słownie: sto złotych sześćdziesiąt trzy grosze") == Decimal("100.63")
    assert amount_in_words("Słownie: jeden milion dwieście tysięcy złotych 00/100") == Decimal("1200000")
    assert amount_in_words("Słownie: dwieście złotnych 00/100") is None  # a slip: not a whole statement
    assert amount_in_words("Słownie: sto dwadzieścia") is None  # no currency: not an amount


def test_a_foreign_vat_number_keeps_its_country_and_a_nip_is_its_digits():
    from ocr_engines.extract.values import find_tax_id

    assert find_tax_id("VAT Reg. No. GB 980 7806 84") == ("GB980780684", 1.0)
    assert find_tax_id("USt-IdNr.: DE 136 695 976") == ("DE136695976", 1.0)
    assert find_tax_id("BTW: NL004495445B01") == ("NL004495445B01", 1.0)
    assert find_tax_id("NIP: PL 521-301-72-28") == ("5213017228", 1.0)
    assert find_tax_id("IBAN DE89 3704 0044 0532 0130 00") is None  # an IBAN is no VAT number


def test_an_english_invoice_from_a_foreign_supplier(tmp_path, engine):
    """A UK supplier named only in its letterhead, its VAT number with its country, a UK IBAN
    (letters in it), US-ordered dates decided by the page (13 cannot be a month), £ amounts."""
    page = [(40, 40, "Harbour Lights Consulting Ltd"), (400, 40, "INVOICE"),
            (40, 56, "12 Quay Street, Bristol BS1 4DJ"), (40, 68, "VAT Reg. No. GB 980 7806 84"),
            (400, 70, "Invoice No: HL-2026-0413"), (400, 84, "Invoice Date: 04/13/2026"),
            (400, 98, "Due Date: 05/13/2026"),
            (40, 120, "Bill To:"), (40, 132, "Apteka Pod Lwem Sp. z o.o."), (40, 144, "NIP: PL 727-226-18-24"),
            (40, 180, "Description"), (250, 180, "Qty"), (300, 180, "Unit price"), (400, 180, "Amount"),
            (40, 195, "Strategy workshop"), (250, 195, "2"), (300, 195, "£1,250.00"), (400, 195, "£2,500.00"),
            (40, 225, "Subtotal: £2,500.00"), (40, 240, "VAT 20%: £500.00"), (40, 255, "Total due: £3,000.00"),
            (40, 280, "IBAN: GB29 NWBK 6016 1331 9268 19")]
    values = _values(engine, _page(tmp_path, page))
    assert values["supplier_name"] == "Harbour Lights Consulting Ltd"
    assert values["supplier_tax_id"] == "GB980780684"
    assert values["receiver_tax_id"] == "7272261824"
    assert values["invoice_id"] == "HL-2026-0413"
    assert (values["invoice_date"], values["due_date"]) == ("2026-04-13", "2026-05-13")
    assert values["supplier_iban"] == "GB29NWBK60161331926819"
    assert (values["net_amount"], values["total_tax_amount"], values["total_amount"], values["currency"]) == (
        "2500.00", "500.00", "3000.00", "GBP")


def test_a_party_column_ends_where_the_other_partys_same_labels_start(tmp_path, engine):
    """The buyer's heading lost (OCR), the two blocks side by side: the seller's column ends where
    the second 'NIP:' and 'Imię i nazwisko lub nazwa:' start."""
    page = [(40, 40, "Faktura VAT nr FV/2026/11/7"), (40, 56, "Data wystawienia: 2026-11-02"),
            (40, 90, "SPRZEDAWCA"),
            (40, 110, "NIP: 5213017228"), (330, 110, "NIP: 7272261824"),
            (330, 120, "Imię i nazwisko lub nazwa: Apteka Pod Lwem Sp. z o.o."),  # a few points higher
            (40, 128, "Imię i nazwisko lub nazwa: Biuro Rachunkowe „Ponidzie” S.A."),
            (40, 200, "Kwota należności ogółem: 100,00 PLN")]
    values = _values(engine, _page(tmp_path, page, size=7))
    assert values["supplier_name"] == "Biuro Rachunkowe „Ponidzie” S.A."
    assert values["supplier_tax_id"] == "5213017228"


def test_an_amount_that_wraps_inside_a_narrow_cell_is_one_amount(tmp_path, engine):
    """'12' above '345,00' in a narrow 'Wart. netto' column: the item row's arithmetic joins them."""
    table = [(40, 160, "Lp."), (60, 160, "Nazwa"), (200, 160, "Ilość"), (250, 160, "Cena netto"),
             (330, 160, "Wart. netto"), (400, 160, "VAT"),
             (340, 171, "12"),
             (40, 180, "1"), (60, 180, "Montaż instalacji"), (200, 180, "2"), (250, 180, "6172,50"),
             (330, 180, "345,00"), (400, 180, "23%"),
             (40, 200, "2"), (60, 200, "Przegląd okresowy"), (200, 200, "1"), (250, 200, "300,00"),
             (330, 200, "300,00"), (400, 200, "23%"),
             (40, 230, "Razem netto: 12 645,00 zł")]
    result = engine.extract(_page(tmp_path, HEAD + table))
    assert [(i["description"], i["amount"]) for i in result.line_items] == [
        ("Montaż instalacji", "12345.00"), ("Przegląd okresowy", "300.00")]


def test_a_party_heading_ocr_did_not_know_does_not_become_the_party(tmp_path, engine):
    """The FA(3) visualisation prints 'Nabywca  Podmiot2' over 'NIP:' and 'Nazwa:' lines that start
    under the label; on a fax 'Podmiot2' reads 'Podimiot?', which no lexicon knows. Nothing stands
    under that cell, so the block is the column under the label (before: the buyer 'Podimiot?',
    no NIP)."""
    path = _page(tmp_path, [
        (40, 40, "Faktura VAT nr FV/2026/06/391"), (40, 56, "Data wystawienia: 2026-06-28"),
        (40, 80, "Sprzedawca"), (150, 80, "Podmiot1"),
        (40, 94, "NIP:"), (110, 94, "469-801-77-11"),
        (40, 108, "Nazwa:"), (110, 108, "Hurtownia Techmal Sp. z o.o."),
        (40, 132, "Nabywca"), (150, 132, "Podimiot?"),
        (40, 146, "NIP:"), (110, 146, "532-298-76-12"),
        (40, 160, "Nazwa:"), (110, 160, "Gabinet Weterynaryjny Przemysław Piotrowski"),
        (40, 174, "Adres:"), (110, 174, "ul. Przemysłowa 120/36")])
    values = _values(engine, path)
    assert values["receiver_name"] == "Gabinet Weterynaryjny Przemysław Piotrowski"
    assert values["receiver_tax_id"] == "5322987612"
    assert values["supplier_name"] == "Hurtownia Techmal Sp. z o.o."


def test_a_dollar_sign_beside_a_letter_or_in_an_amount_does_not_outvote_the_currency_code(tmp_path, engine):
    """A fax reads 'S' and '8' as '$' ('ul. $łoneczna', '4 $14.76 EUR'): beside a letter it is no
    currency, and a symbol counts half a printed code."""
    path = _page(tmp_path, HEAD + [(40, 150, "ul. $łoneczna 29, 40-308 Katowice"),
                                   (40, 170, "Wartość brutto: 4 $14.76 EUR")])
    assert _values(engine, path)["currency"] == "EUR"
