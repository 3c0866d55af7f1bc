"""Words with boxes → rows → segments: the geometry every field extractor reads.

Both the PDF text layer and Tesseract produce words with boxes; from there on the extractor is
the same.  A *row* is a set of words on one visual line across the whole page; a *segment* is a
run of words inside a row separated by no more than a normal word space, so side-by-side columns
(seller | buyer, table cells, label | value) become separate segments.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field


@dataclass
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    conf: float = 1.0
    line_key: tuple | None = None  # the OCR engine's own line id, used to measure skew

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class Segment:
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def x0(self) -> float:
        return self.words[0].x0

    @property
    def x1(self) -> float:
        return max(w.x1 for w in self.words)

    @property
    def conf(self) -> float:
        return min(w.conf for w in self.words)


@dataclass
class Row:
    page: int
    words: list[Word]
    segments: list[Segment] = field(default_factory=list)
    ocr: bool = False  # read by OCR (not a PDF text layer): misread corrections apply

    @property
    def text(self) -> str:
        return "  ".join(s.text for s in self.segments)

    @property
    def y0(self) -> float:
        return min(w.y0 for w in self.words)

    @property
    def y1(self) -> float:
        return max(w.y1 for w in self.words)

    @property
    def height(self) -> float:
        return statistics.median(w.height for w in self.words)


def skew_angle(words: list[Word]) -> float:
    """Median slope (radians) of the OCR engine's own text lines; 0 when it cannot tell."""
    lines: dict[tuple, list[Word]] = {}
    for w in words:
        if w.line_key is not None:
            lines.setdefault(w.line_key, []).append(w)
    slopes = []
    for members in lines.values():
        if len(members) < 2:
            continue
        xs = [(w.x0 + w.x1) / 2 for w in members]
        ys = [w.y1 for w in members]  # bottoms follow the baseline better than centres
        span = max(xs) - min(xs)
        if span < 4 * statistics.median(w.height for w in members):
            continue
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        den = sum((x - mx) ** 2 for x in xs)
        if den:
            slopes.append(sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den)
    # Single lines are noisy (descenders, short words); the median over many lines is not.
    return math.atan(statistics.median(slopes)) if len(slopes) >= 5 else 0.0


def deskewed(words: list[Word], angle: float) -> list[Word]:
    """Rotate word boxes by -angle around the origin so that text lines become horizontal."""
    if abs(angle) < 1e-4:
        return words
    cos, sin = math.cos(-angle), math.sin(-angle)
    out = []
    for w in words:
        cx, cy = (w.x0 + w.x1) / 2, w.cy
        nx, ny = cx * cos - cy * sin, cx * sin + cy * cos
        hw, hh = (w.x1 - w.x0) / 2, w.height / 2
        out.append(Word(w.text, nx - hw, ny - hh, nx + hw, ny + hh, w.conf, w.line_key))
    return out


def build_rows(words: list[Word], page: int = 0, gap_factor: float = 2.0) -> list[Row]:
    """Group words into visual rows (top to bottom) and split each row into segments."""
    rows: list[Row] = []
    current: list[Word] = []
    row_cy = row_h = 0.0
    for w in sorted(words, key=lambda w: w.cy):
        if current and abs(w.cy - row_cy) <= 0.5 * max(row_h, w.height):
            current.append(w)
            row_cy = statistics.fmean(x.cy for x in current)
            row_h = statistics.median(x.height for x in current)
            continue
        if current:
            rows.append(_row(current, page, gap_factor))
        current, row_cy, row_h = [w], w.cy, w.height
    if current:
        rows.append(_row(current, page, gap_factor))
    return [row for row in rows if row.segments]


_RULE = re.compile(r"^[|¦\[\]]+$")  # table rules read as characters
_NOISE = re.compile(r"^[_~`'\".,;:—]+$")  # specks and underlines read as punctuation


_UNIT_OR_NUMBER = re.compile(r"^(\d|kg|g|m|mm|cm|l|szt|pcs|h|godz)", re.IGNORECASE)


