"""Value parsers: invoice numbers, tax ids, bank accounts and names as printed, OCR slips fixed."""

from __future__ import annotations

import re

from .. import labels as L
from ..normalize import digitise, digits_only, find_dates, fold
from ..validation import is_valid_iban, tax_id_value, valid_tax_id


_ID_STOP = {"z", "dnia", "from", "dated", "oryginal", "kopia", "copy", "original", "data", "date"}


# Numbers printed near an invoice-number label that are not invoice numbers: the structured
# invoice's form code ('FA (3)'), a KSeF number (the seller's NIP, the date, a hex id), a phone.
_NOT_AN_ID = (
    re.compile(r"^FA ?\(\d\)(?!\S)", re.IGNORECASE),
    re.compile(r"^\d{10}-\d{8}-[0-9A-F]{6,}(-[0-9A-F]{2})?(?!\S)", re.IGNORECASE),
    re.compile(r"^\+?\(?\d{2,3}\)?(?: ?\d{2,3}){3,4}(?!\S)"),
)


def after_label(text: str) -> str | None:
    """What follows the last word of ``text`` that ends with a colon and holds a letter: what
    ends with a colon is a label, never a value ('Invoice No: HL-2026-0413'); None when no word
    does ('' when nothing follows it)."""
    words = text.split(" ")
    labelled = [i for i, w in enumerate(words) if w.endswith(":") and any(ch.isalpha() for ch in w)]
    return " ".join(words[labelled[-1] + 1:]).strip() if labelled else None


def parse_invoice_id(text: str) -> str | None:
    after = after_label(text)
    if after is not None:
        text = after
    words = [w for w in text.replace(":", " ").split(" ") if w]
    while words and (fold(words[0]).strip(".#") in ("nr", "no", "number", "numer", "")
                     or (len(words) > 1 and words[0].endswith(".") and words[0][:-1].isalpha())):
        words = words[1:]  # 'Nr', and an abbreviated word of an unknown label ('dok.')
    if any(p.match(" ".join(words)) for p in _NOT_AN_ID):
        return None
    out = []
    for w in words:
        if fold(w) in _ID_STOP:
            break
        out.append(w)
        if len(out) == 3:
            break
    value = " ".join(out).strip(" .,;:-_|")
    if not value or not any(ch.isdigit() for ch in value) or len(value) > 40:
        return None
    if value.isdigit() and len(value) < 2:
        return None  # a table's first row number under a 'No.' column, not an invoice number
    # A date alone is not an invoice number (e.g. the label's value is below, the date beside).
    if find_dates(value) and len(digits_only(value)) == 8 and "/" not in value:
        return None
    if find_dates(value) and re.fullmatch(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}", value):
        return None  # '03/06/2025': a date alone, whatever its separator (the label's value is elsewhere)
    if find_dates(value) and len(value.split()) == 3 and value.split()[1].isalpha():
        return None  # '24 Jan 2024'
    return fix_id_digits(value)


def fix_id_digits(value: str) -> str:
    """Inside the numeric parts of an identifier, read letter look-alikes as digits; short
    letter prefixes are upper case ('Fv' is 'FV' whose v OCR saw small)."""
    parts = re.split(r"([/\-_. ])", value)
    out = []
    for p in parts:
        if any(ch.isdigit() for ch in p):
            p = digitise(p)
        elif 2 <= len(p) <= 3 and p.isalpha() and p[0].isupper() and set(p[1:]) <= set("cosvwxz"):
            p = p.upper()
        out.append(p)
    return "".join(out)


# "Sp. z o.o." is the most common legal form; Tesseract reads its o's as zeros or capitals, and
# loses its dots on blurred scans ('Sp zoo.').
_SP_Z_OO = re.compile(r"\bSp[.,]? ?[zZ2]{1,2} ?[0oO]\.? ?[0oO]\.?(?=\s|$|,)")  # 'Sp. Zz 0.0.' (Tesseract 5.5)


