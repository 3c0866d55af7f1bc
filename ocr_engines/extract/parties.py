"""The parties: seller and buyer blocks under their labels, or the issuer's letterhead.

A party is read as a block: the column under (or right of) its label down to the next party's
label, so side-by-side seller/buyer columns stay apart. Its name is the block's 'Nazwa:' line or
its first line that is not an address, a register or a contact; its tax id the block's NIP.
"""

from __future__ import annotations

import re

from .. import labels as L
from ..normalize import fold
from .reader import Found, InvoiceReader, LabelHit, overlap, strip_punct
from .values import clean_name, find_tax_id

# Labels inside a party block, each before its own value.
_CONTACT_LABELS = ("adres", "address", "e-mail", "email", "tel", "telefon", "phone")


def read_party(reader: InvoiceReader, candidates) -> tuple[Found | None, Found | None]:
    """(name, tax id) read from the block under the first matching party label."""
    for hit in reader.find_labels(candidates, anchored=True):
        seg = reader.rows[hit.row].segments[hit.seg]
        label_end = seg.words[hit.end - 1].text
        if hit.end < len(seg.words) and not label_end.endswith(":"):
            continue  # 'Dostawa zrealizowana ...' is a sentence, not the 'Dostawca' heading
        block = block_rows(reader, hit)
        name = party_name(block, reader.rows)
        tax = block_tax_id(block)
        if name or tax:
            return name, tax
    return None, None


def block_tax_id(block) -> Found | None:
    for text, conf, r in block:
        found = find_tax_id(text)
        if found:
            return Found(found[0], conf * found[1], r)
    return None


def block_rows(reader: InvoiceReader, hit: LabelHit, max_rows: int = 9) -> list[tuple[str, float, int]]:
    """Text of a party block: what follows the label on its row, then the column below.

    The column is where the value starts: after the label in its own cell, in the next
    cell to the right ('Sprzedawca:   ABC Sp. z o.o.'), or under the label when the label
    stands alone (then a second label to the right, e.g. the buyer's, ends the column).
    """
    segs = reader.rows[hit.row].segments
    label_seg = segs[hit.seg]
    rest = reader.remainder(hit)
    nxt = segs[hit.seg + 1] if hit.seg + 1 < len(segs) else None
    nxt_is_label = nxt is not None and (reader._label_at(reader.folded[hit.row][hit.seg + 1], 0, L.ANY) is not None
                                        or _names_a_label(nxt.text))
    if rest:
        return _column_below(reader, hit, [(rest, label_seg.conf, hit.row)], label_seg.x0,
                             nxt.x0 if nxt else float("inf"), max_rows)
    label_column = (label_seg.x0, nxt.x0 if nxt else min(_beside(reader, hit), _twin_column(reader, hit)))
    if nxt is not None and not nxt_is_label and sum(ch.isalnum() for ch in nxt.text) >= 2:
        first = [(nxt.text, nxt.conf, hit.row)]
        after = segs[hit.seg + 2] if hit.seg + 2 < len(segs) else None
        out = _column_below(reader, hit, first, nxt.x0, after.x0 if after else float("inf"), max_rows)
        if len(out) > 1:
            return out
        # Nothing under the cell beside the label: that cell was a heading OCR did not know (the
        # FA(3) visualisation's 'Podmiot2' read as 'Podimiot?' on a fax), and the block's lines
        # ('NIP: …', 'Nazwa: …') start under the label.
        below = _column_below(reader, hit, first, label_column[0], label_column[1], max_rows)
        return below if len(below) > 1 else out
    return _column_below(reader, hit, [], *label_column, max_rows)


def _column_below(reader: InvoiceReader, hit: LabelHit, out: list, left: float, right: float,
                  max_rows: int) -> list[tuple[str, float, int]]:
    """The block's first lines (``out``) and the column [left, right) under the label."""
    out = list(out)
    label_seg = reader.rows[hit.row].segments[hit.seg]
    tol = 2 * reader.rows[hit.row].height
    last_y = reader.rows[hit.row].y1
    for r in range(hit.row + 1, min(hit.row + 1 + max_rows, len(reader.rows))):
        row = reader.rows[r]
        # A heading often has space under it: the block's first line may be farther than the next.
        spacing = (2.5 if out else 4.0) * row.height
        if row.page != reader.rows[hit.row].page or row.y0 - last_y > spacing:
            break
        # Another party's label in this column (or in the label column) ends the block.
        if any(reader._label_at(reader.folded[r][i], 0, L.SUPPLIER + L.RECEIVER)
               for i, seg in enumerate(row.segments) if label_seg.x0 - tol <= seg.x0 < right - tol):
            break
        # The cells that start in the column, and the words in the column of a cell that starts
        # left of it: where two columns' texts run into one another with a word space between,
        # one segment holds both (the FA(3) stylesheet's seller name and the buyer's 'Imię i
        # nazwisko lub nazwa:').
        cell = [w for seg in row.segments for w in seg.words
                if left - tol <= seg.x0 < right - tol or (seg.x0 < left - tol and left - tol / 4 <= w.x0 < right - tol)]
        if not cell:
            continue
        out.append((" ".join(w.text for w in cell), min(w.conf for w in cell), r))
        last_y = row.y1
    return out


