"""The document as the extractor sees it: rows of segments, and where a label's value is.

A label is found in folded text (lower case, no diacritics, tolerant of one OCR slip in a long
word, of words OCR split or joined); its value is where people print it: after the label in the
same cell, in the next cell to the right, or just below.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal

from rapidfuzz.distance import Levenshtein

from .. import labels as L
from ..layout import Row, Segment
from ..normalize import fold
from .values import after_label

CENT = Decimal("0.01")


@dataclass
class Found:
    value: str
    conf: float
    row: int = -1
    guessed: bool = False  # read by shape and place, without a label the lexicon knows


UNLABELLED_CONF = 0.5  # a guessed value's share of the confidence a labelled one would have


@dataclass
class LabelHit:
    row: int
    seg: int
    start: int  # first word index of the label in the segment
    end: int  # first word index after the label
    label: str


def strip_punct(word: str) -> str:
    return word.strip(":;,.()[]").strip()


def words_equal(a: str, b: str) -> bool:
    """Equal, or one OCR slip apart for words long enough that a slip cannot make another word."""
    if a == b:
        return True
    if len(b) < 4 or abs(len(a) - len(b)) > 2:
        return False
    digits_a, digits_b = [ch for ch in a if ch.isdigit()], [ch for ch in b if ch.isdigit()]
    if digits_a and digits_b and digits_a != digits_b:
        return False  # 'Podmiot1' is not 'Podmiot2' (but OCR's 'Podmiotl' is 'Podmiot1'): no other number
    return Levenshtein.normalized_similarity(a, b) >= 0.8


def overlap(a: Segment, b: Segment) -> bool:
    """Whether two cells share some horizontal extent (are in one column)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0


@functools.cache
def _label_words(label: str) -> tuple[str, ...]:
    return tuple(p for p in (strip_punct(w) for w in label.split(" ")) if p)


class InvoiceReader:
    """Reads one invoice (all pages' rows in reading order) into contract fields."""

    def __init__(self, rows: list[Row]):
        self.rows = rows
        # Folded words per segment, punctuation stripped: the form labels are matched against.
        self.folded = [
            [[strip_punct(fold(w.text)) for w in seg.words] for seg in row.segments] for row in rows
        ]

    # ------------------------------------------------------------ label search

    def find_labels(self, candidates: tuple[str, ...], anchored: bool = False) -> list[LabelHit]:
        """Every place a label occurs, in reading order; one hit (the longest label) per place."""
        hits = []
        for r, row in enumerate(self.folded):
            for s, words in enumerate(row):
                starts = [0] if anchored else range(len(words))
                for i in starts:
                    hit = self._label_at(words, i, candidates)
                    if hit and hit[0] in L.GENERIC and not self._generic_ok(words, i, hit[1]):
                        continue
                    if hit:
                        hits.append(LabelHit(r, s, i, i + hit[1], hit[0]))
                        break
        return hits

    @staticmethod
    def _generic_ok(words: list[str], start: int, length: int) -> bool:
        """One-word labels count at a cell start, followed by nothing or by a value that has a
        digit within two words ('Data: 20-03-2025', 'Faktura FV 233/12/2025')."""
        after = start + length
        if any(ch.isalnum() for w in words[:start] for ch in w):
            return False  # not at the start of its cell (specks before it do not count)
        if after == len(words) or any(ch.isdigit() for ch in words[after]):
            return True
        # An identifier prefix ('FV 233/12/2025') may stand between the label and the digits.
        return (len(words[after]) <= 4 and after + 1 < len(words)
                and any(ch.isdigit() for ch in words[after + 1])
                and words[after] not in ("nr", "no", "z", "do"))

    @staticmethod
    def _label_at(words: list[str], i: int, candidates: tuple[str, ...]):
        """(label, words it spans) of the first candidate label starting at word i."""
        for label in candidates:
            parts = _label_words(label)
            # OCR joins words ('Datawystawienia:'): a multi-word label may be one read word.
            joined = "".join(parts)
            if len(parts) > 1 and len(joined) >= 10 and Levenshtein.normalized_similarity(words[i], joined) >= 0.9:
                return label, 1
            if i + len(parts) > len(words):
                continue
            if all(words_equal(words[i + k], p) for k, p in enumerate(parts)):
                return label, len(parts)
            # OCR splits words ('Na bywca', 'N umer'): a one-word label may span two read words.
            if len(parts) == 1 and i + 1 < len(words) and len(parts[0]) >= 5 and words_equal(
                    words[i] + words[i + 1], parts[0]):
                return label, 2
        return None

    def remainder(self, hit: LabelHit) -> str:
        seg = self.rows[hit.row].segments[hit.seg]
        return " ".join(w.text for w in seg.words[hit.end:]).strip(" :")

    def value_texts(self, hit: LabelHit, below: int = 2):
        """Candidate texts for a label's value, nearest first: same cell, right, below."""
        seg = self.rows[hit.row].segments[hit.seg]
        rest = self.remainder(hit)
        if rest:
            # The label found may be the start of a longer one ('Numer faktury' in 'Kolejny numer
            # faktury, nadany w ramach …, który … identyfikuje fakturę: F/7855/08/26'): what ends
            # with a colon is label, so its value is after the colon.
            after = after_label(rest)
            if after:
                yield after, seg.conf, hit.row
            yield rest, seg.conf, hit.row
        for right in self.rows[hit.row].segments[hit.seg + 1:]:
            yield right.text, right.conf, hit.row
        for below_seg, r in self.segments_below(hit.row, seg, below):
            yield below_seg.text, below_seg.conf, r

    def segments_below(self, r: int, anchor: Segment, count: int):
        """Segments in the next rows that overlap the anchor's column."""
        width = max(anchor.x1 - anchor.x0, 1.0)
        for rr in range(r + 1, min(r + 1 + count, len(self.rows))):
            if self.rows[rr].page != self.rows[r].page:
                break
            for seg in self.rows[rr].segments:
                overlap = min(seg.x1, anchor.x1 + width) - max(seg.x0, anchor.x0 - 0.2 * width)
                if overlap > 0:
                    yield seg, rr
                    break

    def first_value(self, candidates, parse, below: int = 2) -> Found | None:
        for hit in self.find_labels(candidates):
            for text, conf, r in self.value_texts(hit, below):
                value = parse(text)
                if value is not None:
                    return Found(value, conf, r)
        return None
