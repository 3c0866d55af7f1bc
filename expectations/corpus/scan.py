"""Scanned-looking raster versions of a digital invoice PDF.

Real uploads are mostly scans and photos, so the OCR engine must be measured on pixels, not on
text layers. Two variants, both byte-deterministic for a given numpy generator:

* "scan300": a clean office scan — 300 DPI, rotation within ±0.5°, light grey paper, a little
  dust and sensor noise; PNG for one page, multi-page deflate TIFF for more.
* "scan_degraded": a poor scan — 150-200 DPI, rotation within ±2°, blur, Gaussian noise, uneven
  background with a vignette, JPEG quality 55-80; JPEG for one page, an image-only PDF for more.

The noise of the clean variant is sparse on purpose: dense noise makes PNG pages ten times larger
and the committed golden subset must stay small.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageFilter

SCAN300 = "scan300"
SCAN_DEGRADED = "scan_degraded"
VARIANTS = (SCAN300, SCAN_DEGRADED)


@dataclass(frozen=True)
class ScannedDocument:
    data: bytes
    extension: str  # ".png", ".tif", ".jpg" or ".pdf"
    dpi: int


def scan(pdf: bytes, variant: str, rng: np.random.Generator, *, title: str,
         scanned_on: date) -> ScannedDocument:
    """Raster `pdf` as the named variant; `title`/`scanned_on` go into PDF containers."""
    if variant == SCAN300:
        return clean_scan(pdf, rng)
    if variant == SCAN_DEGRADED:
        return degraded_scan(pdf, rng, title=title, scanned_on=scanned_on)
    raise ValueError(f"unknown scan variant {variant!r}; expected one of {VARIANTS}")


def clean_scan(pdf: bytes, rng: np.random.Generator) -> ScannedDocument:
    dpi = 300
    pages = []
    for tone in render_pages(pdf, dpi):
        paper = rng.uniform(236, 246)
        pixels = _compose(tone, paper, ink=rng.uniform(15, 35))
        image = _rotate(_to_image(pixels), rng.uniform(-0.5, 0.5), paper)
        pixels = _dust(np.asarray(image, dtype=np.float32), rng)
        pages.append(_to_image(_sparse_noise(pixels, rng, fraction=0.005, sigma=8)))
    if len(pages) == 1:
        return ScannedDocument(_png(pages[0], dpi), ".png", dpi)
    return ScannedDocument(_tiff(pages, dpi), ".tif", dpi)


def degraded_scan(pdf: bytes, rng: np.random.Generator, *, title: str,
                  scanned_on: date) -> ScannedDocument:
    dpi = int(rng.integers(150, 201))
    quality = int(rng.integers(55, 81))
    pages = []
    for tone in render_pages(pdf, dpi):
        background = _uneven_background(tone.shape, rng)
        pixels = _compose(tone, background, ink=rng.uniform(35, 70))
        image = _rotate(_to_image(pixels), rng.uniform(-2.0, 2.0), float(background.min()))
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(3, 6),
                                                                 (image.height, image.width))
        pages.append(_to_image(noisy))
    if len(pages) == 1:
        return ScannedDocument(_jpeg(pages[0], dpi, quality), ".jpg", dpi)
    return ScannedDocument(_image_pdf(pages, dpi, quality, title, scanned_on), ".pdf", dpi)


def render_pages(pdf: bytes, dpi: int) -> list[np.ndarray]:
    """Grayscale pages as float arrays, 1.0 = white paper, 0.0 = full ink."""
    document = pdfium.PdfDocument(pdf)
    try:
        return [np.asarray(page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L"),
                           dtype=np.float32) / 255.0
                for page in document]
    finally:
        document.close()


def _compose(tone: np.ndarray, paper: np.ndarray | float, ink: float) -> np.ndarray:
    """Map white to the paper tone and black to a not-quite-black ink."""
    return ink + (paper - ink) * tone


def _to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="L")


def _rotate(image: Image.Image, degrees: float, fill: float) -> Image.Image:
    """Skew as a sheet placed slightly askew on the glass; uncovered corners get paper tone."""
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=int(round(fill)))


def _dust(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scattered dark specks of one or two pixels, as dust on the scanner glass leaves."""
    height, width = pixels.shape
    count = int(rng.integers(150, 600))
    ys = rng.integers(0, height - 1, count)
    xs = rng.integers(0, width - 1, count)
    values = rng.uniform(60, 200, count)
    big = rng.random(count) < 0.3
    speckled = pixels.copy()
    speckled[ys, xs] = values
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        speckled[ys[big] + dy, xs[big] + dx] = values[big]
    return speckled


def _sparse_noise(pixels: np.ndarray, rng: np.random.Generator, *, fraction: float,
                  sigma: float) -> np.ndarray:
    mask = rng.random(pixels.shape) < fraction
    noisy = pixels.copy()
    noisy[mask] += rng.normal(0, sigma, int(mask.sum()))
    return noisy


def _uneven_background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Grey paper with a lighting gradient in a random direction and darker corners."""
    height, width = shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys, xs = ys / height - 0.5, xs / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xs + np.sin(angle) * ys) * rng.uniform(10, 30)
    vignette = (xs ** 2 + ys ** 2) * 2 * rng.uniform(15, 35)
    return rng.uniform(212, 236) + gradient - vignette


def _png(image: Image.Image, dpi: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, dpi=(dpi, dpi))
    return buffer.getvalue()


def _tiff(pages: list[Image.Image], dpi: int) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:],
                  compression="tiff_adobe_deflate", dpi=(dpi, dpi))
    return buffer.getvalue()


def _jpeg(image: Image.Image, dpi: int, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, dpi=(dpi, dpi))
    return buffer.getvalue()


def _image_pdf(pages: list[Image.Image], dpi: int, quality: int, title: str,
               scanned_on: date) -> bytes:
    """Pages embedded as JPEG images at their physical size (pixels / DPI), no text layer.

    The dates are fixed to the scan date: Pillow would otherwise stamp the current time.
    """
    buffer = io.BytesIO()
    stamp = scanned_on.timetuple()
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:],
                  resolution=float(dpi), quality=quality, title=title, creator="scanner",
                  creationDate=stamp, modDate=stamp)
    return buffer.getvalue()
