"""Reading invoices whose layout we did not design (issue 12): the pieces that make the engine
generalise, each on real renderer output where it exists (expectations/ksef-official, the
official KSeF visualiser) or on the smallest input that shows the rule."""

from decimal import Decimal
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest

from ocr_engines import documents as docs
from ocr_engines import get_engine
from ocr_engines.calibration import _non_decreasing, document_confidence, fit
from ocr_engines.evaluation import contract_truth, golden_documents
from ocr_engines.extract import Extraction, Found
from ocr_engines.extract.merge import combine_readings, merge_reads, needs_second_look
from ocr_engines.extract.parties import _until_next_label
from ocr_engines.extract.totals import RateEvidence, fill_item_rates, items_totals, rate_row_triple, row_rates
from ocr_engines.extract.items import parse_item_row, qty_before_price, read_line_items, table_header_row
from ocr_engines.extract.reader import InvoiceReader
from ocr_engines.extract.values import fix_description_punctuation, fix_quotes, fix_unit_superscripts
from ocr_engines.layout import EN_DASH_LENGTH, Word, build_rows, en_dashes
from ocr_engines.lexicon import correct_misread_words, restore_word
from ocr_engines.normalize import find_dates
from ocr_engines.preprocess import ink_only, measure_dashes

D = Decimal


def _words(path: Path, page: int = 0) -> list[str]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [w.text for w in docs.pdf_page_words(pdf[page])]
    finally:
        pdf.close()


# ---------------------------------------------------------------- the corpus and its truth


def test_an_invoice_manifest_corpus_is_read_with_the_contracts_names(ksef_dir):
    documents = golden_documents(ksef_dir)
    assert {d.group for d in documents} == {"digital", "scan_clean", "scan_degraded"}
    assert {d.family for d in documents} == {"ksef-official"}
    assert len(documents) == 12 and len({d.name for d in documents}) == 6
    truth = documents[0].truth
    assert "delivery_date" in truth and "sale_date" not in truth
    assert all("amount" in item and "net_amount" not in item for item in truth["line_items"])


def test_contract_truth_maps_other_names_only():
    raw = {"sale_date": "2026-01-02", "invoice_id": "A/1",
           "line_items": [{"description": "x", "net_amount": "1.00", "quantity": "1"}]}
    assert contract_truth(raw) == {"delivery_date": "2026-01-02", "invoice_id": "A/1",
                                   "line_items": [{"description": "x", "amount": "1.00", "quantity": "1"}]}


# ---------------------------------------------------------------- PDF text layers


def test_a_space_glyph_inside_a_word_is_not_a_word_break(ksef_dir):
    # The visualiser writes 'Chi' + a narrow space glyph + 'n,' (003's second item).
    words = _words(ksef_dir / "pdf" / "003.pdf")
    assert "Chin," in words and "Chi" not in words


def test_a_closing_quote_that_sits_high_stays_in_its_word(ksef_dir):
    assert "„Roztocze”" in _words(ksef_dir / "pdf" / "001.pdf")


# ---------------------------------------------------------------- totals


def test_per_rate_rows_in_any_order_and_with_a_lost_cell():
    assert row_rates("1  23% lub 22%  7 845,74  41 957,64") == ({23, 22}, False)
    assert row_rates("zw  100,00  0,00  100,00") == (set(), True)
    # all three cells: net + VAT = gross
    assert rate_row_triple([D("3072.37"), D("245.79"), D("3318.16")], {8, 7}, False) == (
        D("3072.37"), D("245.79"), D("3318.16"))
    # OCR lost the net cell: VAT and gross, and the rate, fix it
    assert rate_row_triple([D("7845.74"), D("41957.64")], {23, 22}, False) == (
        D("34111.90"), D("7845.74"), D("41957.64"))
    # the VAT cell lost: net and gross
    assert rate_row_triple([D("100.00"), D("123.00")], {23}, False) == (D("100.00"), D("23.00"), D("123.00"))
    # two amounts the rate does not explain are no row of a summary
    assert rate_row_triple([D("100.00"), D("150.00")], {23}, False) is None


def test_items_imply_the_net_and_the_vat_per_rate():
    items = [{"amount": "100.00", "vat_rate": "23"}, {"amount": "50.05", "vat_rate": "23"},
             {"amount": "10.00", "vat_rate": "zw"}]
    assert items_totals(items) == (D("160.05"), D("34.51"))
    assert items_totals([{"amount": "1.00"}]) == (D("1.00"), None)
    assert items_totals([]) is None


