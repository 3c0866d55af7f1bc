"""A corpus of hostile uploads: what a careless or malicious client sends the OCR service.

Every case is an HTTP request body (raw, or a multipart form) built from a small real invoice:
corrupt, truncated and cyclic PDFs, decompression bombs, absurd image headers, polyglots, odd
filenames and malformed multipart. The promise under test is the same for all of them: no 5xx,
and every refusal is typed ({"error", "message"} with a known code).

    python -m tests.faults.hostile OUT_DIR     # writes the corpus (one file per case + index.json)
"""

from __future__ import annotations

import io
import json
import random
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20261202


@dataclass
class Case:
    name: str
    body: bytes
    content_type: str  # of the request
    kind: str  # family of the case, for the report
    headers: dict = field(default_factory=dict)


def _small_invoice_pdf() -> bytes:
    """A one-page A6 invoice with a text layer: cheap to read, so that the cases that still
    parse cost little."""
    from reportlab.lib.pagesizes import A6
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A6)
    lines = ["Faktura VAT nr FV/2026/12/0001", "Data wystawienia: 2026-12-01", "Sprzedawca: Hostile Test Sp. z o.o.",
             "NIP: 526-000-12-46", "Usługa testowa 1 szt. 100,00 23% 100,00", "Razem do zapłaty: 123,00 PLN"]
    for i, line in enumerate(lines):
        c.drawString(20, 380 - 16 * i, line)
    c.save()
    return buf.getvalue()


def pdf_bytes(objects: list[bytes], root: int = 1, trailer_extra: str = "") -> bytes:
    """A PDF file of these objects (object 1 first), with a correct xref table."""
    out, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    return out + f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R {trailer_extra}>>\nstartxref\n{xref}\n%%EOF\n".encode()


def _png(width: int, height: int, data: bytes | None = None, color_type: int = 0) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    raw = data if data is not None else zlib.compress(b"\x00" + b"\xff" * min(width, 4096))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _tiff(width: int, height: int, strip_offset: int | None = None, resolution=(200, 1), frames: int = 1) -> bytes:
    """A little-endian greyscale TIFF; `frames` IFDs all pointing at one strip."""
    n = 11
    ifd_size = 2 + 12 * n + 4
    data_at = 8 + frames * (ifd_size + 8)
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for f in range(frames):
        start = 8 + f * (ifd_size + 8)
        rational_at = start + ifd_size
        nxt = start + ifd_size + 8 if f + 1 < frames else 0
        entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
                   (273, 4, strip_offset if strip_offset is not None else data_at), (277, 3, 1), (278, 4, height),
                   (279, 4, max(1, min(width * height, 1 << 20))), (282, 5, rational_at), (283, 5, rational_at)]
        out += struct.pack("<H", n)
        for tag, kind, value in entries:
            out += struct.pack("<HHII", tag, kind, 1, value) if kind in (4, 5) else struct.pack("<HHIHH", tag, 3, 1, value, 0)
        out += struct.pack("<I", nxt) + struct.pack("<II", *resolution)
    return bytes(out) + b"\xff" * min(width * height, 1 << 16)


