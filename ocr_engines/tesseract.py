"""The open-source engine: PDF text layers where they exist, Tesseract 5 (LSTM) everywhere else."""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import documents as docs
from . import ksef_link, preprocess
from .base import Engine, Stopwatch, register
from .errors import (CorruptDocumentError, EngineError, EngineUnavailableError, OcrError, OcrTimeoutError,
                     UnreadableDocumentError)
from .extract import read_invoice
from .extract.merge import merge_reads, needs_second_look
from .extract.reader import Found
from .layout import EN_DASH_LENGTH, Row, Word, build_rows, deskewed, en_dashes, skew_angle
from .result import ExtractionResult, FieldValue
from .calibration import document_confidence
from .validation import apply_checks

log = logging.getLogger(__name__)

DEFAULT_LANGUAGES = "pol+eng"
DEFAULT_PSM = 3


@functools.cache
def tesseract_version() -> str:
    import pytesseract

    try:
        return str(pytesseract.get_tesseract_version()).split()[0]
    except pytesseract.TesseractNotFoundError:
        raise EngineUnavailableError(
            "the tesseract binary is not installed (apt-get install tesseract-ocr tesseract-ocr-pol)"
        ) from None


def ocr_words(image_path: Path, dpi: int, languages: str, timeout_s: float, psm: int = 3) -> dict[int, list[Word]]:
    """Run Tesseract once over an image file (all its frames); words per page index."""
    import pytesseract

    # One OpenMP thread per Tesseract process: ~8x faster on a 2-core box; parallelise by process.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    config = f"--oem 1 --psm {psm} --dpi {dpi}"
    try:
        data = pytesseract.image_to_data(
            str(image_path), lang=languages, config=config, timeout=timeout_s,
            output_type=pytesseract.Output.DICT,
        )
    except pytesseract.TesseractError as exc:  # it ran, and could not read this image ('libpng error')
        raise UnreadableDocumentError(f"{image_path.name}: tesseract could not read it: "
                                      f"{str(exc.message).strip()[:300]}") from None
    except pytesseract.TesseractNotFoundError:
        tesseract_version()  # raises the typed error with the install hint
        raise
    except RuntimeError as exc:  # pytesseract signals its timeout this way (TesseractError is one too)
        if "timeout" in str(exc).lower():
            raise OcrTimeoutError(f"{image_path.name}: OCR took longer than {timeout_s:.0f} s") from None
        raise EngineError(f"{image_path.name}: tesseract failed ({exc})") from None
    if not data or "text" not in data:  # not even a page: the image data is damaged (a strip past the end)
        raise UnreadableDocumentError(f"{image_path.name}: tesseract read nothing from it (damaged image data?)")
    pages: dict[int, list[Word]] = {}
    for i, text in enumerate(data["text"]):
        text = text.strip()
        if data["level"][i] != 5 or not text:
            continue
        left, top = data["left"][i], data["top"][i]
        word = Word(
            text, left, top, left + data["width"][i], top + data["height"][i],
            conf=max(float(data["conf"][i]), 0.0) / 100.0,
            line_key=(data["block_num"][i], data["par_num"][i], data["line_num"][i]),
        )
        pages.setdefault(data["page_num"][i] - 1, []).append(word)
    return pages


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
    """One page's rows, and for an OCR'd page the image they were read from (a file, and the
    frame in it) at its DPI: what a second look reads again."""

    rows: list[Row]
    image: Path | None = None
    frame: int = 0
    dpi: int = 0
    qr_codes: list[str] = field(default_factory=list)  # a rendered page's QR codes, decoded from the render


