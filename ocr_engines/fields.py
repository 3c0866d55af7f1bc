"""Invoice field extraction from page rows: labels, layout and arithmetic.

The extractor finds a printed label, then reads the value where people put it: after the label
in the same cell, in the next cell to the right, or just below.  Parties are read as blocks
under their label (so side-by-side seller/buyer columns stay apart), totals are cross-checked by
arithmetic (net + VAT = gross), and line items are recognised by quantity × unit price = amount,
which finds the columns of any table without knowing its header.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from rapidfuzz.distance import Levenshtein

from . import labels as L
from .layout import Row, Segment
from .normalize import (
    digits_only,
    digitise,
    find_amounts,
    find_dates,
    find_numbers,
    fold,
    format_amount,
    format_quantity,
)
from .validation import is_valid_iban, valid_tax_id

CENT = Decimal("0.01")


@dataclass
class Found:
    value: str
    conf: float
    row: int = -1


@dataclass
class LabelHit:
    row: int
    seg: int
    start: int  # first word index of the label in the segment
    end: int  # first word index after the label
    label: str


@dataclass
class Extraction:
    fields: dict[str, Found] = field(default_factory=dict)
    line_items: list[dict[str, str]] = field(default_factory=list)


def _strip_punct(word: str) -> str:
    return word.strip(":;,.()[]").strip()


def _words_equal(a: str, b: str) -> bool:
    """Equal, or one OCR slip apart for words long enough that a slip cannot make another word."""
    if a == b:
        return True
    if len(b) < 4 or abs(len(a) - len(b)) > 2:
        return False
    return Levenshtein.normalized_similarity(a, b) >= 0.8


def _overlap(a: Segment, b: Segment) -> bool:
    """Whether two cells share some horizontal extent (are in one column)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0


@functools.cache
def _label_words(label: str) -> tuple[str, ...]:
    return tuple(p for p in (_strip_punct(w) for w in label.split(" ")) if p)


