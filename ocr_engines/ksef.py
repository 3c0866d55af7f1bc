"""The KSeF structured path: an FA(3) e-invoice (XML) read exactly, without OCR.

Polish B2B invoices are issued in KSeF as FA(3) XML; where a customer uploads the XML itself,
no OCR engine is needed. This engine maps it onto the extraction result of docs/architecture.md:

- header: P_2 number, P_1 issue date, P_6 sale date (P_6_Do, the end of the period, when a
  period is given), Platnosc/TerminPlatnosci/Termin due date, Podmiot1/Podmiot2 NIP and name,
  the seller's account (Platnosc/RachunekBankowy/NrRB), KodWaluty;
- totals: the net is the sum of every P_13_* amount (the 0 % ones, P_13_6_*, included); the VAT
  the sum of P_14_1 ... P_14_5 (the P_14_*W elements are that VAT in PLN for a foreign currency
  and are not added); the gross is P_15;
- line items from FaWiersz: P_7, P_8B, P_9A, P_11, P_12 ('0 KR', '0 WDT', '0 EX' are '0';
  'zw', 'oo', 'np' stay as they are).

FA(2) is read where its elements are FA(3)'s; FA(1) and any other namespace are refused
(``UnsupportedSchemaError``). Parsing is defused (no entities, no DTD, no network: defusedxml)
and bounded (size, depth, element count); the structure is checked here (required elements,
their types, the arithmetic) rather than with schema files from elsewhere.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path

from .base import Engine, register
from .errors import CorruptDocumentError, DocumentError, EmptyDocumentError, ImageTooLargeError
from .result import ExtractionResult, FieldValue

FA3 = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA2 = "http://crd.gov.pl/wzor/2023/06/29/12648/"
FA1 = "http://crd.gov.pl/wzor/2021/11/29/11089/"
READABLE = {FA3: "FA(3)", FA2: "FA(2)"}
MAX_BYTES = 10 * 2**20  # a large FA(3) with thousands of lines is a few MiB
MAX_DEPTH = 32
MAX_ELEMENTS = 200_000
_ZERO_RATES = {"0 KR": "0", "0 WDT": "0", "0 EX": "0", "0": "0"}
_KEPT_RATES = {"zw", "oo", "np", "np I", "np II"}
_AMOUNT = re.compile(r"-?\d{1,16}(?:\.\d{1,8})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class UnsupportedSchemaError(DocumentError):
    """An XML document that is not an e-invoice schema this engine reads (FA(1), another form)."""

    code = "unsupported_schema"


class InvalidEInvoiceError(DocumentError):
    """An FA(2)/FA(3) document whose content breaks the structure or its arithmetic."""

    code = "invalid_e_invoice"


def looks_like_xml(path: Path) -> bool:
    """Whether the file starts like an XML document (after a BOM and blanks)."""
    with Path(path).open("rb") as fh:
        head = fh.read(512)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def parse(data: bytes, name: str = "document"):
    """The root element of a defused, bounded parse."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring
    from xml.etree.ElementTree import ParseError

    if not data.strip():
        raise EmptyDocumentError(f"{name}: the file is empty")
    if len(data) > MAX_BYTES:
        raise ImageTooLargeError(f"{name}: {len(data) / 2**20:.1f} MiB of XML exceeds {MAX_BYTES // 2**20} MiB")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CorruptDocumentError(f"{name}: the XML declares a DTD or entities, which e-invoices never do "
                                   f"({type(exc).__name__})") from None
    except ParseError as exc:
        raise CorruptDocumentError(f"{name}: not well-formed XML ({exc})") from None
    count = 0
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_ELEMENTS:
            raise CorruptDocumentError(f"{name}: the XML nests deeper than {MAX_DEPTH} levels or has more than "
                                       f"{MAX_ELEMENTS} elements")
        stack.extend((child, depth + 1) for child in element)
    return root


def namespace(root) -> str:
    return root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""


