"""Layout families: randomised invoice and receipt designs for leave-one-family-out evaluation.

The seven layouts of ``layouts`` are fixed designs. A family here is a *kind* of invoice software:
its own wording (every label drawn from the family's variants), its own column sets, party
placement, totals style, number and date formats, and, within it, random choices of each of
those per invoice (fonts, sizes, margins, orientation, table look, wrapped descriptions,
distractor numbers). Families differ from each other in label wording, column sets and party
placement, so that "evaluated on a family the extractor never saw" means something:
``withheld_labels(name)`` is the wording only that family prints, which an honest evaluation
removes from the extractor's lexicon while it reads that family (see
``ocr_engines.labels.withheld``).

    from expectations.corpus.families import FAMILY_NAMES, render_family
    rendered = render_family(invoice, "uslugi_pl", seed)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Callable, Sequence

from reportlab.lib.pagesizes import A4, landscape

from . import fonts, formatting
from .blocks import (Column, Pair, Row, TableLook, Typography, draw_lines, draw_pairs, draw_table,
                     pairs_width, wrap_text)
from .layouts import LAYOUTS, RenderedInvoice
from .model import PAYMENT_TRANSFER, Invoice, LineItem
from .sections import (ENGLISH, POLISH, Labels, draw_items, draw_notes, draw_party, label,
                       mark_currency, party_lines, with_currency)
from .sheet import PageFooter, PdfInfo, Sheet

RECEIPT_WIDTH = 80 / 25.4 * 72  # an 80 mm till roll, cut at 190 mm
RECEIPT_HEIGHT = 190 / 25.4 * 72


@dataclass(frozen=True)
class Family:
    """One kind of invoicing program. `wording` maps a `Labels` field to the variants this
    program may print for it; `choices` are the family's own structural options."""

    name: str
    language: str
    wording: dict[str, tuple[str, ...]]
    header: tuple[str, ...]
    parties: tuple[str, ...]
    columns: tuple[tuple[str, ...], ...]
    totals: tuple[str, ...]
    amount_styles: tuple[str, ...]
    date_styles: tuple[str, ...]
    font_families: tuple[fonts.FontFamily, ...]
    sizes: tuple[float, ...] = (8.0, 8.5, 9.0, 9.5, 10.0)
    landscape: float = 0.0  # probability of a landscape page
    wraps: tuple[str, ...] = ("",)
    distractors: tuple[tuple[str, str], ...] = ()  # (label, value pattern) printed near the top
    kind: str = "invoice"


def _labels(family: Family, rng: random.Random) -> Labels:
    base = POLISH if family.language == "pl" else ENGLISH
    return replace(base, **{name: rng.choice(variants) for name, variants in
                            family.wording.items()})


# --- composing an invoice ---------------------------------------------------------------------

def _gap(sheet: Sheet, typo: Typography, lines: float = 1.0) -> None:
    sheet.advance(typo.leading * lines)


def _number_text(labels: Labels, invoice: Invoice) -> str:
    return f"{labels.title} {labels.number} {invoice.number}".replace("  ", " ")


def _meta_pairs(invoice: Invoice, labels: Labels, rng: random.Random, family: Family,
                colon: bool = True) -> list[Pair]:
    pairs = [Pair(label(labels.issue_date, colon), invoice.printed_date(invoice.issue_date),
                  "invoice_date")]
    if rng.random() < 0.8:
        pairs.append(Pair(label(labels.sale_date, colon), invoice.printed_date(invoice.sale_date),
                          "delivery_date"))
    if rng.random() < 0.5:
        pairs.append(Pair(label(labels.place, colon), invoice.place))
    for text, pattern in rng.sample(family.distractors, k=min(len(family.distractors),
                                                               rng.choice((0, 1, 1, 2)))):
        pairs.insert(rng.randrange(len(pairs) + 1),
                     Pair(label(text, colon), _distractor(pattern, invoice, rng)))
    return pairs


def _distractor(pattern: str, invoice: Invoice, rng: random.Random) -> str:
    """An order, customer or phone number: digits an extractor must not take for a field."""
    return pattern.format(n=rng.randint(1000, 99999), y=invoice.issue_date.year,
                          m=invoice.issue_date.month, d=rng.randint(10, 99),
                          p=f"{rng.randint(500, 899)} {rng.randint(100, 999)} "
                            f"{rng.randint(100, 999)}")