class InvoiceReader:
    """Reads one invoice (all pages' rows in reading order) into contract fields."""

    def __init__(self, rows: list[Row]):
        self.rows = rows
        # Folded words per segment, punctuation stripped: the form labels are matched against.
        self.folded = [
            [[_strip_punct(fold(w.text)) for w in seg.words] for seg in row.segments] for row in rows
        ]

    # ------------------------------------------------------------ label search

    def find_labels(self, candidates: tuple[str, ...], anchored: bool = False) -> list[LabelHit]:
        """Every place a label occurs, in reading order; one hit (the longest label) per place."""
        hits = []
        for r, row in enumerate(self.folded):
            for s, words in enumerate(row):
                starts = [0] if anchored else range(len(words))
                for i in starts:
                    hit = self._label_at(words, i, candidates)
                    if hit and hit[0] in L.GENERIC and not self._generic_ok(words, i, hit[1]):
                        continue
                    if hit:
                        hits.append(LabelHit(r, s, i, i + hit[1], hit[0]))
                        break
        return hits

    @staticmethod
    def _generic_ok(words: list[str], start: int, length: int) -> bool:
        """One-word labels count at a cell start, followed by nothing or by a value that has a
        digit within two words ('Data: 20-03-2025', 'Faktura FV 233/12/2025')."""
        after = start + length
        if any(ch.isalnum() for w in words[:start] for ch in w):
            return False  # not at the start of its cell (specks before it do not count)
        if after == len(words) or any(ch.isdigit() for ch in words[after]):
            return True
        # An identifier prefix ('FV 233/12/2025') may stand between the label and the digits.
        return (len(words[after]) <= 4 and after + 1 < len(words)
                and any(ch.isdigit() for ch in words[after + 1])
                and words[after] not in ("nr", "no", "z", "do"))

    @staticmethod
    def _label_at(words: list[str], i: int, candidates: tuple[str, ...]):
        """(label, words it spans) of the first candidate label starting at word i."""
        for label in candidates:
            parts = _label_words(label)
            # OCR joins words ('Datawystawienia:'): a multi-word label may be one read word.
            joined = "".join(parts)
            if len(parts) > 1 and len(joined) >= 10 and Levenshtein.normalized_similarity(words[i], joined) >= 0.9:
                return label, 1
            if i + len(parts) > len(words):
                continue
            if all(_words_equal(words[i + k], p) for k, p in enumerate(parts)):
                return label, len(parts)
            # OCR splits words ('Na bywca', 'N umer'): a one-word label may span two read words.
            if len(parts) == 1 and i + 1 < len(words) and len(parts[0]) >= 5 and _words_equal(
                    words[i] + words[i + 1], parts[0]):
                return label, 2
        return None

    def remainder(self, hit: LabelHit) -> str:
        seg = self.rows[hit.row].segments[hit.seg]
        return " ".join(w.text for w in seg.words[hit.end:]).strip(" :")

    def value_texts(self, hit: LabelHit, below: int = 2):
        """Candidate texts for a label's value, nearest first: same cell, right, below."""
        seg = self.rows[hit.row].segments[hit.seg]
        rest = self.remainder(hit)
        if rest:
            yield rest, seg.conf, hit.row
        for right in self.rows[hit.row].segments[hit.seg + 1:]:
            yield right.text, right.conf, hit.row
        for below_seg, r in self.segments_below(hit.row, seg, below):
            yield below_seg.text, below_seg.conf, r

    def segments_below(self, r: int, anchor: Segment, count: int):
        """Segments in the next rows that overlap the anchor's column."""
        width = max(anchor.x1 - anchor.x0, 1.0)
        for rr in range(r + 1, min(r + 1 + count, len(self.rows))):
            if self.rows[rr].page != self.rows[r].page:
                break
            for seg in self.rows[rr].segments:
                overlap = min(seg.x1, anchor.x1 + width) - max(seg.x0, anchor.x0 - 0.2 * width)
                if overlap > 0:
                    yield seg, rr
                    break

    # ------------------------------------------------------------ simple fields

    def first_value(self, candidates, parse, below: int = 2) -> Found | None:
        for hit in self.find_labels(candidates):
            for text, conf, r in self.value_texts(hit, below):
                value = parse(text)
                if value is not None:
                    return Found(value, conf, r)
        return None

    def invoice_id(self) -> Found | None:
        return self.first_value(L.INVOICE_ID, parse_invoice_id)

    def dates(self) -> dict[str, Found]:
        out = {}
        taken_rows: set[tuple[int, int]] = set()
        for name, candidates in (("due_date", L.DUE_DATE), ("delivery_date", L.DELIVERY_DATE),
                                 ("invoice_date", L.INVOICE_DATE)):
            for hit in self.find_labels(candidates):
                if (hit.row, hit.seg) in taken_rows and hit.label in L.GENERIC:
                    continue  # a bare 'Date'/'Data' already read as a more specific date
                found = None
                for text, conf, r in self.value_texts(hit):
                    dates = find_dates(text)
                    if dates:
                        found = Found(dates[0].isoformat(), conf, r)
                        break
                if found:
                    out[name] = found
                    taken_rows.add((hit.row, hit.seg))
                    break
        return out

    # ------------------------------------------------------------ parties

    def party(self, candidates) -> tuple[Found | None, Found | None]:
        """(name, tax id) read from the block under the first matching party label."""
        for hit in self.find_labels(candidates, anchored=True):
            seg = self.rows[hit.row].segments[hit.seg]
            label_end = seg.words[hit.end - 1].text
            if hit.end < len(seg.words) and not label_end.endswith(":"):
                continue  # 'Dostawa zrealizowana ...' is a sentence, not the 'Dostawca' heading
            block = self.block_rows(hit)
            name = self.party_name(block)
            tax = self.block_tax_id(block)
            if name or tax:
                return name, tax
        return None, None

    @staticmethod
    def block_tax_id(block) -> Found | None:
        for text, conf, r in block:
            found = find_tax_id(text)
            if found:
                return Found(found[0], conf * found[1], r)
        return None

    def block_rows(self, hit: LabelHit, max_rows: int = 9) -> list[tuple[str, float, int]]:
        """Text of a party block: what follows the label on its row, then the column below.

        The column is where the value starts: after the label in its own cell, in the next
        cell to the right ('Sprzedawca:   ABC Sp. z o.o.'), or under the label when the label
        stands alone (then a second label to the right, e.g. the buyer's, ends the column).
        """
        segs = self.rows[hit.row].segments
        label_seg = segs[hit.seg]
        out = []
        rest = self.remainder(hit)
        nxt = segs[hit.seg + 1] if hit.seg + 1 < len(segs) else None
        nxt_is_label = nxt is not None and self._label_at(self.folded[hit.row][hit.seg + 1], 0, L.ANY) is not None
        if rest:
            out.append((rest, label_seg.conf, hit.row))
            left, right = label_seg.x0, (nxt.x0 if nxt else float("inf"))
        elif nxt is not None and not nxt_is_label and sum(ch.isalnum() for ch in nxt.text) >= 2:
            out.append((nxt.text, nxt.conf, hit.row))
            after = segs[hit.seg + 2] if hit.seg + 2 < len(segs) else None
            left, right = nxt.x0, (after.x0 if after else float("inf"))
        else:
            left, right = label_seg.x0, (nxt.x0 if nxt else float("inf"))
        tol = 2 * self.rows[hit.row].height
        last_y = self.rows[hit.row].y1
        for r in range(hit.row + 1, min(hit.row + 1 + max_rows, len(self.rows))):
            row = self.rows[r]
            if row.page != self.rows[hit.row].page or row.y0 - last_y > 2.5 * row.height:
                break
            # Another party's label in this column (or in the label column) ends the block.
            if any(self._label_at(self.folded[r][i], 0, L.SUPPLIER + L.RECEIVER)
                   for i, seg in enumerate(row.segments) if label_seg.x0 - tol <= seg.x0 < right - tol):
                break
            cell = [seg for seg in row.segments if left - tol <= seg.x0 < right - tol]
            if not cell:
                continue
            out.append((" ".join(seg.text for seg in cell), min(seg.conf for seg in cell), r))
            last_y = row.y1
        return out

    @classmethod
    def _is_heading(cls, text: str) -> bool:
        words = [_strip_punct(fold(w)) for w in text.split(" ")]
        return bool(words) and cls._label_at(words, 0, L.SUPPLIER + L.RECEIVER) is not None and len(words) <= 2

    @classmethod
    def party_name(cls, block) -> Found | None:
        fallback = None
        for text, conf, r in block:
            if cls._is_heading(text):
                continue
            folded = fold(text)
            for sub in L.NAME_SUBLABELS:
                if folded.startswith(sub):
                    value = text.split(":", 1)[1] if ":" in text else text[len(sub):]
                    if value.strip():
                        return Found(clean_name(value), conf, r)
            if fallback is None and sum(ch.isalpha() for ch in text) >= 3 and not any(
                folded.startswith(p) for p in L.NOT_A_NAME
            ):
                fallback = Found(clean_name(text), conf, r)
        return fallback

    def unlabelled_supplier(self, taken: set[str]) -> tuple[Found | None, Found | None]:
        """The issuer's block when it has no label: the first block holding a tax id that is
        not the buyer's, its name being the block's first row (letterhead style)."""
        for r, row in enumerate(self.rows):
            for seg in row.segments:
                found = find_tax_id(seg.text)
                if not found or found[0] in taken:
                    continue
                tax = Found(found[0], seg.conf * found[1], r)
                top = r
                # Walk up the column; rows of other columns in between do not end the block.
                for above_r in range(r - 1, -1, -1):
                    above = self.rows[above_r]
                    if above.page != row.page or self.rows[top].y0 - above.y1 > 1.5 * above.height:
                        break
                    if any(_overlap(a, seg) for a in above.segments):
                        top = above_r
                cell = next(a for a in self.rows[top].segments if _overlap(a, seg)) if top != r else seg
                name = None
                if top != r and sum(ch.isalpha() for ch in cell.text) >= 3 and not self._is_heading(cell.text):
                    name = Found(clean_name(cell.text), cell.conf, top)
                return name, tax
        return None, None

    # ------------------------------------------------------------ bank account

    def iban(self) -> Found | None:
        labelled = []
        for hit in self.find_labels(L.IBAN):
            for text, conf, r in self.value_texts(hit, below=1):
                labelled.append((text, conf, r))
        anywhere = [(row.text, min(s.conf for s in row.segments), r) for r, row in enumerate(self.rows)]
        for text, conf, r in labelled + anywhere:
            value = find_iban(text)
            if value:
                return Found(value, conf, r)
        return None

    # ------------------------------------------------------------ totals

    def row_amounts_after(self, hit: LabelHit) -> list[Decimal]:
        row = self.rows[hit.row]
        texts = [self.remainder(hit)] + [s.text for s in row.segments[hit.seg + 1:]]
        return find_amounts("  ".join(texts))

    def labelled_amounts(self, candidates, exclude: set[int]) -> list[Found]:
        """Amounts printed after (or just below) each occurrence of a label, in reading order."""
        out = []
        for hit in self.find_labels(candidates):
            if hit.row in exclude:
                continue
            amounts = self.row_amounts_after(hit)
            conf = self.rows[hit.row].segments[hit.seg].conf
            if amounts:
                out.append(Found(format_amount(amounts[0]), conf, hit.row))
                continue
            for seg, r in self.segments_below(hit.row, self.rows[hit.row].segments[hit.seg], 1):
                below = find_amounts(seg.text)
                if below:
                    out.append(Found(format_amount(below[0]), seg.conf, r))
        return out

    def sum_row_triple(self, exclude: set[int]) -> tuple[Decimal, Decimal, Decimal, float, int] | None:
        """A 'Razem'/'Total' row with net, VAT and gross side by side (net + VAT = gross)."""
        for hit in self.find_labels(L.SUM_ROW, anchored=True):
            if hit.row in exclude:
                continue
            triple = additive_triple(self.row_amounts_after(hit))
            if triple:
                return (*triple, self.rows[hit.row].segments[hit.seg].conf, hit.row)
        return None

    def per_rate_summary(self, exclude: set[int]) -> tuple[Decimal, Decimal, Decimal, float] | None:
        """Sum of a per-VAT-rate summary table (rows: rate, net, VAT, gross)."""
        net = tax = gross = Decimal(0)
        confs = []
        seen_rates = set()
        for r, row in enumerate(self.rows):
            if r in exclude:
                continue
            text = row.text
            rate = re.search(r"(?<!\d)(\d{1,2}) ?%|\bzw\b|\bnp\b", fold(text))
            if not rate:
                continue
            amounts = find_amounts(text)
            triple = additive_triple(amounts)
            if not triple and len(amounts) >= 2 and rate.group(1):
                # The VAT cell is unreadable: net and gross still fix it when VAT = net x rate.
                n, g = amounts[0], amounts[-1]
                if (n * int(rate.group(1)) / 100).quantize(CENT, ROUND_HALF_UP) == g - n:
                    triple = (n, g - n, g)
            if not triple or rate.group(0) in seen_rates:
                continue
            seen_rates.add(rate.group(0))
            net, tax, gross = net + triple[0], tax + triple[1], gross + triple[2]
            confs.append(min(s.conf for s in row.segments))
        if not confs:
            return None
        return net, tax, gross, min(confs)

    # ------------------------------------------------------------ line items

    @functools.cached_property
    def table_header_row(self) -> int | None:
        """The first row naming three kinds of item-table column (description, qty, price...)."""
        for r, row in enumerate(self.folded):
            words = [w for seg in row for w in seg]
            text = " ".join(words)
            groups = sum(
                any((" " in k and k in text) or any(_words_equal(w, k) for w in words) for k in group)
                for group in L.TABLE_HEADER_GROUPS
            )
            if groups >= 3:
                return r
        return None

    def qty_before_price(self, header: int) -> bool:
        """Whether the table header (which may wrap over rows) puts Quantity left of Price."""
        top = self.rows[header]
        qty_x = price_x = None
        for r in range(max(0, header - 2), min(len(self.rows), header + 3)):
            row = self.rows[r]
            if row.page != top.page or abs(row.y0 - top.y0) > 3 * top.height:
                continue
            for w in row.words:
                word = _strip_punct(fold(w.text))
                if qty_x is None and word in L.TABLE_HEADER_GROUPS[1]:
                    qty_x = w.x0
                if price_x is None and word in L.TABLE_HEADER_GROUPS[2]:
                    price_x = w.x0
        return qty_x is None or price_x is None or qty_x < price_x

    def line_items(self) -> tuple[list[dict[str, str]], set[int]]:
        """Item rows are recognised by their arithmetic, not by position under a header (OCR
        garbles headers); the header, when readable, tells the quantity/price column order."""
        header = self.table_header_row
        qty_first = self.qty_before_price(header) if header is not None else True
        items: list[dict[str, str]] = []
        used_rows: set[int] = set()
        for r in range(len(self.rows)):
            words = self.folded[r][0] if self.folded[r] else []
            if words and any(_words_equal(words[0], end) for end in L.TABLE_END):
                if items:
                    break  # the totals row ends the table
                continue
            parsed = parse_item_row(self.rows[r], qty_first)
            if parsed is None:
                continue
            items.append(parsed)
            used_rows.add(r)
        return items, used_rows

    # ------------------------------------------------------------ currency

    def currency(self) -> Found | None:
        counts: Counter = Counter()
        for row in self.rows:
            for w in row.words:
                token = fold(w.text).strip(":;,()")
                token = token if token in L.CURRENCY_TOKENS else token.rstrip(".")
                code = L.CURRENCY_TOKENS.get(token)
                if code is None and len(token) > 3 and token[-3:] in ("pln", "eur"):
                    code = token[-3:].upper()  # '1703,55PLN'
                if code:
                    counts[code] += 1
        if not counts:
            return None
        code, n = counts.most_common(1)[0]
        return Found(code, min(1.0, 0.6 + 0.1 * n))