class _Reader:
    def __init__(self, root, ns: str, name: str):
        self.root, self.ns, self.name = root, ns, name

    def q(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))

    def find(self, path: str, at=None):
        return (self.root if at is None else at).find(self.q(path))

    def text(self, path: str, at=None, required: bool = False) -> str | None:
        element = self.find(path, at)
        value = element.text.strip() if element is not None and element.text else None
        if required and not value:
            raise InvalidEInvoiceError(f"{self.name}: the required element {path} is missing or empty")
        return value

    def amount(self, path: str, at=None, required: bool = False) -> Decimal | None:
        value = self.text(path, at, required)
        if value is None:
            return None
        if not _AMOUNT.fullmatch(value):
            raise InvalidEInvoiceError(f"{self.name}: {path} is not an amount ({value[:40]!r})")
        return Decimal(value)

    def date(self, path: str, at=None, required: bool = False) -> str | None:
        value = self.text(path, at, required)
        if value is None:
            return None
        from datetime import date

        try:
            if not _DATE.fullmatch(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise InvalidEInvoiceError(f"{self.name}: {path} is not a date ({value[:40]!r})") from None
        return value


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _quantity(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def read_e_invoice(data: bytes, name: str = "document") -> ExtractionResult:
    """The extraction result of one FA(3) (or FA(2)) XML document."""
    start = time.perf_counter()
    root = parse(data, name)
    ns = namespace(root)
    local = root.tag.split("}", 1)[-1]
    if ns not in READABLE or local != "Faktura":
        known = {FA1: "FA(1)"}.get(ns)
        raise UnsupportedSchemaError(f"{name}: {known or 'not a KSeF e-invoice'} ({ns or 'no namespace'}, root "
                                     f"{local!r}); this engine reads FA(3), and FA(2) where it matches FA(3)")
    r = _Reader(root, ns, name)
    fa = r.find("Fa")
    if fa is None:
        raise InvalidEInvoiceError(f"{name}: no Fa element")
    fields: dict[str, FieldValue] = {}

    def put(field: str, value: str | None) -> None:
        if value:
            fields[field] = FieldValue(value, 1.0)

    put("invoice_id", r.text("P_2", fa, required=True))
    put("invoice_date", r.date("P_1", fa, required=True))
    put("delivery_date", r.date("P_6", fa) or r.date("OkresFa/P_6_Do", fa))
    put("due_date", r.date("Platnosc/TerminPlatnosci/Termin", fa))
    for field, party in (("supplier", "Podmiot1"), ("receiver", "Podmiot2")):
        put(f"{field}_tax_id", r.text(f"{party}/DaneIdentyfikacyjne/NIP"))
        put(f"{field}_name", r.text(f"{party}/DaneIdentyfikacyjne/Nazwa"))
    put("supplier_iban", (r.text("Platnosc/RachunekBankowy/NrRB", fa) or "").replace(" ", "") or None)
    put("currency", r.text("KodWaluty", fa, required=True))
    if not fields.get("supplier_tax_id"):
        raise InvalidEInvoiceError(f"{name}: the seller (Podmiot1) has no NIP")

    net = Decimal(0)
    vat = Decimal(0)
    for child in fa:
        tag = child.tag.split("}", 1)[-1]
        if re.fullmatch(r"P_13_\d+(?:_\d+)?", tag):
            net += r.amount(tag, fa) or 0
        elif re.fullmatch(r"P_14_[1-5]", tag):
            vat += r.amount(tag, fa) or 0
    gross = r.amount("P_15", fa, required=True)
    put("net_amount", _money(net))
    put("total_tax_amount", _money(vat))
    put("total_amount", _money(gross))
    warnings = []
    if net + vat != gross:
        warnings.append(f"total_amount: net {net} + VAT {vat} is not the gross {gross} (as issued)")

    items = []
    for row in fa.findall(r.q("FaWiersz")):
        description = r.text("P_7", row, required=True)
        item = {"description": description}
        quantity, price, amount = r.amount("P_8B", row), r.amount("P_9A", row), r.amount("P_11", row)
        if quantity is not None:
            item["quantity"] = _quantity(quantity)
        if price is not None:
            item["unit_price"] = _money(price)
        if amount is None:
            amount = r.amount("P_11A", row)  # a gross line (P_11A) when the invoice is priced gross
        if amount is not None:
            item["amount"] = _money(amount)
        rate = r.text("P_12", row)
        if rate is not None:
            if rate in _ZERO_RATES:
                item["vat_rate"] = _ZERO_RATES[rate]
            elif rate in _KEPT_RATES or re.fullmatch(r"\d{1,2}(?:\.\d+)?", rate):
                item["vat_rate"] = rate
            else:
                raise InvalidEInvoiceError(f"{name}: line {len(items) + 1}: P_12 {rate[:20]!r} is no VAT rate")
        items.append(item)
    return ExtractionResult(engine="ksef", engine_version=f"{READABLE[ns]} reader 1", pages=1, confidence=1.0,
                            fields=fields, line_items=items, warnings=warnings,
                            timings_ms={"parse": int((time.perf_counter() - start) * 1000)})


class KsefEngine(Engine):
    """Reads KSeF e-invoices (FA(3) XML, FA(2) where it matches) exactly, without OCR."""

    name = "ksef"

    def __init__(self, limits=None):
        self.max_bytes = min(MAX_BYTES, limits.max_bytes) if limits is not None else MAX_BYTES

    @property
    def version(self) -> str:
        return "FA(3) reader 1"

    def extract(self, path: Path) -> ExtractionResult:
        path = Path(path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise CorruptDocumentError(f"{path}: no such file") from None
        if size > self.max_bytes:
            raise ImageTooLargeError(f"{path.name}: {size / 2**20:.1f} MiB of XML exceeds "
                                     f"{self.max_bytes / 2**20:.0f} MiB")
        return read_e_invoice(path.read_bytes(), path.name)


register("ksef", KsefEngine)
