"""Line items: table rows recognised by quantity x unit price = amount.

The arithmetic finds the columns of any table without knowing its header (OCR garbles headers);
the header, when readable, tells the order of the quantity and price columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .. import labels as L
from ..layout import Row
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
    found = _item_rows(reader, qty_first)
    items = [item for _, item, _ in found]
    evidence = [ev for _, _, ev in found]
    used_rows = {r for r, _, _ in found}
    if not items:
        return amount_only_items(reader)
    return ItemTable(items, used_rows | ({header} if header is not None else set()), evidence)


def _item_rows(reader: InvoiceReader, qty_first: bool | None, quotient: bool = True) -> list[tuple[int, dict, float]]:
    """(row, item, evidence) of the rows that read as items, up to the totals row after them."""
    out = []
    for r in range(len(reader.rows)):
        words = reader.folded[r][0] if reader.folded[r] else []
        if words and any(words_equal(words[0], end) for end in L.TABLE_END):
            if out:
                break  # the totals row ends the table
            continue
        parsed = parse_item_row(reader.rows[r], qty_first, quotient)
        if parsed is not None:
            out.append((r, *parsed))
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


def parse_item_row(row: Row, qty_first: bool | None = True,
                   quotient: bool = True) -> tuple[dict[str, str], float] | None:
    """A line item from a table row, found by quantity × unit price = amount, and the evidence
    of its description (``ItemTable.evidence``).

    ``qty_first`` says whether the table prints the quantity column before the unit price
    (most do; the KSeF visualisation does not); None when the header does not say (OCR lost
    it): both orders are tried, and the one that reads more numbers as printed wins ('6,41'
    read as '641' and a quantity '500' make 500 x 6.41 and 641 x 5.00 alike). ``quotient``
    allows a row whose quantity is unreadable (``_item_without_quantity``).
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
            for i in range(k):
                for j, first_is_qty in ((j, o) for j in range(i + 1, k) for o in orders):
                    q_num, p_num = (nums[i], nums[j]) if first_is_qty else (nums[j], nums[i])
                    for q in q_num.quantity_readings():
                        for price, p_money in p_num.readings():
                            if not p_money or q <= 0:
                                continue
                            if (q * price).quantize(CENT, ROUND_HALF_UP) != amount:
                                continue
                            first = nums[i].index
                            if not any(sum(ch.isalpha() for ch in w.text) >= 2 for w in words[:first]):
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
        return _item_without_quantity(row, words, nums) if quotient else None
    _, (q_num, q), (p_num, price), (a_num, amount), first = best
    description, evidence = _item_description(row, first)
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
    if rate is None and nums and nums[0].index < first:
        # a rate column before the quantity ('Service | 23% | 4 | 5,991.80 | 23,967.20')
        token = fold(tokens[first - 1]).strip("|;:,.-–")
        m = _RATE_RE.match(token)
        if token.endswith("%") and m and int(m.group(1)) in VAT_RATES:
            rate = str(int(m.group(1)))
    if rate is not None:
        item["vat_rate"] = rate
    return item, evidence


def _item_without_quantity(row: Row, words, nums: list[_Num]) -> tuple[dict[str, str], float] | None:
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
    if not any(sum(ch.isalpha() for ch in w.text) >= 2 for w in words[:p_num.index]):
        return None
    description, evidence = _item_description(row, p_num.index)
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
    return item, evidence


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


def _item_description(row: Row, first_number: int) -> tuple[str, float]:
    """Words before the first number column, without the row number and a unit-only cell, and
    their evidence (letters x OCR confidence)."""
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
    texts = [w.text for w in words]
    if len(texts) > 1 and _closes(words):  # 'szt )': the bracket a thinned period left apart
        texts[-2:] = [texts[-2] + texts[-1]]
    for i in range(1, len(texts)):
        if texts[i] in ("I", "|") and texts[i - 1][-1:].isdigit():
            texts[i] = "l"  # litres: '10 l' read as '10 I'
    if len(texts) > 2 and texts[-1] == "1" and texts[-2].isdigit() and any(ch.isalpha() for ch in texts[-3]):
        texts[-1] = "l"  # '... paint 10 1': a count then a lone 1 ends a description as a unit
    return " ".join(texts).strip(" |"), _evidence(words)
