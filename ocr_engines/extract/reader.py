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
    # The edit distance before the digits: most pairs fail it, and it is one call into C.
    if Levenshtein.normalized_similarity(a, b) < 0.8:
        return False
    digits_a, digits_b = [ch for ch in a if ch.isdigit()], [ch for ch in b if ch.isdigit()]
    # 'Podmiot1' is not 'Podmiot2' (but OCR's 'Podmiotl' is 'Podmiot1'): no other number
    return not (digits_a and digits_b and digits_a != digits_b)


def overlap(a: Segment, b: Segment) -> bool:
    """Whether two cells share some horizontal extent (are in one column)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0


@functools.cache
def _label_words(label: str) -> tuple[str, ...]:
    return tuple(p for p in (strip_punct(w) for w in label.split(" ")) if p)


class _Labels:
    """A tuple of candidate labels, indexed for the search: which labels can start at a read word.

    The search asks, at every word of every cell, for the first candidate that starts there; done
    label by label that was the engine's largest cost after Tesseract itself (most of the field
    extraction's CPU time: 94 first-pass reads of the three corpora took 20.4 s, and 5.7 s with
    this index, 2026-12-07). Here a word is
    matched once against the labels of about its length (an OCR slip changes the length by at most
    two; a joined label's by a tenth), the answer kept for the next time the word is read, and only
    the labels that can match are tried, in the candidates' order: the same label is found."""

    _MAX_CACHED = 50_000  # words remembered per tuple of candidates (a long-lived worker reads many)

    def __init__(self, candidates: tuple[str, ...]):
        self.entries = tuple((label, parts, "".join(parts)) for label in candidates for parts in (_label_words(label),))
        self.exact: dict[str, list[int]] = {}  # a label's first word -> the labels starting with it
        self.by_length: dict[int, list[tuple[int, str]]] = {}  # first words of 4+ letters, by length
        self.joined: list[tuple[int, str]] = []  # multi-word labels OCR may read as one word
        self.one_word: dict[int, list[tuple[int, str]]] = {}  # one-word labels OCR may split in two
        self.always = [k for k, (_, parts, _) in enumerate(self.entries) if not parts]
        for k, (_, parts, joined) in enumerate(self.entries):
            if not parts:
                continue
            self.exact.setdefault(parts[0], []).append(k)
            if len(parts[0]) >= 4:
                self.by_length.setdefault(len(parts[0]), []).append((k, parts[0]))
            if len(parts) > 1 and len(joined) >= 10:
                self.joined.append((k, joined))
            if len(parts) == 1 and len(parts[0]) >= 5:
                self.one_word.setdefault(len(parts[0]), []).append((k, parts[0]))
        self._starts: dict[str, tuple[int, ...]] = {}
        self._splits: dict[str, tuple[int, ...]] = {}

    def at(self, words: list[str], i: int) -> tuple[str, int] | None:
        """(label, words it spans) of the first candidate starting at word i."""
        word = words[i]
        possible = self.starting(word)
        if i + 1 < len(words) and self.one_word:
            possible = sorted({*possible, *self.split(word + words[i + 1])})
        if self.always:
            possible = sorted({*possible, *self.always})
        for k in possible:
            label, parts, joined = self.entries[k]
            n = len(parts)
            # OCR joins words ('Datawystawienia:'): a multi-word label may be one read word.
            if n > 1 and len(joined) >= 10 and Levenshtein.normalized_similarity(word, joined) >= 0.9:
                return label, 1
            if i + n > len(words):
                continue
            if all(words_equal(words[i + j], p) for j, p in enumerate(parts)):
                return label, n
            # OCR splits words ('Na bywca', 'N umer'): a one-word label may span two read words.
            if n == 1 and i + 1 < len(words) and len(parts[0]) >= 5 and words_equal(word + words[i + 1], parts[0]):
                return label, 2
        return None

    def starting(self, word: str) -> tuple[int, ...]:
        """The labels whose first word is ``word`` (``words_equal``) or that OCR read as it, joined."""
        found = self._starts.get(word)
        if found is None:
            size = len(word)
            ks = set(self.exact.get(word, ()))
            for length in range(max(size - 2, 4), size + 3):
                ks.update(k for k, first in self.by_length.get(length, ()) if words_equal(word, first))
            ks.update(k for k, joined in self.joined if abs(size - len(joined)) * 10 <= max(size, len(joined))
                      and Levenshtein.normalized_similarity(word, joined) >= 0.9)
            found = tuple(sorted(ks))
            if len(self._starts) >= self._MAX_CACHED:
                self._starts.clear()
            self._starts[word] = found
        return found

    def split(self, two_words: str) -> tuple[int, ...]:
        """The one-word labels that two read words joined together make ('Na bywca')."""
        found = self._splits.get(two_words)
        if found is None:
            size = len(two_words)
            found = tuple(k for length in range(size - 2, size + 3) for k, word in self.one_word.get(length, ())
                          if words_equal(two_words, word))
            if len(self._splits) >= self._MAX_CACHED:
                self._splits.clear()
            self._splits[two_words] = found
        return found


@functools.cache
def _indexed(candidates: tuple[str, ...]) -> _Labels:
    return _Labels(candidates)


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
        labels = _indexed(candidates)
        for r, row in enumerate(self.folded):
            for s, words in enumerate(row):
                starts = [0] if anchored else range(len(words))
                for i in starts:
                    hit = labels.at(words, i)
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
        return _indexed(candidates).at(words, i)

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
