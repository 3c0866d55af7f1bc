"""Generic typesetting blocks on a `Sheet`: label/value pairs, tables, wrapped paragraphs.

These know nothing about invoices. They measure every string with the real font metrics so
that nothing overlaps, values stay on one line, and label and value columns are separated by a
gap of at least three character widths (Tesseract merges columns that sit closer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

from .fonts import FontFamily, text_width
from .sheet import Sheet

MIN_TABLE_SIZE = 6.5  # absolute floor, only to make a header fit
MIN_READABLE_TABLE_SIZE = 7.0
MAX_TABLE_SHRINK = 3.0  # tables may be set this many points below the body text
SHRINK_TO_AVOID_CUTS = 1.0  # ...of which this much only to keep descriptions whole
MIN_LINE_SIZE = 6.0
# Words a shortened description must not end with ("Szkolenie BHP dla" reads as a cut).
_DANGLING_WORDS = frozenset({"-", "i", "z", "w", "na", "do", "dla", "nr", "of", "and", "for",
                             "no.", "the", "a"})


@dataclass(frozen=True)
class Typography:
    """Font family and body size of one invoice."""

    family: FontFamily
    size: float

    def font(self, bold: bool = False) -> str:
        return self.family.bold if bold else self.family.regular

    @property
    def leading(self) -> float:
        return self.size * 1.4

    @property
    def gap(self) -> float:
        """Column gap: three digit widths, at least three average lowercase characters."""
        return text_width("000", self.family.regular, self.size)

    def width(self, text: str, bold: bool = False) -> float:
        return text_width(text, self.font(bold), self.size)

    def scaled(self, size: float) -> Typography:
        return replace(self, size=size)

    def baseline(self, top: float, line: int = 0) -> float:
        """Baseline of the `line`-th line of a block starting at `top`."""
        return top + line * self.leading + self.size


def fit_size(text: str, font: str, size: float, max_width: float) -> float:
    """The largest size ≤ `size` (in quarter points) at which `text` fits `max_width`."""
    width = text_width(text, font, size)
    if width <= max_width:
        return size
    return max(MIN_LINE_SIZE, math.floor(size * max_width / width * 4) / 4)


def shorten(text: str, font: str, size: float, max_width: float) -> str:
    """Drop trailing words until `text` fits on one line, as invoicing programs truncate names."""
    if text_width(text, font, size) <= max_width:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        while len(words) > 1 and words[-1].lower() in _DANGLING_WORDS:
            words.pop()
        candidate = " ".join(words).rstrip(" -,;:")
        if text_width(candidate, font, size) <= max_width:
            return candidate
    while len(text) > 1 and text_width(text, font, size) > max_width:
        text = text[:-1]
    return text


def wrap_text(text: str, font: str, size: float, width: float, mid_word: bool = False
              ) -> list[str]:
    """Lines of `text` no wider than `width`: broken at spaces, and inside a word (no hyphen)
    when `mid_word` is set or a single word is wider than the line."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, font, size) <= width:
            line = candidate
            continue
        if not mid_word and line:
            lines.append(line)
            line, candidate = "", word
            if text_width(word, font, size) <= width:
                line = word
                continue
        # fill the line character by character, carry the rest of the word over
        for char in candidate[len(line):] if line else candidate:
            if line and text_width(line + char, font, size) > width:
                lines.append(line.rstrip())
                line = char.lstrip()
            else:
                line += char
    if line:
        lines.append(line)
    return lines


@dataclass(frozen=True)
class Pair:
    """A label and its value, printed in two columns; `truth_field` is what the value is."""

    label: str
    value: str
    truth_field: str | None = None
    bold: bool = False


def pairs_width(pairs: Sequence[Pair], typo: Typography) -> float:
    return (max(typo.width(pair.label, pair.bold) for pair in pairs) + typo.gap
            + max(typo.width(pair.value, pair.bold) for pair in pairs))


def draw_pairs(sheet: Sheet, x: float, top: float, pairs: Sequence[Pair], typo: Typography, *,
               right: float | None = None) -> float:
    """Labels in one column, values in the next; values right-aligned at `right` if given.

    Returns the block height.
    """
    value_x = x + max(typo.width(pair.label, pair.bold) for pair in pairs) + typo.gap
    for line, pair in enumerate(pairs):
        baseline = typo.baseline(top, line)
        font = typo.font(pair.bold)
        sheet.text(x, baseline, pair.label, font, typo.size)
        if right is None:
            sheet.text(value_x, baseline, pair.value, font, typo.size, truth_field=pair.truth_field)
        else:
            sheet.text(right, baseline, pair.value, font, typo.size, align="right",
                       truth_field=pair.truth_field)
    return len(pairs) * typo.leading