# ================================================================ value parsers

_ID_STOP = {"z", "dnia", "from", "dated", "oryginal", "kopia", "copy", "original", "data", "date"}


def parse_invoice_id(text: str) -> str | None:
    words = [w for w in text.replace(":", " ").split(" ") if w]
    while words and fold(words[0]).strip(".#") in ("nr", "no", "number", "numer", ""):
        words = words[1:]
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
    # A date alone is not an invoice number (e.g. the label's value is below, the date beside).
    if find_dates(value) and len(digits_only(value)) == 8 and "/" not in value:
        return None
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


# "Sp. z o.o." is the most common legal form; Tesseract reads its o's as zeros or capitals.
_SP_Z_OO = re.compile(r"\bSp\. ?[zZ2] ?[0oO]\.[0oO]\.?(?=\s|$|,)")


_LEGAL_FORM_OCR = (
    (re.compile(r"\b(Sp\. ?)z(o\.o\.)"), r"\1z \2"),  # 'Sp. zo.o.': the space was lost
    (re.compile(r"\bS[pP]\.( ?)([JKPjkp])[.\-,]?(?=$|[\s,])"), lambda m: f"Sp.{m.group(1)}{m.group(2).lower()}."),
    (re.compile(r"\bi [wW]sp[oó]lnicy\b"), "i Wspólnicy"),  # general partnerships' statutory wording
    (re.compile(r"\bS\.A(?=$|[\s,])"), "S.A."),
    # Specks after the legal form that ends a name ('Sp. j. o').
    (re.compile(r"((?:Sp\. ?[jkp]\.|Sp\. z o\.o\.|S\.A\.))\s+\S{1,2}$"), r"\1"),
)