def _payment_pairs(invoice: Invoice, labels: Labels, colon: bool = True) -> list[Pair]:
    transfer = invoice.payment == PAYMENT_TRANSFER
    pairs = [Pair(label(labels.payment, colon), labels.transfer if transfer else labels.cash)]
    if transfer:
        pairs.append(Pair(label(labels.due_date, colon), invoice.printed_date(invoice.due_date),
                          "due_date"))
        pairs.append(Pair(label(labels.bank, colon), invoice.seller.iban_printed,
                          "supplier_iban"))
    return pairs


def _cells(sheet: Sheet, typo: Typography, pairs: Sequence[Pair], look: TableLook) -> None:
    """Label-above-value cells in one row."""
    columns = [Column(pair.label.rstrip(":"), "left") for pair in pairs]
    truth = tuple((i, pair.truth_field) for i, pair in enumerate(pairs) if pair.truth_field)
    draw_table(sheet, columns, [Row(tuple(pair.value for pair in pairs), truth_fields=truth)],
               typo, look)


def _header(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography,
            rng: random.Random, family: Family, style: str, look: TableLook) -> bool:
    """Title, number and dates; returns whether the seller was printed as a letterhead."""
    big = typo.scaled(typo.size + rng.choice((3, 5, 7)))
    meta = _meta_pairs(invoice, labels, rng, family)
    if style == "letterhead":  # seller top left without a heading, title and dates top right
        number = [Pair(label(labels.number), invoice.number, "invoice_id")]
        right = meta + number if rng.random() < 0.5 else number + meta
        right_width = max(pairs_width(right, typo), big.width(labels.title, True))
        top = sheet.y
        sheet.text(sheet.right, big.baseline(top), labels.title, big.font(True), big.size,
                   align="right")
        height = big.leading + draw_pairs(sheet, sheet.right - pairs_width(right, typo),
                                          top + big.leading, right, typo)
        lines = party_lines(invoice.seller, "supplier", labels)
        width = sheet.width - right_width - 2 * typo.gap
        left = draw_lines(sheet, sheet.left, top, lines[:1], typo.scaled(typo.size + 2), width)
        left += draw_lines(sheet, sheet.left, top + left, lines[1:], typo, width)
        sheet.advance(max(height, left))
        return True
    if style == "centered":  # centred title line, dates as label-above-value cells
        text = _number_text(labels, invoice)
        sheet.text(sheet.left + sheet.width / 2, big.baseline(sheet.y), text, big.font(True),
                   big.size, align="center", truth_field=None)
        sheet.mark("invoice_id", invoice.number)
        sheet.advance(big.leading)
        _gap(sheet, typo, 0.5)
        _cells(sheet, typo, [replace(p, label=p.label.rstrip(":")) for p in meta], look)
        return False
    if style == "number_box":  # big title left, a framed box of number and dates right
        pairs = [Pair(label(labels.number), invoice.number, "invoice_id"), *meta]
        width = pairs_width(pairs, typo) + typo.size * 2
        height = len(pairs) * typo.leading + typo.size * 1.6
        top = sheet.y
        sheet.text(sheet.left, big.baseline(top), labels.title.upper(), big.font(True), big.size)
        sheet.rect(sheet.right - width, top, width, height, line_width=0.8)
        draw_pairs(sheet, sheet.right - width + typo.size, top + typo.size * 0.8, pairs, typo)
        sheet.advance(max(big.leading, height))
        return False
    # "title_meta_right": number in the title line, dates flush right beside it (or below)
    text = _number_text(labels, invoice)
    width = pairs_width(meta, typo)
    top = sheet.y
    sheet.text(sheet.left, big.baseline(top), text, big.font(True), big.size)
    sheet.mark("invoice_id", invoice.number)
    below = big.width(text, True) + width + 2 * typo.gap > sheet.width
    offset = big.leading if below else 0.0
    height = draw_pairs(sheet, sheet.right - width, top + offset, meta, typo)
    sheet.advance(max(big.leading, offset + height))
    return False


