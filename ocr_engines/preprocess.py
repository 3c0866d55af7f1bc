"""The second look's image: flat paper, black text, no shading (for pages the first OCR pass
read badly).

On degraded scans of boxed layouts (the KSeF visualisation: grey header cells, thin light rules,
uneven lighting, noise) Tesseract's own binarisation keeps the shading and the rules, and its
layout analysis then drops whole table cells or reads the texture as words. Dividing the page
by an estimate of its paper level and thresholding well below it leaves only the ink: rules and
shading are lighter than text (on ksef-official's degraded scans the rules' darkest pixels sit at about
0.8 of the paper level, text strokes well below 0.55).

The first pass does not use this (on clean scans and on our own corpus it does not help:
``bench/bench_preprocessing.py``); ``tesseract.TesseractEngine`` takes a second look with it
when the first pass leaves expected fields absent or a check fails.

The page image also settles what Tesseract's text cannot: whether the dash between two names is
an en dash or a hyphen (``measure_dashes``, measured in ink).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# Shares of the local paper level: at or below INK_BLACK is ink, at or above INK_WHITE paper
# (rules and shading are lighter than that). Chosen on ksef-official 001-030's degraded scans:
# 0.45/0.78 and 0.55/0.75 read the same header fields, 0.55/0.75 more line items, 0.6/0.7
# fewer; a hard threshold at 0.67 lost the dots of dates.
INK_BLACK, INK_WHITE = 0.55, 0.75


STEP = 4  # the paper level is estimated at quarter size: the lighting varies slowly
BAND = 256  # rows mapped at a time, so that a large page needs little more memory than itself


def paper_level(a: np.ndarray, dpi: int) -> np.ndarray:
    """The brightness of the paper, at quarter size: a grey closing wider than a text stroke,
    smoothed."""
    from scipy import ndimage

    small = a[::STEP, ::STEP].astype(np.float32)
    size = max(3, int(round(dpi / 200 * 15 / STEP)) | 1)  # 15 px at 200 DPI: wider than a stroke
    bg = ndimage.uniform_filter(ndimage.grey_closing(small, size=(size, size)), size * 2 + 1)
    return np.maximum(bg, 1.0)


def ink_only(a: np.ndarray, dpi: int) -> np.ndarray:
    """A greyscale page as ink on white: what is as light as the rules or lighter becomes paper,
    the rest is stretched to full contrast (a hard threshold would also erase the faint dots of
    dates and decimal commas, which blur makes light)."""
    bg = paper_level(a, dpi)
    out = np.empty(a.shape, np.uint8)
    for y0 in range(0, a.shape[0], BAND):  # BAND is a multiple of STEP
        band = a[y0:y0 + BAND].astype(np.float32)
        level = np.repeat(np.repeat(bg[y0 // STEP:(y0 + BAND) // STEP], STEP, axis=0), STEP, axis=1)
        ratio = band / level[:band.shape[0], :band.shape[1]]
        out[y0:y0 + BAND] = (np.clip((ratio - INK_BLACK) / (INK_WHITE - INK_BLACK), 0.0, 1.0) * 255).astype(np.uint8)
    return out


def grey_page(source, frame: int = 0) -> np.ndarray:
    """A page as a greyscale array: one frame of an image file (a Path), or an image in memory (PIL)."""
    from PIL import Image, ImageOps

    if not isinstance(source, Path):
        return np.asarray(ImageOps.grayscale(source))
    with Image.open(source) as im:
        im.seek(frame)
        return np.asarray(ImageOps.grayscale(im))


# ---------------------------------------------------------------- dashes inside words

# Two names joined by one dash ('Polska-Niemcy', 'Kraków-Słupsk'): Tesseract reads an unspaced
# en dash as a hyphen, and only the dash's ink tells them apart (an en dash is about twice as
# long). Polish print joins names in a relation with an en dash and parts of one name with a
# hyphen ('Bielsko-Biała'), which the length tells apart; lower-case compounds take a hyphen
# ('gipsowo-kartonowa', 'on-call'), and in them the length is no help: on our corpus's fonts
# their hyphens measure as long as the visualiser's en dashes.
_DASHED_NAMES = re.compile(r"^[(„]?([^\W\d_]+)-([^\W\d_]{2,})[.,;:)”]?$")


def _dashed(text: str) -> bool:
    """Two capitalised words joined by one dash (not a code such as 'ZwNRafU-Alg' or '2-osobowy')."""
    m = _DASHED_NAMES.match(text)
    return bool(m) and all(part[:1].isupper() and part[1:].islower() for part in m.groups())


def _widest_flat_mark(box: np.ndarray, band_low: float) -> tuple[slice, slice] | None:
    """(rows, columns) of the widest flat ink mark (at least 1.5 times as wide as high, at most a
    quarter of the box's height) whose middle lies in the box's band (band_low, 0.8) of its
    height: a dash's stroke; None when there is none."""
    from scipy import ndimage

    ink = box < (box.min() + np.median(box)) / 2
    height = box.shape[0]
    best = None
    for ys, xs in ndimage.find_objects(ndimage.label(ink)[0]):
        h, w = ys.stop - ys.start, xs.stop - xs.start
        middle = (ys.start + ys.stop) / 2 / height
        if w >= 1.5 * h and h <= 0.25 * height and band_low < middle < 0.8 and (best is None or w > best[1].stop - best[1].start):
            best = (ys, xs)
    return best


def dash_ink_length(grey: np.ndarray, word) -> float | None:
    """The longest flat stroke in the middle band of a word's box, in the word's mean letter
    widths (None when there is none): a dash's length, measured in ink."""
    x0, y0, x1, y1 = (int(round(v)) for v in (word.x0, word.y0, word.x1, word.y1))
    box = grey[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1].astype(np.float32)
    if box.size == 0 or len(word.text) < 3:
        return None
    mark = _widest_flat_mark(box, 0.3)
    return (mark[1].stop - mark[1].start) / ((x1 - x0) / len(word.text)) if mark else None


_LONE_DASHES = ("-", "—", "–")


def _tall_dash(word) -> bool:
    """A lone dash whose box is taller than wide: Tesseract took blur or noise around it into its
    box (a phone photo: 41 px high for a 3 px stroke), so the box's width says nothing of it."""
    return word.text in _LONE_DASHES and (word.y1 - word.y0) > (word.x1 - word.x0)


def tighten_dash_box(grey: np.ndarray, word) -> bool:
    """Set a lone dash's box to its stroke (the widest flat mark in the box's middle band, looked
    for half the box's height beyond its sides too: such a box is often off the stroke), so that
    the spaced-dash rule (``layout.en_dashes``) measures ink, not blur. False when there is no
    such stroke (the box stays as read)."""
    margin = (word.y1 - word.y0) / 2
    x0, y0, x1, y1 = (int(round(v)) for v in (word.x0 - margin, word.y0, word.x1 + margin, word.y1))
    box = grey[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1].astype(np.float32)
    if box.size == 0:
        return False
    mark = _widest_flat_mark(box, 0.2)
    if mark is None:
        return False
    ys, xs = mark
    left, top = max(x0, 0), max(y0, 0)
    word.x0, word.x1, word.y0, word.y1 = left + xs.start, left + xs.stop, top + ys.start, top + ys.stop
    return True


def measure_dashes(source, frame: int, words: list, en_dash_length: float) -> int:
    """Dashes measured in ink, on the page image (``grey_page``: a file, opened only when a page
    has such a word, or a PIL image in memory):

    * the dash of a word joined by one dash reads '–' when its ink is at least ``en_dash_length``
      letter widths long (the threshold of spaced dashes, ``layout``);
    * a lone dash's box that blur made tall is shrunk to its stroke (``tighten_dash_box``), for
      ``layout.en_dashes`` to judge: on 16 tune photos two spaced hyphens read as en dashes
      from boxes 0.70-0.94 letter widths wide around a 0.5-wide stroke.

    Returns how many dashes were changed or measured."""
    dashed = [w for w in words if _dashed(w.text)]
    tall = [w for w in words if _tall_dash(w)]
    if not dashed and not tall:
        return 0
    try:
        grey = grey_page(source, frame)
    except Exception:  # noqa: BLE001 (an image only Tesseract could decode: the dashes stay as read)
        return 0
    changed = 0
    for w in dashed:
        length = dash_ink_length(grey, w)
        if length is not None and length >= en_dash_length:
            w.text = w.text.replace("-", "–")
            changed += 1
    return changed + sum(tighten_dash_box(grey, w) for w in tall)