def fix_legal_form(name: str) -> str:
    """Polish legal forms as registered ('Sp. j.', 'Sp. z o.o.', 'S.A.'), from OCR variants."""
    for pattern, repl in _LEGAL_FORM_OCR:
        name = pattern.sub(repl, name)
    return name[:1].upper() + name[1:]  # a registered name starts with a capital


def clean_name(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" :;,")
    return _SP_Z_OO.sub(lambda m: m.group(0).translate(str.maketrans("Z20O", "zzoo")), text)


_NIP_KEYWORD_MISREAD = re.compile(r"\bn[i1l|][pe]\b")  # 'NIP' read as 'NIE', 'N1P'
_NIP_PRINTED = re.compile(r"(?<![\d-])\d{3}-(?:\d{3}-\d{2}-\d{2}|\d{2}-\d{2}-\d{3})(?![\d-])")  # the two official groupings
_TAX_ID_RE = re.compile(r"(?:\b[A-Z]{2} ?)?[0-9OoIlSB|][0-9OoIlSB| \-]{8,16}[0-9OoIlSB|]")


def find_tax_id(text: str) -> tuple[str, float] | None:
    """(digits, confidence factor) of the first tax id in a text; invalid checksums score low."""
    folded = fold(text)
    if (not any(k in folded for k in L.TAX_ID) and not _NIP_KEYWORD_MISREAD.search(folded)
            and not re.search(r"\d{10}", text) and not _NIP_PRINTED.search(text)):
        return None
    best = None
    for m in _TAX_ID_RE.finditer(text):
        raw = m.group(0)
        prefix = raw[:2] if raw[:2].isalpha() and raw[:2].isupper() and raw[:2] not in ("OO", "IO") else ""
        body = raw[len(prefix):]
        digits = digits_only(body.translate(str.maketrans("OoIlSB|", "0011581")))
        if len(digits) < 8:
            continue
        if valid_tax_id(digits, prefix):
            return digits, 1.0
        if best is None and len(digits) == 10:
            best = (digits, 0.2)  # printed like a NIP but fails the checksum: never confident
    return best