class TesseractEngine(Engine):
    name = "tesseract"

    def __init__(self, languages: str = DEFAULT_LANGUAGES, limits: docs.Limits | None = None,
                 psm: int = DEFAULT_PSM, second_look: bool = True):
        self.languages = languages
        self.limits = limits or docs.Limits()
        self.psm = psm
        self.second_look = second_look

    @property
    def version(self) -> str:
        return tesseract_version()

    def warm_up(self) -> None:
        from .lexicon import warm_up

        tesseract_version()
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
            scanned = [p for p in pages if p.image is not None]
            if scanned and self.second_look and needs_second_look(extraction, warnings):
                second = self._second_look(pages, Path(tmp))
                watch.lap("second_look_ocr")
                again, _ = self._read_fields(second)
                extraction = merge_reads(extraction, again)
                warnings = []
                apply_checks(extraction.fields, extraction.line_items, warnings)
                watch.lap("second_look_extract")
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
            confidence=document_confidence(ocr_fields, extraction.expected | set(corrected)),
            fields=fields,
            line_items=extraction.line_items,
            warnings=warnings,
            timings_ms=watch.laps,
            text=text,
            ksef=reference.to_dict() if reference else None,
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
                    docs.render_page_to_file(pdf[i], None, ksef_link.QR_RENDER_DPI, self.limits.max_pixels,
                                             inspect=lambda image: out.extend(_qr_codes(image)))
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

    def _second_look(self, pages: list[PageRead], tmp: Path) -> list[PageRead]:
        """The OCR'd pages read again from ink-only images (``preprocess``); text-layer pages as
        they were. A page the second look cannot read (an image only Tesseract could decode, a
        timeout) keeps its first read: the look may improve a document, never fail it."""
        out = []
        for i, page in enumerate(pages):
            if page.image is None:
                out.append(page)
                continue
            cleaned = tmp / f"second-{i}.png"
            try:
                preprocess.write_ink_only(page.image, cleaned, page.frame, page.dpi)
                words = ocr_words(cleaned, page.dpi, self.languages, self.limits.page_timeout_s, self.psm)
            except Exception as exc:  # noqa: BLE001 (the first read stands)
                log.warning("second look skipped on page %d: %s: %s", i + 1, type(exc).__name__, exc)
                out.append(page)
                continue
            page_words = words.get(0, [])
            preprocess.mark_in_word_en_dashes(cleaned, 0, page_words, EN_DASH_LENGTH)
            out.append(PageRead(page_rows(page_words, i, True), cleaned, 0, page.dpi))
        return out

    def _read_image(self, path: Path, watch: Stopwatch) -> list[PageRead]:
        info = docs.inspect_image(path, self.limits)
        watch.lap("load")
        # Tesseract reads the file itself (all TIFF frames in one process): no re-encoding.
        dpi = docs.estimated_dpi(info)
        words = ocr_words(path, dpi, self.languages, self.limits.page_timeout_s * info.frames, self.psm)
        watch.lap("ocr")
        for i in range(info.frames):
            preprocess.mark_in_word_en_dashes(path, i, words.get(i, []), EN_DASH_LENGTH)
        return [PageRead(page_rows(words.get(i, []), i, True), path, i, dpi) for i in range(info.frames)]

    def _read_pdf(self, path: Path, watch: Stopwatch, tmp: Path) -> list[PageRead]:
        # pdfium is not thread-safe: text layers and renders under its lock, OCR outside it.
        with docs.pdfium_lock:
            pdf = docs.open_pdf(path, self.limits)
            try:
                pages = [self._pdf_page(pdf, i, tmp, path.name) for i in range(len(pdf))]
            finally:
                pdf.close()
        watch.lap("load")
        out: list[PageRead] = []
        for i, (words, image, dpi, qr_codes) in enumerate(pages):
            if image is None:
                out.append(PageRead(page_rows(words, i, False)))
                continue
            page_words = ocr_words(image, dpi, self.languages, self.limits.page_timeout_s, self.psm).get(0, [])
            preprocess.mark_in_word_en_dashes(image, 0, page_words, EN_DASH_LENGTH)
            out.append(PageRead(page_rows(page_words, i, True), image, 0, dpi, qr_codes))
            watch.lap("ocr")
        return out

    def _pdf_page(self, pdf, i: int, tmp: Path, name: str) -> tuple[list[Word], Path | None, int, list[str]]:
        """(text-layer words, None, 0, []) or ([], rendered image, its DPI, its QR codes) for page i
        (the codes decoded from the render in memory: a few ms, where decoding the file again
        would cost 100)."""
        try:
            page = pdf[i]
            words = docs.pdf_page_words(page)
            if docs.has_text_layer(words):
                return words, None, 0, []
            image = tmp / f"page-{i}.png"
            codes: list[str] = []
            dpi = docs.render_page_to_file(page, image, self.limits.render_dpi, self.limits.max_pixels,
                                           inspect=lambda img: codes.extend(_qr_codes(img)))
            return [], image, dpi, codes
        except OcrError:
            raise
        except Exception as exc:  # pdfium reports damaged page streams generically
            raise CorruptDocumentError(f"{name}: page {i + 1} cannot be read ({exc})") from None


def _qr_codes(image, frame: int = 0) -> list[str]:
    """The QR codes on a page image (PIL) or image file frame; none when they cannot be decoded
    (a code that cannot be read is a code not found, never a failed document)."""
    try:
        return ksef_link.decode_qr(image) if not isinstance(image, Path) else ksef_link.decode_qr_file(image, frame)
    except Exception as exc:  # noqa: BLE001
        log.warning("QR decoding skipped: %s: %s", type(exc).__name__, exc)
        return []


register("tesseract", TesseractEngine)