_LEGAL_FORM_OCR = (
    (re.compile(r"\b(Sp\. ?)z(o\.o\.)"), r"\1z \2"),  # 'Sp. zo.o.': the space was lost
    (re.compile(r"\bS[pP]\.?( ?)([JKPjkp])[.\-,]?(?=$|[\s,])"), lambda m: f"Sp.{m.group(1)}{m.group(2).lower()}."),
    (re.compile(r"(?<=\w) I (?=\w)"), " i "),  # the conjunction of partners' names ('Nowak I Syn')
    (re.compile(r"!(?=[A-ZĄĆĘŁŃÓŚŹŻ])"), "I"),  # '!T' for 'IT'
    (re.compile(r"(^|\s)[,‚](?=\w[^”]*”)"), "\\1„"),  # an opening quote read as a comma
    (re.compile(r"\bi [wW]sp[oó]lnicy\b"), "i Wspólnicy"),  # general partnerships' statutory wording
    (re.compile(r"\bS\.A(?=$|[\s,])"), "S.A."),
    # A fax's legal forms: 'S' read as '$' ('$.A.'), 'j' as '|]' or ']' ('Sp. |].'), a comma for
    # the period ('Sp, j.').
    (re.compile(r"(?<!\S)\$\.A\.(?=$|[\s,])"), "S.A."),
    (re.compile(r"\bSp[.,] ?(?:[|\]]{1,2}|1)\.?(?=$|,)"), "Sp. j."),
    (re.compile(r"\bSp, ?(?=[jkp]\.)"), "Sp. "),
    # Specks after the legal form that ends a name ('Sp. j. o').
    (re.compile(r"((?:Sp\. ?[jkp]\.|Sp\. z o\.o\.|S\.A\.))\s+\S{1,2}$"), r"\1"),
)


def fix_legal_form(name: str) -> str:
    """Polish legal forms as registered ('Sp. j.', 'Sp. z o.o.', 'S.A.'), from OCR variants."""
    for pattern, repl in _LEGAL_FORM_OCR:
        name = pattern.sub(repl, name)
    return name[:1].upper() + name[1:]  # a registered name starts with a capital


# Lower-case words a Polish registered name keeps: legal forms spelt out and connectives.
_NAME_LOWER_WORDS = frozenset(("spółka", "jawna", "akcyjna", "komandytowa", "komandytowo", "cywilna",
                               "partnerska", "ograniczoną", "odpowiedzialnością", "oraz", "dla", "pod",
                               "nad", "przy", "ulicy"))
_NAME_WORD = re.compile(r"(?<![\w.-])[^\W\d_]{3,}(?![\w.-])")


def capitalise_name_word(name: str) -> str:
    """A Polish party name's one lower-case word among capitalised ones, capitalised: a fax's
    bilevel blur makes a capital its small letter ('Usługi Ogólnobudowlane wojciech Lewandowski',
    'Ł' read as 'ł'). A name with two lower-case words, or a spelt-out legal form, is as printed."""
    words = [m for m in _NAME_WORD.finditer(name) if m.group(0).lower() not in _NAME_LOWER_WORDS]
    lower = [m for m in words if m.group(0).islower()]
    if len(lower) != 1 or sum(m.group(0)[0].isupper() for m in words) < 2:
        return name
    k = lower[0].start()
    return name[:k] + name[k].upper() + name[k + 1:]


# A square or cubic unit's superscript read as '?' ('80 g/m?', '12 m?'): a question mark
# straight after a metric length unit is no question.
_UNIT_SUPERSCRIPT_MISREAD = re.compile(r"(?<![^\s/(\d])([cdk]?m)\?(?=$|[\s,.;)])")


def fix_unit_superscripts(text: str) -> str:
    """'m²' for OCR's 'm?' in item descriptions (Tesseract reads a superscript 2 as '?')."""
    return _UNIT_SUPERSCRIPT_MISREAD.sub(r"\1²", text)


