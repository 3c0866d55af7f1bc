"""The second look's image: flat paper, black text, no shading (for pages the first OCR pass
read badly).

On degraded scans of boxed layouts (the KSeF visualisation: grey header cells, thin light rules,
uneven lighting, noise) Tesseract's own binarisation keeps the shading and the rules, and its
layout analysis then drops whole table cells or reads the texture as words. Dividing the page
by an estimate of its paper level and thresholding well below it leaves only the ink: rules and
shading are lighter than text (measured on ksef-official's degraded scans: rules at 0.78-0.82 of
the paper level, shading 0.86-0.94, text strokes below 0.55).

The first pass does not use this (on clean scans and on our own corpus it does not help:
``bench/bench_preprocessing.py``); ``tesseract.TesseractEngine`` takes a second look with it
when the first pass leaves expected fields absent or a check fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Ink is darker than this share of the local paper level (rules and shading are lighter).
INK_LEVEL = 0.67


def paper_level(a: np.ndarray, dpi: int) -> np.ndarray:
    """The brightness of the paper under every pixel: a grey closing wider than a text stroke,
    smoothed, computed at quarter size (the lighting varies slowly)."""
    from scipy import ndimage

    step = 4
    small = a[::step, ::step].astype(np.float32)
    size = max(3, int(round(dpi / 200 * 15 / step)) | 1)  # 15 px at 200 DPI: wider than a stroke
    bg = ndimage.uniform_filter(ndimage.grey_closing(small, size=(size, size)), size * 2 + 1)
    bg = np.repeat(np.repeat(bg, step, axis=0), step, axis=1)[: a.shape[0], : a.shape[1]]
    return np.maximum(bg, 1.0)


def ink_only(a: np.ndarray, dpi: int) -> np.ndarray:
    """A greyscale page as black ink on white."""
    ratio = a.astype(np.float32) / paper_level(a, dpi)
    return np.where(ratio < INK_LEVEL, 0, 255).astype(np.uint8)


def write_ink_only(source: Path, out: Path, frame: int, dpi: int) -> None:
    """``ink_only`` of one frame of an image file, written to ``out`` (PNG)."""
    from PIL import Image, ImageOps

    with Image.open(source) as im:
        im.seek(frame)
        grey = np.asarray(ImageOps.grayscale(im))
    Image.fromarray(ink_only(grey, dpi)).save(out)