def _parties(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography, style: str,
             letterhead: bool) -> None:
    seller = (invoice.seller, "supplier", labels.seller)
    buyer = (invoice.buyer, "receiver", labels.buyer)
    if letterhead:
        sheet.advance(draw_party(sheet, sheet.left if style != "buyer_right" else
                                 sheet.left + sheet.width / 2, sheet.y, sheet.width / 2,
                                 invoice.buyer, "receiver", labels, typo,
                                 heading=label(labels.buyer)))
        return
    if style in ("side", "buyer_first"):
        blocks = (seller, buyer) if style == "side" else (buyer, seller)
        gap = typo.gap * 2
        half = (sheet.width - gap) / 2
        top = sheet.y
        heights = [draw_party(sheet, sheet.left + i * (half + gap), top, half, party, role,
                              labels, typo, heading=label(heading))
                   for i, (party, role, heading) in enumerate(blocks)]
        sheet.advance(max(heights))
        return
    if style == "boxes":
        gap = typo.gap * 2
        width = (sheet.width - gap) / 2
        pad = typo.size * 0.7
        height = max(len(party_lines(p, r, labels, heading=h)) for p, r, h in (seller, buyer))
        height = height * typo.leading + 2 * pad
        sheet.ensure(height)
        for i, (party, role, heading) in enumerate((seller, buyer)):
            x = sheet.left + i * (width + gap)
            sheet.rect(x, sheet.y, width, height, line_width=0.7)
            draw_party(sheet, x + pad, sheet.y + pad, width - 2 * pad, party, role, labels, typo,
                       heading=heading.upper())
        sheet.advance(height)
        return
    # "stacked": a label column on the left, each party beside its heading
    heads = (label(labels.seller), label(labels.buyer))
    value_x = sheet.left + max(typo.width(h, True) for h in heads) + typo.gap
    for head, (party, role, _) in zip(heads, (seller, buyer)):
        sheet.text(sheet.left, typo.baseline(sheet.y), head, typo.font(True), typo.size)
        sheet.advance(draw_party(sheet, value_x, sheet.y, sheet.right - value_x, party, role,
                                 labels, typo))
        _gap(sheet, typo, 0.5)


def _totals(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography, style: str,
            look: TableLook, rng: random.Random) -> None:
    amount = invoice.printed_amount
    payment = _payment_pairs(invoice, labels)
    due = [Pair(label(labels.to_pay), with_currency(invoice, invoice.gross_total),
                "total_amount", bold=True)]
    sheet.ensure(typo.leading * (len(invoice.rate_totals) + 8))
    if style == "rate_table":
        sheet.ensure(typo.leading * (len(invoice.rate_totals) + 6))
        sheet.text(sheet.left, typo.baseline(sheet.y), labels.summary_title, typo.font(True),
                   typo.size)
        sheet.advance(typo.leading)
        columns = [Column(labels.summary_rate), Column(labels.summary_net),
                   Column(labels.summary_vat), Column(labels.summary_gross)]
        rows = [Row((formatting.vat_rate(t.rate), amount(t.net), amount(t.vat), amount(t.gross)))
                for t in invoice.rate_totals]
        if rng.random() < 0.5 or len(rows) > 1:
            rows.append(Row((labels.total_row, amount(invoice.net_total),
                             amount(invoice.tax_total), amount(invoice.gross_total)), bold=True))
        draw_table(sheet, columns, rows, typo, look, anchor=rng.choice(("left", "right")))
        sheet.mark("net_amount", amount(invoice.net_total))
        sheet.mark("total_tax_amount", amount(invoice.tax_total))
        _gap(sheet, typo, 0.6)
        sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, due + payment, typo))
    elif style == "horizontal":  # one row: net | VAT | gross, then the amount due
        columns = [Column(labels.net_total), Column(labels.tax_total),
                   Column(labels.gross_total)]
        rows = [Row((with_currency(invoice, invoice.net_total),
                     with_currency(invoice, invoice.tax_total),
                     with_currency(invoice, invoice.gross_total)),
                    truth_fields=((0, "net_amount"), (1, "total_tax_amount"),
                                  (2, "total_amount")))]
        draw_table(sheet, columns, rows, typo, look, anchor="right")
        _gap(sheet, typo, 0.6)
        sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, payment + due, typo))
    else:  # "pairs_right" / "pairs_left": net, VAT, gross pairs, payment on the other side
        pairs = [Pair(label(labels.net_total), with_currency(invoice, invoice.net_total),
                      "net_amount"),
                 Pair(label(labels.tax_total), with_currency(invoice, invoice.tax_total),
                      "total_tax_amount"), *due]
        width = pairs_width(pairs, typo)
        top = sheet.y
        if style == "pairs_right":
            h1 = draw_pairs(sheet, sheet.right - width, top, pairs, typo, right=sheet.right)
            h2 = draw_pairs(sheet, sheet.left, top, payment, typo) if (
                pairs_width(payment, typo) + width + 2 * typo.gap < sheet.width) else 0
            sheet.advance(max(h1, h2))
            if not h2:
                sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, payment, typo))
        else:
            sheet.advance(draw_pairs(sheet, sheet.left, top, pairs, typo))
            _gap(sheet, typo, 0.5)
            sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, payment, typo))
    mark_currency(sheet, invoice)