def test_an_item_whose_rate_cell_was_lost_takes_the_rate_the_rest_of_the_page_implies():
    def unrated(amount):
        return {"description": "x", "quantity": "1", "unit_price": amount, "amount": amount}

    totals = {"net_amount": Found("150.00", 0.9), "total_tax_amount": Found("34.50", 0.9)}
    one_rate = RateEvidence(frozenset({"23"}))
    filled = fill_item_rates([unrated("100.00"), unrated("50.00")], one_rate, totals)
    assert [i["vat_rate"] for i in filled] == ["23", "23"]
    # the summary says which items carry which rate: 100 at 23 %, 30 + 20 at 5 %
    summary = RateEvidence(frozenset({"23", "5"}), ((23, D("100.00")), (5, D("50.00"))))
    items = [_item("Papier", "100.00"), unrated("30.00"), unrated("20.00")]
    assert [i.get("vat_rate") for i in fill_item_rates(items, summary, {})] == ["23", "5", "5"]
    assert "vat_rate" not in items[1]  # the reads' own items are left as they were
    # two assignments fit (either 50 could be the 23 % one): no rate is guessed
    tied = RateEvidence(frozenset({"23", "5"}), ((23, D("50.00")), (5, D("50.00"))))
    assert [i.get("vat_rate") for i in fill_item_rates([unrated("50.00"), unrated("50.00")], tied, {})] == [None, None]
    # a VAT the rates cannot explain (an item lost), or no rate printed anywhere: nothing filled
    assert "vat_rate" not in fill_item_rates([unrated("100.00")], one_rate, totals)[0]
    assert "vat_rate" not in fill_item_rates([unrated("150.00")], RateEvidence(), totals)[0]
    assert fill_item_rates([unrated("150.00")], one_rate, totals)[0]["vat_rate"] == "23"


def _digital(tmp_path, lines: list[str]) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    path = tmp_path / "inv.pdf"
    c = canvas.Canvas(str(path), invariant=1)
    c.setFont("DejaVu", 9)
    for i, line in enumerate(lines):
        x = 60
        for cell in line.split("|"):
            c.drawString(x, 780 - 16 * i, cell.strip())
            x += 120
    c.save()
    return path


HEADER = ["Faktura VAT nr FV/2026/11/7", "Data wystawienia: 2026-11-02", "Sprzedawca:",
          "Przedsiębiorstwo Łukasz Sp. z o.o.", "NIP: 5213017228", ""]


def test_totals_from_a_summary_table_without_an_invoice_level_net(tmp_path):
    """The KSeF layout: items, the gross, and a per-rate summary; no 'net total' label."""
    path = _digital(tmp_path, HEADER + [
        "Lp. | Nazwa | Cena netto | Ilość | Stawka | Wartość netto",
        "1 | Papier A4 | 20,00 | 5 | 23% | 100,00",
        "2 | Chleb | 10,00 | 3 | 5% | 30,00",
        "Kwota należności ogółem: 154,50 PLN",
        "Podsumowanie stawek podatku",
        "Stawka | Kwota netto | Kwota podatku | Kwota brutto",
        "23% | 100,00 | 23,00 | 123,00",
        "5% | 30,00 | 1,50 | 31,50",
    ])
    result = get_engine("tesseract").extract(path)
    values = {k: v.value for k, v in result.fields.items()}
    assert (values["net_amount"], values["total_tax_amount"], values["total_amount"]) == ("130.00", "24.50", "154.50")
    assert result.fields["net_amount"].confidence >= 0.97


def test_items_alone_never_state_totals_the_page_does_not_print(tmp_path):
    path = _digital(tmp_path, HEADER + [
        "Opis | Ilość | Cena | VAT | Wartość",
        "Papier A4 | 5 | 20,00 | 23% | 100,00",
        "Razem do zapłaty: 123,00 zł",
    ])
    values = {k: v.value for k, v in get_engine("tesseract").extract(path).fields.items()}
    assert values["total_amount"] == "123.00"
    assert "net_amount" not in values and "total_tax_amount" not in values


# ---------------------------------------------------------------- values


def test_a_date_that_lost_its_dots_counts_only_when_asked():
    assert find_dates("28 03 2026") == []
    assert [d.isoformat() for d in find_dates("28 03 2026", loose=True)] == ["2026-03-28"]
    assert find_dates("NIP 28 03 2026", loose=True) == []  # only a text that starts with it


def test_a_name_ends_where_the_next_label_starts():
    assert _until_next_label("Księgarnia „Roztocze” S.A. Nazwa: Stanisław Ćwikliński") == "Księgarnia „Roztocze” S.A."
    assert _until_next_label("Firma ABC: Handel Sp. z o.o.") == "Firma ABC: Handel Sp. z o.o."


