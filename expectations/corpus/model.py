"""Seeded data model of one synthetic invoice: parties, dates, line items and exact totals.

Everything random comes from a `random.Random` seeded per invoice (see `derive_seed`), never
from the global generator, so an invoice depends only on (corpus seed, index) and can be built
in any process in any order. Money is `Decimal`, rounded half up to grosze, and totals follow
Polish practice: VAT is computed per rate on the summed net values, not per line.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Mapping, Sequence

from stdnum import iban as stdnum_iban
from stdnum.pl import nip as stdnum_nip

from . import formatting, vocabulary

LANGUAGES = ("pl", "en")
CURRENCIES = ("PLN", "EUR")
PAYMENT_TRANSFER = "transfer"
PAYMENT_CASH = "cash"

_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_SORT_CODE_WEIGHTS = (3, 9, 7, 1, 3, 9, 7)
_FIRST_ISSUE_DATE = date(2024, 1, 1)
_ISSUE_DAYS = (date(2026, 12, 31) - _FIRST_ISSUE_DATE).days
_EUR_PRICE_FACTOR = Decimal("0.23")  # catalogue prices are in PLN; roughly 1 EUR = 4.3 PLN
_CITY_CODES = ("KR", "WA", "GD", "PO", "WR", "LD", "SZ")


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from `parts`, stable across processes and Python versions (unlike hash())."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class Party:
    """Seller or buyer. `nip`/`iban` are normalised; the `*_printed` forms go on the page."""

    name: str
    address: tuple[str, ...]
    nip: str
    nip_printed: str
    iban: str | None = None
    iban_printed: str | None = None


@dataclass(frozen=True)
class LineItem:
    """One invoice line; prices are net, as on Polish B2B invoices."""

    description: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: int

    @property
    def net(self) -> Decimal:
        """Line net value: quantity × net unit price, rounded to grosze."""
        return formatting.money(self.quantity * self.unit_price)

    @property
    def vat(self) -> Decimal:
        """Per-line VAT, shown only by tables with a "Kwota VAT" column.

        It may differ by a grosz from the per-rate VAT the invoice totals use, as on real
        Polish invoices.
        """
        return formatting.money(self.net * self.vat_rate / 100)

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass(frozen=True)
class RateTotal:
    """Sum of one VAT rate: the basis of Polish invoice totals."""

    rate: int
    net: Decimal

    @property
    def vat(self) -> Decimal:
        return formatting.money(self.net * self.rate / 100)

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass(frozen=True)
class Invoice:
    """Everything printed on one invoice, plus the print styles chosen for it."""

    seed: int
    language: str
    currency: str
    currency_label: str  # "PLN", "zł" or "EUR" as printed next to amounts
    number: str
    issue_date: date
    sale_date: date
    due_date: date
    date_style: str
    place: str
    seller: Party
    buyer: Party
    items: tuple[LineItem, ...]
    payment: str
    notes: tuple[str, ...]
    two_pages: bool
    ksef_number: str
    amount_style: str = ""  # formatting.AMOUNT_STYLES; "" prints amounts the language's way

    @property
    def rate_totals(self) -> tuple[RateTotal, ...]:
        """Net sums per VAT rate, highest rate first."""
        sums: dict[int, Decimal] = {}
        for item in self.items:
            sums[item.vat_rate] = sums.get(item.vat_rate, Decimal("0")) + item.net
        return tuple(RateTotal(rate, sums[rate]) for rate in sorted(sums, reverse=True))

    @property
    def net_total(self) -> Decimal:
        return sum((total.net for total in self.rate_totals), Decimal("0"))

    @property
    def tax_total(self) -> Decimal:
        return sum((total.vat for total in self.rate_totals), Decimal("0"))

    @property
    def gross_total(self) -> Decimal:
        return self.net_total + self.tax_total

    def printed_date(self, value: date) -> str:
        return formatting.printed_date(value, self.date_style)

    def printed_amount(self, value: Decimal) -> str:
        return formatting.amount(value, self.language, self.amount_style)

    def printed_quantity(self, value: Decimal) -> str:
        return formatting.quantity(value, self.language, self.amount_style)

    def truth_values(self) -> dict[str, str]:
        """Every top-level truth field in its normalised form, printed or not."""
        values = {
            "invoice_id": self.number,
            "invoice_date": self.issue_date.isoformat(),
            "delivery_date": self.sale_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "supplier_name": self.seller.name,
            "supplier_tax_id": self.seller.nip,
            "receiver_name": self.buyer.name,
            "receiver_tax_id": self.buyer.nip,
            "net_amount": formatting.amount_truth(self.net_total),
            "total_tax_amount": formatting.amount_truth(self.tax_total),
            "total_amount": formatting.amount_truth(self.gross_total),
            "currency": self.currency,
        }
        if self.seller.iban:
            values["supplier_iban"] = self.seller.iban
        return values

    def truth(self, printed_fields: Iterable[str],
              line_items: Sequence[Mapping[str, str]]) -> dict:
        """Golden truth: only the fields a layout actually printed, plus the printed line items."""
        values = self.truth_values()
        fields = set(printed_fields)
        unknown = fields - values.keys()
        if unknown:
            raise ValueError(f"layout recorded unknown truth fields: {sorted(unknown)}")
        truth: dict = {field: values[field] for field in sorted(fields)}
        truth["line_items"] = [dict(item) for item in line_items]
        return truth


def build_invoice(seed: int, language: str, currency: str, two_pages: bool) -> Invoice:
    """Build one invoice; the same arguments always give the same invoice."""
    if language not in LANGUAGES or currency not in CURRENCIES:
        raise ValueError(f"unsupported language/currency: {language}/{currency}")
    rng = random.Random(seed)
    issue_date = _FIRST_ISSUE_DATE + timedelta(days=rng.randint(0, _ISSUE_DAYS))
    date_styles = formatting.PL_DATE_STYLES if language == "pl" else formatting.EN_DATE_STYLES
    date_style = rng.choice(date_styles)
    payment = (PAYMENT_CASH if language == "pl" and currency == "PLN" and rng.random() < 0.12
               else PAYMENT_TRANSFER)
    seller = _seller(rng, language, with_account=payment == PAYMENT_TRANSFER)
    item_count = 8 if two_pages else rng.choices(range(1, 9),
                                                 weights=(14, 16, 16, 14, 12, 10, 9, 9))[0]
    return Invoice(
        seed=seed,
        language=language,
        currency=currency,
        currency_label=_currency_label(rng, language, currency),
        number=_invoice_number(rng, language, issue_date),
        issue_date=issue_date,
        sale_date=issue_date - timedelta(days=rng.choice((0, 0, 0, 1, 2, 3, 5))),
        due_date=(issue_date + timedelta(days=rng.choice((7, 14, 30, 60)))
                  if payment == PAYMENT_TRANSFER else issue_date),
        date_style=date_style,
        place=seller.address[1].split(" ", 1)[1],  # the city after the postal code
        seller=seller,
        buyer=_buyer(rng, language),
        items=_line_items(rng, language, currency, item_count),
        payment=payment,
        notes=_notes(rng, language, issue_date, date_style, 10 if two_pages else
                     rng.choice((0, 0, 1))),
        two_pages=two_pages,
        ksef_number=_ksef_number(rng, seller.nip, issue_date),
    )


def _currency_label(rng: random.Random, language: str, currency: str) -> str:
    if currency == "PLN" and language == "pl":
        return rng.choice(("PLN", "zł"))
    return currency


def _seller(rng: random.Random, language: str, with_account: bool) -> Party:
    name = _polish_company(rng) if language == "pl" else _english_company(
        rng, rng.choice(vocabulary.EN_SELLER_FORMS))
    address = _polish_address(rng)
    if language == "en":
        address += ("Poland",)
    tax_id = _nip(rng)
    account = _iban(rng) if with_account else None
    # Foreign payers need the IBAN form; Polish invoices often print the domestic NRB.
    iban_style = "iban_grouped" if language == "en" else rng.choices(
        formatting.IBAN_STYLES, weights=(2, 1, 1))[0]
    return Party(name=name, address=address, nip=tax_id,
                 nip_printed=formatting.nip(tax_id, _nip_style(rng, language)),
                 iban=account,
                 iban_printed=formatting.iban(account, iban_style) if account else None)


def _buyer(rng: random.Random, language: str) -> Party:
    if language == "pl":
        name, address = _polish_company(rng), _polish_address(rng)
    else:
        legal_form, address = rng.choice(vocabulary.FOREIGN_ADDRESSES)
        name = _english_company(rng, legal_form)
    tax_id = _nip(rng)
    return Party(name=name, address=address, nip=tax_id,
                 nip_printed=formatting.nip(tax_id, _nip_style(rng, language)))


def _nip_style(rng: random.Random, language: str) -> str:
    # English invoices usually print the EU VAT form "PL5213017228".
    weights = (1, 1, 1, 1) if language == "pl" else (1, 1, 1, 4)
    return rng.choices(formatting.NIP_STYLES, weights=weights)[0]


def _polish_company(rng: random.Random) -> str:
    kind = rng.choices(("trade", "brand", "partners", "sole"), weights=(9, 4, 2, 5))[0]
    if kind == "sole":
        first, feminine = rng.choice(vocabulary.PL_FIRST_NAMES)
        surname = _surname(rng.choice(vocabulary.PL_SURNAMES), feminine)
        return f"{rng.choice(vocabulary.PL_SOLE_TRADES)} {first} {surname}"
    forms, weights = zip(*vocabulary.PL_LEGAL_FORMS)
    legal_form = rng.choices(forms, weights=weights)[0]
    if kind == "partners":
        return f"{rng.choice(vocabulary.PL_SURNAMES)} i Wspólnicy Sp. j."
    brand = rng.choice(vocabulary.PL_BRANDS)
    if kind == "brand":
        return f"{brand} {legal_form}"
    return f"{rng.choice(vocabulary.PL_TRADES)} {brand} {legal_form}"


def _surname(surname: str, feminine: bool) -> str:
    """Polish surnames ending in -ski/-cki/-dzki take -ska/-cka/-dzka for women."""
    if feminine and surname.endswith("ki"):
        return surname[:-1] + "a"
    return surname


def _english_company(rng: random.Random, legal_form: str) -> str:
    return f"{rng.choice(vocabulary.EN_BRANDS)} {rng.choice(vocabulary.EN_TRADES)} {legal_form}"


def _polish_address(rng: random.Random) -> tuple[str, ...]:
    street = rng.choice(vocabulary.PL_STREETS)
    number = str(rng.randint(1, 240))
    suffix = rng.choice(("", "", "", f"/{rng.randint(1, 60)}", rng.choice("ABC"),
                         f" lok. {rng.randint(1, 30)}"))
    city, prefixes = rng.choice(vocabulary.PL_CITIES)
    postal_code = f"{rng.choice(prefixes)}-{rng.randint(1, 999):03d}"
    return (f"{street} {number}{suffix}", f"{postal_code} {city}")


def _nip(rng: random.Random) -> str:
    """A random NIP with a valid check digit (heads whose checksum is 10 are not issued)."""
    while True:
        head = str(rng.randint(101, 999)) + "".join(str(rng.randint(0, 9)) for _ in range(6))
        check = sum(weight * int(digit) for weight, digit in zip(_NIP_WEIGHTS, head)) % 11
        if check < 10 and stdnum_nip.is_valid(head + str(check)):
            return head + str(check)


def _iban(rng: random.Random) -> str:
    """A Polish IBAN with a real bank sort code, its check digit, and valid mod-97 digits."""
    branch = rng.choice(vocabulary.PL_BANK_BRANCHES)
    sort_check = -sum(w * int(d) for w, d in zip(_SORT_CODE_WEIGHTS, branch)) % 10
    bban = branch + str(sort_check) + "".join(str(rng.randint(0, 9)) for _ in range(16))
    check_digits = 98 - int(bban + "252100") % 97  # "PL00" moved to the end, P=25, L=21
    account = f"PL{check_digits:02d}{bban}"
    if not stdnum_iban.is_valid(account):
        raise AssertionError(f"generated an invalid IBAN {account}")
    return account


def _invoice_number(rng: random.Random, language: str, issued: date) -> str:
    sequence = rng.randint(1, 999)
    patterns = (
        f"FV/{issued:%Y/%m}/{sequence:04d}",
        f"FV {sequence}/{issued:%m/%Y}",
        f"F/{sequence:04d}/{issued:%Y}",
        f"INV-{issued:%Y}-{sequence:05d}",
        f"{issued:%Y/%m/%d}/{sequence:03d}",
        f"FA/{sequence}/{issued:%Y}/{rng.choice(_CITY_CODES)}",
    )
    weights = (3, 3, 2, 1, 2, 2) if language == "pl" else (1, 1, 1, 6, 1, 1)
    return rng.choices(patterns, weights=weights)[0]


def _line_items(rng: random.Random, language: str, currency: str,
                count: int) -> tuple[LineItem, ...]:
    # Some English invoices are intra-community supplies, taxed at 0 %.
    zero_rated = language == "en" and rng.random() < 0.3
    return tuple(
        LineItem(
            description=entry.pl if language == "pl" else entry.en,
            unit=entry.pl_unit if language == "pl" else entry.en_unit,
            quantity=_quantity(rng, entry),
            unit_price=_unit_price(rng, entry, currency),
            vat_rate=0 if zero_rated else entry.vat_rate,
        )
        for entry in rng.sample(vocabulary.CATALOG, count)
    )


def _quantity(rng: random.Random, entry: vocabulary.CatalogItem) -> Decimal:
    if entry.fractional:
        kind = rng.random()
        if kind < 0.5:
            return Decimal(rng.randint(1, 80)) / 2
        if kind < 0.8:
            return Decimal(rng.randint(25, 5000)) / 100
    services_or_dear = entry.pl_unit == "usł." or entry.max_price >= 1000
    return Decimal(rng.randint(1, 5 if services_or_dear else 40))


def _unit_price(rng: random.Random, entry: vocabulary.CatalogItem, currency: str) -> Decimal:
    cents = rng.randint(round(entry.min_price * 100), round(entry.max_price * 100))
    price = Decimal(cents) / 100
    if currency == "EUR":
        price *= _EUR_PRICE_FACTOR
    if price >= 50 and rng.random() < 0.4:
        return formatting.money(price.to_integral_value())  # list prices are often whole
    return formatting.money(price)


def _notes(rng: random.Random, language: str, issued: date, date_style: str,
           count: int) -> tuple[str, ...]:
    sentences = vocabulary.PL_NOTES if language == "pl" else vocabulary.EN_NOTES
    order = f"ZAM/{issued:%Y}/{rng.randint(100, 9999):04d}"
    contract = f"UR/{rng.randint(1, 99)}/{issued.year - 1}"
    earlier = formatting.printed_date(issued - timedelta(days=rng.randint(3, 20)), date_style)
    return tuple(sentence.format(order=order, contract=contract, date=earlier)
                 for sentence in rng.sample(sentences, count))


def _ksef_number(rng: random.Random, seller_nip: str, issued: date) -> str:
    """KSeF reference number: seller NIP, issue date, 12 + 2 hex digits."""
    token, check = ("".join(rng.choice("0123456789ABCDEF") for _ in range(length))
                    for length in (12, 2))
    return f"{seller_nip}-{issued:%Y%m%d}-{token}-{check}"
