"""Capture conditions: a digital invoice PDF as people really upload it.

scan.py makes office scans; this module makes the other things that arrive: a scan fed in the
wrong way round, a phone photo of the page on a desk, a fax, and a scan of a paper that was
stamped and signed. Every output is byte-deterministic for a given numpy generator, and every
document's drawn parameters are returned as a plain dict so a manifest can carry them.

Conditions (`CONDITIONS`):

* "rotated": a clean office scan (as `scan.clean_scan`: light grey paper, dust, sparse noise)
  whose every page is turned 90, 180 or 270 degrees clockwise (a lossless transpose, drawn per
  page), after a small skew. PNG for one page, deflate TIFF for more.
* "photo": a phone photo of each page lying on a desk: light paper on a wood-like or
  fabric-like texture of a random colour, a perspective warp (a camera tilted by `tilt_deg`
  from straight down, towards a random direction, pinhole with a 26 mm-equivalent lens, plus a
  rotation in the page's plane), a lighting gradient, a soft shadow (of the phone or a hand) and
  a faint drop shadow of the sheet, blur, colour sensor noise, JPEG. The page fills 55-85 % of the
  frame and its four corners are always inside it (`page_corners_px` records them, per page).
  JPEG for one page (tagged 72 dpi, as phones do), an image-only PDF for more (at the
  effective page resolution). `ScannedDocument.dpi` is the effective resolution of the page.
* "fax": a bilevel fax page: 200x100 dpi ("standard" resolution: the page is squashed to half
  height and stored that way, DPI tag (200, 100)) or 150 dpi square, a hard threshold, salt and
  pepper noise, dropout rows (a white missing scan line, a black streak or a repeated line),
  slight skew. Group 4 TIFF, multi-page for several pages. `ScannedDocument.dpi` is the
  horizontal resolution.
* "stamped": a light colour scan (RGB) with a rubber stamp on the first page and a blue
  ballpoint signature on the last. The stamp is rectangular or round, reads "ZAPŁACONO" and/or
  the block of another company (a made-up name, address and a valid NIP that is neither party's
  NIP nor any other 10-digit number printed on the invoice), inked red, blue or violet with an
  uneven, partly transparent density (multiplied over the print), rotated, and placed over the
  seller block at the top of the page (`placement` "seller") or over other printed text
  ("text"). The signature is a smooth random scribble, 1.5-3 px wide, dark blue, across printed
  text near the bottom of the content. PNG for one page, deflate TIFF for more.

Parameter ranges (`PARAMETER_RANGES[condition][split]`): a tuple ``(low, high)`` is a
continuous range (integers: both ends included), a list is a set of choices. The "tune" and
"heldout" splits are disjoint in every continuous parameter that makes a page harder, so a
method tuned on "tune" is measured on conditions it has not seen:

=========  ==========================  ===========================  ===========================
condition  parameter                   tune                         heldout
=========  ==========================  ===========================  ===========================
rotated    dpi                         300                          200
rotated    skew_abs_deg                0-0.5                        0.5-1.5
rotated    turn_cw_deg (per page)      90, 180, 270                 90, 180, 270
photo      tilt_deg                    0-3                          3-8
photo      roll_abs_deg (in plane)     0-3                          3-6
photo      page_fill (area share)      0.68-0.85                    0.55-0.68
photo      long_side_px                3000-4000                    2000-2999
photo      jpeg_quality                80-90                        70-79
photo      blur_sigma_px               0.4-0.9                      0.9-1.6
photo      noise_sigma                 1.5-3.5                      3.5-7
photo      shading (gradient depth)    0.05-0.15                    0.15-0.30
photo      shadow (darkening)          0.10-0.25                    0.25-0.45
photo      background                  wood, fabric                 wood, fabric
fax        resolution                  200x100                      150x150
fax        threshold (tone, 0-1)       0.50-0.58                    0.40-0.50
fax        salt_pepper (pixel share)   0.0001-0.0008                0.0008-0.003
fax        dropout_rows                0-2                          3-8
fax        skew_abs_deg                0-0.6                        0.6-1.5
stamped    dpi                         250, 300                     200, 240
stamped    ink                         red, blue                    violet
stamped    ink_density                 0.55-0.75                    0.75-0.95
stamped    stamp_width_mm              38-52                        52-70
stamped    stamp_rotation_abs_deg      1-6                          6-12
stamped    over_seller (probability)   0.5                          0.5
stamped    signature_width_px          1.5-3.0                      1.5-3.0
=========  ==========================  ===========================  ===========================

Entry points: `capture_pages_from_pdf` for any digital PDF (the benchmark uses it on external
PDFs) and `generate_capture_corpus` for the seeded corpus: invoice ``i`` is the invoice
`generate_corpus` makes as number ``i``; the tune split takes invoices 1..count and the held-out
split 1001..1000+count, so the two never share an invoice.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import random
import re
from datetime import date
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont
from stdnum.pl import nip as stdnum_nip

from . import formatting
from .fonts import DEJAVU_SANS, FONT_ROOT
from .generate import DEFAULT_SEED, DIGITAL, _to_json, allocate
from .layouts import render_invoice
from .model import _nip, _polish_address, _polish_company, build_invoice, derive_seed
from .scan import (ScannedDocument, _compose, _dust, _image_pdf, _jpeg, _png, _rotate,
                   _sparse_noise, _tiff, _to_image, render_pages)

ROTATED = "rotated"
PHOTO = "photo"
FAX = "fax"
STAMPED = "stamped"
CONDITIONS = (ROTATED, PHOTO, FAX, STAMPED)
TUNE = "tune"
HELDOUT = "heldout"
SPLITS = (TUNE, HELDOUT)
SPLIT_INDEX_OFFSET = {TUNE: 0, HELDOUT: 1000}
GENERATOR = "expectations.corpus.capture"

PARAMETER_RANGES: dict[str, dict[str, dict]] = {
    ROTATED: {
        TUNE: {"dpi": [300], "skew_abs_deg": (0.0, 0.5), "turn_cw_deg": [90, 180, 270],
               "paper": (236.0, 246.0), "ink": (15.0, 35.0)},
        HELDOUT: {"dpi": [200], "skew_abs_deg": (0.5, 1.5), "turn_cw_deg": [90, 180, 270],
                  "paper": (236.0, 246.0), "ink": (15.0, 35.0)},
    },
    PHOTO: {
        TUNE: {"tilt_deg": (0.0, 3.0), "roll_abs_deg": (0.0, 3.0), "page_fill": (0.68, 0.85),
               "long_side_px": (3000, 4000), "jpeg_quality": (80, 90),
               "blur_sigma_px": (0.4, 0.9), "noise_sigma": (1.5, 3.5),
               "shading": (0.05, 0.15), "shadow": (0.10, 0.25),
               "background": ["wood", "fabric"]},
        HELDOUT: {"tilt_deg": (3.0, 8.0), "roll_abs_deg": (3.0, 6.0), "page_fill": (0.55, 0.68),
                  "long_side_px": (2000, 2999), "jpeg_quality": (70, 79),
                  "blur_sigma_px": (0.9, 1.6), "noise_sigma": (3.5, 7.0),
                  "shading": (0.15, 0.30), "shadow": (0.25, 0.45),
                  "background": ["wood", "fabric"]},
    },
    FAX: {
        TUNE: {"resolution": ["200x100"], "threshold": (0.50, 0.58),
               "salt_pepper": (0.0001, 0.0008), "dropout_rows": (0, 2),
               "skew_abs_deg": (0.0, 0.6), "blur_sigma_px": (0.3, 0.6)},
        HELDOUT: {"resolution": ["150x150"], "threshold": (0.40, 0.50),
                  "salt_pepper": (0.0008, 0.003), "dropout_rows": (3, 8),
                  "skew_abs_deg": (0.6, 1.5), "blur_sigma_px": (0.3, 0.6)},
    },
    STAMPED: {
        TUNE: {"dpi": [250, 300], "ink": ["red", "blue"], "ink_density": (0.55, 0.75),
               "stamp_width_mm": (38.0, 52.0), "stamp_rotation_abs_deg": (1.0, 6.0),
               "shape": ["rect", "round"], "text": ["paid", "company", "paid_company"],
               "over_seller": 0.5, "signature_width_px": (1.5, 3.0)},
        HELDOUT: {"dpi": [200, 240], "ink": ["violet"], "ink_density": (0.75, 0.95),
                  "stamp_width_mm": (52.0, 70.0), "stamp_rotation_abs_deg": (6.0, 12.0),
                  "shape": ["rect", "round"], "text": ["paid", "company", "paid_company"],
                  "over_seller": 0.5, "signature_width_px": (1.5, 3.0)},
    },
}

_INKS = {"red": (196, 32, 44), "blue": (34, 62, 178), "violet": (112, 44, 150)}
_PEN_BLUE = (22, 34, 118)
_SELLER_LABELS = ("Sprzedawca", "Sprzedający", "Seller", "Supplier", "Wystawca", "Dostawca",
                  "Usługodawca", "Wykonawca", "Podmiot1", "Vendor", "Provider", "Sold by",
                  "Payee")
_DEFAULT_SCAN_DATE = date(2026, 1, 2)


def capture_pages_from_pdf(pdf_bytes: bytes, condition: str, rng: np.random.Generator,
                           split: str = TUNE, *, title: str = "capture",
                           scanned_on: date | None = None, seller_hint: str | None = None,
                           avoid_tax_ids: Sequence[str] = ()) -> tuple[ScannedDocument, dict]:
    """Raster any digital PDF as `condition` with parameters drawn from `split`'s ranges.

    Returns the document and the drawn parameters (JSON-ready). `title`/`scanned_on` go into PDF
    containers. For "stamped", `seller_hint` (e.g. the seller's name) helps find the seller block
    (else a seller label such as "Sprzedawca" is looked for, else the top of the page), and the
    stamp's NIP avoids `avoid_tax_ids` and every 10-digit number in the PDF's text layer.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown capture condition {condition!r}; expected one of {CONDITIONS}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    ranges = PARAMETER_RANGES[condition][split]
    scanned_on = scanned_on or _DEFAULT_SCAN_DATE
    if condition == ROTATED:
        return rotated_capture(pdf_bytes, rng, ranges)
    if condition == PHOTO:
        return photo_capture(pdf_bytes, rng, ranges, title=title, scanned_on=scanned_on)
    if condition == FAX:
        return fax_capture(pdf_bytes, rng, ranges)
    return stamped_capture(pdf_bytes, rng, ranges, seller_hint=seller_hint,
                           avoid_tax_ids=avoid_tax_ids)


# --- drawing parameters ----------------------------------------------------------------------

def _uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(rng.uniform(span[0], span[1]))


def _integer(rng: np.random.Generator, span: tuple[int, int]) -> int:
    return int(rng.integers(span[0], span[1] + 1))


def _choice(rng: np.random.Generator, values: list):
    return values[int(rng.integers(len(values)))]


def _signed(rng: np.random.Generator, span: tuple[float, float]) -> float:
    magnitude = _uniform(rng, span)
    return magnitude if rng.random() < 0.5 else -magnitude


def ranges_for_manifest(ranges: dict) -> dict:
    """`PARAMETER_RANGES[c][s]` in JSON: {"min", "max"} for ranges, {"choices"} for sets."""
    out = {}
    for name, value in ranges.items():
        if isinstance(value, tuple):
            out[name] = {"min": value[0], "max": value[1]}
        elif isinstance(value, list):
            out[name] = {"choices": value}
        else:
            out[name] = value
    return out


# --- rotated -----------------------------------------------------------------------------------

_TRANSPOSE_CW = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                 270: Image.Transpose.ROTATE_90}  # PIL's ROTATE_n turns counter-clockwise