def test_a_short_bar_after_a_number_is_a_litre_and_a_tall_one_a_rule():
    def word(text, x0, x1, y0=100, y1=122):
        return Word(text, x0, y0, x1, y1, 0.9)

    row = build_rows([word("Ziemia", 0, 80), word("80", 90, 112), word("|", 120, 124),
                      word("|", 400, 404, 92, 130), word("3", 420, 432)])[0]
    assert [s.text for s in row.segments] == ["Ziemia 80 l", "3"]


def test_a_spaced_dash_as_long_as_an_en_dash_is_one_and_a_short_one_a_hyphen():
    """Blurred scans make Tesseract read the en dash as '-': its length (about twice a
    hyphen's, in letter widths) tells them apart; an em dash is the en dash of Polish print."""
    def row(dash_width):
        words = [Word("Abonament", 0, 0, 180, 20), Word("-", 190, 8, 190 + dash_width, 11),
                 Word("kwiecień", 190 + dash_width + 10, 0, 350 + dash_width, 20)]
        r = build_rows(words)[0]
        en_dashes(r)
        return r.text

    assert row(17) == "Abonament – kwiecień"  # 0.85 of a letter (20 px)
    assert row(9) == "Abonament - kwiecień"  # 0.45 of a letter: a typed hyphen
    r = build_rows([Word("Bóbr", 0, 0, 60, 20), Word("—", 66, 8, 80, 11), Word("Suwałki", 86, 0, 180, 20)])[0]
    en_dashes(r)
    assert r.text == "Bóbr – Suwałki"


