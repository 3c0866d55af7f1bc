"""Two reads of one invoice: when a second look is worth its cost, and how its fields join the
first read's.

A second look (the page OCR'd again from a cleaned image, ``preprocess``) is taken when the
first read leaves an expected field absent or only guessed (one every invoice has, or one whose
label the page prints: a 'Termin płatności' with no date read), or when a check fails, and only
on the pages where the problem is (``second_look_pages``: the page printing the missed field's
label, the page a guessed or failing field was read on; every page when nothing says where). On
the shared corpora's scans (ksef-official, ksef-thirdparty, all 105; 2026-12-08) that re-reads
79 pages instead of 100 (the second look's CPU time 131 s instead of 156 s) and keeps every
field the whole-document look fixed (88); on our corpus's 200 scans, 46 pages of 47 and all 50
fields. The two reads fail on different things (the first on shaded tables, the second on fine print that
binarisation thins), so neither replaces the other: the second fills what the first lacks,
guessed or failed its checks, field by field, and the totals and the line items as wholes:
the second read's totals when only they add up, or when both add up and its items agree with
them better; its items when only they add up to the net, or when neither does and it found
more (each item is a row whose quantity x price = amount). An item both reads found keeps
the description OCR was surer of.
"""

from __future__ import annotations

from decimal import Decimal

from ..layout import Row
from ..lexicon import is_known_word, word_frequency
from ..normalize import fold
from ..validation import LOW_CONFIDENCE
from ..result import LINE_ITEMS
from . import Extraction
from .totals import fill_item_rates, items_totals
TOTALS = ("net_amount", "total_tax_amount", "total_amount")


def _missed(read: Extraction, name: str) -> bool:
    if name == LINE_ITEMS:
        return not read.line_items
    return name not in read.fields or read.fields[name].guessed


def needs_second_look(read: Extraction, warnings: list[str]) -> bool:
    """Whether a read leaves an expected field absent (``Extraction.expected``) or only guessed
    (found without a label the lexicon knows), finds no line items (every invoice has them), or
    fails a check."""
    return any(_missed(read, name) for name in read.expected) or bool(warnings)


