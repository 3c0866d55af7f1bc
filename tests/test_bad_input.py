"""Every kind of unusable upload gives a typed error, quickly, and the CLI exits non-zero
with one clear line instead of a traceback."""

import json
import struct
import subprocess
import time
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from ocr_engines import Limits, get_engine
from ocr_engines import errors as E

from .faults.hostile import pdf_bytes


@pytest.fixture(scope="module")
def engine():
    return get_engine("tesseract")


def _pdf(path: Path, text: str = "Faktura VAT nr FV/1/2026", **kwargs) -> Path:
    c = canvas.Canvas(str(path), invariant=1, **kwargs)
    c.drawString(72, 720, text)
    c.save()
    return path


def _png_header_bomb(path: Path, side: int) -> Path:
    """A small file that claims side x side pixels (decompresses to side² bytes)."""
    row = b"\x00" + b"\x00" * (side // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def _blank_pdf(path: Path, pages: int) -> Path:
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(595, 842)
    pdf.save(str(path))
    pdf.close()
    return path


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, type]]:
    good = _pdf(tmp / "good.pdf")
    data = good.read_bytes()
    (tmp / "empty.pdf").write_bytes(b"")
    (tmp / "random.pdf").write_bytes(bytes(range(256)) * 16)
    (tmp / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (tmp / "notes.txt").write_text("just some text, not an invoice")
    Image.new("L", (40, 40), 255).save(tmp / "image.gif")
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    return {
        "empty": (tmp / "empty.pdf", E.EmptyDocumentError),
        "random bytes": (tmp / "random.pdf", E.UnsupportedFormatError),
        "truncated pdf": (tmp / "truncated.pdf", E.CorruptDocumentError),
        "encrypted pdf": (_pdf(tmp / "locked.pdf", encrypt=StandardEncryption("secret", canPrint=0)),
                          E.EncryptedDocumentError),
        "zero-page pdf": (_blank_pdf(tmp / "zero.pdf", 0), E.CorruptDocumentError),
        "500-page pdf": (_blank_pdf(tmp / "many.pdf", 500), E.TooManyPagesError),
        "20000x20000 image": (_png_header_bomb(tmp / "bomb.png", 20000), E.ImageTooLargeError),
        "broken png": (tmp / "broken.png", E.CorruptDocumentError),
        "text file": (tmp / "notes.txt", E.UnsupportedFormatError),
        "gif": (tmp / "image.gif", E.UnsupportedFormatError),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return bad_inputs(tmp_path_factory.mktemp("bad"))


CASE_NAMES = ["empty", "random bytes", "truncated pdf", "encrypted pdf", "zero-page pdf", "500-page pdf",
              "20000x20000 image", "broken png", "text file", "gif"]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_raises_typed_error_quickly(engine, cases, name):
    path, expected = cases[name]
    start = time.perf_counter()
    with pytest.raises(expected) as info:
        engine.extract(path)
    assert time.perf_counter() - start < 10
    assert path.name in info.value.message
    assert isinstance(info.value, E.DocumentError)


def test_page_limit_is_configurable(cases):
    path, _ = cases["500-page pdf"]
    small = get_engine("tesseract", limits=Limits(max_pages=10))
    with pytest.raises(E.TooManyPagesError, match="limit of 10"):
        small.extract(path)


def test_upload_size_limit(tmp_path):
    path = _pdf(tmp_path / "big.pdf")
    with pytest.raises(E.ImageTooLargeError, match="upload limit"):
        get_engine("tesseract", limits=Limits(max_bytes=100)).extract(path)


@pytest.mark.parametrize("backend", ["tesserocr", "cli"])
def test_per_page_ocr_timeout(tmp_path, backend):
    # A full page of print at a readable size: recognition, where the deadline is checked, takes
    # most of the time. (PIL's tiny bitmap font made in-process layout analysis, which no deadline
    # interrupts, take 100-150 s here; the pool's deadline covers that case: tests/test_pool.py.)
    from PIL import ImageDraw, ImageFont

    path = tmp_path / "scan.png"
    img = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 36)
    for y in range(100, 3400, 60):
        draw.text((100, y), "Faktura VAT nr FV/2026/11/0427 Data 2026-11-27 Razem 1 234,56", font=font, fill=0)
    img.save(path, dpi=(300, 300))
    with pytest.raises(E.OcrTimeoutError, match="longer than 0.05 s"):
        get_engine("tesseract", limits=Limits(page_timeout_s=0.05), backend=backend).extract(path)


@pytest.mark.parametrize("name,code", [("empty", "empty_document"), ("encrypted pdf", "encrypted_document"),
                                       ("20000x20000 image", "image_too_large")])
def test_cli_exits_nonzero_with_a_clear_message(cli, cases, name, code):
    path, _ = cases[name]
    proc = subprocess.run([*cli, "extract", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert code in proc.stderr and path.name in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    proc = subprocess.run([*cli, "extract", str(path), "--output", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["error"] == code


def test_cli_rejects_unknown_engine(cli, cases):
    path, _ = cases["empty"]
    proc = subprocess.run([*cli, "extract", str(path), "--engine", "nope"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "unknown_engine" in proc.stderr


@pytest.mark.parametrize("prefix,fmt", [
    (b"PK\x03\x04\x14\x00\x00\x00\x00\x00", "ZIP"), (b"<!DOCTYPE html><html><body>", "HTML"),
    (b"  <html>", "HTML"), (b"GIF89a\x01\x00\x01\x00", "GIF"), (b"\xef\xbb\xbf<?xml version='1.0'?>", "HTML/XML"),
])
def test_a_polyglot_is_the_format_it_starts_with(tmp_path, golden_dir, prefix, fmt):
    """The probe: a stored ZIP, an HTML page and a GIF with a PDF inside came back with 13 fields."""
    from ocr_engines import documents as docs
    from ocr_engines.errors import UnsupportedFormatError

    path = tmp_path / "polyglot.pdf"
    path.write_bytes(prefix + b"\n" + (golden_dir / "inv-0001.pdf").read_bytes())
    with pytest.raises(UnsupportedFormatError, match=fmt.split("/")[0]):
        docs.sniff_type(path)
    junk = tmp_path / "junk.pdf"  # junk that is no known format, within 1024 bytes: a PDF, as readers allow
    junk.write_bytes(b"\x00\x17 some scanner preamble\n" + (golden_dir / "inv-0001.pdf").read_bytes())
    assert docs.sniff_type(junk) == docs.PDF
    far = tmp_path / "far.pdf"  # beyond the first 1024 bytes: no PDF
    far.write_bytes(b"x" * 1100 + (golden_dir / "inv-0001.pdf").read_bytes())
    with pytest.raises(UnsupportedFormatError):
        docs.sniff_type(far)


def _deep_page_tree(depth: int) -> bytes:
    kids = [f"<< /Type /Pages /Kids [{i + 3} 0 R] /Count 1 >>".encode() for i in range(depth)]
    return pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", *kids, b"<< /Type /Page /MediaBox [0 0 595 842] >>"])


def _tiff(entries: list[tuple[int, int, int]], data: bytes = b"\x00" * 64) -> bytes:
    """A little-endian TIFF from (tag, type, value) entries (types 3 SHORT, 4 LONG, 5 RATIONAL)."""
    rationals = b""
    fields = []
    ifd_size = 2 + 12 * len(entries) + 4
    for tag, kind, value in entries:
        if kind == 5:  # the value is (numerator, denominator), stored after the IFD
            fields.append(struct.pack("<HHII", tag, 5, 1, 8 + ifd_size + len(rationals)))
            rationals += struct.pack("<II", *value)
        elif kind == 4:
            fields.append(struct.pack("<HHII", tag, 4, 1, value))
        else:
            fields.append(struct.pack("<HHIHH", tag, 3, 1, value, 0))
    ifd = struct.pack("<H", len(entries)) + b"".join(fields) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + rationals + data


def _gray_tiff(width, height, strip_offset=None, resolution=None) -> bytes:
    header_end = 8 + 2 + 12 * 11 + 4 + 16
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, strip_offset if strip_offset is not None else header_end), (277, 3, 1), (278, 4, height),
               (279, 4, width * height), (282, 5, resolution or (200, 1)), (283, 5, resolution or (200, 1))]
    return _tiff(entries, b"\xff" * (width * height))


@pytest.mark.parametrize("name,content", [
    ("kids-cycle.pdf", pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                   b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>"])),
    ("self-kid.pdf", pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"])),
    ("deep-2000.pdf", _deep_page_tree(2000)),
    ("deep-20000.pdf", _deep_page_tree(20000)),
    ("wide.tif", _gray_tiff(100000, 1)),
    ("strip-past-eof.tif", _gray_tiff(64, 64, strip_offset=10_000_000)),
])
def test_hostile_structures_get_a_typed_error(tmp_path, name, content):
    """The probe's 500s: page trees pdfium cannot load, a 100000 x 1 TIFF, a strip past the end."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(E.OcrError) as info:
        get_engine("tesseract").extract(path)
    assert info.value.code in ("corrupt_document", "image_too_large", "unreadable_document")


@pytest.mark.parametrize("resolution", [(0, 0), (1, 0), (0, 1)])
def test_absurd_resolution_tags_are_ignored(tmp_path, resolution):
    """XResolution 0/0 or 1/0 (NaN, inf) raised ValueError outside any handler."""
    from ocr_engines import documents as docs

    path = tmp_path / "res.tif"
    path.write_bytes(_gray_tiff(850, 1100, resolution=resolution))
    info = docs.inspect_image(path, Limits())
    assert info.dpi == 0 and docs.estimated_dpi(info) > 0
    assert get_engine("tesseract").extract(path).pages == 1