_OPENED_QUOTE = re.compile(r"„([^”“\"]*)[\"“]")
_INCH_MARK = re.compile(r"(?<=\d)[”“](?=$|[\s,.;)/])")


def fix_quotes(text: str) -> str:
    """Quote marks as Polish print pairs them: a „ closes with ” (OCR reads it as '"' or '“'),
    and a curly quote right after a number that no „ opened is an inch mark ('27"')."""
    text = _OPENED_QUOTE.sub(r"„\1”", text)
    if "„" not in text:
        text = _INCH_MARK.sub('"', text)
    return text


# Polish abbreviations that cut a word short take a period ('szt.' for sztuk, 'rozm.' for
# rozmiar); contractions that keep the word's last letter ('nr', 'mgr') do not. Blurred scans
# lose that period, and binarisation thins it away: 'szt)' for 'szt.)', 'rozm M' for 'rozm. M'.
_TRUNCATED_ABBREVIATIONS = ("szt", "op", "opak", "rozm", "kpl", "np", "tzw", "godz", "tel", "ark", "poj", "wym")
_ABBREVIATION_LOST_PERIOD = re.compile(
    rf"(?<![\w.])({'|'.join(_TRUNCATED_ABBREVIATIONS)})(?=\)|,| [\dA-ZĄĆĘŁŃÓŚŹŻ])")
# 'nr' (numer) before a number, its n read as a, o or r on a fax: 'pompy hydraulicznej ar 4'.
_NR_MISREAD = re.compile(r"(?<!\S)[aor]r(?= \d)")
# 'spółki z o.o.' read as 'z 0.0.' / 'z o.0.' in a description.
_Z_OO_MISREAD = re.compile(r"(?<!\S)z [0oO]\.[0oO]\.(?=$|[\s,)])")
# A comma read as a period: '. ' inside a description, after a whole word (not an abbreviation)
# and before a lower-case word or a number, ends no sentence ('jednostronne. 350 g').
_PERIOD_FOR_COMMA = re.compile(r"(?<![\w.])([^\W\d_]{5,})\. (?=[a-ząćęłńóśźż\d])")


def fix_description_punctuation(text: str) -> str:
    """The punctuation of an OCR'd item description as Polish print sets it: the period of a
    truncated abbreviation, 'z o.o.', 'nr', and a comma that blur turned into a period."""
    text = _NR_MISREAD.sub("nr", _Z_OO_MISREAD.sub("z o.o.", text))
    text = _ABBREVIATION_LOST_PERIOD.sub(r"\1.", text)
    return _PERIOD_FOR_COMMA.sub(
        lambda m: m.group(0) if m.group(1).lower() in _TRUNCATED_ABBREVIATIONS else f"{m.group(1)}, ", text)


def clean_name(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" :;,")
    # a rule, a bullet or a speck's stroke before the name ('- Łódzkie Sukno' on a fax, '/ Bóbr s.c.')
    text = re.sub(r"^[-–—|•·*/\\]+ ?(?=[^\W\d_])", "", text)
    text = re.sub(r"(?<!\S),,(?=\w)", "„", text)  # OCR reads an opening „ as two commas
    text = re.sub(r"„\s+", "„", re.sub(r"\s+”", "”", text))  # quotes hug what they quote
    return _SP_Z_OO.sub("Sp. z o.o.", text)


_NIP_KEYWORD_MISREAD = re.compile(r"\bn[i1l|][pe]\b")  # 'NIP' read as 'NIE', 'N1P'
_NIP_PRINTED = re.compile(r"(?<![\d-])\d{3}-(?:\d{3}-\d{2}-\d{2}|\d{2}-\d{2}-\d{3})(?![\d-])")  # the two official groupings
# Letters OCR reads for digits in a number: O o 0, I l | 1, S 5, B 8, G 6 (a fax's 6 with an open
# bowl: 'PLG105839508'). The checksums keep a word from passing for a number.
_DIGIT_LOOKALIKES = "OoIlSBG|"
_AS_DIGITS = str.maketrans(_DIGIT_LOOKALIKES, "00115861")
_D = f"0-9{re.escape(_DIGIT_LOOKALIKES)}"  # a digit as read, inside a character class
_TAX_ID_RE = re.compile(rf"(?:\b[A-Z]{{2}} ?)?[{_D}][{_D} \-]{{8,16}}[{_D}]")


