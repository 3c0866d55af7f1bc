"""Invoice field extraction from page rows: labels, layout and arithmetic.

``read_invoice`` reads the contract's fields from the rows of every page (PDF text layer or OCR,
see ``layout``): the invoice number and dates after their labels, the parties as blocks
(``parties``), the bank account anywhere its checksum holds, the line items by their arithmetic
(``items``) and the totals chosen so that they add up (``totals``). The value parsers are in
``values``, the label search in ``reader``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .. import labels as L
from ..layout import Row
from ..normalize import find_dates, fold
from .items import read_line_items
from .parties import read_party, unlabelled_supplier
from .reader import Found, InvoiceReader
from .totals import row_rates, totals
from .values import find_iban, fix_legal_form, parse_invoice_id

__all__ = ["Extraction", "Found", "read_invoice"]


# Fields every invoice carries, whatever its layout.
ALWAYS_EXPECTED = ("invoice_id", "invoice_date", "supplier_name", "total_amount")
# Fields expected when the page prints one of their labels.
EXPECTED_WHEN_LABELLED = (
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


def expected_fields(reader: InvoiceReader, table_rows: set[int]) -> frozenset[str]:
    """The fields this invoice should have: every invoice's, those whose own label it prints
    (one-word labels such as a 'VAT' column header do not count: they say too little), and the
    net and VAT when a VAT rate is printed outside the item table (a per-rate summary, whose
    title or amounts OCR may have lost)."""
    out = set(ALWAYS_EXPECTED)
    for name, labels in EXPECTED_WHEN_LABELLED:
        if reader.find_labels(tuple(label for label in labels if label not in L.GENERIC)):
            out.add(name)
    if any(r not in table_rows and (found := row_rates(row.text)) and found[0] for r, row in enumerate(reader.rows)):
        out |= {"net_amount", "total_tax_amount"}
    return frozenset(out)


def invoice_id(reader: InvoiceReader) -> Found | None:
    return reader.first_value(L.INVOICE_ID, parse_invoice_id)


def dates(reader: InvoiceReader) -> dict[str, Found]:
    out = {}
    taken_rows: set[tuple[int, int]] = set()
    for name, candidates in (("due_date", L.DUE_DATE), ("delivery_date", L.DELIVERY_DATE),
                             ("invoice_date", L.INVOICE_DATE)):
        for hit in reader.find_labels(candidates):
            if (hit.row, hit.seg) in taken_rows and hit.label in L.GENERIC:
                continue  # a bare 'Date'/'Data' already read as a more specific date
            found = None
            for text, conf, r in reader.value_texts(hit):
                dates = find_dates(text) or (find_dates(text, loose=True) if reader.rows[r].ocr else [])
                if dates:
                    found = Found(dates[0].isoformat(), conf, r)
                    break
            if found:
                out[name] = found
                taken_rows.add((hit.row, hit.seg))
                break
    return out


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


def currency(reader: InvoiceReader) -> Found | None:
    counts: Counter = Counter()
    for row in reader.rows:
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


_POLISH_MARKERS = ("faktura", "sprzedawca", "nabywca", "wystawienia", "zaplaty", "platnosci", "razem", "netto")
_ENGLISH_MARKERS = ("invoice", "seller", "buyer", "issue date", "total", "due", "supplier", "bill to")


def is_polish(rows: list[Row]) -> bool:
    text = fold(" ".join(row.text for row in rows))
    return sum(text.count(m) for m in _POLISH_MARKERS) > sum(text.count(m) for m in _ENGLISH_MARKERS)


def correct_ocr_text(out: Extraction, polish: bool) -> None:
    """Domain corrections of OCR text: legal forms everywhere, Polish diacritics in Polish."""
    from ..lexicon import restore_diacritics

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

    if found := invoice_id(reader):
        f["invoice_id"] = found
    f.update(dates(reader))
    for prefix, candidates in (("receiver", L.RECEIVER), ("supplier", L.SUPPLIER)):
        name, tax = read_party(reader, candidates)
        if prefix == "supplier" and not (name or tax):
            name, tax = unlabelled_supplier(reader, {f["receiver_tax_id"].value} if "receiver_tax_id" in f else set())
        if name:
            f[f"{prefix}_name"] = name
        if tax:
            f[f"{prefix}_tax_id"] = tax
    if found := iban(reader):
        f["supplier_iban"] = found

    out.line_items, item_rows = read_line_items(reader)

    for name, found in totals(reader, item_rows, out.line_items).items():
        f[name] = found
    if found := currency(reader):
        f["currency"] = found
    out.expected = expected_fields(reader, item_rows)
    if ocr:
        correct_ocr_text(out, polish=is_polish(rows))
    return out