def _beside(reader: InvoiceReader, hit: LabelHit) -> float:
    """The left edge of the other party's heading beside this one, when the two headings sit side
    by side but not on one row (a few points apart in height: the FA(3) stylesheet's
    'SPRZEDAWCA' and 'NABYWCA'); infinity when there is none."""
    row = reader.rows[hit.row]
    x0 = row.segments[hit.seg].x0
    for r in range(max(0, hit.row - 2), min(len(reader.rows), hit.row + 3)):
        other = reader.rows[r]
        if r == hit.row or other.page != row.page or abs(other.y0 - row.y0) > 1.5 * row.height:
            continue
        for i, seg in enumerate(other.segments):
            if seg.x0 > x0 and reader._label_at(reader.folded[r][i], 0, L.SUPPLIER + L.RECEIVER):
                return seg.x0
    return float("inf")


def _twin_column(reader: InvoiceReader, hit: LabelHit) -> float:
    """Where a second party's column starts when its heading was not read (OCR lost 'NABYWCA'):
    side-by-side party blocks print the same labels, so the first of the next rows with two
    cells that start with the same label word ('NIP: … || NIP: …') shows it; infinity when none."""
    x0 = reader.rows[hit.row].segments[hit.seg].x0
    for r in range(hit.row + 1, min(hit.row + 4, len(reader.rows))):
        if reader.rows[r].page != reader.rows[hit.row].page:
            break
        segs = reader.rows[r].segments
        for i, seg in enumerate(segs):
            if abs(seg.x0 - x0) > 2 * reader.rows[r].height or not seg.words[0].text.endswith(":"):
                continue
            head = reader.folded[r][i][0]
            for j in range(i + 1, len(segs)):
                if reader.folded[r][j] and reader.folded[r][j][0] == head and segs[j].words[0].text.endswith(":"):
                    return segs[j].x0
    return float("inf")


def _is_heading(text: str) -> bool:
    words = [strip_punct(fold(w)) for w in text.split(" ")]
    return bool(words) and InvoiceReader._label_at(words, 0, L.SUPPLIER + L.RECEIVER) is not None and len(words) <= 2


def _until_next_label(value: str) -> str:
    """A value ends where another 'Label:' starts: OCR merges side-by-side columns when their
    gap blurs ('... S.A. Nazwa: Stanisław ...', the buyer's name after the seller's)."""
    words = value.split(" ")
    folded = [strip_punct(fold(w)) for w in words]
    labels = L.NAME_SUBLABELS + L.TAX_ID + _CONTACT_LABELS
    for i, w in enumerate(words[1:], start=1):
        if not w.endswith(":"):
            continue
        # The label may be several words ending here ('Imię i nazwisko lub nazwa:').
        for start in range(1, i + 1):
            hit = InvoiceReader._label_at(folded[start:i + 1], 0, labels)
            if hit and hit[1] == i + 1 - start:
                if start == i:  # a known word ending an unknown phrase: 'Imię i nazwisko lub' too
                    while start > 1 and words[start - 1].isalpha() and words[start - 1].islower():
                        start -= 1
                    if start < i and start > 1 and words[start - 1].isalpha() and words[start - 1].istitle():
                        start -= 1
                return " ".join(words[:start])
    return value


def party_name(block, rows=None) -> Found | None:
    """The block's name: its 'Nazwa:' line or its first line that is not an address, a register
    or a contact, with the lines it wraps onto (``rows``: the reader's rows, for their spacing)."""
    fallback = None
    for k, (text, conf, r) in enumerate(block):
        if _is_heading(text):
            continue
        folded = fold(text)
        for sub in L.NAME_SUBLABELS:
            if folded.startswith(sub):
                value = text.split(":", 1)[1] if ":" in text else text[len(sub):]
                if value.strip():
                    return _wrapped(Found(clean_name(_until_next_label(value)), conf, r), block[k + 1:], rows)
        # A label the lexicon does not know as a whole that names a name ('Imię i nazwisko lub
        # nazwa:', 'Company name:'): what ends with the colon is label, the name follows it.
        head, colon, value = text.partition(":")
        head_words = [strip_punct(w) for w in fold(head).split()]
        if (colon and value.strip() and len(head_words) <= 6 and not any(ch.isdigit() for ch in head)
                and any(w in L.NAME_SUBLABELS for w in head_words)):
            return _wrapped(Found(clean_name(_until_next_label(value)), conf, r), block[k + 1:], rows)
        if fallback is None and sum(ch.isalpha() for ch in text) >= 3 and not any(
            folded.startswith(p) for p in L.NOT_A_NAME
        ):
            fallback = _wrapped(Found(clean_name(_until_next_label(text)), conf, r), block[k + 1:], rows)
    return fallback