def draw_lines(sheet: Sheet, x: float, top: float, lines: Sequence[tuple[str, bool, str | None]],
               typo: Typography, max_width: float) -> float:
    """Stacked lines (text, bold, truth field), scaled down together until the widest fits."""
    size = min(fit_size(text, typo.font(bold), typo.size, max_width) for text, bold, _ in lines)
    fitted = typo.scaled(size)
    for line, (text, bold, truth_field) in enumerate(lines):
        sheet.text(x, fitted.baseline(top, line), text, fitted.font(bold), size,
                   truth_field=truth_field)
    return len(lines) * fitted.leading


def draw_wrapped(sheet: Sheet, x: float, width: float, text: str, typo: Typography) -> None:
    """A paragraph wrapped at `width`, flowing onto the next page when needed."""
    line = ""
    lines = []
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and typo.width(candidate) > width:
            lines.append(line)
            candidate = word
        line = candidate
    lines.append(line)
    for text_line in lines:
        sheet.ensure(typo.leading)
        sheet.text(x, typo.baseline(sheet.y), text_line, typo.font(), typo.size)
        sheet.advance(typo.leading)


@dataclass(frozen=True)
class Column:
    """Table column; a flexible column takes the width left over and shortens its cells."""

    header: str  # "\n" separates header lines
    align: str = "right"
    flexible: bool = False


@dataclass(frozen=True)
class Row:
    cells: tuple[str, ...]
    bold: bool = False
    truth_fields: tuple[tuple[int, str], ...] = ()  # (column index, truth field) pairs


@dataclass(frozen=True)
class TableLook:
    grid: bool = False  # full cell borders instead of horizontal rules
    header_fill: float | None = None  # gray level behind the header
    zebra: float | None = None  # gray level behind every other body row
    row_factor: float = 1.8  # row height in multiples of the font size
    # A description too long for its cell: "" shortens it, "words" wraps it at spaces, "chars"
    # fills each line and breaks words anywhere without a hyphen (as the KSeF visualiser does).
    wrap: str = ""
    top_align: bool = False  # with wrapped rows, other cells on the first line, not centred


def draw_table(sheet: Sheet, columns: Sequence[Column], rows: Sequence[Row], typo: Typography,
               look: TableLook, *, anchor: str = "left") -> list[tuple[str, ...]]:
    """Draw a table at the cursor, repeating the header on each new page.

    Tables with a flexible column span the sheet width; others take their natural width at the
    `anchor` margin. Returns the cells as printed (flexible cells possibly shortened).
    """
    size, widths = _fit_columns(columns, rows, typo, sheet.width, look)
    x = sheet.right - sum(widths) if anchor == "right" else sheet.left
    table = _Table(sheet, columns, widths, x, typo.scaled(size), look)
    printed = [table.printed_cells(row) for row in rows]
    sheet.ensure(table.header_height + table.row_height)
    table.draw_header()
    for index, (row, cells) in enumerate(zip(rows, printed)):
        if not sheet.fits(table.height_of(cells)):
            table.close()
            sheet.new_page()
            table.draw_header()
        table.draw_row(row, cells, shaded=look.zebra is not None and index % 2 == 1)
    table.close()
    return printed


def _fit_columns(columns: Sequence[Column], rows: Sequence[Row], typo: Typography,
                 width: float, look: TableLook = TableLook()) -> tuple[float, list[float]]:
    """Font size and column widths of a table.

    The font shrinks by up to SHRINK_TO_AVOID_CUTS so that no description gets shortened, and by
    up to MAX_TABLE_SHRINK so that the flexible column gets a third of `width`; past that,
    descriptions are shortened instead. It shrinks further only if the flexible column's header
    would not fit, which would overlap its neighbour.
    """
    size = typo.size
    smallest = max(MIN_READABLE_TABLE_SIZE, typo.size - MAX_TABLE_SHRINK)
    while True:
        fitted = typo.scaled(size)
        natural = [_natural_width(index, column, rows, fitted)
                   for index, column in enumerate(columns)]
        if not any(column.flexible for column in columns):
            return size, natural
        flexible = next(index for index, column in enumerate(columns) if column.flexible)
        room = width - sum(w for w, column in zip(natural, columns) if not column.flexible)
        longest = max(fitted.width(row.cells[flexible], row.bold) for row in rows)
        uncut = room >= longest + fitted.gap or bool(look.wrap)
        wide_enough = room >= width / 3 and (uncut or size <= typo.size - SHRINK_TO_AVOID_CUTS)
        header_fits = room >= natural[flexible]
        if (header_fits and (wide_enough or size <= smallest)) or size <= MIN_TABLE_SIZE:
            return size, [room if column.flexible else w for w, column in zip(natural, columns)]
        size -= 0.25


