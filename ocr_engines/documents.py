"""Opening uploaded documents safely: type sniffing, limits, PDF text layers and page images.

Everything here fails with a typed error from ``errors`` within bounded time and memory: the
type is read from magic bytes (not the file name), image sizes are read from the header before
any pixel is decoded, and PDF page counts are checked before any page is touched.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import (
    CorruptDocumentError,
    EmptyDocumentError,
    EncryptedDocumentError,
    ImageTooLargeError,
    TooManyPagesError,
    UnsupportedFormatError,
)
from .layout import Word

PDF, PNG, JPEG, TIFF = "pdf", "png", "jpeg", "tiff"
_MAGIC = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
POINTS_PER_INCH = 72.0
A4_WIDTH_INCHES = 8.27
# PDFium is not thread-safe (concurrent use crashes the process): every use holds this lock.
pdfium_lock = threading.RLock()
FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY = 4, 5  # pdfium's FPDF_GetLastError codes
# Tesseract (Leptonica) refuses an image wider or taller than this: such a file is refused
# up front for every engine (a 100000 x 1 TIFF is no page).
MAX_SIDE_PX = 32767
MIN_TEXT_LAYER_CHARS = 20  # fewer alphanumerics than this on a page: treat it as a scan


@dataclass(frozen=True)
class Limits:
    """Input bounds; the defaults suit invoices (Document AI's online limit is 15 pages)."""

    max_bytes: int = 40 * 1024 * 1024
    max_pages: int = 50
    max_pixels: int = 80_000_000  # a 20000x20000 'decompression bomb' is 400 M
    render_dpi: int = 300
    page_timeout_s: float = 60.0


def sniff_type(path: Path) -> str:
    """Return the document type from its first bytes, raising a typed error if unusable."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorruptDocumentError(f"{path}: no such file") from None
    if size == 0:
        raise EmptyDocumentError(f"{path.name}: the file is empty (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(1024)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    other = _other_format(head)
    if other:  # a ZIP, HTML page or GIF with a PDF inside is that format (a polyglot), not a PDF
        raise UnsupportedFormatError(f"{path.name}: a {other} file, not a PDF, PNG, JPEG or TIFF document")
    if b"%PDF-" in head:  # junk before the header: readers accept it within the first 1024 bytes
        return PDF
    raise UnsupportedFormatError(
        f"{path.name}: not a PDF, PNG, JPEG or TIFF document (starts with {head[:8]!r})"
    )


_OTHER_FORMATS = (
    (b"PK\x03\x04", "ZIP"), (b"PK\x05\x06", "ZIP"), (b"PK\x07\x08", "ZIP"), (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"\x1f\x8b", "gzip"), (b"Rar!", "RAR"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE (old Office)"), (b"{\\rtf", "RTF"), (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"), (b"OggS", "Ogg"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
_MARKUP = (b"<!doctype", b"<html", b"<?xml", b"<svg", b"<head", b"<body", b"<script", b"<!--")


def _other_format(head: bytes) -> str | None:
    """The name of the known non-document format ``head`` starts with, if any."""
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI ", b"WAVE"):
        return head[8:12].decode().strip()
    if head[4:8] == b"ftyp":
        return "ISO media (MP4/HEIC)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(_MARKUP):
        return "HTML/XML"
    return None


def check_size(path: Path, limits: Limits) -> None:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise ImageTooLargeError(
            f"{path.name}: {size / 2**20:.1f} MiB exceeds the {limits.max_bytes / 2**20:.0f} MiB upload limit"
        )


@dataclass
class ImageInfo:
    frames: int
    width: int
    height: int
    dpi: int  # 0 when the file does not say


def inspect_image(path: Path, limits: Limits) -> ImageInfo:
    """Read dimensions and frame count from the header only; refuse decompression bombs."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            frames = getattr(im, "n_frames", 1)
            dpi = im.info.get("dpi", (0, 0))[0] or 0
            if max(width, height) > MAX_SIDE_PX:
                raise ImageTooLargeError(
                    f"{path.name}: {width}x{height} pixels; a page may be at most {MAX_SIDE_PX} pixels a side"
                )
            if width * height > limits.max_pixels:
                raise ImageTooLargeError(
                    f"{path.name}: {width}x{height} pixels exceeds the limit of "
                    f"{limits.max_pixels:,} pixels per page"
                )
            if frames > limits.max_pages:
                raise TooManyPagesError(
                    f"{path.name}: {frames} pages exceeds the limit of {limits.max_pages}"
                )
            if frames > 1:  # every frame must be in bounds, not only the first
                for i in range(frames):
                    im.seek(i)
                    if im.size[0] * im.size[1] > limits.max_pixels:
                        raise ImageTooLargeError(f"{path.name}: page {i + 1} is too large")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptDocumentError(f"{path.name}: cannot read the image ({exc})") from None
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{path.name}: {exc}") from None
    return ImageInfo(frames, width, height, _dpi_value(dpi))


def _dpi_value(raw) -> int:
    """A resolution tag as whole DPI, 0 when it says nothing usable (0/0, 1/0, inf, NaN, junk)."""
    try:
        value = float(raw)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return 0
    return int(round(value)) if math.isfinite(value) and 0 < value < 100_000 else 0


def open_pdf(path: Path, limits: Limits):
    """Open a PDF with pdfium, mapping its failures to typed errors."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # pdfium's error code is process-global and can be stale: confirm with the trailer.
        if getattr(exc, "err_code", None) in (FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY) and _declares_encryption(path):
            raise EncryptedDocumentError(
                f"{path.name}: the PDF is password-protected; upload an unencrypted copy"
            ) from None
        # pdfium also refuses a structurally valid PDF with no pages (reporting 'success').
        raise CorruptDocumentError(f"{path.name}: the PDF is damaged, truncated or has no pages") from None
    pages = len(pdf)
    if pages == 0:
        pdf.close()
        raise CorruptDocumentError(f"{path.name}: the PDF has no pages")
    if pages > limits.max_pages:
        pdf.close()
        raise TooManyPagesError(
            f"{path.name}: {pages} pages exceeds the limit of {limits.max_pages} pages per document"
        )
    return pdf


def _declares_encryption(path: Path) -> bool:
    return b"/Encrypt" in path.read_bytes()


def pdf_page_words(page) -> list[Word]:
    """Words of a PDF page's text layer, boxes in points with a top-left origin."""
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = textpage.get_text_range(0, count)
        height = page.get_height()
        words: list[Word] = []
        chars: list[str] = []
        box = [0.0, 0.0, 0.0, 0.0]  # x0, y0, x1, y1 of the current word

        def flush():
            if chars:
                words.append(Word("".join(chars), *box))
                chars.clear()

        for i, ch in enumerate(text[:count]):
            if ch.isspace() or ch == "\x00":
                if not (chars and ch == " " and i + 1 < count and _glued(textpage, i + 1, box, height)):
                    flush()
                continue
            left, bottom, right, top = textpage.get_charbox(i)
            y0, y1 = height - top, height - bottom
            if chars:
                char_h = max(y1 - y0, box[3] - box[1], 1.0)
                # A big jump right, or a letter on another baseline, ends the word even without a
                # space; a quote or a superscript (m²) sits high but stays in its word while it overlaps it.
                apart = right < box[0] or left - box[2] > 0.6 * char_h
                # An underscore sits below the baseline, inside its word ('JPK_V7M').
                other_line = ((y0 > box[3] and ch != "_") or y1 < box[1]
                              or ((ch.isalpha() or ch.isdecimal()) and abs(y1 - box[3]) > 0.5 * char_h))
                if apart or other_line:
                    flush()
            if chars:
                box = [min(box[0], left), min(box[1], y0), max(box[2], right), max(box[3], y1)]
            else:
                box = [left, y0, right, y1]
            chars.append(ch)
        flush()
        return words
    finally:
        textpage.close()


def _glued(textpage, i: int, box: list[float], height: float) -> bool:
    """Whether character i, after a space, touches the word before it on its line: some PDF
    writers put a space glyph inside a word ('Chi n'). A real word space is wider than a fifth of
    the glyph height (measured on the KSeF visualiser's and reportlab's text layers: spurious
    ones <= 0.19, real ones >= 0.23)."""
    nxt = textpage.get_text_range(i, 1)
    if not nxt or nxt.isspace() or nxt == "\x00":
        return False
    left, bottom, right, top = textpage.get_charbox(i)
    char_h = max(top - bottom, box[3] - box[1], 1.0)
    same_line = height - top < box[3] and height - bottom > box[1]  # overlaps the word's extent
    return same_line and 0 <= left - box[2] < 0.2 * char_h


def has_text_layer(words: list[Word]) -> bool:
    return sum(ch.isalnum() for w in words for ch in w.text) >= MIN_TEXT_LAYER_CHARS


def render_page(page, dpi: int, max_pixels: int):
    """A PDF page as a greyscale PIL image for OCR, and the DPI actually used. The image holds
    pdfium's bitmap buffer itself (a native bitmap: allocated by Python, kept alive by the image
    after the bitmap is closed): no copy, no file."""
    width_in = page.get_width() / POINTS_PER_INCH
    height_in = page.get_height() / POINTS_PER_INCH
    area = max(width_in * height_in, 1e-6)
    # Oversized page boxes would allocate gigabytes: lower the DPI to stay within the pixel limit.
    dpi = int(min(dpi, (max_pixels / area) ** 0.5))
    bitmap = page.render(scale=dpi / POINTS_PER_INCH, grayscale=True)
    try:
        return bitmap.to_pil(), dpi
    finally:
        bitmap.close()


def estimated_dpi(info: ImageInfo) -> int:
    """The DPI Tesseract should assume: the file's own, else derived from an A4 page width."""
    if 70 <= info.dpi <= 1200:
        return info.dpi
    return max(70, int(round(min(info.width, info.height) / A4_WIDTH_INCHES)))