_IBAN_RE = re.compile(r"(?:\b([A-Z]{2}) ?)?([0-9OoIlSB|]{2}(?: ?[0-9OoIlSB|]{4}){6})(?![0-9])")


def find_iban(text: str) -> str | None:
    for m in _IBAN_RE.finditer(text):
        country = m.group(1) or "PL"
        digits = digits_only(m.group(2).translate(str.maketrans("OoIlSB|", "0011581")))
        if len(digits) == 26 and is_valid_iban(country + digits):
            return country + digits
    return None


def additive_triple(amounts: list[Decimal]) -> tuple[Decimal, Decimal, Decimal] | None:
    """The first (a, b, c) in order with a + b = c: net, VAT, gross as printed in a row."""
    n = len(amounts)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                if amounts[i] + amounts[j] == amounts[k] and amounts[k] > 0 and amounts[j] < amounts[k]:
                    return amounts[i], amounts[j], amounts[k]
    return None


_RATE_RE = re.compile(r"^(\d{1,2})(?:[.,]0+)? ?%?$")
VAT_RATES = (0, 3, 5, 7, 8, 22, 23)


@dataclass
class _Num:
    index: int  # first word of the number
    end: int  # last word of the number (thousands groups span words)
    value: Decimal
    money: bool  # printed with two decimals

    def quantity_readings(self) -> list[Decimal]:
        """A quantity as printed, or with a decimal comma OCR dropped ('45' for '4,5')."""
        if self.value != self.value.to_integral_value() or self.value < 10:
            return [self.value]
        return [self.value, self.value / 10, self.value / 100]

    def readings(self) -> list[tuple[Decimal, bool]]:
        """(value, is money) interpretations; OCR often drops a decimal comma ('224227')."""
        out = [(self.value, self.money)]
        if not self.money and self.value == self.value.to_integral_value() and self.value >= 100:
            out.append((self.value / 100, True))
        return out