def test_an_unspaced_dash_is_an_en_dash_when_its_ink_is_as_long_as_one(tmp_path):
    """Tesseract reads 'Polska–Niemcy' as 'Polska-Niemcy'; the dash's ink, in the word's letter
    widths, tells the two apart between names. Codes, numbers and lower-case compounds are left
    alone."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 34)
    printed = ["Polska–Niemcy", "Olsztyn–Głogów", "e-Faktur", "Busko-Zdrój", "E-mail:", "on–call"]
    image = Image.new("L", (900, 60 * len(printed) + 20), 255)
    draw = ImageDraw.Draw(image)
    words = []
    for k, text in enumerate(printed):
        x0, y0, x1, y1 = draw.textbbox((20, 20 + 60 * k), text, font=font)
        draw.text((20, 20 + 60 * k), text, font=font, fill=0)
        words.append(Word(text.replace("–", "-"), x0, y0, x1, y1, 0.9))
    words.append(Word("2-osobowy", words[0].x0, words[0].y0, words[0].x1, words[0].y1, 0.9))  # over a long dash
    path = tmp_path / "dashes.png"
    image.save(path)
    assert measure_dashes(path, 0, words, EN_DASH_LENGTH) == 2
    # lower-case compounds are hyphenated whatever the length ('on-call' drawn with an en dash)
    assert [w.text for w in words] == ["Polska–Niemcy", "Olsztyn–Głogów", "e-Faktur", "Busko-Zdrój", "E-mail:",
                                       "on-call", "2-osobowy"]
    assert measure_dashes(tmp_path / "missing.png", 0, [Word("A-Bc", 0, 0, 9, 9)], 0.7) == 0


def test_a_spaced_dash_whose_box_blur_made_tall_is_judged_by_its_ink():
    """On a phone photo Tesseract gave a 3 px hyphen a box 44 px high and 0.7-0.9 letter widths
    wide, partly off the stroke, and the spaced-dash rule read 'Software development - reporting'
    with an en dash. The box is set to the stroke (looked for beside the box too); a long stroke
    under a tall box is still an en dash."""
    import numpy as np

    grey = np.full((80, 300), 255, np.uint8)
    grey[40:43, 110:120] = 0  # a hyphen: 10 px, half a 20 px letter
    grey[40:43, 200:217] = 0  # an en dash: 17 px
    hyphen = Word("-", 104, 20, 116, 64, 0.9)  # tall, 12 px wide, and off the stroke's right end
    dash = Word("-", 198, 20, 212, 64, 0.9)
    assert measure_dashes(grey_image(grey), 0, [hyphen, dash], EN_DASH_LENGTH) == 2
    assert (hyphen.x0, hyphen.x1, hyphen.y1 - hyphen.y0) == (110, 120, 3)
    assert (dash.x0, dash.x1) == (200, 217)

    def row(dash_word):
        r = build_rows([Word("Abonament", dash_word.x0 - 186, 30, dash_word.x0 - 6, 50), dash_word,
                        Word("kwiecień", dash_word.x1 + 6, 30, dash_word.x1 + 166, 50)])[0]
        en_dashes(r)
        return r.text

    assert row(hyphen) == "Abonament - kwiecień"
    assert row(dash) == "Abonament – kwiecień"


def grey_image(grey):
    from PIL import Image

    return Image.fromarray(grey)

def test_quotes_pair_as_polish_print_pairs_them_and_an_inch_mark_stays_one():
    assert fix_quotes('E-book „Podatki w małej firmie 2026"') == "E-book „Podatki w małej firmie 2026”"
    assert fix_quotes("Podręcznik „Język polski 2“ dla szkół") == "Podręcznik „Język polski 2” dla szkół"
    assert fix_quotes("Monitor LED 27” QHD") == 'Monitor LED 27" QHD'
    assert fix_quotes('Laptop 15,6" i5') == 'Laptop 15,6" i5'
    assert fix_quotes("Książka „Rok 2026”") == "Książka „Rok 2026”"


def test_a_word_tesseract_misread_is_the_frequent_word_its_glyph_confusions_make():
    assert correct_misread_words("Nocieg – pokój 1-osobowy") == "Nocleg – pokój 1-osobowy"
    assert correct_misread_words("kopu zapasowych, Licencja oprogramowama") == "kopii zapasowych, Licencja oprogramowania"
    # known words, acronyms, mixed case and codes are left as read
    assert correct_misread_words("Monitor QHD iPhone A4/75 Ziemia farba") == "Monitor QHD iPhone A4/75 Ziemia farba"
    assert correct_misread_words("Xqzvtrw") == "Xqzvtrw"  # nothing known is near it


def test_a_reading_that_kept_some_diacritics_gets_the_rest_only_from_a_far_more_frequent_word():
    assert restore_word("zółty") == "żółty"  # 'ż' read as 'z', 'ó' kept: żółty is ~500x as frequent
    assert restore_word("Zółty") == "Żółty"
    assert restore_word("łożko") == "łóżko"
    assert restore_word("farbą") == "farbą"  # a word in its own right: nothing far more frequent
    assert restore_word("rożą") == "rożą"  # 'różą' differs in a diacritic OCR read: never taken away


def test_the_punctuation_polish_print_sets_in_a_description():
    assert fix_description_punctuation("Maseczki typ IIR (50 szt)") == "Maseczki typ IIR (50 szt.)"
    assert fix_description_punctuation("Rękawice bezpudrowe. rozm M (100 szt)") == "Rękawice bezpudrowe, rozm. M (100 szt.)"
    assert fix_description_punctuation("Przygotowanie umowy spółki z 0.0.") == "Przygotowanie umowy spółki z o.o."
    assert fix_description_punctuation("Wizytówki jednostronne. 350 g") == "Wizytówki jednostronne, 350 g"
    # a contraction keeps no period, a period before a capital ends a sentence, a unit at the end stays
    for text in ("Usługa nr 5", "Transport. Dostawa w poniedziałek", "Kabel 5 szt", "Mąka typ 650. 1 kg"):
        assert fix_description_punctuation(text) == text


def test_two_readings_that_agree_on_the_letters_keep_what_each_read_better():
    """The first pass reads diacritics and commas, the binarised second look thin dashes and
    spaces; OCR loses marks more often than it invents them."""
    assert combine_readings("Ser żółty gouda - blok", "Ser zółty gouda – blok") == "Ser żółty gouda – blok"
    assert combine_readings("Mąka pszenna typ 650. 1 kg", "Mąka pszennatyp 650, 1 kg") == "Mąka pszenna typ 650, 1 kg"
    assert combine_readings("Mąka pszennatyp 650, 1 kg", "Mąka pszenna typ 650. 1 kg") == "Mąka pszenna typ 650, 1 kg"
    assert combine_readings("Jaja (wytłaczanka 30 szt", "Jaja (wytłaczanka 30 szt.)") == "Jaja (wytłaczanka 30 szt.)"
    # what the other read adds must be a mark blur erases, never a trailing speck or a doubled dash
    assert combine_readings("Kabel HDMI", "Kabel HDMI.") == "Kabel HDMI"
    assert combine_readings("ISBN 978-83-69-73518-2", "ISBN 978-83-69- -73518-2") == "ISBN 978-83-69-73518-2"
    # reads that disagree on a letter: the base stands
    assert combine_readings("Laptop i5", "Laptop 15") == "Laptop i5"
    # both spacings make words: the more common reading ('kadri' is a rare misspelling)
    assert combine_readings("Prowadzenie kadri płac", "Prowadzenie kadr i płac") == "Prowadzenie kadr i płac"


def test_an_item_both_reads_found_takes_the_rate_only_the_other_read_kept():
    item = {"description": "Rozliczenie JPK", "quantity": "1", "unit_price": "280.00", "amount": "280.00"}
    first = Extraction(line_items=[dict(item)], item_evidence=[10.0])
    second = Extraction(line_items=[{**item, "vat_rate": "23"}], item_evidence=[10.0])
    assert merge_reads(first, second).line_items[0]["vat_rate"] == "23"


def cells_row(*cells):
    """A table row: words 10 px apart within a cell, cells 80 px apart."""
    words, x = [], 0
    for cell in cells:
        for t in cell.split(" "):
            words.append(Word(t, x, 0, x + 12 * len(t), 20))
            x += 12 * len(t) + 10
        x += 70
    return build_rows(words)[0]


def test_a_description_keeps_a_closing_bracket_its_words_opened_and_drops_trailing_noise():
    item = parse_item_row(cells_row("1", "Pączki (karton 24 szt )", "45,19", "9", "406,71"), qty_first=False)[0]
    assert item["description"] == "Pączki (karton 24 szt)"
    # a row number with a speck, and the description cell's own trailing dash before a junk cell
    item = parse_item_row(cells_row("/5 Rozliczenie JPK – korekta -", "ay", "280,00", "1", "280,00"), qty_first=False)[0]
    assert item["description"] == "Rozliczenie JPK – korekta"
    # a quote glued to a number by a speck does not hide the number ('"450,00')
    item = parse_item_row(cells_row("1", "Porada prawna", '"450,00', "3,25", "godz.", "1462,50"), qty_first=False)[0]
    assert (item["quantity"], item["unit_price"]) == ("3.25", "450.00")


def test_a_header_word_glued_to_the_next_still_names_its_column():
    rows = build_rows([Word("Nazwa", 0, 0, 60, 20), Word("Cenajedn.", 300, 0, 400, 20), Word("Ilość", 420, 0, 480, 20),
                       Word("Wartość", 500, 0, 580, 20)])
    reader = InvoiceReader(rows)
    header = table_header_row(reader)
    assert header is not None and qty_before_price(reader, header) is False


def test_unit_superscripts_read_as_question_marks():
    assert fix_unit_superscripts("Papier ksero A4 80 g/m? (ryza 500 ark.)") == "Papier ksero A4 80 g/m² (ryza 500 ark.)"
    assert fix_unit_superscripts("Panele 12 m?, dąb") == "Panele 12 m², dąb"
    assert fix_unit_superscripts("Czy to już?") == "Czy to już?"


def test_an_unreadable_header_leaves_the_column_order_to_the_rows():
    """'Cena | Ilość' read without its header: the order that reads more rows decides, so a
    row that works both ways ('641' for '6,41' at quantity 500) follows the others."""
    def word(text, x0):
        return Word(text, x0, 0, x0 + 10 * len(text), 20)

    rows = [build_rows([word("Parking", 0), word("641", 300), word("500", 400), word("3205,00", 500)])[0],
            build_rows([word("Wynajem", 0), word("70,19", 300), word("1,5", 400), word("105,29", 500)])[0],
            build_rows([word("Rzutnik", 0), word("37,65", 300), word("4", 400), word("150,60", 500)])[0]]
    reader = InvoiceReader(rows)
    items = read_line_items(reader).items
    assert [(i["quantity"], i["unit_price"]) for i in items] == [("500", "6.41"), ("1.5", "70.19"), ("4", "37.65")]


def test_a_row_with_its_own_vat_columns_is_an_item_and_a_summary_row_is_not():
    """Wholesale tables print each line's rate, net, VAT and gross: 23% x 1 573,56 = 361,92 is
    that line's VAT, not a totals row, when a quantity x price = net reading stands left of it."""
    def row(*texts):
        words, x = [], 0
        for t in texts:
            words.append(Word(t, x, 0, x + 12 * len(t), 20))
            x += 12 * len(t) + 10
        return build_rows(words)[0]

    item = parse_item_row(row("1", "Serwis", "serwerowni", "godz.", "16,74", "94,00", "23%", "1", "573,56",
                              "361,92", "1", "935,48"), qty_first=None)[0]
    assert (item["quantity"], item["unit_price"], item["amount"], item["vat_rate"]) == ("16.74", "94.00", "1573.56", "23")
    assert parse_item_row(row("Stawka", "23%", "1", "573,56", "361,92", "1", "935,48")) is None


