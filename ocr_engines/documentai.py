"""Google Cloud Document AI (Invoice Parser) behind the engine interface.

Uses the official client (``DocumentProcessorServiceClient.process_document`` with a
``RawDocument``) over the REST transport, so that the very same code path runs against Google's
regional endpoint ``{location}-documentai.googleapis.com`` in production and against the local
API double (``documentai_double``) in tests and the demo. Entities are mapped onto the contract
(docs/architecture.md) with Google's own per-field confidence.

Retries are ours, not the client's defaults, so that they are bounded and observable: 429, 500,
503, DEADLINE_EXCEEDED and transport failures are retried with exponential backoff and jitter;
everything else, and what is still failing after the last attempt, becomes a typed error whose
message never includes credentials.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from . import documents as docs
from .base import Engine, Stopwatch, register
from .errors import (
    EmptyResponseError,
    EngineError,
    EngineUnavailableError,
    InvalidProcessorError,
    MalformedResponseError,
    OcrTimeoutError,
    PermissionDeniedError,
    QuotaExceededError,
    TooManyPagesError,
    UnreadableDocumentError,
)
from .normalize import digits_only, find_dates, fold, format_amount, format_quantity, parse_number
from .result import FIELD_NAMES, ExtractionResult, FieldValue
from .labels import CURRENCY_TOKENS
from .validation import tax_id_value, valid_tax_id

log = logging.getLogger(__name__)

ONLINE_PAGE_LIMIT = 15  # Document AI online (synchronous) processing
MIME_TYPES = {docs.PDF: "application/pdf", docs.PNG: "image/png", docs.JPEG: "image/jpeg", docs.TIFF: "image/tiff"}
TEST_DOUBLE_URI = "test-double:documentai"  # what the local double stamps on every document
LINE_ITEM_PROPERTIES = {
    "line_item/description": "description",
    "line_item/quantity": "quantity",
    "line_item/unit_price": "unit_price",
    "line_item/amount": "amount",
    "line_item/tax_rate": "vat_rate",  # not in the stock parser; uptrained processors may add it
}
AMOUNT_FIELDS = {"net_amount", "total_tax_amount", "total_amount"}
DATE_FIELDS = {"invoice_date", "due_date", "delivery_date"}


@dataclass(frozen=True)
class DocumentAIConfig:
    project: str
    location: str = "eu"
    processor_id: str = ""
    processor_version: str | None = None
    endpoint: str | None = None  # default: the regional endpoint
    credentials_file: str | None = None  # service-account JSON; default: Application Default Credentials
    timeout_s: float = 60.0
    max_attempts: int = 4
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 16.0

    @property
    def processor_name(self) -> str:
        name = f"projects/{self.project}/locations/{self.location}/processors/{self.processor_id}"
        return f"{name}/processorVersions/{self.processor_version}" if self.processor_version else name

    @property
    def api_endpoint(self) -> str:
        return self.endpoint or f"{self.location}-documentai.googleapis.com"


class DocumentAIEngine(Engine):
    name = "documentai"

    def __init__(self, config: DocumentAIConfig | None = None, limits: docs.Limits | None = None, **kwargs):
        self.config = config or DocumentAIConfig(**kwargs)
        if not (self.config.project and self.config.processor_id):
            raise InvalidProcessorError(
                "Document AI needs a project and a processor id "
                "(OCR_MIGRATE_DOCUMENTAI_PROJECT, OCR_MIGRATE_DOCUMENTAI_PROCESSOR_ID)")
        base = limits or docs.Limits()
        self.limits = docs.Limits(base.max_bytes, min(base.max_pages, ONLINE_PAGE_LIMIT), base.max_pixels,
                                  base.render_dpi, base.page_timeout_s)
        self._client = None

    @property
    def version(self) -> str:
        return self.config.processor_version or "default"

    def client(self):
        if self._client is None:
            self._client = _make_client(self.config)
            log.info("Document AI engine talks to %s (processor %s)", self.config.api_endpoint,
                     self.config.processor_name)
        return self._client

    def warm_up(self) -> None:
        self.client()

    def extract(self, path: Path) -> ExtractionResult:
        path = Path(path)
        watch = Stopwatch()
        kind = docs.sniff_type(path)
        docs.check_size(path, self.limits)
        pages = self._count_pages(path, kind)
        content = path.read_bytes()
        watch.lap("load")
        response = self._process(content, MIME_TYPES[kind], path.name)
        watch.lap("ocr")
        result = map_document(response.document, self.version)
        result.pages = result.pages or pages
        if response.document.uri == TEST_DOUBLE_URI:
            result.warnings.append(f"served by the local Document AI test double at {self.config.api_endpoint}, "
                                   "not by Google")
        watch.lap("extract")
        result.timings_ms = watch.laps
        return result

    def _count_pages(self, path: Path, kind: str) -> int:
        try:
            if kind == docs.PDF:
                with docs.pdfium_lock:
                    pdf = docs.open_pdf(path, self.limits)
                    pages = len(pdf)
                    pdf.close()
                return pages
            return docs.inspect_image(path, self.limits).frames
        except TooManyPagesError as exc:
            raise TooManyPagesError(f"{exc.message} (Document AI online processing reads at most "
                                    f"{ONLINE_PAGE_LIMIT} pages)") from None

    def _process(self, content: bytes, mime_type: str, filename: str):
        from google.api_core import exceptions as gexc
        from google.cloud import documentai

        request = documentai.ProcessRequest(
            name=self.config.processor_name,
            raw_document=documentai.RawDocument(content=content, mime_type=mime_type),
        )
        cfg = self.config
        last: Exception | None = None
        for attempt in range(1, cfg.max_attempts + 1):
            try:
                return self.client().process_document(request=request, retry=None, timeout=cfg.timeout_s)
            except (gexc.TooManyRequests, gexc.ResourceExhausted, gexc.ServiceUnavailable,
                    gexc.InternalServerError, gexc.DeadlineExceeded, gexc.GatewayTimeout) as exc:
                last = exc
            except gexc.Forbidden as exc:  # PermissionDenied over gRPC, plain 403 over REST
                raise PermissionDeniedError(
                    f"{filename}: the credentials may not use {cfg.processor_name} ({_reason(exc)}); "
                    "grant roles/documentai.apiUser to the service account") from None
            except gexc.NotFound as exc:
                raise InvalidProcessorError(
                    f"{filename}: processor {cfg.processor_name} not found at {cfg.api_endpoint} ({_reason(exc)})"
                ) from None
            except gexc.BadRequest as exc:  # InvalidArgument over gRPC
                reason = _reason(exc)
                if "page" in reason.lower():
                    raise TooManyPagesError(f"{filename}: {reason}") from None
                if any(word in reason.lower() for word in ("document", "file", "format", "content", "corrupt")):
                    raise UnreadableDocumentError(f"{filename}: Document AI could not read it: {reason}") from None
                raise InvalidProcessorError(f"{filename}: Document AI refused the request: {reason}") from None
            except gexc.GoogleAPICallError as exc:
                raise EngineError(f"{filename}: Document AI error {exc.code}: {_reason(exc)}") from None
            except Exception as exc:  # transport layer: connection refused, read timeout, bad JSON
                kind = _transport_failure(exc)
                if kind == "malformed":
                    raise MalformedResponseError(
                        f"{filename}: {cfg.api_endpoint} answered with a body that is not a Document AI "
                        f"response ({type(exc).__name__})") from None
                last = exc
            if attempt < cfg.max_attempts:
                delay = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random() / 2))  # jitter: no synchronized retry storms
        raise _final_error(last, filename, cfg)


def _reason(exc) -> str:
    """The provider's message, one line, never request headers (which carry the token)."""
    return " ".join(str(getattr(exc, "message", "") or exc).split())[:300]


