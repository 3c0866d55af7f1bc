"""Invoice field extraction from page rows: labels, layout and arithmetic.

``read_invoice`` reads the contract's fields from the rows of every page (PDF text layer or OCR,
see ``layout``): the invoice number and dates after their labels, the parties as blocks
(``parties``), the bank account anywhere its checksum holds, the line items by their arithmetic
(``items``) and the totals chosen so that they add up (``totals``). The value parsers are in
``values``, the label search in ``reader``.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from .. import labels as L
from ..layout import Row
from ..normalize import find_dates, fold, slash_date_order
from ..result import LINE_ITEMS
from .items import read_line_items
from .parties import heading_above, read_party, tax_id_blocks
from .reader import UNLABELLED_CONF, Found, InvoiceReader
from .totals import RateEvidence, fill_item_rates, rate_evidence, row_rates, totals
from .values import (capitalise_name_word, clean_name, find_iban, fix_description_punctuation, fix_legal_form, fix_quotes, fix_unit_superscripts,
                     parse_invoice_id)

__all__ = ["Extraction", "Found", "read_invoice"]


# Fields every invoice carries, whatever its layout, and its line items (a sale of something:
# a till receipt lists its lines too). Items not found are a reason for a second look, but
# not a header field: document confidence does not count them.
ALWAYS_EXPECTED = ("invoice_id", "invoice_date", "supplier_name", "total_amount", LINE_ITEMS)


def expected_when_labelled() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Fields expected when the page prints one of their labels (read from the lexicon now,
    so wording withheld for an evaluation is not counted)."""
    return (
        ("supplier_tax_id", L.TAX_ID), ("receiver_name", L.RECEIVER), ("due_date", L.DUE_DATE),
        ("delivery_date", L.DELIVERY_DATE), ("supplier_iban", L.IBAN),
        ("net_amount", L.NET + L.VAT_SUMMARY), ("total_tax_amount", L.TAX + L.VAT_SUMMARY),
    )


@dataclass
class Extraction:
    fields: dict[str, Found] = field(default_factory=dict)
    line_items: list[dict[str, str]] = field(default_factory=list)
    # Fields this invoice should have: every invoice's, and those whose label it prints. One of
    # them absent is a read that missed something (a second look; lower confidence).
    expected: frozenset[str] = frozenset(ALWAYS_EXPECTED)
    item_evidence: list[float] = field(default_factory=list)  # per line item: ``items.ItemTable``
    rates: RateEvidence = field(default_factory=RateEvidence)  # what fills an item's lost rate
    # Where a field expected because of what the page prints is printed: its label's pages (or a
    # rate summary's). A second look for that field re-reads those pages (``merge.second_look_pages``).
    expected_pages: dict[str, frozenset[int]] = field(default_factory=dict)


def expected_fields(reader: InvoiceReader, table_rows: set[int]) -> tuple[frozenset[str], dict[str, frozenset[int]]]:
    """The fields this invoice should have: every invoice's, those whose own label it prints
    (one-word labels such as a 'VAT' column header do not count: they say too little), and the
    net and VAT when a VAT rate is printed outside the item table (a per-rate summary, whose
    title or amounts OCR may have lost); and for the latter two kinds, the pages that print
    what made them expected."""
    pages: dict[str, set[int]] = {}
    for name, labels in expected_when_labelled():
        for hit in reader.find_labels(tuple(label for label in labels if label not in L.GENERIC)):
            pages.setdefault(name, set()).add(reader.rows[hit.row].page)
    summary = {row.page for r, row in enumerate(reader.rows)
               if r not in table_rows and (found := row_rates(row.text)) and found[0]}
    if summary:
        for name in ("net_amount", "total_tax_amount"):
            pages[name] = pages.get(name, set()) | summary
    return frozenset(ALWAYS_EXPECTED) | frozenset(pages), {k: frozenset(v) for k, v in pages.items()}


def unlabelled_parties(reader: InvoiceReader, f: dict[str, Found]) -> None:
    """Parties whose headings the lexicon does not know: the blocks holding a tax id, in
    reading order, are the seller's then the buyer's (the order most invoices print them)."""
    if "supplier_tax_id" in f and "receiver_tax_id" in f:
        return
    taken = {f[k].value for k in ("supplier_tax_id", "receiver_tax_id") if k in f}
    blocks = tax_id_blocks(reader, taken)
    if len(blocks) >= 2 and not any(k in f for k in ("supplier_tax_id", "supplier_name", "receiver_tax_id", "receiver_name")):
        first, second = (_role_lean(heading_above(reader, name)) for name, _ in blocks[:2])
        if first < 0 or second > 0:  # the headings' words say buyer first ('Invoice to')
            blocks[0], blocks[1] = blocks[1], blocks[0]
    # The buyer read under its label leaves the seller's letterhead: as sure as a label.
    sure = 1.0 if "receiver_tax_id" in f else UNLABELLED_CONF
    for prefix in ("supplier", "receiver"):
        if f"{prefix}_tax_id" in f or f"{prefix}_name" in f or not blocks:
            continue
        name, tax = blocks.pop(0)
        f[f"{prefix}_tax_id"] = Found(tax.value, tax.conf * sure, tax.row, guessed=sure < 1)
        if name:
            f[f"{prefix}_name"] = Found(name.value, name.conf * sure, name.row, guessed=sure < 1)
        sure = UNLABELLED_CONF