def _jpeg_with_size(width: int, height: int) -> bytes:
    """A JPEG whose SOF0 claims `width` x `height` (the scan data is a few bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (16, 16), 255).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "hostile") -> bytes:
    out = b""
    for name, filename, payload in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode("utf-8", "surrogateescape")
        out += b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def cases() -> list[Case]:
    rng = random.Random(SEED)
    pdf = _small_invoice_pdf()
    out: list[Case] = []

    def add(name, body, ctype="application/pdf", kind="pdf", **headers):
        out.append(Case(name, body, ctype, kind, headers))

    # --- PDFs: truncated at many points, bytes flipped, structures that loop or nest without end
    for k, cut in enumerate(sorted(rng.sample(range(1, len(pdf)), 80))):
        add(f"pdf-truncated-{k:02d}-{cut}", pdf[:cut])
    for k in range(70):
        data = bytearray(pdf)
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        add(f"pdf-flipped-{k:02d}", bytes(data))
    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    add("pdf-kids-cycle", pdf_bytes([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>"]))
    add("pdf-self-kid", pdf_bytes([catalog, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]))
    for depth in (100, 2000, 20000):
        kids = [f"<< /Type /Pages /Kids [{i + 3} 0 R] /Count 1 >>".encode() for i in range(depth)]
        add(f"pdf-deep-{depth}", pdf_bytes([catalog, *kids, b"<< /Type /Page /MediaBox [0 0 595 842] >>"]))
    add("pdf-count-lies", pdf_bytes([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1000000 >>",
                                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]))
    add("pdf-zero-pages", pdf_bytes([catalog, b"<< /Type /Pages /Kids [] /Count 0 >>"]))
    add("pdf-huge-mediabox", pdf_bytes([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>"]))
    add("pdf-negative-mediabox", pdf_bytes([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                       b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 -5 1e30] >>"]))
    add("pdf-no-root", pdf_bytes([b"<< /Type /Pages /Kids [] /Count 0 >>"], root=9))
    add("pdf-xref-garbage", pdf.replace(b"xref", b"xrfe"))
    add("pdf-flate-bomb", pdf_bytes([catalog, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
                                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(zlib.compress(b"0 0 m " * 2_000_000))
                                + zlib.compress(b"0 0 m " * 2_000_000) + b"\nendstream"]))
    add("pdf-header-only", b"%PDF-1.7\n")
    add("pdf-encrypt-claimed", pdf_bytes([catalog, b"<< /Type /Pages /Kids [] /Count 0 >>"], trailer_extra="/Encrypt 9 0 R "))
    add("pdf-junk-before-header", b"\x00\x01junk\n" + pdf)  # allowed: unknown junk within 1024 bytes
    add("pdf-header-after-1024", b"x" * 1100 + pdf)

    # --- images: truncated, absurd headers, bombs
    from PIL import Image

    png_buf = io.BytesIO()
    Image.new("L", (400, 300), 255).save(png_buf, "PNG")
    png = png_buf.getvalue()
    for k, cut in enumerate(sorted(rng.sample(range(8, len(png)), 20))):
        add(f"png-truncated-{k:02d}", png[:cut], "image/png", "image")
    jpg_buf = io.BytesIO()
    Image.new("L", (400, 300), 200).save(jpg_buf, "JPEG")
    jpg = jpg_buf.getvalue()
    for k, cut in enumerate(sorted(rng.sample(range(3, len(jpg)), 20))):
        add(f"jpeg-truncated-{k:02d}", jpg[:cut], "image/jpeg", "image")
    for w, h in ((100000, 100000), (65535, 65535), (1, 1_000_000), (1_000_000, 1), (0, 0), (20000, 20000)):
        add(f"png-claims-{w}x{h}", _png(w, h), "image/png", "image")
    add("png-idat-garbage", _png(64, 64, b"not zlib at all"), "image/png", "image")
    add("png-bad-crc", png[:30] + bytes([png[30] ^ 0xFF]) + png[31:], "image/png", "image")
    for w, h in ((65535, 65535), (1, 65535), (65535, 1)):
        add(f"jpeg-claims-{w}x{h}", _jpeg_with_size(w, h), "image/jpeg", "image")
    for name, res in (("zero", (0, 0)), ("one-zero", (1, 0)), ("zero-one", (0, 1)), ("huge", (4_000_000_000, 1))):
        add(f"tiff-resolution-{name}", _tiff(200, 280, resolution=res), "image/tiff", "image")
    add("tiff-wide", _tiff(100000, 1), "image/tiff", "image")
    add("tiff-tall", _tiff(1, 100000), "image/tiff", "image")
    add("tiff-strip-past-eof", _tiff(64, 64, strip_offset=10_000_000), "image/tiff", "image")
    add("tiff-many-frames", _tiff(32, 32, frames=200), "image/tiff", "image")
    add("tiff-header-only", b"II*\x00\x08\x00\x00\x00", "image/tiff", "image")
    add("tiff-ifd-loop", b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 0) + struct.pack("<I", 8), "image/tiff", "image")

    # --- not documents, empty, random, polyglots
    add("empty", b"", "application/pdf", "junk")
    add("one-byte", b"%", "application/pdf", "junk")
    for k in range(40):
        add(f"random-{k:02d}", rng.randbytes(rng.randint(1, 5000)), "application/octet-stream", "junk")
    for prefix, label in ((b"PK\x03\x04\x14\x00\x00\x00\x00\x00", "zip"), (b"<!DOCTYPE html><html><body>", "html"),
                          (b"<html>", "html-short"), (b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "gif"),
                          (b"\xef\xbb\xbf<?xml version='1.0'?><svg>", "svg"), (b"\x1f\x8b\x08\x00", "gzip"),
                          (b"BM\x00\x00\x00\x00", "bmp"), (b"\x7fELF\x02\x01\x01", "elf"), (b"MZ\x90\x00", "exe"),
                          (b"{\\rtf1\\ansi", "rtf")):
        add(f"polyglot-{label}", prefix + b"\n" + pdf, "application/pdf", "polyglot")
    zip_buf = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(zip_buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("invoice.pdf", pdf)
    add("polyglot-stored-zip", zip_buf.getvalue(), "application/pdf", "polyglot")

    # --- odd filenames (the document itself is fine)
    for k, filename in enumerate(["../../etc/passwd", "inv.p\x00df", "a" * 300 + ".pdf", "faktura\nX-Injected: 1.pdf",
                                  "fäktürą żółć.pdf", "inv;rm -rf ~.pdf", "'\";--.pdf", ".pdf", "", "con.pdf",
                                  "%00%2e%2e%2f.pdf", "inv.PDF\u202egpj.exe", " .pdf", "inv.pdf.", "\\\\server\\share.pdf"]):
        body = _multipart([("file", filename, pdf)])
        add(f"filename-{k:02d}", body, "multipart/form-data; boundary=hostile", "filename")

    # --- malformed multipart
    good = _multipart([("file", "inv.pdf", pdf)])
    add("multipart-no-boundary", good, "multipart/form-data", "multipart")
    add("multipart-wrong-boundary", good, "multipart/form-data; boundary=other", "multipart")
    add("multipart-truncated", good[: len(good) // 2], "multipart/form-data; boundary=hostile", "multipart")
    add("multipart-no-file-field", _multipart([("notfile", "inv.pdf", pdf)]), "multipart/form-data; boundary=hostile",
        "multipart")
    add("multipart-file-as-field", _multipart([("file", None, pdf)]), "multipart/form-data; boundary=hostile", "multipart")
    add("multipart-two-files", _multipart([("file", "a.pdf", pdf), ("file", "b.pdf", pdf)]),
        "multipart/form-data; boundary=hostile", "multipart")
    add("multipart-many-fields", _multipart([(f"f{i}", None, b"x") for i in range(50)] + [("file", "a.pdf", pdf)]),
        "multipart/form-data; boundary=hostile", "multipart")
    add("multipart-huge-field", _multipart([("user_id", None, b"u" * 2_000_000), ("file", "a.pdf", pdf)]),
        "multipart/form-data; boundary=hostile", "multipart")
    add("multipart-empty-file", _multipart([("file", "a.pdf", b"")]), "multipart/form-data; boundary=hostile",
        "multipart")
    add("multipart-garbage", rng.randbytes(3000), "multipart/form-data; boundary=hostile", "multipart")
    add("multipart-header-bomb", b"--hostile\r\n" + b"X-A: " + b"a" * 100_000 + b"\r\n\r\nx\r\n--hostile--\r\n",
        "multipart/form-data; boundary=hostile", "multipart")
    add("content-type-garbage", pdf, "application/\x7f\x00;;;", "multipart")
    add("content-type-unknown", pdf, "text/plain", "multipart")

    # --- odd request headers with a good document
    add("request-id-huge", pdf, "application/pdf", "headers", **{"X-Request-Id": "r" * 10_000})
    add("request-id-odd", pdf, "application/pdf", "headers", **{"X-Request-Id": "<script>;--' OR 1=1"})
    add("user-id-huge", pdf, "application/pdf", "headers", **{"X-User-Id": "u" * 10_000})
    add("content-length-lies", pdf, "application/pdf", "headers", **{"Content-Length-Claim": "1"})
    return out


def write(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    index = []
    for case in cases():
        (directory / f"{case.name}.bin").write_bytes(case.body)
        index.append({"name": case.name, "kind": case.kind, "content_type": case.content_type, "headers": case.headers})
    (directory / "index.json").write_text(json.dumps(index, indent=1))
    return len(index)


if __name__ == "__main__":
    print(f"{write(Path(sys.argv[1]))} hostile uploads written to {sys.argv[1]}")
