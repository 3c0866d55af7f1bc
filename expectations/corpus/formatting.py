"""How values are printed on an invoice, and how they are normalised in the truth file.

Printed forms vary the way real Polish and English invoices do; truth forms follow the
"Golden truth file" contract in docs/architecture.md (dates YYYY-MM-DD, amounts "1703.55", tax ids digits
only, IBAN "PL" + 26 digits without spaces).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

GROSZ = Decimal("0.01")

PL_DATE_STYLES = ("iso", "dots", "dashes")
EN_DATE_STYLES = ("slashes", "iso", "words")
NIP_STYLES = ("plain", "dashes_3322", "dashes_3223", "pl_prefix")
IBAN_STYLES = ("iban_grouped", "nrb_grouped", "nrb_plain")

_DATE_PATTERNS = {"iso": "%Y-%m-%d", "dots": "%d.%m.%Y", "dashes": "%d-%m-%Y",
                  "slashes": "%d/%m/%Y"}
_ENGLISH_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                   "Dec")


def money(value: Decimal) -> Decimal:
    """Round to grosze (cents) the way Polish VAT law requires: half up."""
    return value.quantize(GROSZ, rounding=ROUND_HALF_UP)


# How a program prints 1703.55: by language ("1 703,55" / "1,703.55") unless the layout has a
# house style of its own.
AMOUNT_STYLES = {"space_comma": "1 703,55", "comma_dot": "1,703.55", "space_dot": "1 703.55",
                 "plain_comma": "1703,55", "plain_dot": "1703.55", "dot_comma": "1.703,55"}


def amount(value: Decimal, language: str, style: str = "") -> str:
    """Printed amount: "1 703,55" in Polish, "1,703.55" in English, or in `style`."""
    style = style or ("comma_dot" if language == "en" else "space_comma")
    english = f"{money(value):,.2f}"
    if style == "comma_dot":
        return english
    group, mark = {"space_comma": (" ", ","), "space_dot": (" ", "."), "plain_comma": ("", ","),
                   "plain_dot": ("", "."), "dot_comma": (".", ",")}[style]
    whole, cents = english.split(".")
    return whole.replace(",", group) + mark + cents


def decimal_mark(language: str, style: str = "") -> str:
    style = style or ("comma_dot" if language == "en" else "space_comma")
    return "." if style.endswith("dot") else ","


def amount_truth(value: Decimal) -> str:
    """Truth amount: dot decimal separator, exactly two decimals, no grouping."""
    return f"{money(value):.2f}"


def quantity(value: Decimal, language: str, style: str = "") -> str:
    """Printed quantity without trailing zeros: "2,5" in Polish, "2.5" in English, "10"."""
    text = quantity_truth(value)
    return text.replace(".", ",") if decimal_mark(language, style) == "," else text


def quantity_truth(value: Decimal) -> str:
    """Truth quantity: "2.5", "10" (no exponent, no trailing zeros)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def vat_rate(rate: int) -> str:
    """Printed VAT rate, e.g. "23%"."""
    return f"{rate}%"


def printed_date(value: date, style: str) -> str:
    """Printed date in one of the PL_DATE_STYLES / EN_DATE_STYLES."""
    if style == "words":
        return f"{value.day} {_ENGLISH_MONTHS[value.month - 1]} {value.year}"
    return value.strftime(_DATE_PATTERNS[style])


def nip(digits: str, style: str) -> str:
    """Printed NIP: "5213017228", "521-301-72-28", "521-30-17-228" or "PL5213017228"."""
    if style == "dashes_3322":
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    if style == "dashes_3223":
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:7]}-{digits[7:]}"
    if style == "pl_prefix":
        return f"PL{digits}"
    return digits


def iban(normalised: str, style: str) -> str:
    """Printed account number from a normalised "PL" + 26 digits IBAN.

    "iban_grouped": PL61 1090 1014 0000 0712 1981 2874 (IBAN paper format),
    "nrb_grouped": 61 1090 1014 0000 0712 1981 2874 (Polish NRB, as most banks print it),
    "nrb_plain": 61109010140000071219812874.
    """
    nrb = normalised[2:]
    if style == "nrb_plain":
        return nrb
    grouped = " ".join([nrb[:2]] + [nrb[i:i + 4] for i in range(2, len(nrb), 4)])
    return grouped if style == "nrb_grouped" else f"PL{grouped}"
