"""Two reads of one invoice: when a second look is worth its cost, and how its fields join the
first read's.

A second look (the page OCR'd again from a cleaned image, ``preprocess``) is taken when the
first read leaves an expected field absent or only guessed (one every invoice has, or one whose
label the page prints: a 'Termin płatności' with no date read), or when a check fails. The
two reads fail on different things (the first on shaded tables, the second on fine print that
binarisation thins), so neither replaces the other: the second fills what the first lacks,
guessed or failed its checks, field by field, and the totals and the line items as wholes.
"""

from __future__ import annotations

from decimal import Decimal

from ..validation import LOW_CONFIDENCE
from . import Extraction
from .totals import items_totals
TOTALS = ("net_amount", "total_tax_amount", "total_amount")


def needs_second_look(read: Extraction, warnings: list[str]) -> bool:
    """Whether a read leaves an expected field absent (``Extraction.expected``) or only guessed
    (found without a label the lexicon knows), or fails a check."""
    return any(name not in read.fields or read.fields[name].guessed for name in read.expected) or bool(warnings)


def _totals_add_up(read: Extraction) -> bool:
    f = read.fields
    return all(n in f for n in TOTALS) and (
        Decimal(f["net_amount"].value) + Decimal(f["total_tax_amount"].value) == Decimal(f["total_amount"].value))


def _items_add_up(items: list[dict[str, str]], net: str | None) -> bool:
    implied = items_totals(items)
    return implied is not None and net is not None and implied[0] == Decimal(net)


def merge_reads(first: Extraction, second: Extraction) -> Extraction:
    """The first read, with what the second read has and the first lacks or distrusts."""
    out = Extraction(dict(first.fields), list(first.line_items), first.expected | second.expected)
    for name, found in second.fields.items():
        if name in TOTALS:
            continue
        mine = out.fields.get(name)
        if mine is None or (mine.conf <= LOW_CONFIDENCE < found.conf) or (mine.guessed and not found.guessed):
            out.fields[name] = found
    if not _totals_add_up(first) and _totals_add_up(second):
        for name in TOTALS:
            out.fields[name] = second.fields[name]
    elif not _totals_add_up(first):
        for name in TOTALS:  # neither adds up: what the first did not find at all
            if name not in out.fields and name in second.fields:
                out.fields[name] = second.fields[name]
    net = out.fields["net_amount"].value if "net_amount" in out.fields else None
    if not _items_add_up(out.line_items, net) and (_items_add_up(second.line_items, net) or not out.line_items):
        out.line_items = list(second.line_items)
    return out