def _bar_reading(words: list[Word], i: int, row_height: float) -> str | None:
    """What a bar glyph ('|') stands for: None for a table rule, else the '1', 'I' or 'l' misread.

    Tall bars are rules (measured on the KSeF visualiser's scans: rules 1.5-1.7 x the line
    height, letters 1.0). A short bar before a number or unit is a '1' ('| kg'); one that ends
    a run of words is an 'I' ('klasa |'); one right after a number is the litre 'l' ('80 l');
    anything else separates cells.
    """
    bar = words[i]
    if bar.text != "|" or bar.height > 1.3 * row_height:
        return None
    after = words[i + 1] if i + 1 < len(words) else None
    before = words[i - 1] if i else None
    near_after = after is not None and after.x0 - bar.x1 < bar.height
    near_before = before is not None and bar.x0 - before.x1 < bar.height
    if near_after and near_before and _UNIT_OR_NUMBER.match(after.text) and before.text[-1:].isalpha():
        return "1"
    if near_before and before.text[-1:].isalpha() and not near_after:
        return "I"
    if near_before and before.text[-1:].isdigit():
        return "l"  # litres after a quantity ('80 l', '1,5 l (zgrzewka ...)'): a rule is taller
    return None


_DASHES = ("—", "–")

# A spaced dash at least this long, in the row's mean letter widths, is an en dash, not a hyphen.
# Ink lengths read by Tesseract on 200-300 DPI scans: our corpus's hyphens 0.43-0.60 (one of
# 75 at 0.65, one 0.90), the KSeF visualiser's en dashes read as '-' 0.50-1.0, most above 0.7.
EN_DASH_LENGTH = 0.7


def en_dashes(row: Row) -> None:
    """Read a spaced '-' as long as an en dash as '–' ('Abonament hostingowy – kwiecień'): on
    blurred scans Tesseract reads both as '-', and only the length tells them apart (an en
    dash is about twice a hyphen's). Tesseract's em dash is the en dash of Polish print."""
    letters = [w for w in row.words if len(w.text) > 2 and w.text.isalpha()]
    if not letters:
        return
    letter = statistics.median((w.x1 - w.x0) / len(w.text) for w in letters)
    for i, w in enumerate(row.words):
        if w.text == "—":
            w.text = "–"
        elif (w.text == "-" and 0 < i < len(row.words) - 1 and row.words[i - 1].text[-1:].isalnum()
              and row.words[i + 1].text[:1].isalnum() and (w.x1 - w.x0) >= EN_DASH_LENGTH * letter):
            w.text = "–"


def _kept(words: list[Word], i: int) -> bool:
    """Whether word i (words sorted by x) is text, not a speck: punctuation alone is noise, but
    a dash between two words is the dash of a name ('Bóbr – Suwałki')."""
    w = words[i]
    if not _NOISE.match(w.text):
        return True
    if w.text not in _DASHES or i == 0 or i + 1 == len(words):
        return False
    before, after = words[i - 1], words[i + 1]
    near = 1.5 * max(w.height, before.height, after.height)
    return (before.text[-1:].isalnum() and after.text[:1].isalnum()
            and 0 <= w.x0 - before.x1 < near and 0 <= after.x0 - w.x1 < near)


def _row(words: list[Word], page: int, gap_factor: float) -> Row:
    for w in words:
        w.text = w.text.strip("_") or w.text  # underlines and specks glued to a word
    words = sorted(words, key=lambda w: w.x0)
    words = [w for i, w in enumerate(words) if _kept(words, i)]
    if not words:
        return Row(page=page, words=[])
    row = Row(page=page, words=words)
    # Gaps are judged in character widths: glyph-box heights vary with case and font, and a
    # monospaced font's word space is as wide as a proportional font's column gap in ems.
    char_width = statistics.median((w.x1 - w.x0) / len(w.text) for w in words)
    limit = gap_factor * char_width
    # A vertical rule between cells ends the cell like a wide gap does, and is no word itself.
    seg: list[Word] = []
    prev = None
    for i, w in enumerate(words):
        if _RULE.match(w.text):
            reading = _bar_reading(words, i, row.height)
            if reading is None:
                if seg:
                    row.segments.append(Segment(seg))
                seg, prev = [], None
                continue
            w.text = reading
        if seg and prev is not None and w.x0 - prev.x1 > limit:
            row.segments.append(Segment(seg))
            seg = []
        seg.append(w)
        prev = w
    if seg:
        row.segments.append(Segment(seg))
    row.words = [w for s in row.segments for w in s.words]
    return row
