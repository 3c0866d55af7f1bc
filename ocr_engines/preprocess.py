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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Shares of the local paper level: at or below INK_BLACK is ink, at or above INK_WHITE paper
# (rules and shading are lighter than that).
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


def write_ink_only(source: Path, out: Path, frame: int, dpi: int) -> None:
    """``ink_only`` of one frame of an image file, written to ``out`` (PNG)."""
    from PIL import Image, ImageOps

    with Image.open(source) as im:
        im.seek(frame)
        grey = np.asarray(ImageOps.grayscale(im))
    Image.fromarray(ink_only(grey, dpi)).save(out)