def _compose_invoice(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography,
                     rng: random.Random, family: Family) -> None:
    look = TableLook(grid=rng.random() < 0.4, header_fill=rng.choice((None, 0.85, 0.92)),
                     zebra=rng.choice((None, None, 0.94)), row_factor=rng.choice((1.6, 1.8, 2.0)),
                     wrap=rng.choice(family.wraps), top_align=rng.random() < 0.5)
    letterhead = _header(sheet, invoice, labels, typo, rng, family, rng.choice(family.header),
                         look)
    _gap(sheet, typo, rng.choice((0.8, 1.0, 1.5)))
    _parties(sheet, invoice, labels, typo, rng.choice(family.parties), letterhead)
    _gap(sheet, typo, rng.choice((0.8, 1.0, 1.5)))
    draw_items(sheet, invoice, labels, typo, look, rng.choice(family.columns))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    _gap(sheet, typo, 0.5)
    _totals(sheet, invoice, labels, typo, rng.choice(family.totals), look, rng)


# --- composing a till receipt ------------------------------------------------------------------

@dataclass(frozen=True)
class _ReceiptItem:
    name: str
    low: float
    high: float
    rate: int


_RECEIPT_GOODS = (
    _ReceiptItem("Flat white", 9, 16, 8), _ReceiptItem("Croissant", 5, 9, 5),
    _ReceiptItem("Sparkling water 0.5l", 3, 7, 23), _ReceiptItem("Sandwich ham & cheese", 12, 22, 5),
    _ReceiptItem("USB-C cable 1m", 19, 49, 23), _ReceiptItem("Notebook A5", 6, 18, 23),
    _ReceiptItem("Unleaded 95", 150, 320, 23), _ReceiptItem("Car wash", 25, 60, 23),
    _ReceiptItem("Parking 2h", 8, 20, 23), _ReceiptItem("Printer paper A4", 18, 32, 23),
    _ReceiptItem("Lunch menu", 28, 55, 8), _ReceiptItem("Taxi fare", 25, 140, 8),
    _ReceiptItem("Batteries AA x4", 12, 29, 23), _ReceiptItem("Orange juice 1l", 5, 11, 5),
)


def _receipt_items(invoice: Invoice, rng: random.Random) -> tuple[LineItem, ...]:
    count = rng.choice((1, 2, 2, 3, 3, 4, 5))
    out = []
    for good in rng.sample(_RECEIPT_GOODS, count):
        gross = Decimal(str(round(rng.uniform(good.low, good.high), 2)))
        net = formatting.money(gross / (1 + Decimal(good.rate) / 100))
        out.append(LineItem(good.name, "pcs", Decimal(rng.choice((1, 1, 1, 2, 3))), net,
                            good.rate))
    return tuple(out)


def _compose_receipt(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography,
                     rng: random.Random, family: Family) -> None:
    """A till receipt: shop header centred, receipt number and time, goods, TOTAL, VAT lines."""
    centre = sheet.left + sheet.width / 2
    amount = invoice.printed_amount
    name = invoice.seller.name
    big = typo.scaled(typo.size + 2)
    for text, style, field_name in ((name, big, "supplier_name"),
                                    *((line, typo, None) for line in invoice.seller.address),
                                    (f"{labels.tax_id}: {invoice.seller.nip_printed}", typo,
                                     "supplier_tax_id")):
        for line in _fit_lines(text, style, sheet.width):
            sheet.text(centre, style.baseline(sheet.y), line, style.font(field_name ==
                       "supplier_name"), style.size, align="center")
            sheet.advance(style.leading)
        if field_name:
            sheet.mark(field_name, text)
    _dashes(sheet, typo)
    when = invoice.printed_date(invoice.issue_date)
    clock = f"{rng.randint(7, 21):02d}:{rng.randint(0, 59):02d}"
    rows = [(f"{label(labels.number)} {invoice.number}", "invoice_id"),
            (f"{label(labels.issue_date)} {when} {clock}" if rng.random() < 0.6
             else f"{when} {clock}", "invoice_date")]
    if rng.random() < 0.5:
        rows.append((f"{labels.place} {rng.randint(1, 9)}", None))  # till / cashier number
    rng.shuffle(rows)
    for text, field_name in rows:
        sheet.text(sheet.left, typo.baseline(sheet.y), text, typo.font(), typo.size)
        if field_name:
            sheet.mark(field_name, text)
        sheet.advance(typo.leading)
    _dashes(sheet, typo)
    gross_total = Decimal("0")
    for item in invoice.items:
        gross = item.gross
        gross_total += gross
        _left_right(sheet, typo, item.description, f"{amount(gross)} {_rate_code(item.vat_rate)}")
        if item.quantity != 1:
            sheet.text(sheet.left + typo.size, typo.baseline(sheet.y),
                       f"{invoice.printed_quantity(item.quantity)} x "
                       f"{amount(formatting.money(gross / item.quantity))}",
                       typo.font(), typo.size - 1)
            sheet.advance(typo.leading)
    _dashes(sheet, typo)
    _left_right(sheet, big, labels.to_pay, f"{invoice.currency_label} {amount(gross_total)}",
                bold=True)
    sheet.mark("total_amount", amount(gross_total))
    sheet.mark("currency", invoice.currency_label)
    _left_right(sheet, typo, labels.transfer if invoice.payment == PAYMENT_TRANSFER
                else labels.cash, amount(gross_total))
    _dashes(sheet, typo)
    vat_total = Decimal("0")
    for rate in sorted({item.vat_rate for item in invoice.items}, reverse=True):
        vat = sum((item.vat for item in invoice.items if item.vat_rate == rate), Decimal("0"))
        vat_total += vat
        _left_right(sheet, typo, f"{labels.vat_rate} {_rate_code(rate)} {rate}%", amount(vat))
    _left_right(sheet, typo, labels.tax_total, amount(vat_total))
    # As on the KSeF visualisation, the net is not printed whole: it is the gross less the VAT.
    sheet.mark("total_tax_amount", amount(vat_total))
    sheet.mark("net_amount", amount(gross_total - vat_total))
    _dashes(sheet, typo)
    sheet.text(centre, typo.baseline(sheet.y), labels.notes, typo.font(), typo.size,
               align="center")
    sheet.advance(typo.leading)
    sheet.printed["_receipt_totals"] = (formatting.amount_truth(gross_total),
                                        formatting.amount_truth(vat_total))