def rotated_capture(pdf: bytes, rng: np.random.Generator, ranges: dict
                    ) -> tuple[ScannedDocument, dict]:
    dpi = int(_choice(rng, ranges["dpi"]))
    skew = _signed(rng, ranges["skew_abs_deg"])
    paper = _uniform(rng, ranges["paper"])
    ink = _uniform(rng, ranges["ink"])
    pages, turns = [], []
    for tone in render_pages(pdf, dpi):
        turn = int(_choice(rng, ranges["turn_cw_deg"]))
        image = _rotate(_to_image(_compose(tone, paper, ink)), skew, paper)
        pixels = _dust(np.asarray(image, dtype=np.float32), rng)
        image = _to_image(_sparse_noise(pixels, rng, fraction=0.005, sigma=8))
        pages.append(image.transpose(_TRANSPOSE_CW[turn]))
        turns.append(turn)
    params = {"dpi": dpi, "skew_deg": round(skew, 4), "turn_cw_deg": turns,
              "paper": round(paper, 2), "ink": round(ink, 2)}
    if len(pages) == 1:
        return ScannedDocument(_png(pages[0], dpi), ".png", dpi), params
    return ScannedDocument(_tiff(pages, dpi), ".tif", dpi), params


# --- fax -------------------------------------------------------------------------------------