def _row_numbers(tokens: list[str], cells: list[int] | None = None) -> list[_Num]:
    """Numbers of a row's tokens; ``cells`` (the segment of each token) keeps a thousands group
    from joining a number in the cell before it ('pkt 23' | '780,00')."""
    nums: list[_Num] = []
    for i, tok in enumerate(tokens):
        clean = tok.strip("%;:|()[]").rstrip(",.")
        found = find_numbers(clean)
        if len(found) != 1 or found[0][1] != clean:
            continue
        value, raw = found[0]
        money = bool(re.search(r"[.,]\d{2}$", raw))
        prev = nums[-1] if nums else None
        # '1 703,55' is two words: join a 1-3 digit group with the '703,55' that follows it.
        if (money and prev and prev.end == i - 1 and not prev.money and re.fullmatch(r"\d{1,3}", tokens[i - 1])
                and re.fullmatch(r"\d{3}[.,]\d{2}", clean) and (cells is None or cells[i] == cells[i - 1])):
            nums[-1] = _Num(prev.index, i, Decimal(tokens[i - 1] + clean.replace(",", ".")), True)
            continue
        nums.append(_Num(i, i, value, money))
    return nums


def parse_item_row(row: Row, qty_first: bool = True) -> dict[str, str] | None:
    """A line item from a table row, found by quantity × unit price = amount.

    ``qty_first`` says whether the table prints the quantity column before the unit price
    (most do; the KSeF visualisation does not).
    """
    words = row.words
    tokens = [digitise(w.text) for w in words]
    nums = _row_numbers(tokens, [k for k, seg in enumerate(row.segments) for _ in seg.words])
    best = None
    for k, amount_num in enumerate(nums):
        for amount, a_money in amount_num.readings():
            if not a_money:
                continue
            for i in range(k):
                for j in range(i + 1, k):
                    q_num, p_num = (nums[i], nums[j]) if qty_first else (nums[j], nums[i])
                    for q in q_num.quantity_readings():
                        for price, p_money in p_num.readings():
                            if not p_money or q <= 0:
                                continue
                            if (q * price).quantize(CENT, ROUND_HALF_UP) != amount:
                                continue
                            first = nums[i].index
                            if not any(sum(ch.isalpha() for ch in w.text) >= 2 for w in words[:first]):
                                continue  # no description before the numbers: not an item row
                            # Prefer factors right of any number in the description, then the
                            # net amount (left of gross), then readings as printed.
                            exact = (price == p_num.value) + (amount == amount_num.value) + (q == q_num.value)
                            score = (i, -k, exact)
                            if best is None or score > best[0]:
                                best = (score, (q_num, q), (p_num, price), (amount_num, amount), first)
    if best is None:
        return _item_without_quantity(row, words, nums)
    _, (q_num, q), (p_num, price), (a_num, amount), first = best
    description = _item_description(row, first)
    if sum(ch.isalpha() for ch in description) < 2:
        return None
    item = {
        "description": description,
        "quantity": format_quantity(q),
        "unit_price": format_amount(price),
        "amount": format_amount(amount),
    }
    used = {q_num.index, q_num.end, p_num.index, p_num.end, a_num.index, a_num.end}
    rate = _item_vat_rate(tokens, first, used)
    if rate is not None:
        item["vat_rate"] = rate
    return item


