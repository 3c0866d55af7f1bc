"""Field-level comparison of two engines on the same invoice — shadow mode's core.

In GitHub Scientist's vocabulary: the *control* is the engine users rely on today (Google), the
*candidate* the one being proven (Tesseract); ``compare`` turns their two results (or errors)
into a per-field verdict and an agreement score that shadow traffic and the health gates publish.
Pure: no I/O, no clocks, so it can run on the request path's side thread or in a gate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Sequence

from .errors import OcrError
from .normalize import digits_only, find_dates, fold
from .result import FIELD_NAMES, LINE_ITEM_KEYS, ExtractionResult

MATCH, MISMATCH, MISSING, EXTRA, IGNORED = "match", "mismatch", "missing", "extra", "ignored"
AMOUNTS = {"net_amount", "total_tax_amount", "total_amount"}
DATES = {"invoice_date", "due_date", "delivery_date"}
TAX_IDS = {"supplier_tax_id", "receiver_tax_id"}


@dataclass(frozen=True)
class IgnoreRule:
    """A known, benign difference. ``kind``: 'always' skips the field; 'case' compares it
    ignoring case, spacing and diacritics (names OCR'd slightly differently)."""

    field: str
    kind: str = "always"
    reason: str = ""

    def __post_init__(self):
        if self.kind not in ("always", "case"):
            raise ValueError(f"ignore rule kind must be 'always' or 'case', not {self.kind!r}")
        if self.field not in FIELD_NAMES + ("line_items",):
            raise ValueError(f"unknown field {self.field!r} in ignore rule")

    @classmethod
    def parse(cls, text: str) -> "IgnoreRule":
        """'supplier_name:case' or 'due_date' (= always)."""
        name, _, kind = text.partition(":")
        return cls(name.strip(), kind.strip() or "always")


@dataclass
class FieldDiff:
    field: str
    status: str
    control: str | None
    candidate: str | None
    rule: str | None = None


@dataclass
class Comparison:
    fields: dict[str, FieldDiff] = field(default_factory=dict)
    line_items: FieldDiff | None = None
    items_matched: int = 0
    items_total: int = 0
    control_error: str | None = None
    candidate_error: str | None = None

    @property
    def counted(self) -> list[FieldDiff]:
        return [d for d in self.fields.values() if d.status != IGNORED]

    @property
    def agreement(self) -> float | None:
        """Share of compared fields that match (ignored fields excluded); None without a control."""
        if self.control_error is not None:
            return None
        counted = self.counted
        return sum(d.status == MATCH for d in counted) / len(counted) if counted else None

    @property
    def mismatched_fields(self) -> list[str]:
        return [d.field for d in self.counted if d.status != MATCH]

    def to_dict(self) -> dict:
        return {
            "agreement": None if self.agreement is None else round(self.agreement, 4),
            "fields": {name: asdict(d) for name, d in self.fields.items()},
            "line_items": asdict(self.line_items) if self.line_items else None,
            "items_matched": self.items_matched,
            "items_total": self.items_total,
            "control_error": self.control_error,
            "candidate_error": self.candidate_error,
        }


#: One side of a comparison: a read (as a result or its dict) or the error the engine raised.
ReadOrError = ExtractionResult | dict | Exception


def compare(control: ReadOrError, candidate: ReadOrError, ignore: Sequence[IgnoreRule] = ()) -> Comparison:
    """Compare a control and a candidate outcome (a result, its JSON dict, or the error raised)."""
    rules = {r.field: r for r in ignore}
    out = Comparison(control_error=_error_text(control), candidate_error=_error_text(candidate))
    control_fields, control_items = _values(control)
    candidate_fields, candidate_items = _values(candidate)
    for name in FIELD_NAMES:
        want, got = control_fields.get(name), candidate_fields.get(name)
        if want is None and got is None:
            continue
        rule = rules.get(name)
        if rule and rule.kind == "always":
            status = IGNORED
        elif want is None:
            status = EXTRA
        elif got is None:
            status = MISSING
        else:
            status = MATCH if same_value(name, want, got, loose=bool(rule)) else MISMATCH
        out.fields[name] = FieldDiff(name, status, want, got, rule.kind if rule else None)
    if control_items or candidate_items:
        norm_want = [_item_key(i) for i in control_items]
        norm_got = [_item_key(i) for i in candidate_items]
        out.items_matched = sum(w == g for w, g in zip(norm_want, norm_got))
        out.items_total = max(len(norm_want), len(norm_got))
        rule = rules.get("line_items")
        status = IGNORED if rule else (MATCH if norm_want == norm_got else MISMATCH)
        out.line_items = FieldDiff("line_items", status, f"{len(norm_want)} items", f"{len(norm_got)} items",
                                   rule.kind if rule else None)
    return out


def same_value(name: str, a: str, b: str, loose: bool = False) -> bool:
    """Equality in the field's own terms: to the grosz, the calendar day, the tax id's digits."""
    if name in AMOUNTS:
        return _decimal(a) is not None and _decimal(a) == _decimal(b)
    if name in DATES:
        return _date(a) is not None and _date(a) == _date(b)
    if name in TAX_IDS:
        return digits_only(a) == digits_only(b) != ""
    if name == "supplier_iban":
        return "".join(a.split()).upper() == "".join(b.split()).upper()
    if name == "currency":
        return a.strip().upper() == b.strip().upper()
    if loose:
        return fold(a).replace(" ", "") == fold(b).replace(" ", "")
    return " ".join(a.split()) == " ".join(b.split())


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip()).quantize(Decimal("0.01"))
    except (InvalidOperation, AttributeError):
        return None


def _date(text: str) -> date | None:
    found = find_dates(text)
    return found[0] if found else None


def _item_key(item: dict) -> tuple:
    key = []
    for k in LINE_ITEM_KEYS:
        value = str(item.get(k, "")).strip()
        if k in ("quantity", "unit_price", "amount"):
            number = _decimal(value)
            value = str(number) if number is not None else value
        key.append(" ".join(value.split()))
    return tuple(key)


def _error_text(outcome: ReadOrError) -> str | None:
    if isinstance(outcome, OcrError):
        return f"{outcome.code}: {outcome.message}"
    if isinstance(outcome, Exception):
        return f"{type(outcome).__name__}: {outcome}"
    return None


def _values(outcome: ReadOrError) -> tuple[dict[str, str], list[dict]]:
    if isinstance(outcome, Exception):
        return {}, []
    if isinstance(outcome, ExtractionResult):
        outcome = outcome.to_dict()
    fields = {name: str(v["value"] if isinstance(v, dict) else v) for name, v in outcome.get("fields", {}).items()}
    return fields, list(outcome.get("line_items") or [])
