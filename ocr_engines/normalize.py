"""Parsing printed values into the contract's normal forms, tolerant of OCR's usual misreads."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "–": "-", "—": "-", "‐": "-", "’": "'", "‘": "'"})


def fold(text: str) -> str:
    """Lower-case, strip diacritics and collapse spaces: the form labels are matched in."""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text.lower()).strip()


# Letters Tesseract returns for digits when a token is otherwise numeric.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "l": "1", "I": "1",
                                   "|": "1", "i": "1", "!": "1", "S": "5", "s": "5", "B": "8",
                                   "Z": "2", "z": "2", "g": "9", "G": "6"})

_LOOKALIKE_CHARS = frozenset(chr(c) for c in _DIGIT_LOOKALIKES)


def digitise(token: str) -> str:
    """Map letter look-alikes to digits in a token that is mostly digits already."""
    digits = sum(ch.isdigit() for ch in token)
    letters = [ch for ch in token if ch.isalpha() or ch in "|!"]
    if digits and digits >= len(letters) and all(ch in _LOOKALIKE_CHARS for ch in letters):
        return token.translate(_DIGIT_LOOKALIKES)
    return token


# ---------------------------------------------------------------- amounts

_AMOUNT_RE = re.compile(
    r"(?<![\w/.,-])-?\d{1,3}(?:[  .,']\d{3})+(?:[.,]\d{2})(?![\d%]|[.,]\d)"  # grouped thousands
    r"|(?<![\w/.,-])-?\d+[.,]\d{2}(?![\d%]|[.,]\d)"  # plain
)


def parse_amount(text: str) -> Decimal | None:
    """'1 703,55' / '1.703,55' / '1,703.55' / '1703.55' → Decimal('1703.55')."""
    text = text.strip()
    m = re.fullmatch(r"(-?)([\d  .,']+?)[.,](\d{2})", text)
    if not m:
        return None
    sign, whole, cents = m.groups()
    whole = re.sub(r"[  .,']", "", whole)
    if not whole.isdigit():
        return None
    try:
        return Decimal(f"{sign}{int(whole)}.{cents}")
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[Decimal]:
    """All money amounts in a text, left to right."""
    text = " ".join(digitise(t) for t in text.split(" "))
    out = []
    for m in _AMOUNT_RE.finditer(text):
        value = parse_amount(m.group(0))
        if value is not None:
            out.append(value)
    return out


def format_amount(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


MAX_NUMBER = Decimal(10) ** 12
_NUMBER_RE = re.compile(
    r"(?<![\w/])-?\d{1,3}(?:[  ]\d{3})+(?:[.,]\d+)?(?![\d/])"  # '12 345,67'
    r"|(?<![\w/])-?\d[\d.,]*\d(?![\d/])|(?<![\w/.,])\d(?![\d/.,])"  # '2,923.26', '12.5', '7'
)


def parse_number(raw: str) -> Decimal | None:
    """A printed number in Polish or English notation; None if the grouping is inconsistent.

    With both ',' and '.' the last one is the decimal mark; one kind used repeatedly is
    thousands grouping ('1.234.567'); a single one is the decimal mark ('2,5', '12.50').
    """
    clean = re.sub(r"[  ']", "", raw)
    negative = clean.startswith("-")
    clean = clean.lstrip("-")
    commas, dots = clean.count(","), clean.count(".")
    if commas and dots:
        dec = "," if clean.rfind(",") > clean.rfind(".") else "."
        group = "." if dec == "," else ","
        whole, _, frac = clean.rpartition(dec)
        if whole.count(dec) or not re.fullmatch(r"\d{1,3}(?:" + re.escape(group) + r"\d{3})*", whole):
            return None
        clean = whole.replace(group, "") + "." + frac
    elif commas + dots > 1:
        sep = "," if commas else "."
        if not re.fullmatch(r"\d{1,3}(?:" + re.escape(sep) + r"\d{3})+", clean):
            return None
        clean = clean.replace(sep, "")
    else:
        clean = clean.replace(",", ".")
    try:
        value = Decimal(clean)
    except InvalidOperation:
        return None
    if abs(value) >= MAX_NUMBER:  # longer digit runs are ids or account numbers, not amounts
        return None
    return -value if negative else value


def find_numbers(text: str) -> list[tuple[Decimal, str]]:
    """Every number (integers and decimals, either notation) with its printed form."""
    out = []
    for m in _NUMBER_RE.finditer(text):
        value = parse_number(m.group(0))
        if value is not None:
            out.append((value, m.group(0)))
    return out


def format_quantity(value: Decimal) -> str:
    """'10', '2.5', '0.125': no trailing zeros, no exponent."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------- dates

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
    "sty": 1, "lut": 2, "kwi": 4, "maj": 5, "cze": 6, "lip": 7, "sie": 8, "wrz": 9, "paz": 10,
    "lis": 11, "gru": 12,
}
_DATE_PATTERNS = (
    (re.compile(r"(?<!\d)(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?!\d)"), ("y", "m", "d")),
    (re.compile(r"(?<!\d)(\d{1,2})[-./](\d{1,2})[-./](\d{4})(?!\d)"), ("d", "m", "y")),
    (re.compile(r"(?<!\d)(\d{1,2})\.? ?([a-z]{3})[a-z]*\.?,? (\d{4})(?!\d)"), ("d", "mon", "y")),
    (re.compile(r"\b([a-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})(?!\d)"), ("mon", "d", "y")),
)