def _transport_failure(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "unreachable"
    return "malformed"


def _final_error(exc: Exception | None, filename: str, cfg: DocumentAIConfig) -> EngineError:
    from google.api_core import exceptions as gexc

    tries = f"after {cfg.max_attempts} attempts"
    if isinstance(exc, (gexc.TooManyRequests, gexc.ResourceExhausted)):
        return QuotaExceededError(f"{filename}: Document AI quota exhausted {tries} ({_reason(exc)}); "
                                  "raise the processor's quota or slow down")
    if isinstance(exc, (gexc.DeadlineExceeded, gexc.GatewayTimeout)) or (
            exc is not None and _transport_failure(exc) == "timeout"):
        return OcrTimeoutError(f"{filename}: Document AI did not answer within {cfg.timeout_s:.0f} s {tries}")
    if exc is not None and _transport_failure(exc) == "unreachable":
        return EngineUnavailableError(f"{filename}: cannot reach Document AI at {cfg.api_endpoint} {tries}")
    return EngineUnavailableError(f"{filename}: Document AI unavailable {tries} ({_reason(exc)})")


def _make_client(cfg: DocumentAIConfig):
    from google.api_core.client_options import ClientOptions
    from google.cloud import documentai

    options = ClientOptions(api_endpoint=cfg.api_endpoint)
    if cfg.credentials_file:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            cfg.credentials_file, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    elif cfg.endpoint and cfg.endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()  # a plain-HTTP endpoint is a local double, never Google
    else:
        credentials = None  # Application Default Credentials
    return documentai.DocumentProcessorServiceClient(credentials=credentials, client_options=options,
                                                     transport="rest")


# ---------------------------------------------------------------- mapping


def map_document(document, version: str) -> ExtractionResult:
    """Invoice Parser entities → the extraction result; the best-scored entity per field."""
    result = ExtractionResult(engine="documentai", engine_version=version, pages=len(document.pages),
                              text=document.text)
    fields: dict[str, FieldValue] = {}
    for entity in document.entities:
        if entity.type_ == "line_item":
            item = _line_item(entity)
            if item:
                result.line_items.append(item)
            continue
        if entity.type_ not in FIELD_NAMES:
            continue
        value = _field_value(entity.type_, entity)
        if value is None:
            result.warnings.append(f"{entity.type_}: cannot normalise {entity.mention_text!r}")
            continue
        if entity.type_ not in fields or entity.confidence > fields[entity.type_].confidence:
            fields[entity.type_] = FieldValue(value, entity.confidence)
    if not fields and not result.line_items:
        raise EmptyResponseError("Document AI returned no invoice entities for this document "
                                 "(is the processor an Invoice Parser?)")
    result.fields = {name: fields[name] for name in FIELD_NAMES if name in fields}
    result.confidence = sum(f.confidence for f in fields.values()) / len(fields) if fields else 0.0
    return result


def _money(entity) -> Decimal | None:
    nv = entity.normalized_value
    if nv and nv.money_value and (nv.money_value.units or nv.money_value.nanos or nv.money_value.currency_code):
        return Decimal(nv.money_value.units) + Decimal(nv.money_value.nanos) / Decimal(10**9)
    text = entity.mention_text.replace("zł", "").replace("PLN", "").replace("EUR", "").strip()
    return parse_number(text)


def _field_value(name: str, entity) -> str | None:
    text = " ".join(entity.mention_text.split())
    nv = entity.normalized_value
    if name in AMOUNT_FIELDS:
        value = _money(entity)
        return format_amount(value) if value is not None else None
    if name in DATE_FIELDS:
        if nv and nv.date_value and nv.date_value.year:
            d = nv.date_value
            return f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
        found = find_dates(text)
        return found[0].isoformat() if found else None
    if name in ("supplier_tax_id", "receiver_tax_id"):
        compact = "".join(ch for ch in text.upper() if ch.isalnum())
        if compact[:2].isalpha() and compact[:2] != "PL" and valid_tax_id(compact[2:], compact[:2]):
            return tax_id_value(compact[2:], compact[:2])  # a foreign VAT number keeps its country
        return digits_only(text) or None
    if name == "supplier_iban":
        return "".join(text.split()).upper() or None
    if name == "currency":
        code = (nv.text if nv and nv.text else text).strip()
        return CURRENCY_TOKENS.get(fold(code).rstrip("."), code.upper() if len(code) == 3 else None)
    return text or None


def _line_item(entity) -> dict[str, str] | None:
    item: dict[str, str] = {}
    for prop in entity.properties:
        key = LINE_ITEM_PROPERTIES.get(prop.type_)
        if key is None:
            continue
        text = " ".join(prop.mention_text.split())
        if key in ("unit_price", "amount"):
            value = _money(prop)
            if value is not None:
                item[key] = format_amount(value)
        elif key == "quantity":
            value = parse_number(text)
            if value is not None:
                item[key] = format_quantity(value)
        elif key == "vat_rate":
            item[key] = digits_only(text) or text
        else:
            item[key] = text
    return item or None


register("documentai", DocumentAIEngine)