_FOREIGN_VAT_RE = re.compile(r"\b([A-Z]{2}) ?([0-9A-Z](?:[0-9A-Z]|[ .\-](?=[0-9A-Z])){6,14})")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


def find_tax_id(text: str) -> tuple[str, float] | None:
    """(tax id, confidence factor) of the first tax id in a text: a NIP's ten digits, a foreign
    VAT number with its country (``validation.tax_id_value``); invalid checksums score low.
    Digits inside a link (the KSeF verification URL carries the seller's NIP) do not count."""
    text = _URL.sub(" ", text)
    for m in _FOREIGN_VAT_RE.finditer(text):  # a country prefix: GB980780684, NL004495445B01
        country, body = m.group(1), re.sub(r"[ .\-]", "", m.group(2))
        if country != "PL" and valid_tax_id(body, country):
            return tax_id_value(body, country), 1.0
    folded = fold(text)
    if (not any(k in folded for k in L.TAX_ID) and not _NIP_KEYWORD_MISREAD.search(folded)
            and not re.search(r"\d{10}", text) and not _NIP_PRINTED.search(text)):
        return None
    best = None
    for m in _TAX_ID_RE.finditer(text):
        raw = m.group(0)
        prefix = raw[:2] if raw[:2].isalpha() and raw[:2].isupper() and raw[:2] not in ("OO", "IO") else ""
        body = raw[len(prefix):]
        digits = digits_only(body.translate(_AS_DIGITS))
        if len(digits) < 8:
            continue
        if valid_tax_id(digits, prefix):
            return tax_id_value(digits, prefix), 1.0
        if best is None and len(digits) == 10:
            best = (digits, 0.2)  # printed like a NIP but fails the checksum: never confident
    return best


# Between an IBAN's groups: a space as printed, or a space OCR read as a hyphen or a dash
# (Tesseract 5.5 in-process does: 'PL61 1090-1014 ...'). The checksum (mod 97) still decides, so a
# separator can only let a real IBAN through, not make one up.
_IBAN_SEP = "[ \\-\u2013]?"
_IBAN_RE = re.compile(rf"(?:\b([A-Z]{{2}}) ?)?([{_D}]{{2}}(?:{_IBAN_SEP}[{_D}]{{4}}){{6}})(?![0-9])")


# Any country's IBAN as printed: two letters, two check digits, then up to 30 letters and digits
# in groups ('GB29 NWBK 6016 1331 9268 19', 'DE89370400440532013000'): foreign ones carry letters
# (a UK sort bank code), so the Polish all-digit pattern above misses them.
_ANY_IBAN_RE = re.compile(rf"\b([A-Z]{{2}}\d{{2}}(?:{_IBAN_SEP}[A-Z0-9]{{4}}){{2,7}}(?:{_IBAN_SEP}[A-Z0-9]{{1,3}})?)"
                          r"(?![A-Z0-9])")


# A Polish IBAN whose spacing OCR moved ('PL6711450669493481348812812 7': a space inside the last
# group): 'PL', then 26 digits with at most one separator after any of them. Only after 'PL', and
# the checksum decides, so runs of other numbers do not pass for one.
_LOOSE_PL_IBAN_RE = re.compile(rf"\bPL{_IBAN_SEP}((?:[{_D}]{_IBAN_SEP}){{25}}[{_D}])(?![0-9])")


