"""Two reads of one invoice: when a second look is worth its cost, and how its fields join the
first read's.

A second look (the page OCR'd again from a cleaned image, ``preprocess``) is taken when the
first read leaves an expected field absent or only guessed (one every invoice has, or one whose
label the page prints: a 'Termin płatności' with no date read), or when a check fails. The
two reads fail on different things (the first on shaded tables, the second on fine print that
binarisation thins), so neither replaces the other: the second fills what the first lacks,
guessed or failed its checks, field by field, and the totals and the line items as wholes:
the second read's totals when only they add up, or when both add up and its items agree with
them better; its items when only they add up to the net, or when neither does and it found
more (each item is a row whose quantity x price = amount). An item both reads found keeps
the description OCR was surer of.
"""

from __future__ import annotations

from decimal import Decimal

from ..validation import LOW_CONFIDENCE
from ..result import LINE_ITEMS
from . import Extraction
from .totals import fill_item_rates, items_totals
TOTALS = ("net_amount", "total_tax_amount", "total_amount")


def needs_second_look(read: Extraction, warnings: list[str]) -> bool:
    """Whether a read leaves an expected field absent (``Extraction.expected``) or only guessed
    (found without a label the lexicon knows), finds no line items (every invoice has them), or
    fails a check."""
    def missed(name: str) -> bool:
        if name == LINE_ITEMS:
            return not read.line_items
        return name not in read.fields or read.fields[name].guessed

    return any(missed(name) for name in read.expected) or bool(warnings)


def _totals_add_up(read: Extraction) -> bool:
    f = read.fields
    return all(n in f for n in TOTALS) and (
        Decimal(f["net_amount"].value) + Decimal(f["total_tax_amount"].value) == Decimal(f["total_amount"].value))


def _items_add_up(items: list[dict[str, str]], net: str | None) -> bool:
    implied = items_totals(items)
    return implied is not None and net is not None and implied[0] == Decimal(net)


def _items_gap(read: Extraction) -> Decimal:
    """How far a read's items fall short of (or exceed) its own net total, as a share of it:
    of two reads whose totals both add up, the one its items agree with better read them right."""
    implied = items_totals(read.line_items)
    net = read.fields.get("net_amount")
    if implied is None or net is None or Decimal(net.value) == 0:
        return Decimal("Infinity")
    return abs(implied[0] - Decimal(net.value)) / Decimal(net.value)


def merge_reads(first: Extraction, second: Extraction) -> Extraction:
    """The first read, with what the second read has and the first lacks or distrusts."""
    out = Extraction(dict(first.fields), list(first.line_items), first.expected | second.expected,
                     list(first.item_evidence), first.rates | second.rates)
    for name, found in second.fields.items():
        if name in TOTALS:
            continue
        mine = out.fields.get(name)
        if mine is None or (mine.conf <= LOW_CONFIDENCE < found.conf) or (mine.guessed and not found.guessed):
            out.fields[name] = found
    first_adds_up, second_adds_up = _totals_add_up(first), _totals_add_up(second)
    if second_adds_up and (not first_adds_up or _items_gap(second) < _items_gap(first)):
        for name in TOTALS:
            out.fields[name] = second.fields[name]
    elif not first_adds_up:
        for name in TOTALS:  # neither adds up: what the first did not find at all
            if name not in out.fields and name in second.fields:
                out.fields[name] = second.fields[name]
    net = out.fields["net_amount"].value if "net_amount" in out.fields else None
    other = second
    if not _items_add_up(out.line_items, net) and (
            _items_add_up(second.line_items, net) or len(second.line_items) > len(out.line_items)):
        out.line_items, out.item_evidence = list(second.line_items), list(second.item_evidence)
        other = first  # what adds up, else the read with more items
    _better_descriptions(out, other)
    out.line_items = fill_item_rates(out.line_items, out.rates, out.fields)
    return out


# Evidence differs by a few per cent between two fair reads of one description (a speck, an
# 'I' for a '1'); a misread one has far less (measured on ksef-official 001-030's degraded
# scans, re-degraded copies of them, and our corpus's scans).
CLEARLY_MORE = 1.1


def _item_key(item: dict[str, str]) -> tuple:
    return item.get("quantity"), item.get("unit_price"), item["amount"]


def _better_descriptions(out: Extraction, other: Extraction) -> None:
    """An item both reads found (the same quantity, price and amount) takes the description
    OCR read with more evidence (letters x word confidence): on degraded scans the second
    look's ink-only image reads most descriptions better, on fine print the first pass does."""
    theirs: dict[tuple, list[int]] = {}
    for k, item in enumerate(other.line_items):
        theirs.setdefault(_item_key(item), []).append(k)
    for i, item in enumerate(out.line_items):
        match = theirs.get(_item_key(item), [])
        if len(match) != 1 or i >= len(out.item_evidence) or match[0] >= len(other.item_evidence):
            continue
        k = match[0]
        if other.item_evidence[k] > CLEARLY_MORE * out.item_evidence[i]:
            out.line_items[i] = {**item, "description": other.line_items[k]["description"]}
            out.item_evidence[i] = other.item_evidence[k]