def fax_capture(pdf: bytes, rng: np.random.Generator, ranges: dict
                ) -> tuple[ScannedDocument, dict]:
    resolution = _choice(rng, ranges["resolution"])
    x_dpi, y_dpi = (int(part) for part in resolution.split("x"))
    threshold = _uniform(rng, ranges["threshold"])
    salt_pepper = _uniform(rng, ranges["salt_pepper"])
    skew = _signed(rng, ranges["skew_abs_deg"])
    blur = _uniform(rng, ranges["blur_sigma_px"])
    pages, dropouts = [], []
    for tone in render_pages(pdf, x_dpi):
        image = _rotate(_to_image(tone * 255.0), skew, 255)
        image = image.filter(ImageFilter.GaussianBlur(blur))
        if y_dpi != x_dpi:  # the fax samples every other line: average pairs of rows
            image = image.reduce((1, x_dpi // y_dpi))
        black = np.asarray(image, dtype=np.float32) / 255.0 < threshold
        flips = rng.random(black.shape) < salt_pepper
        black ^= flips
        rows = []
        for _ in range(_integer(rng, ranges["dropout_rows"])):
            row = int(rng.integers(1, black.shape[0]))
            kind = _choice(rng, ["white", "black", "repeat"])
            height = int(rng.integers(1, 3))
            if kind == "white":
                black[row:row + height] = False
            elif kind == "black":
                start = int(rng.integers(0, black.shape[1] // 2))
                end = int(rng.integers(start + black.shape[1] // 4, black.shape[1] + 1))
                black[row:row + height, start:end] = True
            else:
                black[row:row + height] = black[row - 1]
            rows.append({"row": row, "height": height, "kind": kind})
        dropouts.append(rows)
        pages.append(Image.fromarray(np.where(black, 0, 255).astype(np.uint8), mode="L")
                     .convert("1", dither=Image.Dither.NONE))
    params = {"resolution": resolution, "dpi": [x_dpi, y_dpi], "threshold": round(threshold, 4),
              "salt_pepper": round(salt_pepper, 6), "skew_deg": round(skew, 4),
              "blur_sigma_px": round(blur, 3), "dropout_rows": [len(r) for r in dropouts],
              "dropouts": dropouts}
    buffer = io.BytesIO()
    pages[0].save(buffer, format="TIFF", save_all=True, append_images=pages[1:],
                  compression="group4", dpi=(x_dpi, y_dpi))
    return ScannedDocument(buffer.getvalue(), ".tif", x_dpi), params


# --- photo -----------------------------------------------------------------------------------

def photo_capture(pdf: bytes, rng: np.random.Generator, ranges: dict, *, title: str,
                  scanned_on: date) -> tuple[ScannedDocument, dict]:
    tilt = _uniform(rng, ranges["tilt_deg"])
    tilt_direction = float(rng.uniform(0, 360))
    roll = _signed(rng, ranges["roll_abs_deg"])
    fill = _uniform(rng, ranges["page_fill"])
    long_side = _integer(rng, ranges["long_side_px"])
    quality = _integer(rng, ranges["jpeg_quality"])
    blur = _uniform(rng, ranges["blur_sigma_px"])
    noise = _uniform(rng, ranges["noise_sigma"])
    shading = _uniform(rng, ranges["shading"])
    shadow = _uniform(rng, ranges["shadow"])
    background = _choice(rng, ranges["background"])
    placement = (float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.15, 0.85)))
    paper_level = float(rng.uniform(208, 240))
    paper = np.array([paper_level, paper_level - rng.uniform(0, 4),
                      paper_level - rng.uniform(3, 10)], dtype=np.float32)
    ink = float(rng.uniform(20, 40))
    white_balance = (1 + rng.normal(0, 0.025, 3)).astype(np.float32)

    sizes = _page_sizes(pdf)
    geometry = []
    for width_pt, height_pt in sizes:
        frame = ((long_side * 3 // 4, long_side) if height_pt >= width_pt
                 else (long_side, long_side * 3 // 4))
        geometry.append((frame, _photo_quad((width_pt, height_pt), frame, tilt, tilt_direction,
                                            roll, fill, placement, focal=0.72 * long_side)))
    render_dpi = max(72 * max(_edge_lengths(quad)) / max(size) * 1.05
                     for (_, (quad, _)), size in zip(geometry, sizes))
    render_dpi = int(math.ceil(min(render_dpi, 600)))
    images, corners, fills = [], [], []
    for tone, ((frame, (quad, actual_fill))) in zip(render_pages(pdf, render_dpi), geometry):
        images.append(_photograph(tone, frame, quad, rng, paper=paper, ink=ink,
                                  background=background, shading=shading, shadow=shadow,
                                  blur=blur, noise=noise, white_balance=white_balance))
        corners.append([[round(float(x), 1), round(float(y), 1)] for x, y in quad])
        fills.append(round(actual_fill, 4))
    effective_dpi = int(round(72 * float(np.mean(_edge_lengths(geometry[0][1][0])))
                              / float(np.mean(sizes[0]))))
    params = {"tilt_deg": round(tilt, 4), "tilt_direction_deg": round(tilt_direction, 2),
              "roll_deg": round(roll, 4), "page_fill": round(fill, 4), "page_fill_actual": fills,
              "long_side_px": long_side, "frame_px": [list(frame) for frame, _ in geometry],
              "jpeg_quality": quality, "blur_sigma_px": round(blur, 3),
              "noise_sigma": round(noise, 3), "shading": round(shading, 4),
              "shadow": round(shadow, 4), "background": background,
              "paper": [round(float(v), 1) for v in paper], "effective_dpi": effective_dpi,
              "page_corners_px": corners}
    if len(images) == 1:
        return ScannedDocument(_jpeg(images[0], 72, quality), ".jpg", effective_dpi), params
    return (ScannedDocument(_image_pdf(images, effective_dpi, quality, title, scanned_on), ".pdf",
                            effective_dpi), params)


def _page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [tuple(page.get_size()) for page in document]
    finally:
        document.close()


def _edge_lengths(quad: np.ndarray) -> list[float]:
    return [float(np.hypot(*(quad[(i + 1) % 4] - quad[i]))) for i in range(4)]


def _polygon_area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _photo_quad(page: tuple[float, float], frame: tuple[int, int], tilt_deg: float,
                direction_deg: float, roll_deg: float, fill: float,
                placement: tuple[float, float], focal: float) -> tuple[np.ndarray, float]:
    """Where a camera tilted `tilt_deg` sees the page's corners (TL, TR, BR, BL), in frame px.

    A pinhole camera looks at the sheet; the sheet is turned `roll_deg` in its plane and tilted
    about an axis in the direction `direction_deg`. The projection is scaled so the page covers
    `fill` of the frame and placed at `placement` of the free room; if it would not fit inside
    the frame with a margin it is made smaller (the returned fill is the actual one).
    """
    frame_w, frame_h = frame
    width, height = page
    corners = np.array([[-width / 2, -height / 2], [width / 2, -height / 2],
                        [width / 2, height / 2], [-width / 2, height / 2]])
    roll = math.radians(roll_deg)
    turn = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    points = np.column_stack([corners @ turn.T, np.zeros(4)])
    axis = np.array([math.cos(math.radians(direction_deg)), math.sin(math.radians(direction_deg)),
                     0.0])
    points = points @ _axis_rotation(axis, math.radians(tilt_deg)).T
    distance = focal * math.sqrt(width * height / (fill * frame_w * frame_h))
    projected = focal * points[:, :2] / (distance + points[:, 2:3])
    area = _polygon_area(projected)
    projected *= math.sqrt(fill * frame_w * frame_h / area)
    margin = 0.02 * min(frame)
    span = projected.max(axis=0) - projected.min(axis=0)
    room = np.array([frame_w, frame_h]) - 2 * margin
    shrink = min(1.0, float(np.min(room / span)))
    projected *= shrink
    span = span * shrink
    low = projected.min(axis=0)
    offset = margin + (room - span) * np.array(placement) - low
    return projected + offset, fill * shrink * shrink


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation matrix about the unit vector `axis`."""
    x, y, z = axis
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def _photograph(tone: np.ndarray, frame: tuple[int, int], quad: np.ndarray,
                rng: np.random.Generator, *, paper: np.ndarray, ink: float, background: str,
                shading: float, shadow: float, blur: float, noise: float,
                white_balance: np.ndarray) -> Image.Image:
    width, height = frame
    page = _compose(tone[..., None], paper[None, None, :], ink)
    page = np.clip(page, 0, 255).astype(np.uint8)
    source = np.array([[0, 0], [tone.shape[1], 0], [tone.shape[1], tone.shape[0]],
                       [0, tone.shape[0]]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, quad.astype(np.float32))
    warped = cv2.warpPerspective(page, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(np.ones(tone.shape, np.float32), matrix, (width, height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
    desk = _desk(rng, (height, width), background)
    # The sheet lifts a little off the desk: a faint shadow just outside its edges.
    small = cv2.resize(mask, (width // 8, height // 8), interpolation=cv2.INTER_AREA)
    shift = np.float32([[1, 0, rng.uniform(-2, 2)], [0, 1, rng.uniform(0.5, 2.5)]])
    drop = cv2.GaussianBlur(cv2.warpAffine(small, shift, small.shape[::-1]), (0, 0), 2.0)
    drop = cv2.resize(drop, (width, height), interpolation=cv2.INTER_LINEAR)
    desk *= (1 - rng.uniform(0.25, 0.45) * drop)[..., None]
    frame_pixels = desk * (1 - mask[..., None]) + warped.astype(np.float32) * mask[..., None]
    del desk, warped, drop
    frame_pixels *= _lighting(rng, (height, width), shading, shadow)[..., None]
    frame_pixels *= white_balance[None, None, :]
    frame_pixels = cv2.GaussianBlur(frame_pixels, (0, 0), blur)
    frame_pixels += rng.standard_normal(frame_pixels.shape, dtype=np.float32) * np.float32(noise)
    return Image.fromarray(np.clip(np.rint(frame_pixels), 0, 255).astype(np.uint8), mode="RGB")


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: tuple[float, float]
                  ) -> np.ndarray:
    """Gaussian noise on a coarse (cell_y x cell_x px) grid, interpolated up to `shape`."""
    height, width = shape
    coarse = rng.standard_normal((max(2, int(height / cell[0]) + 2),
                                  max(2, int(width / cell[1]) + 2)), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _desk(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    """A desk surface: wood grain or woven fabric, in a random colour (float RGB)."""
    height, width = shape
    if kind == "wood":
        hue, saturation, value = rng.uniform(15, 42), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.7)
        vertical = bool(rng.random() < 0.5)
        h, w = (width, height) if vertical else (height, width)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = np.float32(rng.uniform(-0.08, 0.08))
        across = ys * np.cos(angle) - xs * np.sin(angle)
        across += _smooth_noise(rng, (h, w), (rng.uniform(150, 350), rng.uniform(300, 700))) \
            * np.float32(rng.uniform(10, 30))
        period = np.float32(rng.uniform(14, 40))
        grain = np.sin(across * np.float32(2 * np.pi) / period) ** 2
        fibres = _smooth_noise(rng, (h, w), (1.5, rng.uniform(40, 120)))
        board = np.float32(rng.uniform(0.18, 0.35) * h)
        seams = np.exp(-((across % board) ** 2) / 4.0).astype(np.float32)
        texture = (0.45 * grain + 0.18 * fibres - 0.9 * seams
                   + 0.25 * _smooth_noise(rng, (h, w), (200, 200)))
        if vertical:
            texture = np.ascontiguousarray(texture.T)
        contrast = np.float32(rng.uniform(0.10, 0.20))
    else:
        hue, saturation, value = rng.uniform(0, 360), rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.65)
        period = rng.uniform(3.0, 6.0)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        rows = rng.standard_normal(height).astype(np.float32)[:, None]
        cols = rng.standard_normal(width).astype(np.float32)[None, :]
        weave = (np.sin(xs * np.float32(2 * np.pi / period))
                 * np.sin(ys * np.float32(2 * np.pi / period)))
        texture = (0.5 * weave + 0.25 * (rows + cols)
                   + 0.5 * _smooth_noise(rng, (height, width), (120, 120)))
        contrast = np.float32(rng.uniform(0.08, 0.16))
    base = np.array(_hsv_to_rgb(hue, saturation, value), dtype=np.float32) * 255
    texture = texture.astype(np.float32)
    return base[None, None, :] * (1 + contrast * texture[..., None])


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> tuple[float, float, float]:
    sector = (hue % 360) / 60
    chroma = value * saturation
    second = chroma * (1 - abs(sector % 2 - 1))
    r, g, b = [(chroma, second, 0), (second, chroma, 0), (0, chroma, second),
               (0, second, chroma), (second, 0, chroma), (chroma, 0, second)][int(sector) % 6]
    low = value - chroma
    return r + low, g + low, b + low


def _lighting(rng: np.random.Generator, shape: tuple[int, int], shading: float,
              shadow: float) -> np.ndarray:
    """Multiplicative light: a linear gradient of depth `shading` and a soft blob of shadow."""
    height, width = shape
    small_h, small_w = max(8, height // 8), max(8, width // 8)
    ys, xs = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    ys, xs = ys / small_h - 0.5, xs / small_w - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xs + np.sin(angle) * ys) * 2  # -1..1 across the frame
    light = 1 - shading * (gradient + 1) / 2
    blob = np.zeros((small_h, small_w), np.float32)
    edge = int(rng.integers(4))
    along = rng.uniform(0.1, 0.9)
    centre = [(along * small_w, 0), (small_w, along * small_h), (along * small_w, small_h),
              (0, along * small_h)][edge]
    axes = (int(rng.uniform(0.25, 0.5) * small_w), int(rng.uniform(0.2, 0.45) * small_h))
    cv2.ellipse(blob, (int(centre[0]), int(centre[1])), axes, float(rng.uniform(0, 180)), 0, 360,
                1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), 0.06 * max(small_h, small_w))
    light *= 1 - shadow * blob
    return cv2.resize(light.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


# --- stamped ---------------------------------------------------------------------------------

def stamped_capture(pdf: bytes, rng: np.random.Generator, ranges: dict, *,
                    seller_hint: str | None = None, avoid_tax_ids: Sequence[str] = ()
                    ) -> tuple[ScannedDocument, dict]:
    dpi = int(_choice(rng, ranges["dpi"]))
    ink_name = _choice(rng, ranges["ink"])
    ink = np.array(_INKS[ink_name], dtype=np.float32) + rng.normal(0, 8, 3).astype(np.float32)
    density = _uniform(rng, ranges["ink_density"])
    width_mm = _uniform(rng, ranges["stamp_width_mm"])
    rotation = _signed(rng, ranges["stamp_rotation_abs_deg"])
    shape = _choice(rng, ranges["shape"])
    text_kind = _choice(rng, ranges["text"])
    over_seller = bool(rng.random() < ranges["over_seller"])
    signature_width = _uniform(rng, ranges["signature_width_px"])
    paper = np.array([rng.uniform(238, 248), 0, 0], dtype=np.float32)
    paper[1] = paper[0] - rng.uniform(0, 3)
    paper[2] = paper[0] - rng.uniform(2, 7)
    print_ink = float(rng.uniform(18, 36))

    text, seller_box = _text_layer(pdf, seller_hint)
    avoid = set(avoid_tax_ids) | set(re.findall(r"\d{10}", re.sub(r"(?<=\d)[- ](?=\d)", "", text)))
    company = _stamp_company(random.Random(int(rng.integers(2 ** 63))), avoid, text)
    tones = render_pages(pdf, dpi)
    pages = [_compose(tone[..., None], paper[None, None, :], print_ink) for tone in tones]

    stamp = _stamp_mask(rng, shape, text_kind, company, int(round(width_mm / 25.4 * dpi)),
                        rotation)
    printed = (["paid"] if "paid" in text_kind else []) + (
        ["name", "address", "nip"] if text_kind != "paid" else
        ["name", "address"] if shape == "round" else [])
    first = tones[0]
    if over_seller and seller_box is not None:
        left, top = (value * dpi / 72 for value in seller_box[:2])
        centre = (left + stamp.shape[1] * rng.uniform(0.25, 0.55),
                  top + stamp.shape[0] * rng.uniform(0.3, 0.6))
        placement = "seller"
    elif over_seller:  # no seller found: the first printed lines, where the seller usually is
        printed_rows = np.flatnonzero((first < 0.5).any(axis=1))
        start = printed_rows[0] / first.shape[0] if printed_rows.size else 0.04
        centre = _ink_point(rng, first, (start, start + 0.12), (0.0, 0.5))
        placement = "seller_top"
    else:
        centre = _ink_point(rng, first, (0.33, 0.9), (0.0, 1.0))
        placement = "text"
    pages[0] = _multiply(pages[0], stamp * np.float32(density), ink, centre)

    last = len(pages) - 1
    signature, curve_box = _signature_mask(rng, signature_width, dpi)
    rows = np.flatnonzero((tones[last] < 0.5).any(axis=1))
    bottom, top = (int(rows[-1]), int(rows[0])) if rows.size else (tones[last].shape[0] * 3 // 4, 0)
    band = (max(top, bottom - 0.2 * (bottom - top)) / tones[last].shape[0],
            (bottom + 1) / tones[last].shape[0])
    sign_at = _ink_point(rng, tones[last], band, (0.15, 0.95))
    pages[last] = _multiply(pages[last], signature * np.float32(rng.uniform(0.8, 0.95)),
                            np.array(_PEN_BLUE, np.float32) + rng.normal(0, 6, 3)
                            .astype(np.float32), sign_at)
    images = [Image.fromarray(np.clip(np.rint(page), 0, 255).astype(np.uint8), mode="RGB")
              for page in pages]
    height, width = tones[0].shape
    params = {"dpi": dpi, "ink": ink_name, "ink_rgb": [round(float(v), 1) for v in ink],
              "ink_density": round(density, 4), "stamp_width_mm": round(width_mm, 2),
              "stamp_rotation_deg": round(rotation, 3), "shape": shape, "text": text_kind,
              "over_seller": over_seller, "placement": placement,
              "stamp_centre": [round(centre[0] / width, 4), round(centre[1] / height, 4)],
              "stamp_prints": printed,
              "stamp_company": company["name"] if "name" in printed else None,
              "stamp_address": list(company["address"]) if "address" in printed else None,
              "stamp_nip": company["nip"] if "nip" in printed else None, "signature_width_px": round(signature_width, 3),
              "signature_page": last + 1,
              "signature_centre": [round(sign_at[0] / tones[last].shape[1], 4),
                                   round(sign_at[1] / tones[last].shape[0], 4)],
              "signature_size_px": curve_box}
    if len(images) == 1:
        return ScannedDocument(_png(images[0], dpi), ".png", dpi), params
    return ScannedDocument(_tiff(images, dpi), ".tif", dpi), params


def _text_layer(pdf: bytes, seller_hint: str | None
                ) -> tuple[str, tuple[float, float, float, float] | None]:
    """The PDF's text, and the (left, top, right, bottom) of the seller block's first line on
    page 1 in points from the top-left corner: `seller_hint` if found, else a seller label."""
    document = pdfium.PdfDocument(pdf)
    try:
        texts = [page.get_textpage().get_text_range() for page in document]
        page = document[0]
        textpage = page.get_textpage()
        page_height = page.get_size()[1]
        for needle in ((seller_hint,) if seller_hint else ()) + _SELLER_LABELS:
            found = textpage.search(needle, match_case=False, match_whole_word=False).get_next()
            if found:
                index, count = found
                boxes = [textpage.get_charbox(i) for i in range(index, index + count)]
                left = min(b[0] for b in boxes)
                right = max(b[2] for b in boxes)
                bottom, top = min(b[1] for b in boxes), max(b[3] for b in boxes)
                return "\n".join(texts), (left, page_height - top, right, page_height - bottom)
        return "\n".join(texts), None
    finally:
        document.close()


def _stamp_company(rng: random.Random, avoid: set[str], printed: str) -> dict:
    """Another company: a made-up name not in the `printed` text, an address, a valid NIP
    outside `avoid`."""
    name = _polish_company(rng)
    while name.lower() in printed.lower():
        name = _polish_company(rng)
    address = _polish_address(rng)
    while True:
        tax_id = _nip(rng)
        if tax_id not in avoid and stdnum_nip.is_valid(tax_id):
            break
    style = rng.choice(("plain", "dashes_3322", "dashes_3223"))
    return {"name": name, "address": address, "nip": tax_id,
            "nip_printed": formatting.nip(tax_id, style)}


def _font(size: float, bold: bool = True) -> ImageFont.FreeTypeFont:
    relative = DEJAVU_SANS.bold_file if bold else DEJAVU_SANS.regular_file
    return ImageFont.truetype(str(FONT_ROOT / relative), max(6, int(round(size))))


def _stamp_lines(kind: str, company: dict) -> list[tuple[str, bool, float]]:
    """(text, bold, relative size) per line of a rectangular stamp."""
    block = [(company["name"], True, 1.0), (company["address"][0], False, 0.9),
             (company["address"][1], False, 0.9), (f"NIP {company['nip_printed']}", True, 0.95)]
    if kind == "paid":
        return [("ZAPŁACONO", True, 2.0)]
    if kind == "company":
        return block
    return [("ZAPŁACONO", True, 1.7)] + block


def _stamp_mask(rng: np.random.Generator, shape: str, kind: str, company: dict, width: int,
                rotation: float) -> np.ndarray:
    """Ink coverage 0..1 of a rubber stamp `width` px wide, rotated, with uneven inking."""
    if shape == "rect":
        image = _rect_stamp(kind, company, width)
    else:
        image = _round_stamp(kind, company, width)
    image = image.filter(ImageFilter.GaussianBlur(0.5))
    image = image.rotate(rotation, resample=Image.Resampling.BICUBIC, expand=True)
    coverage = np.asarray(image, dtype=np.float32) / 255.0
    height, wide = coverage.shape
    # Rubber pressed unevenly: a smooth density field, pale patches and tiny voids.
    field = 0.8 + 0.2 * np.tanh(_smooth_noise(rng, (height, wide), (wide / 4, wide / 4)))
    grain = rng.random((height, wide)) > rng.uniform(0.03, 0.12)
    grain = cv2.GaussianBlur(grain.astype(np.float32), (0, 0), 0.7)
    return np.clip(coverage * field * (0.35 + 0.65 * grain), 0, 1).astype(np.float32)


def _fit_font(text: str, bold: bool, size: float, width: float) -> ImageFont.FreeTypeFont:
    font = _font(size, bold)
    length = font.getlength(text)
    if length > width:
        font = _font(size * width / length, bold)
    return font


def _rect_stamp(kind: str, company: dict, width: int) -> Image.Image:
    lines = _stamp_lines(kind, company)
    unit = width / 15.0
    pad = unit * 0.8
    fonts = [_fit_font(text, bold, unit * scale, width - 2 * pad) for text, bold, scale in lines]
    heights = [font.size * 1.25 for font in fonts]
    height = int(round(sum(heights) + 2 * pad))
    image = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(image)
    border = max(2, int(round(unit * 0.18)))
    draw.rectangle([border // 2, border // 2, width - 1 - border // 2, height - 1 - border // 2],
                   outline=255, width=border)
    if kind != "paid":
        inner = border * 3
        draw.rectangle([inner, inner, width - 1 - inner, height - 1 - inner], outline=255,
                       width=max(1, border // 2))
    y = pad
    for (text, _, _), font, line_height in zip(lines, fonts, heights):
        draw.text((width / 2, y + line_height / 2), text, fill=255, font=font, anchor="mm")
        y += line_height
    return image


def _round_stamp(kind: str, company: dict, diameter: int) -> Image.Image:
    image = Image.new("L", (diameter, diameter), 0)
    draw = ImageDraw.Draw(image)
    radius = diameter / 2
    border = max(2, int(round(diameter * 0.012)))
    draw.ellipse([border, border, diameter - border, diameter - border], outline=255, width=border)
    inner = radius * 0.66
    draw.ellipse([radius - inner, radius - inner, radius + inner, radius + inner], outline=255,
                 width=max(1, border // 2 + 1))
    ring = company["name"].upper() + " • " + company["address"][1].upper() + " •"
    ring_radius = (radius - border + inner) / 2
    size = (radius - inner) * 0.55
    font = _font(size)
    circumference = 2 * math.pi * ring_radius * 0.94
    total = sum(font.getlength(char) for char in ring)
    if total > circumference:
        font = _font(size * circumference / total)
        total = sum(font.getlength(char) for char in ring)
    tracking = max(0.0, (circumference - total) / len(ring))  # spread round the whole ring
    total += tracking * len(ring)
    angle = -math.pi / 2 - (total / ring_radius) / 2  # centred on the top
    for char in ring:
        advance = font.getlength(char) + tracking
        angle += advance / ring_radius / 2
        glyph = Image.new("L", (int(font.size * 2), int(font.size * 2)), 0)
        ImageDraw.Draw(glyph).text((font.size, font.size), char, fill=255, font=font, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
        x = radius + ring_radius * math.cos(angle) - glyph.width / 2
        y = radius + ring_radius * math.sin(angle) - glyph.height / 2
        layer = Image.new("L", image.size, 0)
        layer.paste(glyph, (int(round(x)), int(round(y))))
        image = ImageChops.lighter(image, layer)
        angle += advance / ring_radius / 2
    draw = ImageDraw.Draw(image)
    centre_lines = (["ZAPŁACONO"] if kind == "paid" else
                    ["NIP", company["nip_printed"]] if kind == "company" else
                    ["ZAPŁACONO", "NIP " + company["nip_printed"]])
    width = inner * 1.75
    fonts = [_fit_font(text, True, inner * 0.32, width) for text in centre_lines]
    total_height = sum(font.size * 1.2 for font in fonts)
    y = radius - total_height / 2
    for text, font in zip(centre_lines, fonts):
        draw.text((radius, y + font.size * 0.6), text, fill=255, font=font, anchor="mm")
        y += font.size * 1.2
    return image


def _signature_mask(rng: np.random.Generator, stroke: float, dpi: int
                    ) -> tuple[np.ndarray, list[int]]:
    """A ballpoint scribble `stroke` px wide, about 35-60 mm long; coverage 0..1."""
    length = rng.uniform(35, 60) / 25.4 * dpi
    height = rng.uniform(5, 9) / 25.4 * dpi
    count = int(rng.integers(8, 15))
    step = length / count
    # Cursive humps through alternating high and low points, a tall first letter, the odd
    # step back (a loop), a drifting baseline and, mostly, an underline back to the start.
    x = np.cumsum(rng.uniform(0.6, 1.4, count)) * step
    y = np.where(np.arange(count) % 2 == 0, 1, -1) * rng.uniform(0.15, 0.5, count) * height
    y[1] = -height * rng.uniform(0.8, 1.1)
    back = rng.random(count) < 0.3
    back[:2] = False
    x[back] -= step * rng.uniform(1.0, 1.6, int(back.sum()))
    y += np.linspace(0, rng.uniform(-0.3, 0.3) * height, count)
    if rng.random() < 0.7:
        x = np.append(x, [x[-1] + step * 0.3, x[0] + rng.uniform(0, 0.4) * length])
        y = np.append(y, [height * 0.6, height * rng.uniform(0.5, 0.8)])
    xs, ys = _catmull_rom(x, y, 30)
    shear = math.tan(math.radians(rng.uniform(5, 25)))  # handwriting leans right
    xs = xs - ys * shear
    slant = math.radians(rng.uniform(-10, 6))
    xs, ys = xs * math.cos(slant) - ys * math.sin(slant), xs * math.sin(slant) + ys * math.cos(slant)
    scale = 4
    margin = stroke * 2 + 4
    xs, ys = xs - xs.min() + margin, ys - ys.min() + margin
    width, tall = int(math.ceil(xs.max() + margin)), int(math.ceil(ys.max() + margin))
    canvas = np.zeros((tall * scale, width * scale), np.uint8)
    points = np.round(np.column_stack([xs, ys]) * scale * 16).astype(np.int32)
    cv2.polylines(canvas, [points.reshape(-1, 1, 2)], False, 255,
                  thickness=max(1, int(round(stroke * scale))), lineType=cv2.LINE_AA, shift=4)
    mask = cv2.resize(canvas, (width, tall), interpolation=cv2.INTER_AREA).astype(np.float32)
    pressure = 0.8 + 0.2 * np.tanh(_smooth_noise(rng, mask.shape, (40, 40)))
    return np.clip(mask / 255.0 * pressure, 0, 1).astype(np.float32), [width, tall]


def _catmull_rom(x: np.ndarray, y: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth curve through the points (x, y), `samples` points per segment."""
    points = np.column_stack([x, y])
    points = np.vstack([points[0], points, points[-1]])
    t = np.linspace(0, 1, samples, endpoint=False)[:, None]
    segments = []
    for i in range(1, len(points) - 2):
        p0, p1, p2, p3 = points[i - 1:i + 3]
        segments.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                               + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    curve = np.vstack(segments + [points[-2][None]])
    return curve[:, 0], curve[:, 1]


def _smooth_1d(rng: np.random.Generator, size: int, knots: int) -> np.ndarray:
    """A smooth random function over `size` samples: `knots` normal values, cubic between."""
    coarse = rng.standard_normal((1, knots + 2)).astype(np.float32)
    return cv2.resize(coarse, (size, 1), interpolation=cv2.INTER_CUBIC)[0].astype(np.float64)


def _ink_point(rng: np.random.Generator, tone: np.ndarray, rows: tuple[float, float],
               cols: tuple[float, float]) -> tuple[float, float]:
    """A random printed pixel (x, y) inside the given fractions of the page; else the middle."""
    height, width = tone.shape
    top, bottom = int(rows[0] * height), max(int(rows[0] * height) + 1, int(rows[1] * height))
    left, right = int(cols[0] * width), max(int(cols[0] * width) + 1, int(cols[1] * width))
    ys, xs = np.nonzero(tone[top:bottom, left:right] < 0.5)
    if ys.size == 0:
        return (left + right) / 2, (top + bottom) / 2
    pick = int(rng.integers(ys.size))
    return float(xs[pick] + left), float(ys[pick] + top)


def _multiply(page: np.ndarray, alpha: np.ndarray, colour: np.ndarray,
              centre: tuple[float, float]) -> np.ndarray:
    """Ink of `colour` with coverage `alpha`, centred at `centre`, multiplied over `page`."""
    height, width = alpha.shape
    x0 = int(round(centre[0] - width / 2))
    y0 = int(round(centre[1] - height / 2))
    x0 = min(max(x0, 0), max(0, page.shape[1] - width))
    y0 = min(max(y0, 0), max(0, page.shape[0] - height))
    x1, y1 = min(page.shape[1], x0 + width), min(page.shape[0], y0 + height)
    a = alpha[:y1 - y0, :x1 - x0, None]
    region = page[y0:y1, x0:x1]
    page[y0:y1, x0:x1] = region * (1 - a + a * colour[None, None, :] / 255.0)
    return page


# --- the seeded corpus -----------------------------------------------------------------------

def variant_name(condition: str) -> str:
    return f"capture_{condition}"


def generate_capture_corpus(out_dir: Path, count: int, split: str = TUNE,
                            conditions: Sequence[str] = CONDITIONS, seed: int = DEFAULT_SEED,
                            workers: int = 2) -> dict:
    """Write `count` invoices of `split`, each as its digital PDF and one document per
    condition, with truth files and `manifest.json` (generate.py's format plus each
    document's drawn parameters under "capture"). Returns the manifest.

    Invoice numbers are 1..count for "tune" and 1001..1000+count for "heldout"; each is the
    invoice `generate_corpus(seed=seed)` would make under that number.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    unknown = set(conditions) - set(CONDITIONS)
    if unknown or not conditions:
        raise ValueError(f"conditions must be a non-empty subset of {CONDITIONS}, "
                         f"got {list(conditions)}")
    if count < 1:
        raise ValueError("count must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    offset = SPLIT_INDEX_OFFSET[split]
    jobs = [(out_dir, seed, offset + n, split, tuple(conditions)) for n in range(1, count + 1)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            per_invoice = pool.map(_capture_invoice, jobs, chunksize=1)
    else:
        per_invoice = [_capture_invoice(job) for job in jobs]
    manifest = {
        "generator": GENERATOR,
        "seed": seed,
        "count": count,
        "split": split,
        "first_index": offset + 1,
        "conditions": list(conditions),
        "variants": [DIGITAL] + [variant_name(c) for c in conditions],
        "parameter_ranges": {c: ranges_for_manifest(PARAMETER_RANGES[c][split])
                             for c in conditions},
        "documents": [entry for entries in per_invoice for entry in entries],
    }
    (out_dir / "manifest.json").write_text(_to_json(manifest), encoding="utf-8")
    return manifest


def _capture_invoice(job: tuple[Path, int, int, str, tuple[str, ...]]) -> list[dict]:
    out_dir, seed, index, split, conditions = job
    allocation = allocate(index)
    invoice = build_invoice(derive_seed(seed, index), allocation.language, allocation.currency,
                            allocation.two_pages)
    rendered = render_invoice(invoice, allocation.layout)
    truth = _to_json(rendered.truth)
    common = {"invoice": allocation.stem, "layout": allocation.layout,
              "language": allocation.language, "pages": rendered.pages,
              "currency": invoice.currency}
    stem = allocation.stem
    (out_dir / f"{stem}.pdf").write_bytes(rendered.pdf)
    (out_dir / f"{stem}.json").write_text(truth, encoding="utf-8")
    entries = [dict(common, file=f"{stem}.pdf", truth=f"{stem}.json", variant=DIGITAL, dpi=None)]
    for condition in conditions:
        name = f"{stem}-{condition}"
        rng = np.random.default_rng(derive_seed(seed, index, "capture", condition, split))
        document, params = capture_pages_from_pdf(
            rendered.pdf, condition, rng, split, title=name, scanned_on=invoice.issue_date,
            seller_hint=invoice.seller.name, avoid_tax_ids=(invoice.seller.nip, invoice.buyer.nip))
        (out_dir / f"{name}{document.extension}").write_bytes(document.data)
        (out_dir / f"{name}.json").write_text(truth, encoding="utf-8")
        entries.append(dict(common, file=f"{name}{document.extension}", truth=f"{name}.json",
                            variant=variant_name(condition), dpi=document.dpi,
                            capture=json.loads(json.dumps(dict(params, condition=condition,
                                                               split=split)))))
    return entries
