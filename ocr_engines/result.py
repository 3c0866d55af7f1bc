"""The extraction result contract (docs/architecture.md), shared by every engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from .normalize import strip_controls

FIELD_NAMES = (
    "invoice_id",
    "invoice_date",
    "due_date",
    "delivery_date",
    "supplier_name",
    "supplier_tax_id",
    "supplier_iban",
    "receiver_name",
    "receiver_tax_id",
    "net_amount",
    "total_tax_amount",
    "total_amount",
    "currency",
)
LINE_ITEMS = "line_items"  # the contract's name for the item list (beside the fields)
LINE_ITEM_KEYS = ("description", "quantity", "unit_price", "amount", "vat_rate")
# The fields a document's accuracy is judged on: all but the sale date, which many layouts do
# not print (issue 12's scoring).
HEADER_FIELDS = tuple(n for n in FIELD_NAMES if n != "delivery_date")


@dataclass
class FieldValue:
    value: str
    confidence: float

    def to_dict(self) -> dict:
        return {"value": strip_controls(self.value), "confidence": round(self.confidence, 3)}


@dataclass
class ExtractionResult:
    engine: str
    engine_version: str
    pages: int
    confidence: float = 0.0
    fields: dict[str, FieldValue] = field(default_factory=dict)
    line_items: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, int] = field(default_factory=dict)
    text: str = ""  # full page text, for character error rate; not part of the JSON contract
    ksef: dict | None = None  # the KSeF number and verification link on a visualisation (ksef_link)
    capture: dict | None = None  # what the upload was taken to be and what was done to it (capture.py)

    def value(self, name: str) -> str | None:
        found = self.fields.get(name)
        return found.value if found else None

    def to_dict(self) -> dict:
        return {
            "engine": self.engine,
            "engine_version": self.engine_version,
            "pages": self.pages,
            "confidence": round(self.confidence, 3),
            "fields": {name: self.fields[name].to_dict() for name in FIELD_NAMES if name in self.fields},
            "line_items": [{k: strip_controls(v) if isinstance(v, str) else v for k, v in item.items()}
                           for item in self.line_items],
            "warnings": self.warnings,
            "timings_ms": self.timings_ms,
            **({"ksef": self.ksef} if self.ksef else {}),
            **({"capture": self.capture} if self.capture else {}),
        }