def _natural_width(index: int, column: Column, rows: Sequence[Row], typo: Typography) -> float:
    texts = [(line, True) for line in column.header.split("\n")]
    if not column.flexible:
        texts += [(row.cells[index], row.bold) for row in rows]
    return max(typo.width(text, bold) for text, bold in texts) + typo.gap


class _Table:
    """Geometry and drawing of one table; the sheet cursor is the top of the next row."""

    def __init__(self, sheet: Sheet, columns: Sequence[Column], widths: Sequence[float],
                 x: float, typo: Typography, look: TableLook) -> None:
        self.sheet, self.columns, self.widths, self.typo, self.look = (sheet, columns, widths,
                                                                       typo, look)
        self.lefts = [x + sum(widths[:index]) for index in range(len(widths))]
        self.x, self.right = x, x + sum(widths)
        self.pad = typo.gap / 2
        self.header_lines = max(len(column.header.split("\n")) for column in columns)
        self.header_height = self.header_lines * typo.size * 1.2 + typo.size * 0.9
        self.row_height = typo.size * look.row_factor

    def printed_cells(self, row: Row) -> tuple[str, ...]:
        font = self.typo.font(row.bold)
        return tuple(shorten(cell, font, self.typo.size, width - 2 * self.pad)
                     if column.flexible and not self.look.wrap else cell
                     for cell, column, width in zip(row.cells, self.columns, self.widths))

    def _lines(self, index: int, cell: str) -> list[str]:
        """A cell's printed lines: one, unless it is the wrapped flexible column."""
        if not (self.look.wrap and self.columns[index].flexible):
            return [cell]
        return wrap_text(cell, self.typo.font(), self.typo.size,
                         self.widths[index] - 2 * self.pad, self.look.wrap == "chars")

    def height_of(self, cells: tuple[str, ...]) -> float:
        lines = max(len(self._lines(index, cell)) for index, cell in enumerate(cells))
        return max(self.row_height, lines * self.typo.size * 1.2 + self.typo.size * 0.9)

    def draw_header(self) -> None:
        sheet, typo, top = self.sheet, self.typo, self.sheet.y
        if self.look.header_fill is not None:
            sheet.rect(self.x, top, self.right - self.x, self.header_height, stroke_gray=None,
                       fill_gray=self.look.header_fill)
        if self.look.grid:
            self._cell_borders(top, self.header_height)
        else:
            sheet.line(self.x, top + self.header_height, self.right, top + self.header_height,
                       width=0.8)
        line_height = typo.size * 1.2
        for column, left, width in zip(self.columns, self.lefts, self.widths):
            lines = column.header.split("\n")
            first = top + (self.header_height - len(lines) * line_height) / 2 + typo.size
            for number, text in enumerate(lines):
                self._cell_text(text, column.align, left, width, first + number * line_height,
                                bold=True)
        sheet.advance(self.header_height)

    def draw_row(self, row: Row, cells: tuple[str, ...], shaded: bool) -> None:
        sheet, top, height = self.sheet, self.sheet.y, self.height_of(cells)
        if shaded:
            sheet.rect(self.x, top, self.right - self.x, height, stroke_gray=None,
                       fill_gray=self.look.zebra)
        if self.look.grid:
            self._cell_borders(top, height)
        elif row.bold:
            sheet.line(self.x, top, self.right, top, width=0.8)
        line_height = self.typo.size * 1.2
        first_line = top + self.typo.size * 0.45 + self.typo.size
        middle = top + height / 2 + self.typo.size * 0.35
        truth = dict(row.truth_fields)
        for index, (cell, column) in enumerate(zip(cells, self.columns)):
            lines = self._lines(index, cell)
            if len(lines) > 1:
                for number, text in enumerate(lines):
                    self._cell_text(text, column.align, self.lefts[index], self.widths[index],
                                    first_line + number * line_height, bold=row.bold)
                continue
            baseline = (first_line if self.look.top_align and height > self.row_height
                        else middle)
            self._cell_text(cell, column.align, self.lefts[index], self.widths[index], baseline,
                            bold=row.bold, truth_field=truth.get(index))
        sheet.advance(height)

    def close(self) -> None:
        if not self.look.grid:
            self.sheet.line(self.x, self.sheet.y, self.right, self.sheet.y, width=0.8)

    def _cell_borders(self, top: float, height: float) -> None:
        for left, width in zip(self.lefts, self.widths):
            self.sheet.rect(left, top, width, height, line_width=0.6)

    def _cell_text(self, text: str, align: str, left: float, width: float, baseline: float, *,
                   bold: bool, truth_field: str | None = None) -> None:
        if not text:
            return
        x = {"left": left + self.pad, "right": left + width - self.pad,
             "center": left + width / 2}[align]
        self.sheet.text(x, baseline, text, self.typo.font(bold), self.typo.size, align=align,
                        truth_field=truth_field)
