from datetime import date
from decimal import Decimal

import pytest

from ocr_engines.extract.totals import additive_triple
from ocr_engines.extract import Extraction, Found, correct_ocr_text
from ocr_engines.extract.values import (capitalise_name_word, clean_name, find_iban, find_tax_id, fix_legal_form,
                                        parse_invoice_id)
from ocr_engines.lexicon import correct_name_words
from ocr_engines.normalize import find_amounts, find_dates, fold, format_quantity, parse_amount

# pure logic in seconds: the staging unit suite runs these in the deployed environment
pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text,value", [
    ("1 703,55", "1703.55"), ("1.703,55", "1703.55"), ("1,703.55", "1703.55"), ("1703.55", "1703.55"),
    ("12 345 678,90", "12345678.90"), ("0,05", "0.05"), ("-12,00", "-12.00"),
])
def test_parse_amount(text, value):
    assert parse_amount(text) == Decimal(value)


def test_find_amounts_ignores_percentages_dates_and_ids():
    text = "VAT 23% z dnia 27.11.2026 FV/2026/11/0427 razem 1 703,55 zł i 12,30"
    assert find_amounts(text) == [Decimal("1703.55"), Decimal("12.30")]


def test_find_amounts_reads_ocr_letter_lookalikes():
    assert find_amounts("Do zapłaty: 1 7O3,55") == [Decimal("1703.55")]


@pytest.mark.parametrize("text,expected", [
    ("2026-11-27", date(2026, 11, 27)), ("27.11.2026", date(2026, 11, 27)), ("27-11-2026", date(2026, 11, 27)),
    ("27/11/2026", date(2026, 11, 27)), ("27 Nov 2026", date(2026, 11, 27)), ("Nov 27, 2026", date(2026, 11, 27)),
    ("27 listopada 2026", date(2026, 11, 27)),
])
def test_find_dates(text, expected):
    assert find_dates(f"Data: {text}") == [expected]


def test_find_dates_rejects_impossible_dates():
    assert find_dates("31.02.2026") == []


def test_fold_strips_polish_diacritics():
    assert fold("Termin  PŁATNOŚCI:") == "termin platnosci:"


def test_tax_id_checksum_decides_confidence():
    assert find_tax_id("NIP: 521-301-72-28") == ("5213017228", 1.0)
    assert find_tax_id("NIP PL 5213017228") == ("5213017228", 1.0)
    assert find_tax_id("NIP: 521-3O1-72-28") == ("5213017228", 1.0)  # O read for 0
    assert find_tax_id("NIP: 5213017229") == ("5213017229", 0.2)  # checksum fails: never confident
    assert find_tax_id("NIP: PLG105839508") == ("6105839508", 1.0)  # a fax's open 6 read as G


def test_iban_requires_mod97():
    assert find_iban("PL61 1090 1014 0000 0712 1981 2874") == "PL61109010140000071219812874"
    assert find_iban("61 1090 1014 0000 0712 1981 2874") == "PL61109010140000071219812874"
    assert find_iban("PL61 1090 1014 0000 0712 1981 2875") is None
    # a space read as a hyphen or a dash (Tesseract 5.5): the checksum still decides
    assert find_iban("PL61 1090-1014 0000 0712\u20131981 2874") == "PL61109010140000071219812874"
    assert find_iban("GB29 NWBK-6016 1331 9268 19") == "GB29NWBK60161331926819"
    assert find_iban("PL61 1090-1014 0000 0712 1981 2875") is None
    # the spacing moved inside a group ('... 812812 7'): after 'PL', the digits and the checksum decide
    assert find_iban("PL6711450669493481348812812 7  mBank S.A.") == "PL67114506694934813488128127"
    assert find_iban("PL6711450669493481348812812 8  mBank S.A.") is None


def test_invoice_id_stops_before_the_date():
    assert parse_invoice_id("nr FV/2026/11/0427 z dnia 27.11.2026") == "FV/2026/11/0427"
    assert parse_invoice_id("FV/2026/1l/0427") == "FV/2026/11/0427"
    assert parse_invoice_id("oryginał") is None


def test_legal_form_misread_is_corrected():
    assert clean_name("Handel Sp. z 0.0.") == "Handel Sp. z o.o."


@pytest.mark.parametrize("read,printed", [
    ("- Łódzkie Sukno Sp. z o.o.", "Łódzkie Sukno Sp. z o.o."),  # a rule before the name
    ("-Gazpol Sp, z 0.0.", "Gazpol Sp. z o.o."),
    ("Hurtownia Elektryczna Zorza $.A.", "Hurtownia Elektryczna Zorza S.A."),
    ("Agencja Reklamowa Łódzkie Sukno Sp. |].", "Agencja Reklamowa Łódzkie Sukno Sp. j."),
    ("Hurtownia Łódzkie Sukno Sp. 1.", "Hurtownia Łódzkie Sukno Sp. j."),
    ("— 3M Poland", "— 3M Poland"),  # a dash before a digit is kept
    # Tesseract 5.5 in-process: a speck's stroke before the name, the 'z' of the form doubled
    ("/ Bóbr s.c. Wiesława Łęcka, Agnieszka Żebrowska", "Bóbr s.c. Wiesława Łęcka, Agnieszka Żebrowska"),
    ("BAŁTYK Zakład Przetwórstwa Spożywczego Sp. Zz 0.0. Sp.k.",
     "BAŁTYK Zakład Przetwórstwa Spożywczego Sp. z o.o. Sp.k."),
])
def test_a_faxed_names_rules_and_legal_forms(read, printed):
    assert fix_legal_form(clean_name(read)) == printed


