"""Synthetic golden corpus of Polish and English invoices with exact ground truth.

Used to prove the Tesseract engine against Document AI: every invoice is rendered as a digital
PDF and as scanned-looking images, each beside a truth JSON in the "Golden truth file" format of
docs/architecture.md. Everything is seeded, so the corpus is byte-reproducible.

    from expectations.corpus import generate_corpus
    manifest = generate_corpus(Path("data/golden-full"), count=100)

Capture conditions (rotated scans, phone photos, faxes, stamped and signed copies) are in
`expectations.corpus.capture`, imported on its own because it needs OpenCV.
"""

from .generate import ALL_VARIANTS, DEFAULT_SEED, Allocation, allocate, generate_corpus
from .layouts import LAYOUT_NAMES, RenderedInvoice, render_invoice
from .model import Invoice, build_invoice, derive_seed
from .scan import ScannedDocument, scan

__all__ = [
    "ALL_VARIANTS", "DEFAULT_SEED", "LAYOUT_NAMES", "Allocation", "Invoice", "RenderedInvoice",
    "ScannedDocument", "allocate", "build_invoice", "derive_seed", "generate_corpus",
    "render_invoice", "scan",
]