_TITLE_WORDS = frozenset({"invoice", "faktura", "receipt", "paragon", "rachunek", "tax", "vat", "proforma",
                          "pro", "forma", "oryginal", "original", "kopia", "copy", "duplikat", "duplicate",
                          "bill", "statement", "credit", "note", "korygujaca", "fiskalny", "page", "strona"})


def letterhead_name(reader: InvoiceReader) -> Found | None:
    """The issuer's name when no party block names it (a letterhead, a US invoice without a tax
    id): the line in the largest print in the top quarter of page 1 that is not the document's
    title, a label, an address or a number; with a legal form ('Ltd', 'Sp. z o.o.') preferred.
    Guessed: at half a labelled value's confidence."""
    from .parties import _LEGAL_FORM, _POSTAL

    first = [r for r, row in enumerate(reader.rows) if row.page == 0]
    if not first:
        return None
    bottom = max(reader.rows[r].y1 for r in first)
    best = None
    for r in first:
        row = reader.rows[r]
        if row.y0 > bottom / 4:
            break
        for seg in row.segments:
            text = seg.text.strip()
            words = [w.strip(":.,#") for w in fold(text).split()]
            if (sum(ch.isalpha() for ch in text) < 3 or ":" in text or all(w in _TITLE_WORDS for w in words if w)
                    or sum(ch.isdigit() for ch in text) > 2 or _POSTAL.search(text) or "@" in text
                    or "www" in text.lower() or reader._label_at(words, 0, L.ANY) is not None
                    or any(fold(text).startswith(p) for p in L.NOT_A_NAME)):
                continue
            height = statistics.median(w.height for w in seg.words)
            key = (bool(_LEGAL_FORM.search(fold(text))), height)
            if best is None or key > best[0]:
                best = (key, Found(clean_name(text), seg.conf * UNLABELLED_CONF, r, guessed=True))
    return best[1] if best else None


def _role_lean(heading: str) -> int:
    """> 0 when an unknown heading shares more words with the seller's known labels than with
    the buyer's ('Invoiced by' with 'issued by'), < 0 the other way ('Invoice to' with 'bill to')."""
    words = set(fold(heading).replace(":", " ").split())
    seller = {w for label in L.SUPPLIER for w in label.split()}
    buyer = {w for label in L.RECEIVER for w in label.split()}
    return len(words & (seller - buyer)) - len(words & (buyer - seller))


def invoice_id(reader: InvoiceReader) -> Found | None:
    return reader.first_value(L.INVOICE_ID, parse_invoice_id) or numbered_id(reader)


# Words that say "number" in any label wording, and the documents an invoice number belongs to.
NUMBER_WORDS = frozenset({"nr", "no", "numer", "number", "#", "n°", "nº"})
DOCUMENT_WORDS = frozenset({"faktura", "faktury", "invoice", "dokument", "dokumentu", "document",
                            "receipt", "paragon", "paragonu", "rachunek"})


def numbered_id(reader: InvoiceReader) -> Found | None:
    """The invoice number when its label is unknown: the value after a label made of a
    'number' word and at most a document word ('Numer dokumentu:', 'Invoice #', 'No.') on the
    first page. An order's or a customer's number ('Nr zamówienia') has another word."""
    for r, words in enumerate(reader.folded):
        if reader.rows[r].page:
            break
        for i, seg_words in enumerate(words):
            for end in range(1, min(3, len(seg_words)) + 1):
                head = [w.strip(":.") for w in seg_words[:end]]
                if not (any(w in NUMBER_WORDS for w in head)
                        and all(w in NUMBER_WORDS or w in DOCUMENT_WORDS for w in head)):
                    continue
                if not (seg_words[end - 1].endswith(":") or end == len(seg_words)
                        or head[-1] in NUMBER_WORDS):
                    continue
                if _longer_label([w.text for w in reader.rows[r].segments[i].words], end):
                    continue  # 'Numer telefonu:', 'Nr rachunku:': a label of its own, not 'Numer'
                segs = reader.rows[r].segments
                texts = [" ".join(w.text for w in segs[i].words[end:])]
                texts += [s.text for s in segs[i + 1:i + 2]]
                for text in texts:
                    value = parse_invoice_id(text) if text.strip(" :") else None
                    if value:
                        return Found(value, segs[i].conf * UNLABELLED_CONF, r, guessed=True)
    return None