def test_an_item_row_one_misread_digit_off_is_read_from_the_other_two_numbers():
    """A fax misreads one digit of a price or an amount: quantity x the other decides it, when
    only one of them can be the misread one, or a gross column says which."""
    def numbers(parsed):
        item = parsed[0]
        return item["quantity"], item["unit_price"], item["amount"]

    # the amount: 4 x 3 025,55 is 12 102,20, read '17 102,20' (and the price cannot be 17 102,20 / 4)
    assert numbers(parse_item_row(cells_row("Transport krajowy", "4", "usł.", "3 025,55", "23%", "17 102,20"))) \
        == ("4", "3025.55", "12102.20")
    # the price: 7,53 x 130,68 = 984,02, read '130,08'; the gross 1 210,34 = 984,02 + 23 % confirms
    assert numbers(parse_item_row(cells_row("Tłumaczenie techniczne", "753", "130,08", "23%", "984,02", "1210,34"))) \
        == ("7.53", "130.68", "984.02")
    # either could be misread (4 x 542,06 = 2 168,24 or 4 x 532,06 = 2 128,24) and nothing says which
    assert parse_item_row(cells_row("Wynajem rusztowania", "4", "usł.", "542,06", "23%", "2128,24")) is None
    # ... a gross column does: 2 128,24 + 23 % = 2 617,74
    assert numbers(parse_item_row(cells_row("Wynajem rusztowania", "4", "542,06", "23%", "2128,24", "2617,74"))) \
        == ("4", "532.06", "2128.24")
    # two digits off is not an item; a quantity is never repaired ('nr 4' is not a quantity of 1)
    assert parse_item_row(cells_row("Naprawa pompy", "4", "usł.", "807,06", "23%", "3501,84"), quotient=False) is None
    item = parse_item_row(cells_row("Naprawa pompy nr 4", "I", "szt.", "2866,00", "23%", "2866,00"))[0]
    assert item["description"].endswith("nr 4") and item["quantity"] == "1"


