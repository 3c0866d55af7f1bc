"""Checks that turn extracted values into calibrated confidence.

A value that passes an independent check (NIP checksum, IBAN mod 97, net + VAT = gross, line
items adding up, dates in order) is trusted more than the OCR's own confidence says; a value that
fails one is never reported as confident, and the reason goes into the result's warnings.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from stdnum import iban as _iban
from stdnum.eu import vat as _eu_vat
from stdnum.pl import nip as _nip

LOW_CONFIDENCE = 0.2
CRITICAL_FIELDS = ("invoice_id", "invoice_date", "supplier_tax_id", "total_amount")


def is_valid_nip(digits: str) -> bool:
    return len(digits) == 10 and _nip.is_valid(digits)


def is_valid_iban(value: str) -> bool:
    return _iban.is_valid(value)


def valid_tax_id(digits: str, country: str = "") -> bool:
    """A Polish NIP, or an EU (or UK) VAT number when the printed form carries a country prefix."""
    if country in ("", "PL"):
        return is_valid_nip(digits)
    try:
        if country in ("GB", "XI"):
            from stdnum.gb import vat as _gb_vat

            return _gb_vat.is_valid(country + digits)
        return _eu_vat.is_valid(country + digits)
    except Exception:  # stdnum raises on countries it does not know
        return False


def tax_id_value(body: str, country: str = "") -> str:
    """A tax id as the contract gives it: a Polish NIP as its ten digits, any other country's VAT
    number with its country prefix (GB123456789, DE136695976, NL004495445B01): 'digits only' is
    a Polish rule, and a foreign number without its country is ambiguous."""
    if country in ("", "PL"):
        return "".join(ch for ch in body if ch.isdigit())
    return country + "".join(ch for ch in body.upper() if ch.isalnum())


def apply_checks(fields: dict, line_items: list[dict[str, str]], warnings: list[str]) -> None:
    """Adjust each Found.conf in place by the checks that apply to it."""

    def boost(name: str, floor: float = 0.97) -> None:
        if name in fields:
            fields[name].conf = max(fields[name].conf, floor)

    def distrust(name: str, why: str) -> None:
        if name in fields:
            fields[name].conf = min(fields[name].conf, LOW_CONFIDENCE)
            warnings.append(f"{name}: {why}")

    for name in ("supplier_tax_id", "receiver_tax_id"):
        if name in fields:
            if fields[name].conf > LOW_CONFIDENCE:
                boost(name)
            else:
                warnings.append(f"{name}: {fields[name].value} fails the NIP checksum")
    if "supplier_iban" in fields:
        boost("supplier_iban")  # only checksum-valid IBANs are ever extracted

    amounts = {n: Decimal(fields[n].value) for n in ("net_amount", "total_tax_amount", "total_amount") if n in fields}
    if len(amounts) == 3:
        if amounts["net_amount"] + amounts["total_tax_amount"] == amounts["total_amount"]:
            for n in amounts:
                boost(n)
        else:
            for n in amounts:
                distrust(n, "net + VAT does not equal the total")
    if line_items and "net_amount" in amounts:
        items_sum = sum(Decimal(i["amount"]) for i in line_items)
        if items_sum == amounts["net_amount"]:
            boost("net_amount")
        else:
            warnings.append(f"line_items: amounts add up to {items_sum}, not the net total {amounts['net_amount']}")

    dates = {n: date.fromisoformat(fields[n].value) for n in ("invoice_date", "due_date", "delivery_date") if n in fields}
    if "invoice_date" in dates and "due_date" in dates and dates["due_date"] < dates["invoice_date"]:
        distrust("due_date", "due date is before the issue date")
