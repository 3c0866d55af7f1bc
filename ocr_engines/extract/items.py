"""Line items: table rows recognised by quantity x unit price = amount.

The arithmetic finds the columns of any table without knowing its header (OCR garbles headers);
the header, when readable, tells the order of the quantity and price columns.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .. import labels as L
from ..layout import Row, Segment, Word
from ..normalize import digitise, find_amounts, find_numbers, fold, format_amount, format_quantity
from .reader import CENT, InvoiceReader, strip_punct, words_equal


def table_header_row(reader: InvoiceReader) -> int | None:
    """The first row naming three kinds of item-table column (description, qty, price...)."""
    for r, row in enumerate(reader.folded):
        words = [w for seg in row for w in seg]
        text = " ".join(words)
        groups = sum(
            any((" " in k and k in text) or any(words_equal(w, k) for w in words) for k in group)
            for group in L.TABLE_HEADER_GROUPS
        )
        if groups >= 3:
            return r
    return None


def _header_word(word: str, key: str) -> bool:
    """A header word, one OCR slip apart or glued to the next word ('Cenajedn.' for 'Cena jedn.')."""
    return words_equal(word, key) or (len(key) >= 4 and " " not in key and word.startswith(key))


def qty_before_price(reader: InvoiceReader, header: int) -> bool | None:
    """Whether the table header (which may wrap over rows) puts Quantity left of Price; None
    when it does not name both."""
    top = reader.rows[header]
    qty_x = price_x = None
    for r in range(max(0, header - 2), min(len(reader.rows), header + 3)):
        row = reader.rows[r]
        if row.page != top.page or abs(row.y0 - top.y0) > 3 * top.height:
            continue
        for w in row.words:
            word = strip_punct(fold(w.text))
            if qty_x is None and any(_header_word(word, k) for k in L.TABLE_HEADER_GROUPS[1]):
                qty_x = w.x0  # 'Ilość' read as 'llość' too
            if price_x is None and any(_header_word(word, k) for k in L.TABLE_HEADER_GROUPS[2]):
                price_x = w.x0
    return None if qty_x is None or price_x is None else qty_x < price_x


@dataclass
class ItemTable:
    items: list[dict[str, str]]
    rows: set[int]  # the item table's rows: its header and item rows
    # Per item, how well OCR read its description: its letters weighted by the engine's word
    # confidence (of two reads of one item, the one with more wins: ``merge``).
    evidence: list[float]


def read_line_items(reader: InvoiceReader) -> ItemTable:
    """The line items. Item rows are recognised by their arithmetic, not by position under a
    header (OCR garbles headers); the header, when readable, tells the quantity/price column
    order."""
    header = table_header_row(reader)
    qty_first = qty_before_price(reader, header) if header is not None else None
    if qty_first is None:  # the order that reads more rows as items, else each row's own
        counts = {order: len(_item_rows(reader, order, quotient=False)) for order in (True, False)}
        if counts[True] != counts[False]:
            qty_first = counts[True] > counts[False]
    found = _bare_rows(reader, _item_rows(reader, qty_first), qty_first)
    items = [item for _, item, _, _ in found]
    evidence = [ev for _, _, ev, _ in found]
    used_rows = {r for r, _, _, _ in found}
    if not items:
        return amount_only_items(reader)
    for k, (text, extra_rows, extra_evidence) in enumerate(wrapped_descriptions(reader, found, header)):
        if extra_rows:
            items[k]["description"] = text
            evidence[k] += extra_evidence
            used_rows |= extra_rows
    # a row of numbers alone that no wrapped line gave a description is not an item
    keep = [k for k, item in enumerate(items) if sum(ch.isalpha() for ch in item["description"]) >= 2]
    if len(keep) < len(items):
        used_rows -= {found[k][0] for k in range(len(items)) if k not in keep}
        items, evidence = [items[k] for k in keep], [evidence[k] for k in keep]
    return ItemTable(items, used_rows | ({header} if header is not None else set()), evidence)


def _bare_rows(reader: InvoiceReader, found, qty_first: bool | None):
    """``found`` with the rows between its first and last item row (on one page) whose numbers
    make an item but that hold no description: OCR split a centred cell's numbers onto a row of
    their own (the description is in the lines around it, ``wrapped_descriptions``)."""
    if len(found) < 2:
        return found
    taken = {r for r, *_ in found}
    out = list(found)
    for (a, *_), (b, *_) in zip(found, found[1:]):
        if reader.rows[a].page != reader.rows[b].page:
            continue
        for r in range(a + 1, b):
            if r in taken or any(ch.isalpha() for ch in reader.rows[r].text.replace("%", "")):
                continue
            parsed = parse_item_row(reader.rows[r], qty_first, quotient=False, bare=True)
            if parsed is not None:
                out.append((r, *parsed))
    return sorted(out, key=lambda x: x[0])


def _item_rows(reader: InvoiceReader, qty_first: bool | None,
               quotient: bool = True) -> list[tuple[int, dict, float, list[Word]]]:
    """(row, item, evidence, description words) of the rows that read as items, up to the totals
    row after them."""
    out = []
    for r in range(len(reader.rows)):
        words = reader.folded[r][0] if reader.folded[r] else []
        if words and any(words_equal(words[0], end) for end in L.TABLE_END):
            if out:
                break  # the totals row ends the table
            continue
        parsed = parse_item_row(reader.rows[r], qty_first, quotient)
        if parsed is None and (joined := with_wrapped_amounts(reader.rows, r)) is not None:
            parsed = parse_item_row(joined, qty_first, quotient)
        if parsed is not None:
            out.append((r, *parsed))
    return out


_THOUSANDS_HEAD = re.compile(r"\d{1,3}")
_THOUSANDS_TAIL = re.compile(r"\d{3}[.,]\d{2}")


def with_wrapped_amounts(rows: list[Row], r: int) -> Row | None:
    """Row ``r`` with the amounts that wrap inside a narrow cell made whole: a thousands group
    on the line above ('12' over '345,67') or the tail on the line below ('12' over '345,67'
    read from the item row's side), in the same column and no farther than a line's height;
    None when nothing wraps. The item row's arithmetic decides whether the joined amount is one."""
    row = rows[r]
    replaced: dict[int, Word] = {}
    for nb in (r - 1, r + 1):
        if not 0 <= nb < len(rows) or rows[nb].page != row.page or any(ch.isalpha() for ch in rows[nb].text):
            continue
        other = rows[nb]
        if (row.y0 - other.y1 if nb < r else other.y0 - row.y1) > row.height:
            continue
        for frag in other.words:
            for w in row.words:
                if id(w) in replaced or min(frag.x1, w.x1) - max(frag.x0, w.x0) <= 0:
                    continue
                head, tail = (frag, w) if nb < r else (w, frag)
                if _THOUSANDS_HEAD.fullmatch(head.text) and _THOUSANDS_TAIL.fullmatch(tail.text):
                    replaced[id(w)] = Word(f"{head.text} {tail.text}", min(frag.x0, w.x0), w.y0,
                                           max(frag.x1, w.x1), w.y1, min(frag.conf, w.conf), w.line_key)
    if not replaced:
        return None
    segments = [Segment([replaced.get(id(w), w) for w in seg.words]) for seg in row.segments]
    return Row(page=row.page, words=[replaced.get(id(w), w) for w in row.words], segments=segments, ocr=row.ocr)


# --------------------------------------------------------------- cells that wrap

# A description cell is a column, not a row: in a narrow column a description wraps over two to
# four lines, and the row's numbers sit on the first of them (top-aligned cells: reportlab
# tables, the FA(3) stylesheet) or in their middle (vertically centred cells: ksef-monitor's
# HTML table), so a row's words alone give 'Nawóz azotowy saletra' for 'Nawóz azotowy saletra
# amonowa 34%, big-bag 500 kg', or only the unit ('op.') when no line of the cell is level
# with the numbers. ksef-thirdparty digital, tune half: line-item F1 0.19 (ksef-xml-download)
# and 0.00 (ksef-monitor) before, every item's numbers right.


def wrapped_descriptions(reader: InvoiceReader, found, header: int | None) -> list[tuple[str, set[int], float]]:
    """Per item (``found``: ``_item_rows``' anchors, in order), its whole description cell: the
    lines of the description column above and below its numbers' row, as (text, the rows those
    lines are on, their evidence); ``(description, set(), 0)`` when the cell does not wrap.

    The column is where the text-only lines between the item rows start; its right edge is the
    next cell of the item rows. Between two item rows, the lines are split at the widest gap
    between consecutive lines (the gap between two cells is wider than a line's spacing, which
    holds for top-aligned and for centred cells alike). Lines above the first item row and below
    the last one join while they sit in the column and no farther apart than a line's spacing
    allows; a row with anything outside the column (a header, a totals row) ends the cell."""
    plain = [(item["description"], set(), 0.0) for _, item, _, _ in found]
    column = _DescriptionColumn.find(reader, found, header)
    if column is None:
        return plain
    cells = column.cells()
    return [column.cell_text(a, cell, cells[k]) if cells[k] else plain[k]
            for k, (a, _, _, cell) in enumerate(found)]


class _DescriptionColumn:
    """The item table's description column: its item rows (anchors), its left edge and the next
    cell's, and which rows are lines of its text."""

    def __init__(self, rows: list[Row], anchors: list[int], top: int | None, pitch: float, first_num_x: float):
        self.rows, self.anchors, self.top, self.pitch, self.first_num_x = rows, anchors, top, pitch, first_num_x
        self.anchor_set = set(anchors)
        self.x0 = self.right = 0.0

    @classmethod
    def find(cls, reader: InvoiceReader, found, header: int | None) -> _DescriptionColumn | None:
        anchors = [r for r, _, _, _ in found]
        if not anchors:
            return None
        rows = reader.rows
        top = header if header is not None and rows[header].page == rows[anchors[0]].page else None
        column = cls(rows, anchors, top, statistics.median(rows[r].height for r in anchors),
                     min(_numbers_x(rows[r], cell) for r, _, _, cell in found))
        pitch = column.pitch
        # The column: where the text-only lines between the item rows start; with one item row, the
        # lines right above and below it (not a heading or a label farther up: 'Pozycje faktury').
        near = [r for r in range(anchors[0] + 1, anchors[-1]) if column.text_only(r)]
        if not near:
            near = [r for a in anchors for r in (a - 1, a + 1) if 0 <= r < len(rows) and column.text_only(r)
                    and rows[r].page == rows[a].page
                    and max(rows[r].y0 - rows[a].y1, rows[a].y0 - rows[r].y1) <= 1.8 * pitch]
        if not near:
            return None
        column.x0 = sorted(rows[r].words[0].x0 for r in near)[len(near) // 2]
        # The median over the item rows: a description OCR read from its middle on ('rae' for
        # 'Segregator A4/75', its cell starting past the column's edge) is one row's.
        edges = sorted(_next_cell_x(rows[r], column.x0, pitch) for r in anchors)
        column.right = edges[len(edges) // 2]
        return column

    def text_only(self, r: int) -> bool:
        # a line of text (read by OCR: two letters or three characters, in letters about as tall
        # as the item rows'; a speck OCR read as '8' or 'L' is neither; a text layer's 'l' is one)
        row = self.rows[r]
        return (r not in self.anchor_set and (self.top is None or r > self.top)
                and (sum(ch.isalpha() for ch in row.text) >= 2 or sum(ch.isalnum() for ch in row.text) >= 3
                     or (not row.ocr and any(ch.isalnum() for ch in row.text)))
                and row.height >= 0.4 * self.pitch
                and max(w.x1 for w in row.words) < self.first_num_x and not find_amounts(row.text))

    def inside(self, w: Word) -> bool:
        return self.x0 - self.pitch <= w.x0 and w.x1 <= self.right

    def in_column(self, words) -> bool:
        # the column's text, with at most a row number left of it and a unit right of it
        return (any(ch.isalnum() for w in words if self.inside(w) for ch in w.text)
                and all(len(w.text) <= 5 and not find_amounts(w.text) for w in words if not self.inside(w)))

    def column_words(self, r: int) -> list[Word]:
        return [w for w in self.rows[r].words if self.inside(w)]

    def line(self, r: int) -> float:
        return (self.rows[r].y0 + self.rows[r].y1) / 2

    def cells(self) -> list[list[int]]:
        """Per item row, the rows of its cell's other lines."""
        rows, anchors = self.rows, self.anchors
        cells: list[list[int]] = [[] for _ in anchors]
        for k, a in enumerate(anchors):
            # Lines between this item row and the next one on the page: split at the widest gap.
            nxt = anchors[k + 1] if k + 1 < len(anchors) and rows[anchors[k + 1]].page == rows[a].page else None
            if nxt is not None:
                between = [r for r in range(a + 1, nxt) if self.text_only(r)]
                others = [r for r in range(a + 1, nxt) if r not in between
                          and any(ch.isalpha() for ch in rows[r].text)]  # an amount's wrapped part is no other row
                if others or not all(self.in_column(rows[r].words) for r in between):
                    continue  # something else between the two item rows: leave both as they are
                ys = [self.line(a)] + [self.line(r) for r in between] + [self.line(nxt)]
                gaps = [ys[i + 1] - ys[i] for i in range(len(ys) - 1)]
                cut = max(range(len(gaps)), key=lambda i: (gaps[i], -i))
                cells[k] += between[:cut]
                cells[k + 1] += between[cut:]
        # Above the first item row and below the last one (and at a page's break).
        for k, a in enumerate(anchors):
            if k == 0 or rows[anchors[k - 1]].page != rows[a].page:
                cells[k] = _run(rows, a, -1, self.text_only, self.in_column, self.pitch) + cells[k]
            if k + 1 == len(anchors) or rows[anchors[k + 1]].page != rows[a].page:
                cells[k] += _run(rows, a, +1, self.text_only, self.in_column, self.pitch)
        return cells

    def cell_text(self, a: int, cell: list[Word], lines_rows: list[int]) -> tuple[str, set[int], float]:
        """The item's description from its row (``a``, the words ``cell``) and its cell's other lines."""
        # The item row's own line of the cell, with the marks its row-wise reading dropped at
        # its end ('Środek ochrony roślin –' continues on the next line).
        own = self.column_words(a) if cell and self.in_column(cell) else []
        # A row that lies level with the item row is part of its line (OCR split one line in two:
        # 'skarbowym' above 'Reprezentacja przed urzędem'): its words join the item row's by x.
        level = [r for r in lines_rows if _level(self.rows[r], self.rows[a])]
        if level:
            own = sorted(own + [w for r in level for w in self.column_words(r)], key=lambda w: w.x0)
        lines = sorted([(self.line(r), self.column_words(r)) for r in lines_rows if r not in level]
                       + ([(self.line(a), own)] if own else []), key=lambda t: t[0])
        texts = [_tidy(kept) for _, words in lines
                 if (kept := [w for w in words if any(ch.isalnum() for ch in w.text) or set(w.text) <= _MARKS])]
        text = join_lines(texts).strip(" |-–—")
        return text, set(lines_rows), sum(_evidence(words) for _, words in lines if words is not own)


# Words without a letter or digit that belong to a description ('Środek ochrony – fungicyd',
# 'B&B', brackets and quotes); any other such word in a cell is a rule or a speck.
_MARKS = frozenset("-–—&+/()[]„”\"'*.,%")


def _level(row: Row, other: Row) -> bool:
    """Whether two rows overlap by at least half the lower one's height (one visual line)."""
    overlap = min(row.y1, other.y1) - max(row.y0, other.y0)
    return overlap >= 0.5 * min(row.y1 - row.y0, other.y1 - other.y0)


def _numbers_x(row: Row, description: list[Word]) -> float:
    """Where an item row's numbers start: the first word after its description holding a digit."""
    after = description[-1].x1 if description else row.words[0].x0
    return min((w.x0 for w in row.words if w.x0 > after and any(ch.isdigit() for ch in w.text)),
               default=row.words[-1].x0)


def _next_cell_x(row: Row, col_x0: float, pitch: float) -> float:
    """The left edge of the item row's first cell right of the description column."""
    for seg in row.segments:
        if seg.x0 > col_x0 + pitch:
            return seg.x0 - pitch / 4
    return row.words[-1].x1


def _run(rows: list[Row], start: int, step: int, text_only, in_column, pitch: float) -> list[int]:
    """The column's lines going up (step -1) or down (+1) from an item row, while they sit in the
    column no farther apart than 1.8 line heights, up to the widest gap between the item row,
    those lines and the row that ends them (a heading, a totals row, an item row OCR could not
    read): the lines beyond it are another cell's."""
    out: list[int] = []
    prev = start
    r = start + step
    while 0 <= r < len(rows) and rows[r].page == rows[start].page and text_only(r) and in_column(rows[r].words):
        gap = rows[r].y0 - rows[prev].y1 if step > 0 else rows[prev].y0 - rows[r].y1
        if gap > 1.8 * pitch:
            break
        out.append(r)
        prev = r
        r += step
    if out and 0 <= r < len(rows) and rows[r].page == rows[start].page:
        ys = [(rows[k].y0 + rows[k].y1) / 2 for k in [start, *out, r]]
        gaps = [abs(ys[i + 1] - ys[i]) for i in range(len(ys) - 1)]
        out = out[:max(range(len(gaps)), key=lambda i: (gaps[i], -i))]
    return sorted(out)


_SOFT = ("\u00ad", "\ufffe")  # a soft hyphen, and what some text layers give for one


def join_lines(lines: list[str]) -> str:
    """A cell's lines as one text. A word hyphenated at a line's end is joined: without the
    hyphen when the lexicon knows the joined word ('przetwór-' + 'stwa'), else with it ('big-' +
    'bag'); a soft hyphen (or U+FFFE, as some text layers give it) always joins; neither stays
    in the text."""
    from ..lexicon import is_known_word

    out = ""
    for text in lines:
        text = text.strip()
        if not text:
            continue
        last, first = out.rsplit(" ", 1)[-1], text.split(" ", 1)[0]
        if out and last.endswith(_SOFT):
            out = out[:-1] + text
        elif out and len(last) > 1 and last.endswith("-") and last[-2].isalpha() and first[:1].isalpha():
            stem = last[:-1].rsplit("-", 1)[-1]
            joined = stem + first.rstrip(".,;:)")
            out = (out[:-1] if first[:1].islower() and is_known_word(joined) else out) + text
        else:
            out = f"{out} {text}" if out else text
    for mark in _SOFT:
        out = out.replace(mark, "")
    return out


def amount_only_items(reader: InvoiceReader) -> ItemTable:
    """Items of a table that prints a description and an amount only ('Details | Amount'):
    a run of rows of a text cell and one amount cell, confirmed when their amounts add up to an
    amount printed in the next rows (the invoice's net or total)."""
    run: list[tuple[int, str, Decimal]] = []

    def confirmed(after: int) -> bool:
        total = sum((amount for _, _, amount in run), Decimal(0))
        for r in range(after, min(after + 4, len(reader.rows))):
            if total in find_amounts(reader.rows[r].text):
                return True
        return False

    for r, row in enumerate(reader.rows + [None]):
        item = None
        segs = row.segments if row is not None else []
        if len(segs) == 2 and sum(ch.isalpha() for ch in segs[0].text) >= 4 and not segs[0].text.endswith(":"):
            amounts = find_amounts(segs[1].text)
            if len(amounts) == 1 and not find_amounts(segs[0].text) and segs[1].text.replace(" ", "")[-3:-2] in ",.":
                item = (r, segs[0].text.strip(), amounts[0])
        if item and (not run or reader.rows[run[-1][0]].page == row.page):
            run.append(item)
            continue
        if run and confirmed(r):
            break
        run = []
    return ItemTable([{"description": text, "amount": format_amount(amount)} for _, text, amount in run],
                     {r for r, _, _ in run}, [_evidence(reader.rows[r].segments[0].words) for r, _, _ in run])


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
        clean = tok.strip("%;:|()[]\"'“”„‘’").rstrip(",.")  # cell rules and specks read as marks
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


def _factor_columns(nums: list[_Num], k: int, orders):
    """(i, first_is_qty, quantity, unit price) for every two numbers left of ``nums[k]`` (the
    amount), in each column order of ``orders``; ``nums[i]`` is the first of the two."""
    for i in range(k):
        for j in range(i + 1, k):
            for first_is_qty in orders:
                yield (i, first_is_qty, *((nums[i], nums[j]) if first_is_qty else (nums[j], nums[i])))


def _described(words, first: int) -> bool:
    """Whether a word with two letters stands before word ``first``: an item row has a description."""
    return any(sum(ch.isalpha() for ch in w.text) >= 2 for w in words[:first])


def parse_item_row(row: Row, qty_first: bool | None = True, quotient: bool = True,
                   bare: bool = False) -> tuple[dict[str, str], float, list[Word]] | None:
    """A line item from a table row, found by quantity × unit price = amount, the evidence
    of its description (``ItemTable.evidence``) and the description's words on this row.

    ``qty_first`` says whether the table prints the quantity column before the unit price
    (most do; the KSeF visualisation does not); None when the header does not say (OCR lost
    it): both orders are tried, and the one that reads more numbers as printed wins ('6,41'
    read as '641' and a quantity '500' make 500 x 6.41 and 641 x 5.00 alike). ``quotient``
    allows a row whose quantity is unreadable (``_item_without_quantity``); ``bare`` a row of numbers
    without a description (``_bare_rows``).
    """
    orders = (qty_first,) if qty_first is not None else (True, False)
    words = row.words
    tokens = [digitise(w.text) for w in words]
    nums = _row_numbers(tokens, [k for k, seg in enumerate(row.segments) for _ in seg.words])
    best = None
    vat_triple = False  # a reading that is net, rate and VAT: an item row's VAT columns, or a totals row
    for k, amount_num in enumerate(nums):
        for amount, a_money in amount_num.readings():
            if not a_money:
                continue
            for i, first_is_qty, q_num, p_num in _factor_columns(nums, k, orders):
                for q in q_num.quantity_readings():
                    for price, p_money in p_num.readings():
                        if not p_money or q <= 0:
                            continue
                        if (q * price).quantize(CENT, ROUND_HALF_UP) != amount:
                            continue
                        first = nums[i].index
                        if not bare and not _described(words, first):
                            continue  # no description before the numbers: not an item row
                        if q < 1 and q * 100 in VAT_RATES and any(
                                n.value == price + amount for n in nums if n.index > amount_num.end):
                            vat_triple = True  # net x rate = VAT, then net + VAT = gross
                            continue
                        # Prefer factors right of any number in the description, then the
                        # net amount (left of gross), then readings as printed.
                        exact = (price == p_num.value) + (amount == amount_num.value) + (q == q_num.value)
                        score = (i, -k, exact, first_is_qty)
                        if best is None or score > best[0]:
                            best = (score, (q_num, q), (p_num, price), (amount_num, amount), first)
    if best is None:
        if vat_triple:
            return None  # a totals row (or a per-rate summary row), not an item
        if not quotient:
            return None
        best = _one_digit_off(words, nums, orders)
        if best is None:
            return _item_without_quantity(row, words, nums)
    _, (q_num, q), (p_num, price), (a_num, amount), first = best
    description, evidence, cell = _item_description(row, first)
    if sum(ch.isalpha() for ch in description) < 2 and not bare:
        return None
    item = {
        "description": description,
        "quantity": format_quantity(q),
        "unit_price": format_amount(price),
        "amount": format_amount(amount),
    }
    used = {q_num.index, q_num.end, p_num.index, p_num.end, a_num.index, a_num.end}
    rate = _item_vat_rate(tokens, first, used)
    if rate is None and nums and nums[0].index < first:
        # a rate column before the quantity ('Service | 23% | 4 | 5,991.80 | 23,967.20')
        token = fold(tokens[first - 1]).strip("|;:,.-–")
        m = _RATE_RE.match(token)
        if token.endswith("%") and m and int(m.group(1)) in VAT_RATES:
            rate = str(int(m.group(1)))
    if rate is not None:
        item["vat_rate"] = rate
    return item, evidence, cell


def _one_digit_apart(read: Decimal, value: Decimal) -> bool:
    a, b = f"{read:.2f}", f"{value:.2f}"
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1


def _one_digit_off(words, nums: list[_Num], orders) -> tuple | None:
    """An item row whose arithmetic fails by one misread digit of its unit price or its amount:
    the one that quantity and the other determine differs from its reading in exactly one digit
    ('4 x 3 025,55 = 17 102,20' for 12 102,20 on a fax). When either could be the misread one
    ('4 x 542,06 = 2 128,24': 532,06 or 2 168,24), a gross column that is one reading's net plus
    a VAT rate decides, else the row is not read. (A quantity is not repaired: a one-digit
    quantity is one digit away from every other, so any number could pass for it.) Of several
    rows' worth of readings, the order ``parse_item_row`` prefers. Same shape as its best."""
    best = None
    for k, a_num in enumerate(nums):
        if not a_num.money or a_num.value <= 0:
            continue
        gross = {n.value for n in nums[k + 1:]}
        for i, first_is_qty, q_num, p_num in _factor_columns(nums, k, orders):
            if not p_num.money or p_num.value <= 0 or not _described(words, nums[i].index):
                continue
            price, amount = p_num.value, a_num.value
            for q in q_num.quantity_readings():
                if q <= 0 or q < 1 and q * 100 in VAT_RATES or q > 1 and (q - 1) * 100 in VAT_RATES:
                    continue  # a rate, or net and gross of one rate: a totals row's shape
                readings = []
                if _one_digit_apart(amount, net := (q * price).quantize(CENT, ROUND_HALF_UP)):
                    readings.append((price, net))
                unit = (amount / q).quantize(CENT, ROUND_HALF_UP)
                if (q * unit).quantize(CENT, ROUND_HALF_UP) == amount and _one_digit_apart(price, unit):
                    readings.append((unit, amount))
                confirmed = [(p, a) for p, a in readings
                             if any((a * (100 + r) / 100).quantize(CENT, ROUND_HALF_UP) in gross for r in VAT_RATES if r)]
                if len(confirmed) == 1 or len(readings) == 1 and not confirmed:
                    (rp, ra), = confirmed or readings
                    score = (bool(confirmed), i, -k, first_is_qty)
                    if best is None or score > best[0]:
                        best = (score, (q_num, q), (p_num, rp), (a_num, ra), nums[i].index)
    return best


def _item_without_quantity(row: Row, words, nums: list[_Num]) -> tuple[dict[str, str], float, list[Word]] | None:
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
    if len(nums) == 3 and q < 1 and q * 100 in VAT_RATES and nums[2].value == p_num.value + a_num.value:
        return None  # net, VAT, gross and nothing else (a totals row): the 'quantity' is the rate
    if q < 1 and q * 100 in VAT_RATES and "%" in row.text:
        return None  # net and VAT of a per-rate row ('22% lub  482.40  110.95'): the rate again
    if not _described(words, p_num.index):
        return None
    description, evidence, cell = _item_description(row, p_num.index)
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
    return item, evidence, cell


def _item_vat_rate(tokens: list[str], start: int, used: set[int]) -> str | None:
    """The row's VAT rate: a percentage after the description, else a bare known rate."""
    bare = None
    for i in range(start, len(tokens)):
        if i in used:
            continue
        token = fold(tokens[i]).strip("|;:,.-–")
        if token in ("zw", "np"):
            return token
        m = _RATE_RE.match(token)
        if m and int(m.group(1)) in VAT_RATES:
            if token.endswith("%"):
                return str(int(m.group(1)))
            bare = bare or str(int(m.group(1)))
    return bare


def _evidence(words) -> float:
    return sum(w.conf * len(w.text) for w in words)


_CLOSERS = {")": "(", "]": "[", "”": "„"}


def _closes(words) -> bool:
    """Whether the last word is only closing punctuation ('.)', ')', '”') for a bracket or quote
    the words before it opened and did not close: part of the description, not OCR noise."""
    last = words[-1].text
    closer = last.lstrip(".")[:1]
    if not last or closer not in _CLOSERS or last.strip(".)]”"):
        return False
    before = " ".join(w.text for w in words[:-1])
    return before.count(_CLOSERS[closer]) > before.count(closer)


def _item_description(row: Row, first_number: int) -> tuple[str, float, list[Word]]:
    """Words before the first number column, without the row number and a unit-only cell, their
    evidence (letters x OCR confidence) and the words themselves."""
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
        if (re.fullmatch(r"[/|\[(]?\d{1,3}[.)|]?", digitise(first)) or not any(ch.isalnum() for ch in first)
                or (own_cell and not any(ch.isalpha() for ch in first))
                or (len(first) <= 2 and first.islower() and words[1].text[:1].isupper())):
            words = words[1:]
    # The description is one cell: what follows it before the numbers (a unit column, an
    # unreadable quantity) belongs to other columns.
    if words:  # the cell with the most letters: a misread row number ('DN' for '2') has few
        letters: dict[int, int] = {}
        for w in words:
            letters[owner[id(w)]] = letters.get(owner[id(w)], 0) + sum(ch.isalpha() for ch in w.text)
        cell = max(letters, key=lambda c: (letters[c], -c))
        words = [w for w in words if owner[id(w)] == cell]
        while len(words) > 1 and not any(ch.isalnum() for ch in words[-1].text) and not _closes(words):
            words = words[:-1]  # trailing noise ('publikacji -'; a noise cell has no letters to be chosen)
    return _tidy(words), _evidence(words), words


_MASS_AND_LENGTH = ("kg", "g", "dag", "mg", "ml", "m", "cm", "mm", "km", "m2", "m²", "m3", "m³")


def _tidy(words: list[Word]) -> str:
    """A description line's text, with what OCR does to its ends and units undone."""
    texts = [w.text for w in words]
    if len(texts) > 1 and _closes(words):  # 'szt )': the bracket a thinned period left apart
        texts[-2:] = [texts[-2] + texts[-1]]
    for i in range(1, len(texts)):
        if texts[i] in ("I", "|") and texts[i - 1][-1:].isdigit():
            texts[i] = "l"  # litres: '10 l' read as '10 I'
    if len(texts) > 2 and texts[-1] == "1" and texts[-2].isdigit() and any(ch.isalpha() for ch in texts[-3]):
        texts[-1] = "l"  # '... paint 10 1': a count then a lone 1 ends a description as a unit
    for i in range(1, len(texts)):
        if (texts[i] in ("I", "l", "|", "!") and i + 1 < len(texts) and texts[i + 1] in _MASS_AND_LENGTH
                and texts[i - 1][-1:].isalpha()):
            texts[i] = "1"  # 'Kawa ziarnista I kg' (a fax): a lone stroke before a unit is a count
        elif texts[i] == "kq" and texts[i - 1][-1:].isdigit():
            texts[i] = "kg"  # a fax's g with its tail cut: 'Kawa ziarnista 1 kq'
    return " ".join(texts).strip(" |")