def _item_without_quantity(row: Row, words, nums: list[_Num]) -> dict[str, str] | None:
    """A row whose quantity OCR could not read: the first two money columns are the unit price
    and the amount, and the quantity is their quotient when that is a printable quantity."""
    money = [n for n in nums if n.money and n.value > 0]
    if len(money) < 2:
        return None
    p_num, a_num = money[0], money[1]
    q = (a_num.value / p_num.value).quantize(CENT, ROUND_HALF_UP)
    if (q * p_num.value).quantize(CENT, ROUND_HALF_UP) != a_num.value:
        return None
    if q > 1 and (q - 1) * 100 in VAT_RATES:
        return None  # net and gross of a row: the 'quantity' would be 1 + the VAT rate
    if not any(sum(ch.isalpha() for ch in w.text) >= 2 for w in words[:p_num.index]):
        return None
    description = _item_description(row, p_num.index)
    if sum(ch.isalpha() for ch in description) < 2:
        return None
    item = {
        "description": description,
        "quantity": format_quantity(q),
        "unit_price": format_amount(p_num.value),
        "amount": format_amount(a_num.value),
    }
    tokens = [digitise(w.text) for w in words]
    rate = _item_vat_rate(tokens, p_num.index, {p_num.index, p_num.end, a_num.index, a_num.end})
    if rate is not None:
        item["vat_rate"] = rate
    return item


def _item_vat_rate(tokens: list[str], start: int, used: set[int]) -> str | None:
    """The row's VAT rate: a percentage after the description, else a bare known rate."""
    bare = None
    for i in range(start, len(tokens)):
        if i in used:
            continue
        token = fold(tokens[i]).strip("|;:,.")
        if token in ("zw", "np"):
            return token
        m = _RATE_RE.match(token)
        if m and int(m.group(1)) in VAT_RATES:
            if token.endswith("%"):
                return str(int(m.group(1)))
            bare = bare or str(int(m.group(1)))
    return bare


def _item_description(row: Row, first_number: int) -> str:
    """Words before the first number column, without the row number and a unit-only cell."""
    owner = {}
    for s_idx, seg in enumerate(row.segments):
        for w in seg.words:
            owner[id(w)] = s_idx
    words = row.words[:first_number]
    # Row numbers ('Lp.') and their OCR noise ('-', '3.|', '>', 'zh') before the description.
    for _ in range(2):
        if len(words) < 2:
            break
        first = words[0].text
        own_cell = owner[id(words[0])] != owner[id(words[1])]
        if (re.fullmatch(r"\d{1,3}\.?", digitise(first)) or not any(ch.isalnum() for ch in first)
                or (own_cell and not any(ch.isalpha() for ch in first))
                or (len(first) <= 2 and first.islower() and words[1].text[:1].isupper())):
            words = words[1:]
    while len(words) > 1 and not any(ch.isalnum() for ch in words[-1].text):
        words = words[:-1]
    # The description is one cell: what follows it before the numbers (a unit column, an
    # unreadable quantity) belongs to other columns.
    if words:
        cell = next((owner[id(w)] for w in words if sum(ch.isalpha() for ch in w.text) >= 2), owner[id(words[0])])
        words = [w for w in words if owner[id(w)] == cell]
    texts = [w.text for w in words]
    for i in range(1, len(texts)):
        if texts[i] in ("I", "|") and texts[i - 1][-1:].isdigit():
            texts[i] = "l"  # litres: '10 l' read as '10 I'
    if len(texts) > 2 and texts[-1] == "1" and texts[-2].isdigit() and any(ch.isalpha() for ch in texts[-3]):
        texts[-1] = "l"  # '... paint 10 1': a count then a lone 1 ends a description as a unit
    return " ".join(texts).strip(" |")