def _rate_code(rate: int) -> str:
    return {23: "A", 8: "B", 5: "C", 0: "D"}.get(rate, "E")


def _fit_lines(text: str, typo: Typography, width: float) -> list[str]:
    return wrap_text(text, typo.font(), typo.size, width)


def _dashes(sheet: Sheet, typo: Typography) -> None:
    sheet.line(sheet.left, sheet.y + typo.size * 0.5, sheet.right, sheet.y + typo.size * 0.5,
               width=0.6, dash=(2, 2))
    sheet.advance(typo.leading)


def _left_right(sheet: Sheet, typo: Typography, left: str, right: str, bold: bool = False) -> None:
    sheet.text(sheet.left, typo.baseline(sheet.y), left, typo.font(bold), typo.size)
    sheet.text(sheet.right, typo.baseline(sheet.y), right, typo.font(bold), typo.size,
               align="right")
    sheet.advance(typo.leading)


# --- the families ------------------------------------------------------------------------------

_SANS = (fonts.DEJAVU_SANS, fonts.LIBERATION_SANS, fonts.FREE_SANS)
_SERIF = (fonts.DEJAVU_SERIF, fonts.LIBERATION_SERIF, fonts.FREE_SERIF)

FAMILIES: dict[str, Family] = {family.name: family for family in (
    # A wholesaler's program: landscape pages, wide tables with per-line VAT, terse abbreviations.
    Family(
        "hurt_pl", "pl",
        wording={"title": ("FAKTURA VAT", "Faktura VAT"), "number": ("Nr dok.", "nr dok."),
                 "issue_date": ("Data wyst.", "Wystawiono"),
                 "sale_date": ("Data wydania towaru", "Data sprzed."),
                 "due_date": ("Zapłata do", "Płatne do dnia"), "place": ("Miejsce wyst.",),
                 "seller": ("Sprzedający",), "buyer": ("Kupujący", "Odbiorca faktury"),
                 "bank": ("Nr r-ku", "Konto nr"), "payment": ("Forma zapłaty",),
                 "lp": ("L.p.",), "description": ("Nazwa artykułu", "Towar"),
                 "quantity": ("Ilość",), "unit": ("Jm",), "unit_price": ("Cena\nnetto",),
                 "net_value": ("Wart.\nnetto",), "vat_rate": ("St.\nVAT",),
                 "vat_amount": ("Kw.\nVAT",), "gross_value": ("Wart.\nbrutto",),
                 "summary_rate": ("St. VAT",), "summary_net": ("Netto",),
                 "summary_vat": ("VAT",), "summary_gross": ("Brutto",),
                 "total_row": ("Ogółem",), "to_pay": ("Należność", "Razem do zapłaty"),
                 "summary_title": ("Rozliczenie wg stawek", "Zestawienie sprzedaży")},
        header=("title_meta_right", "number_box"), parties=("side", "boxes"),
        columns=(("lp", "description", "unit", "quantity", "unit_price", "vat_rate", "net",
                  "vat", "gross"),
                 ("lp", "description", "quantity", "unit", "unit_price", "net", "vat_rate",
                  "vat", "gross")),
        totals=("rate_table",), amount_styles=("space_comma", "plain_comma"),
        date_styles=("dots", "iso"), font_families=_SANS, sizes=(7.5, 8.0, 8.5, 9.0),
        landscape=0.7, wraps=("", "words"),
        distractors=(("Nr zamówienia", "ZAM/{n}/{y}"), ("Nr klienta", "K-{n}"),
                     ("Tel.", "+48 {p}"))),
    # A service firm's program: stacked parties behind a label column, label-above-value dates.
    Family(
        "uslugi_pl", "pl",
        wording={"title": ("Faktura", "FAKTURA"), "number": ("nr", "numer"),
                 "issue_date": ("Data wystawienia faktury", "Dnia"),
                 "sale_date": ("Data wykonania usługi", "Data zakończenia usługi"),
                 "due_date": ("Termin zapłaty", "Zapłata w terminie do"),
                 "place": ("Miejscowość",), "seller": ("Usługodawca", "Wykonawca"),
                 "buyer": ("Usługobiorca", "Zleceniodawca"), "bank": ("Rachunek", "Nr konta"),
                 "payment": ("Płatność",), "description": ("Opis usługi", "Usługa"),
                 "quantity": ("Liczba",), "unit": ("j.m.",), "unit_price": ("Stawka\nnetto",),
                 "net_value": ("Kwota\nnetto",), "vat_rate": ("VAT\n%",),
                 "net_total": ("Netto razem",), "tax_total": ("VAT razem", "Podatek VAT"),
                 "to_pay": ("Kwota do zapłaty", "Do zapłaty")},
        header=("centered", "title_meta_right"), parties=("stacked",),
        columns=(("description", "unit_price", "quantity", "unit", "net", "vat_rate"),
                 ("lp", "description", "quantity", "unit_price", "vat_rate", "net")),
        totals=("pairs_left", "pairs_right"), amount_styles=("space_dot", "space_comma"),
        date_styles=("dots", "dashes"), font_families=_SERIF,
        wraps=("words", "chars"),
        distractors=(("Umowa nr", "{n}/{y}"), ("Zlecenie", "ZL-{n}"))),
    # An online shop's program: seller as letterhead, buyer alone, horizontal totals row.
    Family(
        "sklep_pl", "pl",
        wording={"title": ("Faktura VAT", "Faktura sprzedaży"),
                 "number": ("Numer dokumentu", "Nr faktury"),
                 "issue_date": ("Data wystawienia",), "sale_date": ("Data dostawy",),
                 "due_date": ("Termin płatności",), "place": ("Wystawiono w",),
                 "buyer": ("Dane nabywcy", "Klient"), "bank": ("Numer rachunku",),
                 "payment": ("Metoda płatności",), "transfer": ("przelew bankowy",),
                 "description": ("Produkt", "Nazwa produktu"), "quantity": ("Szt.",),
                 "unit_price": ("Cena jedn.\nnetto",), "net_value": ("Netto",),
                 "vat_rate": ("VAT",), "gross_value": ("Brutto",),
                 "net_total": ("Wartość netto",), "tax_total": ("Wartość VAT",),
                 "gross_total": ("Wartość brutto",), "to_pay": ("Łącznie do zapłaty",)},
        header=("letterhead",), parties=("buyer_right", "side"),
        columns=(("description", "quantity", "unit_price", "vat_rate", "net", "gross"),
                 ("lp", "description", "quantity", "unit_price", "net", "vat_rate", "gross")),
        totals=("horizontal",), amount_styles=("plain_comma", "dot_comma", "space_comma"),
        date_styles=("iso", "dots"), font_families=_SANS, wraps=("", "words"),
        distractors=(("Zamówienie", "{n}"), ("Nr przesyłki", "00{n}{d}"),
                     ("Infolinia", "{p}"))),
    # An English exporter's invoice: bill-from / bill-to, amount column last, subtotal pairs.
    Family(
        "export_en", "en",
        wording={"title": ("Invoice", "Commercial invoice"),
                 "number": ("Invoice #", "Ref."), "issue_date": ("Invoice date", "Dated"),
                 "sale_date": ("Shipped", "Ship date"), "due_date": ("Payment due", "Due by"),
                 "place": ("Issued at",), "seller": ("From", "Sold by"),
                 "buyer": ("Bill to", "Invoice to"), "tax_id": ("VAT Reg. No.", "Tax ID"),
                 "bank": ("IBAN", "Bank account"), "payment": ("Terms",),
                 "transfer": ("wire transfer",), "description": ("Item description", "Goods"),
                 "quantity": ("Quantity",), "unit_price": ("Rate",),
                 "net_value": ("Line total", "Amount"), "net_total": ("Subtotal",),
                 "tax_total": ("VAT", "Sales tax"), "to_pay": ("Balance due", "Invoice total")},
        header=("number_box", "letterhead"), parties=("side", "buyer_first"),
        columns=(("description", "quantity", "unit_price", "net"),
                 ("lp", "description", "quantity", "unit", "unit_price", "vat_rate", "net")),
        totals=("pairs_right",), amount_styles=("comma_dot", "plain_dot"),
        date_styles=("words", "slashes", "iso"), font_families=_SANS + _SERIF,
        wraps=("", "words"),
        distractors=(("PO number", "PO-{n}"), ("Customer ID", "C{n}"), ("Phone", "+44 {p}"))),
    # A SaaS subscription invoice: landscape or portrait, VAT breakdown table, boxed parties.
    Family(
        "saas_en", "en",
        wording={"title": ("Tax invoice", "VAT invoice"), "number": ("Number", "No."),
                 "issue_date": ("Date of issue", "Issued"),
                 "sale_date": ("Service period end", "Supply date"),
                 "due_date": ("Due date", "Pay before"), "place": ("Location",),
                 "seller": ("Vendor", "Provider"), "buyer": ("Customer", "Client"),
                 "tax_id": ("VAT number", "Tax number"), "bank": ("Account number",),
                 "payment": ("Payment method",), "description": ("Plan / service", "Service"),
                 "quantity": ("Seats", "Units"), "unit_price": ("Unit price",),
                 "net_value": ("Net",), "vat_rate": ("Tax rate",),
                 "summary_rate": ("Tax rate",), "summary_net": ("Net amount",),
                 "summary_vat": ("Tax",), "summary_gross": ("Gross amount",),
                 "total_row": ("Total",), "to_pay": ("Amount payable", "Total to pay"),
                 "summary_title": ("Breakdown by tax rate", "Tax totals")},
        header=("centered", "title_meta_right"), parties=("boxes", "buyer_first"),
        columns=(("description", "quantity", "unit_price", "vat_rate", "net"),
                 ("description", "vat_rate", "quantity", "unit_price", "net")),
        totals=("rate_table",), amount_styles=("comma_dot",), date_styles=("iso", "words"),
        font_families=_SANS, landscape=0.4, wraps=("words",),
        distractors=(("Account ID", "acct_{n}"), ("Subscription", "sub-{n}-{d}"))),
    # A small trader's plain English invoice: few labels, one total.
    Family(
        "simple_en", "en",
        wording={"title": ("INVOICE", "Invoice"), "number": ("No.", "Invoice no."),
                 "issue_date": ("Date",), "sale_date": ("Delivered",),
                 "due_date": ("Please pay by",), "place": ("Place",),
                 "seller": ("Payee",), "buyer": ("To", "Customer"),
                 "tax_id": ("VAT", "VAT ID"), "bank": ("Pay to account",),
                 "payment": ("Payment",), "description": ("Details", "Work done"),
                 "quantity": ("Hours", "Qty"), "unit_price": ("Price",),
                 "net_value": ("Amount",), "net_total": ("Net",),
                 "tax_total": ("VAT 23%", "Tax"), "to_pay": ("TOTAL", "Total")},
        header=("letterhead", "title_meta_right"), parties=("stacked", "side"),
        columns=(("description", "quantity", "unit_price", "net"), ("description", "net")),
        totals=("pairs_right", "pairs_left"), amount_styles=("comma_dot", "plain_dot"),
        date_styles=("slashes", "words"), font_families=_SERIF + (fonts.LIBERATION_MONO,),
        sizes=(9.0, 10.0, 11.0)),
    # Till receipts in English: narrow roll, shop header, receipt number and time, TOTAL.
    Family(
        "receipt_en", "en",
        wording={"number": ("Receipt No", "Rcpt #", "Trans"), "issue_date": ("Date", "Time"),
                 "place": ("Till", "Cashier"), "tax_id": ("VAT No", "VAT Reg"),
                 "to_pay": ("TOTAL", "Total", "AMOUNT DUE"), "transfer": ("CARD", "Visa"),
                 "tax_total": ("Total VAT", "VAT total", "Tax incl."),
                 "cash": ("CASH",), "vat_rate": ("VAT",),
                 "notes": ("Thank you for your visit", "Please keep your receipt")},
        header=(), parties=(), columns=(), totals=(), amount_styles=("comma_dot", "plain_dot"),
        date_styles=("slashes", "iso", "dots"),
        font_families=(fonts.LIBERATION_MONO, fonts.DEJAVU_SANS, fonts.FREE_SANS),
        sizes=(8.0, 8.5, 9.0), kind="receipt"),
)}
FAMILY_NAMES = tuple(FAMILIES)
_COMPOSERS: dict[str, Callable] = {"invoice": _compose_invoice, "receipt": _compose_receipt}