def second_look_pages(read: Extraction, warnings: list[str], rows: list[Row], pages: set[int]) -> set[int]:
    """Which of the OCR'd ``pages`` a second look re-reads: only those where the problem is.
    A field expected because its label is printed, but absent: the pages printing the label
    (``Extraction.expected_pages``); a field only guessed or failing its check: the page it was
    read on; anything else (an invoice number or items found nowhere, items that do not add up):
    every page. The totals are one problem: chosen so that they add up, they are read again
    together, on the pages printing their labels and those where any of them was read (on our
    corpus a net amount whose label the item table's header printed on page 1 was in the summary
    on page 2). A document of one OCR'd page is that page."""
    def rows_pages(names) -> set[int]:
        return {rows[f.row].page for n in names if (f := read.fields.get(n)) is not None and 0 <= f.row < len(rows)}

    def page_of(name: str) -> set[int]:
        if name in TOTALS:
            return set().union(*(read.expected_pages.get(n, ()) for n in TOTALS), rows_pages(TOTALS)) or pages
        return rows_pages([name]) or read.expected_pages.get(name) or pages

    out: set[int] = set()
    for name in read.expected:
        if _missed(read, name):
            out |= pages if name == LINE_ITEMS else page_of(name)
    for warning in warnings:
        name = warning.split(":", 1)[0]
        out |= page_of(name) if name in read.fields else pages
    return out & pages


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
    OCR read with more evidence (letters x word confidence), combined with the other read's
    (``combine_readings``), and the other read's rate when its own rate cell was lost: on
    degraded scans the second look's ink-only image reads most descriptions better, on fine
    print the first pass does."""
    theirs: dict[tuple, list[int]] = {}
    for k, item in enumerate(other.line_items):
        theirs.setdefault(_item_key(item), []).append(k)
    for i, item in enumerate(out.line_items):
        match = theirs.get(_item_key(item), [])
        if len(match) != 1 or i >= len(out.item_evidence) or match[0] >= len(other.item_evidence):
            continue
        k = match[0]
        mine, theirs_text = item["description"], other.line_items[k]["description"]
        if other.item_evidence[k] > CLEARLY_MORE * out.item_evidence[i]:
            mine, theirs_text = theirs_text, mine
            out.item_evidence[i] = other.item_evidence[k]
        out.line_items[i] = {**item, "description": combine_readings(mine, theirs_text)}
        if "vat_rate" not in item and "vat_rate" in other.line_items[k]:  # a rate cell one read lost
            out.line_items[i]["vat_rate"] = other.line_items[k]["vat_rate"]


_DASHES = {"-": "–"}  # a hyphen where the other read saw an en dash: the dash's length was lost
_SMALL_MARKS = set(".,)]”\"'")  # what blur or binarisation erases (a dash or a bracket's opening survives)


def _split(text: str) -> tuple[list[str], list[str]]:
    """The letters and digits of a reading, and the gaps around them (len(gaps) = len(chars) + 1)."""
    chars, gaps, gap = [], [], ""
    for ch in text:
        if ch.isalnum():
            chars.append(ch)
            gaps.append(gap)
            gap = ""
        else:
            gap += ch
    gaps.append(gap)
    return chars, gaps


def combine_readings(base: str, other: str) -> str:
    """One text from two OCR readings of it that agree on its letters and digits (diacritics
    and case aside); ``base`` otherwise. OCR loses marks more often than it invents them, so
    where the reads differ the combined text keeps a diacritic, an en dash for a hyphen, a comma
    for a period and punctuation one read lost between words ('szt )' + 'szt.)'); a space one
    read lost or inserted follows the lexicon ('pszennatyp' + 'pszenna typ')."""
    a_chars, a_gaps = _split(base)
    b_chars, b_gaps = _split(other)
    if len(a_chars) != len(b_chars) or any(fold(x) != fold(y) for x, y in zip(a_chars, b_chars)):
        return base
    # a diacritic only the other read saw, in the base's case
    chars = [(y.upper() if x.isupper() else y.lower()) if x.lower() == fold(x) and y.lower() != fold(y) else x
             for x, y in zip(a_chars, b_chars)]
    # After the last letter only closing marks may be taken from the other read (a speck reads
    # as a mark, and one there would end the description).
    closing = set(b_gaps[-1]) <= set(".)]”\"") and not set(b_gaps[-1]) <= {"."}
    last = _gap(a_gaps[-1], b_gaps[-1]) if closing else a_gaps[-1]
    gaps = [a_gaps[0]] + [_gap(x, y) for x, y in zip(a_gaps[1:-1], b_gaps[1:-1])] + [last]
    for j in range(1, len(gaps) - 1):
        if a_gaps[j] != b_gaps[j] and a_gaps[j].replace(" ", "") == b_gaps[j].replace(" ", ""):
            gaps[j] = _spacing(chars, gaps, j, a_gaps[j], b_gaps[j])
    return "".join(gap + ch for gap, ch in zip(gaps, chars + [""]))


def _gap(a: str, b: str) -> str:
    """The marks between two letters where the reads differ: a comma over a period, an en dash
    over a hyphen, and the marks one read lost; else the base's."""
    if a.replace(".", ",") == b or "".join(_DASHES.get(c, c) for c in a) == b:
        return b
    a_marks, b_marks = a.replace(" ", ""), b.replace(" ", "")
    if len(b_marks) > len(a_marks) and a_marks in b_marks and set(b_marks.replace(a_marks, "", 1)) <= _SMALL_MARKS:
        return b
    return a


def _spacing(chars: list[str], gaps: list[str], j: int, a: str, b: str) -> str:
    """Of two gaps that differ only by a space, the one that leaves lexicon words: a space when
    both pieces are words and their join is not, none when only the join is a word."""
    k, m = j - 1, j  # the letters run to the nearest gap with anything in it
    while k > 0 and gaps[k] == "":
        k -= 1
    while m + 1 < len(chars) and gaps[m + 1] == "":
        m += 1
    left, right = "".join(chars[k:j]), "".join(chars[j:m + 1])
    spaced, joined = (a, b) if " " in a else (b, a)
    pieces_known, whole_known = is_known_word(left) and is_known_word(right), is_known_word(left + right)
    if pieces_known and not whole_known:
        return spaced
    if whole_known and not pieces_known:
        return joined
    if pieces_known:  # both readings are words ('kadr i' / 'kadri'): the more common one
        rarer_piece = min(word_frequency(left), word_frequency(right))
        return spaced if rarer_piece > word_frequency(left + right) else joined
    return a