@pytest.mark.parametrize("read,printed", [
    ("Pickarnia Budrex S.A.", "Piekarnia Budrex S.A."),
    ("Usłuyi Księgowe Iędrzej Olszewski", "Usługi Księgowe Jędrzej Olszewski"),
    ("Przędsiębiorstwo Handlowo-Usługowe Wisła Sp. j.", "Przedsiębiorstwo Handlowo-Usługowe Wisła Sp. j."),
    ("Daradztwo Podatkowe Łukasz Pawłowski", "Doradztwo Podatkowe Łukasz Pawłowski"),
])
def test_a_name_word_the_lexicon_does_not_know_is_corrected_at_one_confusion(read, printed):
    assert correct_name_words(read) == printed


def test_proper_names_are_not_corrected_into_common_words():
    names = ("Budrex Techmal Elkom Mlekovita Drutex Fakro Comarch Asseco Dekpol Mirbud Unibep Erbud Torpol "
             "Kolbud Tomex Marbud Kabex Galmet Kospel Biawar Pamapol Gobarto Indykpol Animex Morliny Wójcik "
             "Kamiński Woźniak Kozłowski Jabłoński Stępień Kaźmierczak Ziółkowski Mróz Kozieł Jóźwiak Zięba "
             "Bączek Pacuła Hołda Gąska Kluska Kołacz Sęk Sęp Gołąb")
    assert correct_name_words(names) == names


@pytest.mark.parametrize("read,printed", [
    ("Usługi Ogólnobudowlane wojciech Lewandowski", "Usługi Ogólnobudowlane Wojciech Lewandowski"),
    ("Doradztwo Podatkowe łukasz Pawłowski", "Doradztwo Podatkowe Łukasz Pawłowski"),
    ("Kowalski i Wspólnicy spółka jawna", "Kowalski i Wspólnicy spółka jawna"),  # a legal form spelt out
    ("Nowak spółka z ograniczoną odpowiedzialnością", "Nowak spółka z ograniczoną odpowiedzialnością"),
    ("Hurtownia pod Lipami", "Hurtownia pod Lipami"),
    ("Zakład usług remontowych Nowak", "Zakład usług remontowych Nowak"),  # two lower-case words: as printed
])
def test_a_faxed_names_one_small_capital_is_a_capital(read, printed):
    assert capitalise_name_word(read) == printed


@pytest.mark.parametrize("read,printed", [
    ("Usługa noclegowa - pokój 2-osabowy", "Usługa noclegowa - pokój 2-osobowy"),  # a for o
    ("Projekt graliczny - identyfikacja wizualna", "Projekt graficzny - identyfikacja wizualna"),  # l for f
    ("Thumaczenie dokumentacji technicznej", "Tłumaczenie dokumentacji technicznej"),  # h for ł
    ("Wynajęm rusztowania - 14 dni", "Wynajem rusztowania - 14 dni"),  # a stray ogonek
    ("Naprawa pompy hydraulicznej ar 4", "Naprawa pompy hydraulicznej nr 4"),  # 'nr' before a number
    ("Usługa cateringowa - przerwa kawowa", "Usługa cateringowa - przerwa kawowa"),  # read right: kept
    ("Kawa Mokate 250 g, wyd. 2", "Kawa Mokate 250 g, wyd. 2"),
])
def test_a_faxed_item_descriptions_words_are_corrected_in_polish_only(read, printed):
    out = Extraction(line_items=[{"description": read}])
    correct_ocr_text(out, polish=True)
    assert out.line_items[0]["description"] == printed
    english = Extraction(line_items=[{"description": read}], fields={"supplier_name": Found("Hcalth Supplles", 0.9)})
    correct_ocr_text(english, polish=False)
    assert english.line_items[0]["description"] == read and english.fields["supplier_name"].value == "Hcalth Supplles"


def test_a_date_labels_value_whose_dashes_a_fax_lost():
    assert find_dates("1609-2025", loose=True) == [date(2025, 9, 16)]
    assert find_dates("15 09-2025", loose=True) == [date(2025, 9, 15)]
    assert find_dates("1609-2025") == []  # only a date label's value is read loosely
    assert find_dates("80-09-2025", loose=True) == []  # a day misread past 31 is no date


def test_additive_triple_and_quantity_format():
    assert additive_triple([Decimal("5"), Decimal("100"), Decimal("23"), Decimal("123")]) == (
        Decimal("100"), Decimal("23"), Decimal("123"))
    assert format_quantity(Decimal("2.50")) == "2.5" and format_quantity(Decimal("10")) == "10"