# A name that ends with a legal form is whole, unless the next line is one more ('Sp. z o.o.' +
# 'Sp.k.': a limited partnership whose partner is a company).
_LEGAL_FORM = re.compile(r"(?:\bsp\. ?z ?o\.o\.|\bs\.a\.|\bsp\. ?k\.|\bsp\. ?j\.|\bs\.c\.|\bsp\. ?p\.|\bs\.k\.a\.|"
                         r"\bltd\.?|\bgmbh|\binc\.?|\bllc|\bplc|\bs\.r\.o\.|\bsp\. ?z ?o\.o\. ?sp\. ?k\.)$")
_POSTAL = re.compile(r"\b\d{2}-\d{3}\b")
COUNTRIES = frozenset({"polska", "poland", "niemcy", "germany", "deutschland", "czechy", "czech republic",
                       "united kingdom", "uk", "france", "francja", "usa", "united states"})


def _wrapped(name: Found, after, rows) -> Found:
    """A party name that wraps inside its cell ('… Łęg –' / 'Białystok Sp. z o.o.', '… Zbigniew' /
    'Żak'): the next lines of the block join it while they sit right under it (no more than a
    line's height apart) and are none of: a label, an address, an identifier, a contact, a
    country, a heading. At most two lines."""
    if rows is None:
        return name
    value, last = name.value, name.row
    for text, conf, r in after[:2]:
        folded = fold(text).strip()
        # The block's rows are its column's: a row of the other column between does not count.
        if rows[r].page != rows[last].page or rows[r].y0 - rows[last].y1 > rows[r].height:
            break
        legal_next = bool(_LEGAL_FORM.search(folded)) and len(folded.split()) <= 3
        if (":" in text or _is_heading(text) or _names_a_label(text) or find_tax_id(text) or _POSTAL.search(text)
                or any(folded.startswith(p) for p in L.NOT_A_NAME) or folded.strip(" .,") in COUNTRIES
                or sum(ch.isdigit() for ch in text) > 2 or "@" in text or "www" in folded
                or (_LEGAL_FORM.search(fold(value)) and not legal_next)):
            break
        value, last = clean_name(f"{value} {_until_next_label(text)}"), r
        conf = min(conf, name.conf)
        name = Found(value, conf, name.row, name.guessed)
    return name


def tax_id_blocks(reader: InvoiceReader, taken: set[str]) -> list[tuple[Found | None, Found]]:
    """(name, tax id) of every block that holds a tax id not in `taken`, in reading order.

    The block is the column above the tax id up to a gap; its name is its first row, or the
    row after a heading ('Invoice to:'), whatever the heading's wording."""
    out = []
    seen = set(taken)
    for r, row in enumerate(reader.rows):
        for seg in row.segments:
            found = find_tax_id(seg.text)
            if not found or found[0] in seen:
                continue
            seen.add(found[0])
            tax = Found(found[0], seg.conf * found[1], r)
            column = [r]
            # Walk up the column; rows of other columns in between do not end the block.
            for above_r in range(r - 1, -1, -1):
                above = reader.rows[above_r]
                if above.page != row.page or reader.rows[column[-1]].y0 - above.y1 > 1.5 * above.height:
                    break
                if any(overlap(a, seg) for a in above.segments):
                    column.append(above_r)
            name = None
            for top in reversed(column[1:]):
                cell = next(a for a in reader.rows[top].segments if overlap(a, seg))
                if _is_heading(cell.text) or _names_a_label(cell.text):
                    continue
                if sum(ch.isalpha() for ch in cell.text) >= 3:
                    name = Found(clean_name(cell.text), cell.conf, top)
                break
            out.append((name, tax))
    return out


def _names_a_label(text: str) -> bool:
    """A heading, known or not: a short line ending in a colon ('Invoice to:'), or one word in
    capitals ('VENDOR', 'KUPUJĄCY') above the name."""
    text = text.strip()
    return ((text.endswith(":") and len(text.split()) <= 4)
            or (" " not in text and text.isalpha() and text.isupper() and len(text) > 3))


def heading_above(reader: InvoiceReader, name: Found | None) -> str:
    """The text of the line just above a party's name in its column (its heading, if any)."""
    if name is None or name.row <= 0:
        return ""
    row, above = reader.rows[name.row], reader.rows[name.row - 1]
    seg = next((s for s in row.segments if fold(s.text).startswith(fold(name.value)[:8])), None)
    if seg is None or above.page != row.page or row.y0 - above.y1 > 1.5 * row.height:
        return ""
    return next((a.text for a in above.segments if overlap(a, seg)), "")
