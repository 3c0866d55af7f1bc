"""The open-source engine: PDF text layers where they exist, Tesseract 5 (LSTM) everywhere else."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import documents as docs
from . import capture as cap
from . import ksef_link, preprocess
from .base import Engine, Stopwatch, register
from .errors import CorruptDocumentError, OcrError
from .extract import read_invoice
from .extract.merge import merge_reads, needs_second_look, second_look_pages
from .extract.reader import Found
from .layout import EN_DASH_LENGTH, Row, Word, build_rows, deskewed, en_dashes, skew_angle
from .result import ExtractionResult, FieldValue
from .calibration import document_confidence
from .tesseract_backends import NETPBM_MODES, get_backend
from .validation import apply_checks

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

DEFAULT_LANGUAGES = "pol+eng"
DEFAULT_PSM = 3
# Debian's Tesseract 5.3.0 as the program: the bundled 5.5.4 of the in-process backend reads our
# corpus a little worse (bench/bench_tesseract_versions.py: invoice_id -2 and line items -4
# documents of 300, line-item F1 on ksef-official 0.942 -> 0.934), so it is opt-in.
DEFAULT_BACKEND = "cli"
# Rendered PDF pages an in-process backend reads are kept in memory (for the en-dash measurement
# and the second look) up to this many pixels a document, ~7 A4 pages at 300 DPI; later pages
# are kept as Netpbm files in the scratch directory, as the CLI backend keeps every page.
IN_MEMORY_PIXELS = 64_000_000


def page_rows(words: list[Word], page: int, from_ocr: bool) -> list[Row]:
    if not from_ocr:
        return build_rows(words, page)
    rows = build_rows(deskewed(words, skew_angle(words)), page)
    for row in rows:
        row.ocr = True
        en_dashes(row)
    return rows


@dataclass
class PageRead:
    """One page's rows, and for an OCR'd page the image they were read from (a file and the
    frame in it, or a rendered page in memory: a PIL image) at its DPI: what a second look reads again."""

    rows: list[Row]
    image: Path | Image | None = None
    frame: int = 0
    dpi: int = 0
    qr_codes: list[str] = field(default_factory=list)  # a rendered page's QR codes, decoded from the render
    capture: cap.PageCapture | None = None  # what capture normalisation found and did (OCR'd pages)


class TesseractEngine(Engine):
    name = "tesseract"

    def __init__(self, languages: str = DEFAULT_LANGUAGES, limits: docs.Limits | None = None,
                 psm: int = DEFAULT_PSM, second_look: bool = True, backend: str = DEFAULT_BACKEND,
                 capture: bool = True, target_xheight_px: float = cap.DEFAULT_TARGET_XHEIGHT_PX):
        """``backend``: how Tesseract runs (``tesseract_backends``): auto, tesserocr or cli.
        ``capture``: normalise photos, turned pages, faxes and stamped pages before reading (``capture``)."""
        self.languages = languages
        self.limits = limits or docs.Limits()
        self.psm = psm
        self.second_look = second_look
        self.backend_choice = backend
        self.capture = capture
        self.target_xheight_px = target_xheight_px

    @property
    def backend(self):
        return get_backend(self.backend_choice)

    @property
    def version(self) -> str:
        """Tesseract's version and how it runs, e.g. '5.5.4 (tesserocr)' or '5.3.0 (cli)'."""
        return f"{self.backend.tesseract_version} ({self.backend.name})"

    def warm_up(self) -> None:
        from .lexicon import warm_up

        self.backend.warm_up(self.languages, self.psm)
        warm_up()

    def extract(self, path: Path) -> ExtractionResult:
        path = Path(path)
        watch = Stopwatch()
        kind = docs.sniff_type(path)
        docs.check_size(path, self.limits)
        with tempfile.TemporaryDirectory(prefix="ocr-page-") as tmp:
            if kind == docs.PDF:
                pages = self._read_pdf(path, watch, Path(tmp))
            else:
                pages = self._read_image(path, watch)
            extraction, warnings = self._read_fields(pages)
            watch.lap("extract")
            scanned = {i for i, p in enumerate(pages) if p.image is not None}
            if scanned and self.second_look and needs_second_look(extraction, warnings):
                rows = [row for page in pages for row in page.rows]
                second = self._second_look(pages, second_look_pages(extraction, warnings, rows, scanned))
                watch.lap("second_look_ocr")
                again, _ = self._read_fields(second)
                extraction = merge_reads(extraction, again)
                warnings = []
                apply_checks(extraction.fields, extraction.line_items, warnings)
                watch.lap("second_look_extract")
        captured = [page.capture for page in pages if page.capture is not None]
        warnings = [f"page {i + 1}: {note}" for i, page in enumerate(pages) if page.capture
                    for note in page.capture.notes] + warnings
        text = "\n".join(row.text for page in pages for row in page.rows)
        reference, corrected = self._ksef_reference(pages, text, path, kind, extraction, warnings)
        watch.lap("ksef_reference")
        fields = {n: FieldValue(f.value, f.conf) for n, f in extraction.fields.items()}
        # A field the KSeF link had to correct was an OCR miss: the document's confidence is the
        # OCR read's (those fields count as absent), whatever the link put right.
        ocr_fields = {n: f for n, f in extraction.fields.items() if n not in corrected}
        return ExtractionResult(
            engine=self.name,
            engine_version=self.version,
            pages=len(pages),
            confidence=document_confidence(ocr_fields, extraction.expected | set(corrected))
            * cap.confidence_factor(captured),
            fields=fields,
            line_items=extraction.line_items,
            warnings=warnings,
            timings_ms=watch.laps,
            text=text,
            ksef=reference.to_dict() if reference else None,
            capture=cap.document_capture(captured) if captured else None,
        )

    def _ksef_reference(self, pages: list[PageRead], text: str, path: Path, kind: str, extraction,
                        warnings: list[str]) -> tuple[ksef_link.KsefReference | None, list[str]]:
        """The KSeF number and verification link (``ksef_link``), and the fields the link
        corrected. QR codes are decoded on every rendered PDF page (from the render in memory: 2-3 %
        of a light page's OCR time, bench_ksef), on an image upload's pages when its text mentions
        KSeF, and on a text-layer page only when the text prints a KSeF number but no link."""
        qr_texts = [code for page in pages for code in page.qr_codes]
        # An image upload's pages: decoding the file again costs about 150 ms a page, so only
        # where the text speaks of KSeF.
        if kind != docs.PDF and ksef_link.mentions_ksef(text):
            qr_texts = [code for page in pages for code in _qr_codes(page.image, page.frame)]
        exact = "\n".join(row.text for page in pages for row in page.rows if not row.ocr)
        reference, link = ksef_link.reference(text, qr_texts, exact)
        text_pages = [i for i, page in enumerate(pages) if page.image is None]
        if kind == docs.PDF and link is None and reference is not None and reference.number and text_pages:
            # a number but no link on a text layer: the code may be an image on the page
            reference, link = ksef_link.reference(text, qr_texts + self._decode_pdf_qr(path, text_pages), exact)
        if link is None:
            return reference, []
        return reference, ksef_link.cross_check(extraction.fields, link, warnings,
                                                lambda value: Found(value, ksef_link.LINK_CONFIDENCE))

    def _decode_pdf_qr(self, path: Path, indices: list[int]) -> list[str]:
        """The QR codes of text-layer pages, rendered for it (in memory)."""
        out: list[str] = []
        with docs.pdfium_lock:
            pdf = docs.open_pdf(path, self.limits)
            try:
                for i in indices:
                    out.extend(_qr_codes(docs.render_page(pdf[i], ksef_link.QR_RENDER_DPI, self.limits.max_pixels)[0]))
            finally:
                pdf.close()
        return out

    @staticmethod
    def _read_fields(pages: list[PageRead]):
        rows = [row for page in pages for row in page.rows]
        extraction = read_invoice(rows, ocr=any(row.ocr for row in rows))
        warnings: list[str] = []
        apply_checks(extraction.fields, extraction.line_items, warnings)
        return extraction, warnings

    def _second_look(self, pages: list[PageRead], which: set[int]) -> list[PageRead]:
        """The OCR'd pages in ``which`` read again from ink-only images (``preprocess``, in memory);
        the other pages as they were. A page the second look cannot read (an image only Tesseract
        could decode, a timeout) keeps its first read: the look may improve a document, never fail it."""
        import PIL.Image

        out = []
        for i, page in enumerate(pages):
            if page.image is None or i not in which:
                out.append(page)
                continue
            try:
                grey = preprocess.grey_page(page.image, page.frame)
                cleaned = PIL.Image.fromarray(preprocess.ink_only(grey, page.dpi))
                page_words = self.backend.read_image(cleaned, page.dpi, self.languages, self.limits.page_timeout_s,
                                                     self.psm, f"page {i + 1} (second look)")
            except Exception as exc:  # noqa: BLE001 (the first read stands)
                log.warning("second look skipped on page %d: %s: %s", i + 1, type(exc).__name__, exc)
                out.append(page)
                continue
            preprocess.measure_dashes(cleaned, 0, page_words, EN_DASH_LENGTH)
            out.append(PageRead(page_rows(page_words, i, True), cleaned, 0, page.dpi, capture=page.capture))
        return out

    def _read_image(self, path: Path, watch: Stopwatch) -> list[PageRead]:
        info = docs.inspect_image(path, self.limits)
        watch.lap("load")
        dpi = docs.estimated_dpi(info)
        frames = self._normalised_frames(path, info.frames, dpi) if self.capture else None
        watch.lap("capture")
        if frames is None or (not self.backend.in_memory and not any(changed for *_, changed in frames)):
            # The file as uploaded (the CLI: all TIFF frames in one process): no re-encoding.
            words = self.backend.read_file(path, info.frames, dpi, self.languages, self.limits.page_timeout_s,
                                           self.psm)
        else:
            words = {i: self.backend.read_image(image if image is not None else _frame(path, i), page_dpi,
                                                self.languages, self.limits.page_timeout_s, self.psm,
                                                f"{path.name} page {i + 1}")
                     for i, (image, page_dpi, _, _) in enumerate(frames)}
        watch.lap("ocr")
        # A frame decoded once (``_normalised_frames``) is what the orientation check, the dash
        # measurement, the QR codes and the second look read too, not the file again.
        sources = [(path, i, dpi, None) for i in range(info.frames)] if frames is None else [
            (image, 0, page_dpi, report) if image is not None else (path, i, page_dpi, report)
            for i, (image, page_dpi, report, _) in enumerate(frames)]
        out = []
        for i, (source, frame, page_dpi, report) in enumerate(sources):
            page_words = words.get(i, [])
            if report is not None:
                page_words, source, frame = self._orient(page_words, source, frame, page_dpi, report,
                                                         f"{path.name} page {i + 1}")
            preprocess.measure_dashes(source, frame, page_words, EN_DASH_LENGTH)
            out.append(PageRead(page_rows(page_words, i, True), source, frame, page_dpi, capture=report))
        watch.lap("orientation")
        return out

    def _normalised_frames(self, path: Path, frames: int, dpi: int) -> list[tuple] | None:
        """Per frame: the image to read (normalised, or as decoded; None when a frame that needs
        nothing is past the memory budget), the DPI to read it at, its PageCapture and whether
        normalisation changed it. Decoded frames are kept up to IN_MEMORY_PIXELS a document, as rendered PDF
        pages are. None when a frame cannot be decoded here (Tesseract reads the file as it is)."""
        out = []
        budget = IN_MEMORY_PIXELS
        for i in range(frames):
            try:
                image = _frame(path, i)
            except Exception as exc:  # noqa: BLE001 (an image only Tesseract decodes: it reads it as it is)
                log.warning("capture normalisation skipped on %s: %s: %s", path.name, type(exc).__name__, exc)
                return None
            normal, page_dpi, report = cap.normalise(image, dpi, self.target_xheight_px, self.limits.max_pixels)
            changed = normal is not image
            pixels = normal.width * normal.height
            keep = changed or pixels <= budget
            budget -= pixels if keep else 0
            # a page left as it is is read at the file's resolution, as when the file itself is read
            out.append((normal if keep else None, page_dpi if changed else dpi, report, changed))
        return out

    def _orient(self, words: list[Word], source, frame: int, dpi: int, report: cap.PageCapture,
                name: str) -> tuple[list[Word], object, int]:
        """A page whose first read suggests it is not upright (``capture.needs_orientation_check``)
        is checked with Tesseract's orientation detection and read again turned upright; the
        better read of the two stays (a wrong detection costs time, never the page)."""
        if not cap.needs_orientation_check(words):
            return words, source, frame
        try:
            image = _frame(source, frame) if isinstance(source, Path) else source
            degrees, confidence = self.backend.detect_orientation(image, dpi, self.limits.page_timeout_s, name)
            if degrees == 0 or confidence < cap.MIN_OSD_CONFIDENCE:
                return words, source, frame
            turned = cap.upright(image, degrees)
            again = self.backend.read_image(turned, dpi, self.languages, self.limits.page_timeout_s, self.psm,
                                            f"{name} (turned {degrees}°)")
        except OcrError as exc:  # too little text to tell, a timeout: the first read stands
            log.info("orientation check skipped on %s: %s", name, exc)
            return words, source, frame
        if cap.read_quality(again) <= cap.read_quality(words):
            return words, source, frame
        report.rotated = degrees
        report.notes.insert(0, f"turned {degrees}° to stand upright")
        return again, turned, 0

    def _read_pdf(self, path: Path, watch: Stopwatch, tmp: Path) -> list[PageRead]:
        # pdfium is not thread-safe: text layers and renders under its lock, OCR outside it.
        in_memory = [IN_MEMORY_PIXELS if self.backend.in_memory else 0]  # pixels left to keep in memory
        with docs.pdfium_lock:
            pdf = docs.open_pdf(path, self.limits)
            try:
                pages = [self._pdf_page(pdf, i, tmp, path.name, in_memory) for i in range(len(pdf))]
            finally:
                pdf.close()
        watch.lap("load")
        out: list[PageRead] = []
        for i, (words, image, dpi, qr_codes, report) in enumerate(pages):
            if image is None:
                out.append(PageRead(page_rows(words, i, False)))
                continue
            name = f"{path.name} page {i + 1}"
            if isinstance(image, Path):
                page_words = self.backend.read_file(image, 1, dpi, self.languages, self.limits.page_timeout_s,
                                                    self.psm).get(0, [])
            else:
                page_words = self.backend.read_image(image, dpi, self.languages, self.limits.page_timeout_s,
                                                     self.psm, name)
            watch.lap("ocr")
            frame = 0
            if report is not None:
                page_words, image, frame = self._orient(page_words, image, 0, dpi, report, name)
                watch.lap("orientation")
            preprocess.measure_dashes(image, frame, page_words, EN_DASH_LENGTH)
            out.append(PageRead(page_rows(page_words, i, True), image, frame, dpi, qr_codes, report))
        return out

    def _pdf_page(self, pdf, i: int, tmp: Path, name: str, in_memory: list[int]) -> tuple:
        """(text-layer words, None, 0, [], None) or ([], rendered image, its DPI, its QR codes, its
        PageCapture) for page i. The render is normalised (``capture``) and stays in memory (a PIL
        image) while ``in_memory`` has pixels left for it, else it is written to a file; the QR
        codes are decoded from the render in memory (a few ms, where decoding the file again would
        cost 100)."""
        try:
            page = pdf[i]
            words = docs.pdf_page_words(page)
            if docs.has_text_layer(words):
                return words, None, 0, [], None
            image, dpi = docs.render_page(page, self.limits.render_dpi, self.limits.max_pixels)
            codes = _qr_codes(image)
            report = None
            if self.capture:
                image, dpi, report = cap.normalise(image, dpi, self.target_xheight_px, self.limits.max_pixels)
            pixels = image.width * image.height
            if pixels <= in_memory[0]:
                in_memory[0] -= pixels
                return [], image, dpi, codes, report
            # Netpbm, not PNG: no compression to pay for (``tesseract_backends.netpbm_file``)
            netpbm = image.mode in NETPBM_MODES
            file = tmp / f"page-{i}.{'pnm' if netpbm else 'png'}"
            image.save(file, format="PPM" if netpbm else "PNG")
            return [], file, dpi, codes, report
        except OcrError:
            raise
        except Exception as exc:  # pdfium reports damaged page streams generically
            raise CorruptDocumentError(f"{name}: page {i + 1} cannot be read ({exc})") from None


def _frame(path: Path, frame: int):
    """One frame of an image file, decoded (Pillow)."""
    from PIL import Image

    with Image.open(path) as im:
        im.seek(frame)
        im.load()
        return im.copy()


def _qr_codes(image, frame: int = 0) -> list[str]:
    """The QR codes on a page image (PIL) or image file frame; none when they cannot be decoded
    (a code that cannot be read is a code not found, never a failed document)."""
    try:
        return ksef_link.decode_qr(image) if not isinstance(image, Path) else ksef_link.decode_qr_file(image, frame)
    except Exception as exc:  # noqa: BLE001
        log.warning("QR decoding skipped: %s: %s", type(exc).__name__, exc)
        return []


register("tesseract", TesseractEngine)