def family_labels(family: Family) -> set[str]:
    """Every label text this family may print (header lines joined)."""
    base = POLISH if family.language == "pl" else ENGLISH
    texts = {getattr(base, f.name) for f in fields(Labels) if f.name not in family.wording}
    texts |= {variant for variants in family.wording.values() for variant in variants}
    return {text.replace("\n", " ") for text in texts}


def layout_labels() -> set[str]:
    """Every label text the seven fixed layouts (which the extractor was developed on) print."""
    out: set[str] = set()
    for layout in LAYOUTS.values():
        for labels in layout.labels.values():
            out |= {str(getattr(labels, f.name)).replace("\n", " ") for f in fields(labels)}
    return out


def generator_labels() -> set[str]:
    """Every label text this generator prints: its families' and its fixed layouts'."""
    return set().union(*(family_labels(f) for f in FAMILIES.values())) | layout_labels()


def withheld_labels(name: str) -> frozenset[str]:
    """The wording only family `name` prints: none of the other families and none of the seven
    fixed layouts (which the extractor was developed on) print it. Leaving a family out means
    taking these out of the extractor's lexicon while it reads that family."""
    others = layout_labels()
    for other in FAMILIES.values():
        if other.name != name:
            others |= family_labels(other)
    return frozenset(family_labels(FAMILIES[name]) - others)