def test_a_lone_stroke_before_a_unit_is_a_count():
    assert parse_item_row(cells_row("Kawa ziarnista I kg", "35", "102,23", "3578,05"))[0]["description"] == \
        "Kawa ziarnista 1 kg"
    assert parse_item_row(cells_row("Kawa ziarnista 1 kq", "35", "102,23", "3578,05"))[0]["description"] == \
        "Kawa ziarnista 1 kg"
    assert parse_item_row(cells_row("Jabłka klasa I", "35", "102,23", "3578,05"))[0]["description"] == "Jabłka klasa I"


def test_a_dash_between_two_words_survives_the_speck_filter():
    row = build_rows([Word("Bóbr", 0, 0, 60, 20), Word("—", 66, 8, 80, 11), Word("Suwałki", 86, 0, 180, 20),
                      Word("—", 400, 8, 414, 11)])[0]
    assert row.text == "Bóbr — Suwałki"


# ---------------------------------------------------------------- the second look


def test_ink_only_keeps_text_and_drops_rules_and_shading():
    page = np.full((400, 400), 215, np.uint8)  # grey paper
    page[100:140, 20:380] = 195  # a shaded header cell
    page[200, 20:380] = 172  # a light table rule
    page[300:310, 50:150] = 70  # a text stroke
    out = ink_only(page, 200)
    assert out[120, 200] == 255 and out[200, 200] == 255 and out[50, 50] == 255
    assert out[305, 100] == 0


def _read(**fields) -> Extraction:
    return Extraction({k: Found(v, c) for k, (v, c) in fields.items()})


def test_the_second_read_fills_what_the_first_lacks_and_keeps_what_it_has():
    first = _read(invoice_id=("FV/1", 0.95), supplier_name=("Łukasz Sp. z o.o.", 0.93), total_amount=("123.00", 0.9))
    second = _read(invoice_id=("FV/l", 0.9), supplier_name=("Lukasz Sp. z 0.0.", 0.9), net_amount=("100.00", 0.97),
                   total_tax_amount=("23.00", 0.97), total_amount=("123.00", 0.97), due_date=("2026-12-01", 0.9))
    assert needs_second_look(first, [])
    merged = merge_reads(first, second)
    values = {k: v.value for k, v in merged.fields.items()}
    assert values["invoice_id"] == "FV/1" and values["supplier_name"] == "Łukasz Sp. z o.o."
    assert (values["net_amount"], values["total_tax_amount"], values["due_date"]) == ("100.00", "23.00", "2026-12-01")


def test_a_complete_first_read_needs_no_second_look():
    read = _read(invoice_id=("A", 1), invoice_date=("2026-01-01", 1), supplier_name=("X", 1),
                 supplier_tax_id=("5213017228", 1), total_amount=("1.23", 1), net_amount=("1.00", 1),
                 total_tax_amount=("0.23", 1))
    read.line_items = [{"description": "Pióro", "quantity": "1", "unit_price": "1.00", "amount": "1.00", "vat_rate": "23"}]
    assert not needs_second_look(read, [])
    read.expected = read.expected | {"due_date"}  # its label printed, no date read
    assert needs_second_look(read, [])
    assert needs_second_look(read, ["net_amount: net + VAT does not equal the total"])
    read.expected, read.line_items = read.expected - {"due_date"}, []
    assert needs_second_look(read, [])  # every invoice sells something: no item read is a miss