# Day, month and year apart with their dots lost: OCR drops the faint dots of a blurred scan
# ('28 03 2026'), and a fax its thin dashes ('15 09-2025', '1609-2025'). Only for a text that is
# a date label's value.
_LOOSE_DATES = ((re.compile(r"^(\d{1,2})[ ,.\-]{1,2}(\d{1,2})[ ,.\-]{1,2}(\d{4})(?!\d)"), ("d", "m", "y")),
                (re.compile(r"^(\d{2})(\d{2})[ ,.\-]{1,2}(\d{4})(?!\d)"), ("d", "m", "y")))


def find_dates(text: str, loose: bool = False, month_first: bool = False) -> list[date]:
    """Every calendar date in a text, in order of appearance (D/M/Y for numeric day-first forms).
    ``loose``: a text that starts with a day, month and year apart also counts as a date.
    ``month_first``: slashed numeric dates are M/D/Y (a US document: ``slash_date_order``)."""
    folded = fold(" ".join(digitise(t) for t in text.split(" ")))
    found: list[tuple[int, date]] = []
    for pattern, order in _DATE_PATTERNS + (_LOOSE_DATES if loose else ()):
        for m in pattern.finditer(folded):
            parts = dict(zip(order, m.groups()))
            if month_first and order == ("d", "m", "y") and "/" in m.group(0):
                parts["d"], parts["m"] = parts["m"], parts["d"]
            month = _MONTHS.get(parts["mon"][:3]) if "mon" in parts else int(parts["m"])
            try:
                found.append((m.start(), date(int(parts["y"]), month or 0, int(parts["d"]))))
            except (ValueError, TypeError):
                continue
    return [d for _, d in sorted(found, key=lambda x: x[0])]


_SLASHED = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")


def slash_date_order(texts: list[str], usd: bool = False) -> bool:
    """Whether a document prints slashed dates month first (04/13/2026): decided by the document
    itself, by a date whose first part cannot be a month or whose second cannot; without one, a
    document in US dollars is taken to be month first. True: M/D/Y."""
    first_over = second_over = False
    for text in texts:
        for m in _SLASHED.finditer(text):
            a, b = int(m.group(1)), int(m.group(2))
            first_over |= a > 12 >= b
            second_over |= b > 12 >= a
    if first_over != second_over:
        return second_over
    return usd and not first_over


# ---------------------------------------------------------------- identifiers

def digits_only(text: str) -> str:
    return re.sub(r"\D", "", text)


# C0 and C1 control characters (an ESC starts a terminal escape sequence: clear screen, OSC 8
# links, OSC 52 clipboard writes), DEL, and the bidirectional overrides and isolates that make
# text read differently from how it is stored. Tab and newline stay.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """``text`` without control characters or bidi overrides (a PDF's text layer may carry them;
    a reason typed into a form too): what any view or API answer may show."""
    return _CONTROLS.sub("", text)