def leave_out_plan() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """For each family: (the wording to withhold while reading it, the wording the extractor may
    keep: every other family's), as ``evaluation.run_documents(withheld=, known=)`` takes them."""
    plan = {}
    for name in FAMILIES:
        known = set().union(*(family_labels(f) for other, f in FAMILIES.items() if other != name))
        plan[name] = (tuple(sorted(withheld_labels(name))), tuple(sorted(known)))
    return plan


def render_family(invoice: Invoice, name: str, seed: int) -> RenderedInvoice:
    """Typeset `invoice` as family `name` would, with that family's choices drawn from `seed`."""
    family = FAMILIES[name]
    rng = random.Random(seed)
    invoice = replace(invoice, date_style=rng.choice(family.date_styles),
                      amount_style=rng.choice(family.amount_styles))
    if family.kind == "receipt":
        invoice = replace(invoice, items=_receipt_items(invoice, rng), notes=())
        sheet = Sheet(margin_x=10.0, margin_top=14.0, margin_bottom=14.0,
                      page_width=RECEIPT_WIDTH, page_height=RECEIPT_HEIGHT)
    else:
        invoice = replace(invoice, notes=invoice.notes[:2])
        width, height = landscape(A4) if rng.random() < family.landscape else A4
        sheet = Sheet(margin_x=rng.choice((30.0, 42.0, 56.0)),
                      margin_top=rng.choice((30.0, 40.0, 60.0)), page_width=width,
                      page_height=height)
    labels = _labels(family, rng)
    typo = Typography(rng.choice(family.font_families), rng.choice(family.sizes))
    _COMPOSERS[family.kind](sheet, invoice, labels, typo, rng, family)
    document = "Faktura" if invoice.language == "pl" else "Invoice"
    info = PdfInfo(title=f"{document} {invoice.number}", author=invoice.seller.name,
                   subject=document)
    pdf = sheet.render_pdf(info, PageFooter(labels.page, typo.font(), max(7.0, typo.size - 1)))
    receipt_totals = sheet.printed.pop("_receipt_totals", None)
    truth = invoice.truth(sheet.printed, [] if family.kind == "receipt" else sheet.line_items)
    if receipt_totals:  # a receipt's totals are the sums of its printed (gross) lines
        gross, vat = receipt_totals
        truth.update(total_amount=gross, total_tax_amount=vat,
                     net_amount=formatting.amount_truth(Decimal(gross) - Decimal(vat)))
    return RenderedInvoice(pdf, sheet.page_count, truth)