def _longer_label(words: list[str], end: int) -> bool:
    """Whether the words from ``end`` on continue a label up to a colon (letters only, at most
    four words, other than a document word): the label is then the whole phrase ('Numer
    telefonu:'), and the words before ``end`` only part of it."""
    for k in range(end, min(end + 4, len(words))):
        if any(ch.isdigit() for ch in words[k]):
            return False
        word = fold(words[k]).strip(".:")
        if len(word) >= 3 and any(d.startswith(word) for d in DOCUMENT_WORDS):
            if words[k].endswith(":"):
                return False  # 'Nr dok.:': a document word, abbreviated: still the number's label
            continue
        if words[k].endswith(":"):
            return True
    return False


def dates(reader: InvoiceReader, month_first: bool = False) -> dict[str, Found]:
    out = {}
    taken_rows: set[tuple[int, int]] = set()
    for name, candidates in (("due_date", L.DUE_DATE), ("delivery_date", L.DELIVERY_DATE),
                             ("invoice_date", L.INVOICE_DATE)):
        for hit in reader.find_labels(candidates):
            if (hit.row, hit.seg) in taken_rows and hit.label in L.GENERIC:
                continue  # a bare 'Date'/'Data' already read as a more specific date
            found = None
            for text, conf, r in reader.value_texts(hit):
                dates = (find_dates(text, month_first=month_first)
                         or (find_dates(text, loose=True) if reader.rows[r].ocr else []))
                if dates:
                    found = Found(dates[0].isoformat(), conf, r)
                    break
            if found:
                out[name] = found
                taken_rows.add((hit.row, hit.seg))
                break
    unlabelled_dates(reader, out, month_first)
    return out


_DATED_NUMBER = re.compile(r"\d[/.-]\d{1,4}[/.-]\d{1,4}[/-]\d|[A-Za-z]/\d{2,4}[/.-]\d")


def unlabelled_dates(reader: InvoiceReader, out: dict[str, Found], month_first: bool = False) -> None:
    """Dates whose labels the lexicon does not know, by their order on the page: the issue date
    is the first date of page 1; a later one within 120 days is the due date; an earlier one
    within 31 days the sale date. Each only if that field was not read from a label."""
    seen: list[tuple] = []
    for r, row in enumerate(reader.rows):
        if row.page:
            break
        for seg in row.segments:
            if _DATED_NUMBER.search(seg.text):
                continue  # 'FV/2024/06/15/178' holds a date but is a number
            for d in find_dates(seg.text, month_first=month_first):
                seen.append((d, min(seg.conf, 1.0), r))
    if not seen:
        return
    taken = {f.value for f in out.values()}
    if "invoice_date" not in out:
        first = next((x for x in seen if x[0].isoformat() not in taken), None)
        if first is None:
            return
        out["invoice_date"] = Found(first[0].isoformat(), first[1] * UNLABELLED_CONF, first[2], guessed=True)
    issued = date.fromisoformat(out["invoice_date"].value)
    rest = [x for x in seen if x[0].isoformat() not in {f.value for f in out.values()}]
    if "due_date" not in out:
        later = [x for x in rest if 0 < (x[0] - issued).days <= 120]
        if later:
            d, conf, r = later[0]
            out["due_date"] = Found(d.isoformat(), conf * UNLABELLED_CONF, r, guessed=True)
    if "delivery_date" not in out:  # printed near the issue date, the same day or before it
        near = [x for x in seen if abs(x[2] - out["invoice_date"].row) <= 4]
        earlier = [x for x in near if 0 < (issued - x[0]).days <= 31]
        same = [x for x in near if x[0] == issued]
        pick = earlier[0] if earlier else same[1] if len(same) >= 2 else None
        if pick:
            d, conf, r = pick
            out["delivery_date"] = Found(d.isoformat(), conf * UNLABELLED_CONF, r, guessed=True)


def iban(reader: InvoiceReader) -> Found | None:
    labelled = []
    for hit in reader.find_labels(L.IBAN):
        for text, conf, r in reader.value_texts(hit, below=1):
            labelled.append((text, conf, r))
    anywhere = [(row.text, min(s.conf for s in row.segments), r) for r, row in enumerate(reader.rows)]
    for text, conf, r in labelled + anywhere:
        value = find_iban(text)
        if value:
            return Found(value, conf, r)
    return None