def test_a_second_look_re_reads_only_the_pages_where_the_problem_is():
    """A missed field whose label page 2 prints: page 2; a guessed or failing field: its page;
    an invoice number or items found nowhere: every OCR'd page."""
    from ocr_engines.extract.merge import second_look_pages
    from ocr_engines.layout import Row

    rows = [Row(0, []), Row(0, []), Row(1, []), Row(1, [])]
    read = _read(invoice_id=("A", 1), invoice_date=("2026-01-01", 1), supplier_name=("X", 1), total_amount=("1.23", 1))
    for name, row in (("invoice_id", 0), ("invoice_date", 1), ("supplier_name", 1), ("total_amount", 3)):
        read.fields[name].row = row
    read.line_items = [_item("Pióro", "1.00")]
    both = {0, 1}
    assert second_look_pages(read, [], rows, both) == set()
    read.expected, read.expected_pages = read.expected | {"supplier_iban"}, {"supplier_iban": frozenset({1})}
    assert second_look_pages(read, [], rows, both) == {1}  # 'Nr konta' printed on page 2, no IBAN read
    assert second_look_pages(read, [], rows, {0}) == set()  # page 2 has a text layer: nothing to re-read
    read.expected = read.expected - {"supplier_iban"}
    read.fields["supplier_name"].guessed = True
    assert second_look_pages(read, [], rows, both) == {0}
    read.fields["supplier_name"].guessed = False
    assert second_look_pages(read, ["total_amount: net + VAT does not equal the total"], rows, both) == {1}
    # the totals are read again together: net's label on page 1 (an item table's header), the total on page 2
    read.expected, read.expected_pages = read.expected | {"net_amount"}, {"net_amount": frozenset({0})}
    assert second_look_pages(read, [], rows, both) == {0, 1}
    read.expected, read.expected_pages = read.expected - {"net_amount"}, {}
    assert second_look_pages(read, ["line_items: amounts add up to 2.00, not the net total 1.00"], rows, both) == both
    del read.fields["invoice_id"]
    assert second_look_pages(read, [], rows, both) == both
    read.fields["invoice_id"], read.line_items = Found("A", 1, row=0), []
    assert second_look_pages(read, [], rows, both) == both

def _item(description: str, amount: str, rate: str = "23") -> dict[str, str]:
    return {"description": description, "quantity": "1", "unit_price": amount, "amount": amount, "vat_rate": rate}


def test_the_second_reads_items_replace_fewer_ones_that_add_up_to_nothing():
    first = _read(net_amount=("300.00", 0.9), total_tax_amount=("69.00", 0.9), total_amount=("369.00", 0.9))
    first.line_items = [_item("Papier", "100.00")]
    second = _read(net_amount=("300.00", 0.9), total_tax_amount=("69.00", 0.9), total_amount=("369.00", 0.9))
    second.line_items = [_item("Papier", "100.00"), _item("Toner", "150.00")]  # a row still lost
    assert merge_reads(first, second).line_items == second.line_items
    fewer = _read()
    fewer.line_items = second.line_items[:1]
    assert merge_reads(first, fewer).line_items == first.line_items  # a tie keeps the first read


def test_of_two_reads_whose_totals_add_up_the_one_its_items_agree_with_wins():
    """A first pass that misread the summary consistently (net + VAT = gross, but not what
    the items sum to) loses its totals to a second read whose items agree with them."""
    first = _read(net_amount=("789.00", 0.9), total_tax_amount=("181.47", 0.9), total_amount=("970.47", 0.9))
    first.line_items = [_item("Papier", "100.00")]
    second = _read(net_amount=("250.00", 0.9), total_tax_amount=("57.50", 0.9), total_amount=("307.50", 0.9))
    second.line_items = [_item("Papier", "100.00"), _item("Toner", "150.00")]
    merged = merge_reads(first, second)
    assert {k: v.value for k, v in merged.fields.items()}["net_amount"] == "250.00"
    assert merged.line_items == second.line_items
    assert merge_reads(second, first).fields["net_amount"].value == "250.00"  # and never the other way


@pytest.fixture(scope="module")
def degraded_scan(ksef_dir):
    doc = next(d for d in golden_documents(ksef_dir) if d.name == "010" and d.group == "scan_degraded")
    return doc