# ================================================================ the whole invoice


_POLISH_MARKERS = ("faktura", "sprzedawca", "nabywca", "wystawienia", "zaplaty", "platnosci", "razem", "netto")
_ENGLISH_MARKERS = ("invoice", "seller", "buyer", "issue date", "total", "due", "supplier", "bill to")


def is_polish(rows: list[Row]) -> bool:
    text = fold(" ".join(row.text for row in rows))
    return sum(text.count(m) for m in _POLISH_MARKERS) > sum(text.count(m) for m in _ENGLISH_MARKERS)


def correct_ocr_text(out: Extraction, polish: bool) -> None:
    """Domain corrections of OCR text: legal forms everywhere, Polish diacritics in Polish."""
    from .lexicon import restore_diacritics

    restore = restore_diacritics if polish else (lambda text: text)
    for name in ("supplier_name", "receiver_name"):
        if name in out.fields:
            out.fields[name].value = fix_legal_form(restore(out.fields[name].value))
    for item in out.line_items:
        item["description"] = restore(item["description"])


def read_invoice(rows: list[Row], ocr: bool = False) -> Extraction:
    """All contract fields of one invoice. ``ocr`` enables corrections for OCR misreads."""
    reader = InvoiceReader(rows)
    out = Extraction()
    f = out.fields

    if found := reader.invoice_id():
        f["invoice_id"] = found
    f.update(reader.dates())
    for prefix, candidates in (("receiver", L.RECEIVER), ("supplier", L.SUPPLIER)):
        name, tax = reader.party(candidates)
        if prefix == "supplier" and not (name or tax):
            name, tax = reader.unlabelled_supplier({f["receiver_tax_id"].value} if "receiver_tax_id" in f else set())
        if name:
            f[f"{prefix}_name"] = name
        if tax:
            f[f"{prefix}_tax_id"] = tax
    if found := reader.iban():
        f["supplier_iban"] = found

    out.line_items, item_rows = reader.line_items()

    for name, found in totals(reader, item_rows).items():
        f[name] = found
    if found := reader.currency():
        f["currency"] = found
    if ocr:
        correct_ocr_text(out, polish=is_polish(rows))
    return out


def totals(reader: InvoiceReader, item_rows: set[int]) -> dict[str, Found]:
    """net, VAT and gross totals: labelled candidates, chosen so that net + VAT = gross."""
    header = reader.table_header_row
    exclude = item_rows | ({header} if header is not None else set())
    cands = {
        "total_amount": reader.labelled_amounts(L.TOTAL, exclude),
        "net_amount": reader.labelled_amounts(L.NET, exclude),
        "total_tax_amount": reader.labelled_amounts(L.TAX, exclude),
    }
    n_labelled_totals = len(cands["total_amount"])
    triple = reader.sum_row_triple(exclude)
    if triple:
        t_net, t_tax, t_gross, conf, r = triple
        for name, value in (("net_amount", t_net), ("total_tax_amount", t_tax), ("total_amount", t_gross)):
            cands[name].append(Found(format_amount(value), conf, r))
    summary = reader.per_rate_summary(exclude)
    if summary:
        for name, value in (("net_amount", summary[0]), ("total_tax_amount", summary[1]), ("total_amount", summary[2])):
            cands[name].append(Found(format_amount(value), summary[3]))
    labelled_totals = {c.value for c in cands["total_amount"][:n_labelled_totals]}
    for total in cands["total_amount"]:
        if labelled_totals and total.value not in labelled_totals:
            continue  # sums that disagree with the printed total are misreads
        for net in cands["net_amount"]:
            for tax in cands["total_tax_amount"]:
                if Decimal(net.value) + Decimal(tax.value) == Decimal(total.value):
                    return {"net_amount": net, "total_tax_amount": tax, "total_amount": total}
    # Nothing adds up: report what was labelled (the checks will mark it unreliable).
    out = {}
    for name in ("net_amount", "total_tax_amount", "total_amount"):
        labelled = [c for c in cands[name] if c.row >= 0]
        if labelled:
            out[name] = labelled[0]
    return out