_SYMBOLS = {"£": "GBP", "$": "USD", "€": "EUR"}


def currency(reader: InvoiceReader) -> Found | None:
    counts: Counter = Counter()
    for row in reader.rows:
        for w in row.words:
            token = fold(w.text).strip(":;,()")
            token = token if token in L.CURRENCY_TOKENS else token.rstrip(".")
            code = L.CURRENCY_TOKENS.get(token)
            if code is None and len(token) > 3 and token[-3:] in ("pln", "eur"):
                code = token[-3:].upper()  # '1703,55PLN'
            if code is None and len(token) > 1 and (token[0] in _SYMBOLS and token[1].isdigit()
                                                    or token[-1] in _SYMBOLS and token[-2].isdigit()):
                # '£1,250.00', '100,00€'; beside a letter it is a misread letter ('$łoneczna' on a fax)
                code = _SYMBOLS[token[0] if token[0] in _SYMBOLS else token[-1]]
            if code is None and len(token) > 2 and token[-2:] == "zl" and token[-3].isdigit():
                code = "PLN"  # '100,00zł'
            if code:
                counts[code] += 1 if token[0] not in _SYMBOLS and token[-1] not in _SYMBOLS else 0.5
    if not counts:
        return None
    # A symbol counts half a code: OCR makes '$' of an 8 or an S ('4 $14.76 EUR' on a fax).
    code, n = counts.most_common(1)[0]
    return Found(code, min(1.0, 0.6 + 0.1 * n))


_POLISH_MARKERS = ("faktura", "sprzedawca", "nabywca", "wystawienia", "zaplaty", "platnosci", "razem", "netto")
_ENGLISH_MARKERS = ("invoice", "seller", "buyer", "issue date", "total", "due", "supplier", "bill to")


def is_polish(rows: list[Row]) -> bool:
    text = fold(" ".join(row.text for row in rows))
    return sum(text.count(m) for m in _POLISH_MARKERS) > sum(text.count(m) for m in _ENGLISH_MARKERS)


def correct_ocr_text(out: Extraction, polish: bool) -> None:
    """Domain corrections of OCR text: legal forms and unit superscripts everywhere; Polish
    diacritics and the punctuation Polish print sets (``fix_description_punctuation``) in Polish."""
    from ..lexicon import correct_misread_words, correct_name_words, restore_diacritics

    restore = restore_diacritics if polish else (lambda text: text)
    correct = correct_misread_words if polish else (lambda text: text)
    correct_name = correct_name_words if polish else (lambda text: text)
    name_case = capitalise_name_word if polish else (lambda text: text)
    punctuate = fix_description_punctuation if polish else (lambda text: text)
    for name in ("supplier_name", "receiver_name"):
        if name in out.fields:
            out.fields[name].value = fix_legal_form(name_case(correct_name(restore(out.fields[name].value))))
    for item in out.line_items:
        item["description"] = fix_quotes(fix_unit_superscripts(punctuate(correct_name(correct(restore(item["description"]))))))


def read_invoice(rows: list[Row], ocr: bool = False) -> Extraction:
    """All contract fields of one invoice. ``ocr`` enables corrections for OCR misreads."""
    reader = InvoiceReader(rows)
    out = Extraction()
    f = out.fields

    if found := invoice_id(reader):
        f["invoice_id"] = found
    money = currency(reader)
    f.update(dates(reader, slash_date_order([row.text for row in rows], usd=money is not None and money.value == "USD")))
    for prefix, candidates in (("receiver", L.RECEIVER), ("supplier", L.SUPPLIER)):
        name, tax = read_party(reader, candidates)
        if name:
            f[f"{prefix}_name"] = name
        if tax:
            f[f"{prefix}_tax_id"] = tax
    unlabelled_parties(reader, f)
    if "supplier_name" not in f and "supplier_tax_id" not in f and (found := letterhead_name(reader)):
        f["supplier_name"] = found
    if found := iban(reader):
        f["supplier_iban"] = found

    table = read_line_items(reader)
    out.line_items, out.item_evidence, item_rows = table.items, table.evidence, table.rows

    for name, found in totals(reader, item_rows, out.line_items).items():
        f[name] = found
    out.rates = rate_evidence(reader, item_rows, out.line_items)
    out.line_items = fill_item_rates(out.line_items, out.rates, f)
    if money:
        f["currency"] = money
    out.expected, out.expected_pages = expected_fields(reader, item_rows)
    if ocr:
        correct_ocr_text(out, polish=is_polish(rows))
    return out