def test_the_second_look_reads_the_totals_a_degraded_scan_hides(degraded_scan):
    """010: the first pass loses the boxed summary table of a degraded scan; the second look
    (ink-only image) reads it, and the timings say what it cost."""
    truth = degraded_scan.truth
    first_only = get_engine("tesseract", second_look=False).extract(degraded_scan.path)
    assert "total_tax_amount" not in first_only.fields
    both = get_engine("tesseract").extract(degraded_scan.path)
    for name in ("net_amount", "total_tax_amount", "total_amount", "due_date"):
        assert both.fields[name].value == truth[name], name
    assert both.timings_ms.get("second_look_ocr", 0) > 0 and "second_look_ocr" not in first_only.timings_ms
    assert both.confidence > first_only.confidence


# ---------------------------------------------------------------- confidence


def test_document_confidence_counts_absent_expected_fields_and_failed_checks():
    expected = ("invoice_id", "invoice_date", "supplier_name", "supplier_tax_id", "total_amount", "net_amount",
                "total_tax_amount")
    complete = {n: Found("x", 0.99) for n in expected}
    missing = {k: v for k, v in complete.items() if k not in ("net_amount", "total_tax_amount")}
    failed = dict(complete, net_amount=Found("x", 0.2))
    assert document_confidence(complete, expected) > document_confidence(failed, expected) > 0
    assert document_confidence(complete, expected) > document_confidence(missing, expected)
    assert document_confidence(missing, expected) <= 5 / 7
    # a receipt that prints no net and no VAT is not penalised for their absence
    assert document_confidence(missing, expected[:5]) == pytest.approx(document_confidence(complete, expected))
    assert document_confidence({}, expected) == 0.0


def test_fields_whose_label_is_printed_are_expected(tmp_path):
    from ocr_engines.extract import expected_fields
    from ocr_engines.extract.reader import InvoiceReader

    rows = build_rows([Word("Termin", 0, 0, 60, 10), Word("płatności:", 64, 0, 130, 10), Word("Razem", 0, 30, 50, 40)])
    expected, pages = expected_fields(InvoiceReader(rows), set())
    assert "due_date" in expected and "invoice_id" in expected
    assert pages == {"due_date": frozenset({0})}  # where the label is: a second look re-reads that page
    assert "net_amount" not in expected and "supplier_iban" not in expected
    summary = build_rows([Word("Podsumowanie", 0, 0, 90, 10), Word("stawek", 94, 0, 140, 10),
                          Word("podatku", 144, 0, 200, 10), Word("VAT", 0, 30, 30, 40)])
    assert {"net_amount", "total_tax_amount"} <= expected_fields(InvoiceReader(summary), set())[0]
    vat_column = build_rows([Word("VAT", 0, 30, 30, 40), Word("23%", 0, 50, 30, 60)])
    assert "total_tax_amount" not in expected_fields(InvoiceReader(vat_column), {1})[0]  # a rate in an item row
    assert "total_tax_amount" in expected_fields(InvoiceReader(vat_column), set())[0]  # a rate outside the items


def test_the_calibration_fit_never_lowers_probability_as_confidence_rises():
    pairs = [(0.1, False)] * 5 + [(0.5, True)] * 30 + [(0.85, False)] * 10 + [(0.85, True)] * 10 + [(1.0, True)] * 50
    table = fit(pairs, "test")
    p = table["p_correct"]
    assert all(a <= b for a, b in zip(p, p[1:]))
    assert p[0] < 0.2 and p[-1] > 0.95
    assert _non_decreasing([0.9, 0.5, 0.7], [1, 1, 1]) == pytest.approx([0.7, 0.7, 0.7])


def test_form_codes_ksef_numbers_and_phones_are_no_invoice_numbers():
    from ocr_engines.extract.values import parse_invoice_id

    for text in ("FA (3)", "FA(3) z dnia 2026-01-02", "8941168339-20260821-470280C63C6B-AE", "+48 596 431 741",
                 "57 628 46 77"):
        assert parse_invoice_id(text) is None, text
    for text in ("FV/2026/03/0532", "475/MAG/06/2026", "FA-1321/2026", "849/2026/FVS", "INV/2026/0090"):
        assert parse_invoice_id(text) == text


def test_a_second_look_that_cannot_read_a_page_keeps_the_first_read(tmp_path):
    """The look may improve a document, never fail it: a page image it cannot decode keeps its
    first read (here the file vanished between the two reads)."""
    from ocr_engines.tesseract import PageRead

    first = [PageRead([], tmp_path / "gone.png", 0, 300)]
    assert get_engine("tesseract")._second_look(first, {0}) == first