def find_iban(text: str) -> str | None:
    for m in _IBAN_RE.finditer(text):
        country = m.group(1) or "PL"
        digits = digits_only(m.group(2).translate(_AS_DIGITS))
        if len(digits) == 26 and is_valid_iban(country + digits):
            return country + digits
    for m in _LOOSE_PL_IBAN_RE.finditer(text):
        digits = digits_only(m.group(1).translate(_AS_DIGITS))
        if len(digits) == 26 and is_valid_iban("PL" + digits):
            return "PL" + digits
    for m in _ANY_IBAN_RE.finditer(text):
        value = re.sub(r"[ \-\u2013]", "", m.group(1))
        if is_valid_iban(value):
            return value
    return None


# ---------------------------------------------------------------- the amount in words

# Polish number words, folded (no diacritics): 'Słownie: dziewiętnaście tysięcy siedemset
# osiemdziesiąt dwa złote 71/100' states the total a second time, in a form OCR slips rarely
# turn into another valid amount. It confirms (or fails to confirm) a total candidate.
_UNITS = {"zero": 0, "jeden": 1, "jedna": 1, "jedno": 1, "dwa": 2, "dwie": 2, "trzy": 3, "cztery": 4,
          "piec": 5, "szesc": 6, "siedem": 7, "osiem": 8, "dziewiec": 9, "dziesiec": 10, "jedenascie": 11,
          "dwanascie": 12, "trzynascie": 13, "czternascie": 14, "pietnascie": 15, "szesnascie": 16,
          "siedemnascie": 17, "osiemnascie": 18, "dziewietnascie": 19, "dwadziescia": 20, "trzydziesci": 30,
          "czterdziesci": 40, "piecdziesiat": 50, "szescdziesiat": 60, "siedemdziesiat": 70,
          "osiemdziesiat": 80, "dziewiecdziesiat": 90, "sto": 100, "dwiescie": 200, "trzysta": 300,
          "czterysta": 400, "piecset": 500, "szescset": 600, "siedemset": 700, "osiemset": 800,
          "dziewiecset": 900}
_SCALES = {"tysiac": 1000, "tysiace": 1000, "tysiecy": 1000, "milion": 10**6, "miliony": 10**6, "milionow": 10**6}
_CURRENCY_WORDS = ("zlotych", "zlote", "zloty", "zl", "pln", "euro", "eur", "dolarow", "dolary", "dolar", "usd",
                   "funtow", "gbp", "frankow", "chf", "koron", "czk")
_SUBUNIT_WORDS = ("groszy", "grosze", "grosz", "centow", "centy", "cent", "eurocentow")


def _words_number(words: list[str]) -> int | None:
    total = group = 0
    seen = False
    for w in words:
        if w in _UNITS:
            group += _UNITS[w]
            seen = True
        elif w in _SCALES:
            total += (group or 1) * _SCALES[w]
            group, seen = 0, True
        else:
            return None
    return total + group if seen else None


def amount_in_words(text: str):
    """The amount a Polish amount-in-words states ('dwa tysiące sto dziewięćdziesiąt osiem
    złotych 63/100', '… złotych sześćdziesiąt trzy grosze'), as a Decimal; None when the text is
    not one whole."""
    from decimal import Decimal

    folded = fold(text).replace(":", " ")
    folded = re.sub(r"^.*?\bslownie\b", "", folded)
    tokens = folded.replace(",", " ").split()
    cut = next((i for i, t in enumerate(tokens) if t.strip(".") in _CURRENCY_WORDS), None)
    if cut is None or cut == 0:
        return None
    whole = _words_number(tokens[:cut])
    if whole is None:
        return None
    rest = [t.strip(".") for t in tokens[cut + 1:]]
    cents = 0
    if rest and re.fullmatch(r"\d{1,2}/100", rest[0]):
        cents = int(rest[0].split("/")[0])
    elif rest and rest[-1] in _SUBUNIT_WORDS:
        cents = _words_number(rest[:-1])
        if cents is None or cents > 99:
            return None
    return Decimal(whole) + Decimal(cents) / 100
