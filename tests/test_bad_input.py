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


def test_per_page_ocr_timeout(tmp_path):
    path = tmp_path / "scan.png"
    img = Image.new("L", (2480, 3508), 255)
    from PIL import ImageDraw
    draw = ImageDraw.Draw(img)
    for y in range(100, 3400, 40):
        draw.text((100, y), "Faktura VAT nr FV/2026/11/0427 Data wystawienia 2026-11-27 " * 3, fill=0)
    img.save(path, dpi=(300, 300))
    with pytest.raises(E.OcrTimeoutError, match="longer than"):
        get_engine("tesseract", limits=Limits(page_timeout_s=0.05)).extract(path)


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
