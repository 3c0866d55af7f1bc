"""Seven visibly different invoice layouts, rendered to byte-reproducible A4 PDFs.

Each layout is a function that composes shared sections on a `Sheet`; the sheet records which
truth fields were printed, so `render_invoice` returns a truth dict holding exactly the fields
on the page. Wording is per layout and language (see the `Labels` of each `Layout`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

from . import fonts
from .blocks import (Column, Pair, Row, TableLook, Typography, draw_lines, draw_pairs, draw_table,
                     fit_size, pairs_width)
from .model import PAYMENT_TRANSFER, Invoice, derive_seed
from .sections import (ENGLISH, POLISH, Labels, date_pairs, draw_in_words, draw_items,
                       draw_notes, draw_parties_side_by_side, draw_party, draw_rate_summary,
                       draw_signatures, label, mark_currency, party_lines, payment_pairs,
                       start_totals, title_line, totals_pairs, with_currency)
from .sheet import PAGE_WIDTH, PageFooter, PdfInfo, Sheet

BODY_SIZES = (8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0)
TWO_PAGE_BODY_SIZE = 11.0

DrawFunction = Callable[[Sheet, Invoice, Labels, Typography], None]


@dataclass(frozen=True)
class Layout:
    name: str
    draw: DrawFunction
    families: tuple[fonts.FontFamily, ...]
    labels: dict[str, Labels]  # by language
    body_sizes: tuple[float, ...] = BODY_SIZES


@dataclass(frozen=True)
class RenderedInvoice:
    pdf: bytes
    pages: int
    truth: dict


def render_invoice(invoice: Invoice, layout_name: str) -> RenderedInvoice:
    """Typeset `invoice` in the named layout; returns the PDF, its page count and the truth."""
    layout = LAYOUTS[layout_name]
    labels = layout.labels[invoice.language]
    typo = choose_typography(invoice, layout)
    sheet = Sheet()
    layout.draw(sheet, invoice, labels, typo)
    document = "Faktura" if invoice.language == "pl" else "Invoice"
    info = PdfInfo(title=f"{document} {invoice.number}", author=invoice.seller.name,
                   subject=f"{document} {invoice.number}, {invoice.seller.name}")
    footer = PageFooter(labels.page, typo.font(), max(7.0, typo.size - 1))
    pdf = sheet.render_pdf(info, footer)
    return RenderedInvoice(pdf, sheet.page_count, invoice.truth(sheet.printed, sheet.line_items))


def choose_typography(invoice: Invoice, layout: Layout) -> Typography:
    """Font family and body size, seeded by the invoice; two-page invoices use a large body."""
    rng = random.Random(derive_seed(invoice.seed, "typography"))
    family = rng.choice(layout.families)
    size = TWO_PAGE_BODY_SIZE if invoice.two_pages else rng.choice(layout.body_sizes)
    return Typography(family, size)


# --- helpers shared by several layouts -------------------------------------------------------

def _title(sheet: Sheet, text: str, typo: Typography, grow: float, *, x: float | None = None,
           align: str = "left", max_width: float | None = None,
           truth_field: str | None = "invoice_id") -> float:
    """A bold headline `grow` points above body size, shrunk to fit; returns its height."""
    x = sheet.left if x is None else x
    size = fit_size(text, typo.font(True), typo.size + grow, max_width or sheet.width)
    big = typo.scaled(size)
    sheet.text(x, big.baseline(sheet.y), text, big.font(True), size, align=align,
               truth_field=truth_field)
    return big.leading


def _pairs_beside(sheet: Sheet, left: Sequence[Pair], right: Sequence[Pair],
                  typo: Typography) -> None:
    """`left` pairs at the left margin and `right` pairs flush right; stacked if too wide."""
    left_width = pairs_width(left, typo) if left else 0.0
    right_width = pairs_width(right, typo) if right else 0.0
    if left and right and left_width + right_width + 2 * typo.gap > sheet.width:
        _pairs_beside(sheet, [], right, typo)
        _pairs_beside(sheet, left, [], typo)
        return
    sheet.ensure(max(len(left), len(right)) * typo.leading)
    top = sheet.y
    heights = [0.0]
    if right:
        heights.append(draw_pairs(sheet, sheet.right - right_width, top, right, typo,
                                  right=sheet.right))
    if left:
        heights.append(draw_pairs(sheet, sheet.left, top, left, typo))
    sheet.advance(max(heights))


def _gap(sheet: Sheet, typo: Typography, lines: float = 1.0) -> None:
    sheet.advance(typo.leading * lines)


def _rule(sheet: Sheet, width: float = 0.8, gray: float = 0.0) -> None:
    sheet.line(sheet.left, sheet.y, sheet.right, sheet.y, width=width, gray=gray)


def _totals_height(typo: Typography, lines: int) -> float:
    return typo.leading * (lines + 1)


# --- (a) side_by_side: classic Polish invoice ------------------------------------------------

def _draw_side_by_side(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Meta block top right, centred title, seller and buyer side by side, ruled table."""
    meta = date_pairs(invoice, labels, place=True)
    sheet.advance(draw_pairs(sheet, sheet.right - pairs_width(meta, typo), sheet.y, meta, typo))
    _gap(sheet, typo)
    sheet.advance(_title(sheet, title_line(invoice, labels), typo, 6, x=PAGE_WIDTH / 2,
                         align="center"))
    _gap(sheet, typo, 0.8)
    sheet.advance(draw_parties_side_by_side(sheet, invoice, labels, typo))
    _gap(sheet, typo)
    draw_items(sheet, invoice, labels, typo, TableLook(header_fill=0.88),
               ("lp", "description", "quantity", "unit", "unit_price", "net", "vat_rate",
                "gross"))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    start_totals(sheet, invoice, _totals_height(typo, 4))
    _gap(sheet, typo, 0.5)
    _pairs_beside(sheet, payment_pairs(invoice, labels), totals_pairs(invoice, labels), typo)
    mark_currency(sheet, invoice)
    _gap(sheet, typo, 2)
    draw_signatures(sheet, labels, typo)


# --- (b) stacked: seller then buyer, each behind a label column ------------------------------

def _draw_stacked(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Title and dates on the left, seller and buyer stacked in a label/value arrangement."""
    sheet.advance(_title(sheet, title_line(invoice, labels), typo, 5))
    _gap(sheet, typo, 0.5)
    sheet.advance(draw_pairs(sheet, sheet.left, sheet.y,
                             date_pairs(invoice, labels, due=True), typo))
    _gap(sheet, typo, 0.5)
    _rule(sheet)
    _gap(sheet, typo, 0.6)
    heads = (label(labels.seller), label(labels.buyer))
    value_x = sheet.left + max(typo.width(head, True) for head in heads) + typo.gap
    for head, party, role in zip(heads, (invoice.seller, invoice.buyer), ("supplier", "receiver")):
        sheet.text(sheet.left, typo.baseline(sheet.y), head, typo.font(True), typo.size)
        sheet.advance(draw_party(sheet, value_x, sheet.y, sheet.right - value_x, party, role,
                                 labels, typo))
        _gap(sheet, typo, 0.6)
    _rule(sheet)
    _gap(sheet, typo)
    draw_items(sheet, invoice, labels, typo, TableLook(),
               ("lp", "description", "quantity", "unit", "unit_price", "vat_rate", "net"))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    start_totals(sheet, invoice, _totals_height(typo, 4))
    _gap(sheet, typo, 0.5)
    _pairs_beside(sheet, payment_pairs(invoice, labels, due=False), totals_pairs(invoice, labels),
                  typo)
    mark_currency(sheet, invoice)


# --- (c) grid: everything in ruled cells, nine-column item table -----------------------------

_GRID_LOOK = TableLook(grid=True, header_fill=0.85, row_factor=2.0)


def _draw_grid(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Label-above-value cells for dates and payment; per-line VAT; per-rate summary."""
    sheet.advance(_title(sheet, title_line(invoice, labels), typo, 6))
    _gap(sheet, typo, 0.5)
    _cells_row(sheet, typo, date_pairs(invoice, labels, colon=False, place=True))
    _gap(sheet, typo, 0.8)
    _boxed_parties(sheet, invoice, labels, typo)
    _gap(sheet, typo, 0.8)
    draw_items(sheet, invoice, labels, typo, _GRID_LOOK,
               ("lp", "description", "quantity", "unit", "unit_price", "net", "vat_rate", "vat",
                "gross"), totals_row=True)
    _gap(sheet, typo, 0.6)
    draw_rate_summary(sheet, invoice, labels, typo, _GRID_LOOK)
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    start_totals(sheet, invoice, _totals_height(typo, 6))
    _gap(sheet, typo, 0.5)
    _cells_row(sheet, typo, payment_pairs(invoice, labels, colon=False))
    _gap(sheet, typo, 0.6)
    sheet.advance(_title(sheet, f"{labels.to_pay}: {with_currency(invoice, invoice.gross_total)}",
                         typo, 2, truth_field=None))
    mark_currency(sheet, invoice)
    draw_in_words(sheet, invoice, labels, typo)
    _gap(sheet, typo, 2)
    draw_signatures(sheet, labels, typo)


def _cells_row(sheet: Sheet, typo: Typography, pairs: Sequence[Pair]) -> None:
    """Pairs as a one-row grid table: labels in the shaded header, values below."""
    columns = [Column(pair.label, "left") for pair in pairs]
    fields = tuple((index, pair.truth_field) for index, pair in enumerate(pairs)
                   if pair.truth_field)
    draw_table(sheet, columns, [Row(tuple(pair.value for pair in pairs), truth_fields=fields)],
               typo, _GRID_LOOK)


def _boxed_parties(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Seller and buyer in two framed cells with shaded headings, a clear gap between them."""
    gap = typo.gap * 2
    width = (sheet.width - gap) / 2
    pad = typo.size * 0.6
    header = typo.leading + pad
    blocks = ((invoice.seller, "supplier", labels.seller),
              (invoice.buyer, "receiver", labels.buyer))
    body = max(len(party_lines(party, role, labels)) for party, role, _ in blocks) * typo.leading
    sheet.ensure(header + body + 2 * pad)
    top = sheet.y
    for index, (party, role, heading) in enumerate(blocks):
        x = sheet.left + index * (width + gap)
        sheet.rect(x, top, width, header, fill_gray=0.85, line_width=0.6)
        sheet.text(x + pad, typo.baseline(top + pad / 2), heading, typo.font(True), typo.size)
        draw_party(sheet, x + pad, top + header + pad, width - 2 * pad, party, role, labels, typo)
        sheet.rect(x, top + header, width, body + 2 * pad, line_width=0.6)
    sheet.advance(header + body + 2 * pad)


# --- (d) minimal: few labels, no grid ---------------------------------------------------------

def _draw_minimal(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Seller letterhead left, number and date right, one total; no due or delivery date."""
    heading = f"{labels.title} {invoice.number}"
    date_pair = date_pairs(invoice, labels, sale=False)
    big = typo.scaled(typo.size + 3)
    right_width = max(big.width(heading, True), pairs_width(date_pair, typo))
    top = sheet.y
    sheet.text(sheet.right, big.baseline(top), heading, big.font(True), big.size, align="right",
               truth_field="invoice_id")
    draw_pairs(sheet, sheet.right - pairs_width(date_pair, typo), top + big.leading, date_pair,
               typo)
    seller_lines = party_lines(invoice.seller, "supplier", labels, bank_label=labels.bank)
    seller_height = draw_lines(sheet, sheet.left, top, seller_lines[:1], big,
                               sheet.width - right_width - 2 * typo.gap)
    seller_height += draw_lines(sheet, sheet.left, top + seller_height, seller_lines[1:], typo,
                                sheet.width - right_width - 2 * typo.gap)
    sheet.advance(max(seller_height, big.leading + typo.leading))
    _gap(sheet, typo, 1.5)
    sheet.advance(draw_party(sheet, sheet.left, sheet.y, sheet.width * 0.6, invoice.buyer,
                             "receiver", labels, typo, heading=label(labels.buyer)))
    _gap(sheet, typo, 1.5)
    draw_items(sheet, invoice, labels, typo, TableLook(row_factor=1.6),
               ("description", "quantity", "unit", "unit_price", "vat_rate", "net"))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    start_totals(sheet, invoice, _totals_height(typo, 1))
    _gap(sheet, typo, 0.5)
    _pairs_beside(sheet, [], totals_pairs(invoice, labels, breakdown=False), typo)
    mark_currency(sheet, invoice)


# --- (e) logo_header: drawn logo, big title --------------------------------------------------

def _draw_logo_header(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Logo and seller letterhead beside a large title; buyer beside the dates; zebra table."""
    number = [Pair(label(labels.number), invoice.number, "invoice_id")]
    title = typo.scaled(typo.size + 12)
    right_width = max(pairs_width(number, typo), title.width(labels.title, True))
    top = sheet.y
    sheet.text(sheet.right, title.baseline(top), labels.title, title.font(True), title.size,
               align="right", gray=0.25)
    draw_pairs(sheet, sheet.right - pairs_width(number, typo), top + title.leading, number, typo)
    logo = 58.0
    _draw_logo(sheet, top, logo, invoice.seller.name, typo)
    text_x = sheet.left + logo + typo.gap
    lines = party_lines(invoice.seller, "supplier", labels, bank_label=labels.bank)
    max_width = sheet.right - right_width - 2 * typo.gap - text_x
    name_height = draw_lines(sheet, text_x, top, lines[:1], typo.scaled(typo.size + 3), max_width)
    details = draw_lines(sheet, text_x, top + name_height, lines[1:], typo, max_width)
    sheet.advance(max(title.leading + typo.leading, name_height + details, logo))
    _gap(sheet, typo, 0.6)
    _rule(sheet, width=2.0, gray=0.25)
    _gap(sheet, typo)
    dates = date_pairs(invoice, labels, due=True)
    dates_width = pairs_width(dates, typo)
    top = sheet.y
    draw_pairs(sheet, sheet.right - dates_width, top, dates, typo)
    sheet.advance(max(len(dates) * typo.leading,
                      draw_party(sheet, sheet.left, top, sheet.width - dates_width - 2 * typo.gap,
                                 invoice.buyer, "receiver", labels, typo,
                                 heading=label(labels.buyer))))
    _gap(sheet, typo)
    draw_items(sheet, invoice, labels, typo, TableLook(header_fill=0.8, zebra=0.94),
               ("lp", "description", "quantity", "unit", "unit_price", "vat_rate", "net",
                "gross"))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    start_totals(sheet, invoice, _totals_height(typo, 4))
    _gap(sheet, typo, 0.5)
    _pairs_beside(sheet, payment_pairs(invoice, labels, due=False, bank=False),
                  totals_pairs(invoice, labels), typo)
    mark_currency(sheet, invoice)


def _draw_logo(sheet: Sheet, top: float, size: float, company: str, typo: Typography) -> None:
    """A filled rounded square with the company's initials and an accent bar."""
    sheet.rect(sheet.left, top, size, size, stroke_gray=None, fill_gray=0.25, radius=6)
    sheet.rect(sheet.left + 6, top + size - 12, size - 12, 4, stroke_gray=None, fill_gray=0.7)
    initials = "".join(word[0] for word in company.split()[:2]).upper()
    sheet.text(sheet.left + size / 2, top + size / 2 + 6, initials, typo.font(True), 20,
               align="center", gray=1.0)


# --- (f) totals_box: framed parties and a framed totals box ----------------------------------

def _draw_totals_box(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Title left, dates right, framed party boxes, totals in a box, amount in words."""
    meta = date_pairs(invoice, labels, place=True)
    meta_width = pairs_width(meta, typo)
    top = sheet.y
    title_height = _title(sheet, title_line(invoice, labels), typo, 5,
                          max_width=sheet.width - meta_width - 2 * typo.gap)
    sheet.advance(max(title_height, draw_pairs(sheet, sheet.right - meta_width, top, meta, typo)))
    _gap(sheet, typo)
    _framed_parties(sheet, invoice, labels, typo)
    _gap(sheet, typo)
    draw_items(sheet, invoice, labels, typo, TableLook(header_fill=0.9),
               ("lp", "description", "quantity", "unit", "unit_price", "vat_rate", "net",
                "gross"))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    totals = totals_pairs(invoice, labels)
    pad = typo.size
    box_height = len(totals) * typo.leading + 2 * pad
    start_totals(sheet, invoice, box_height + 4 * typo.leading)
    _gap(sheet, typo, 0.5)
    box_width = pairs_width(totals, typo) + 2 * pad
    top = sheet.y
    sheet.rect(sheet.right - box_width, top, box_width, box_height, line_width=1.2, radius=3)
    draw_pairs(sheet, sheet.right - box_width + pad, top + pad, totals, typo,
               right=sheet.right - pad)
    mark_currency(sheet, invoice)
    payment = payment_pairs(invoice, labels)
    if pairs_width(payment, typo) + 2 * typo.gap + box_width <= sheet.width:
        draw_pairs(sheet, sheet.left, top + pad, payment, typo)
        sheet.advance(box_height)
    else:
        sheet.advance(box_height + typo.leading * 0.5)
        sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, payment, typo))
    _gap(sheet, typo, 0.6)
    draw_in_words(sheet, invoice, labels, typo)
    _gap(sheet, typo, 2)
    draw_signatures(sheet, labels, typo)


def _framed_parties(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """Seller and buyer in rounded frames of equal height, headings in capitals."""
    gap = typo.gap * 2
    width = (sheet.width - gap) / 2
    pad = typo.size * 0.8
    blocks = ((invoice.seller, "supplier", labels.seller),
              (invoice.buyer, "receiver", labels.buyer))
    height = max(len(party_lines(party, role, labels, heading=heading))
                 for party, role, heading in blocks) * typo.leading + 2 * pad
    sheet.ensure(height)
    for index, (party, role, heading) in enumerate(blocks):
        x = sheet.left + index * (width + gap)
        sheet.rect(x, sheet.y, width, height, line_width=0.8, radius=4)
        draw_party(sheet, x + pad, sheet.y + pad, width - 2 * pad, party, role, labels, typo,
                   heading=heading.upper())
    sheet.advance(height)


# --- (g) ksef: the Ministry of Finance's KSeF visualisation ----------------------------------

_KSEF_LOOK = TableLook(grid=True, header_fill=0.9, row_factor=1.9)


def _draw_ksef(sheet: Sheet, invoice: Invoice, labels: KsefLabels, typo: Typography) -> None:
    """Sections Podmiot1/Podmiot2, ISO dates (as in the XML), per-rate summary, amount due.

    Like the official visualisation it prints net and VAT totals only per rate.
    """
    sheet.text(sheet.left, typo.baseline(sheet.y), "Krajowy System e-Faktur (KSeF)",
               typo.font(True), typo.size, gray=0.35)
    _gap(sheet, typo, 1.5)
    sheet.text(sheet.left, typo.baseline(sheet.y), labels.number, typo.font(), typo.size)
    _gap(sheet, typo)
    sheet.advance(_title(sheet, invoice.number, typo, 8))
    sheet.text(sheet.left, typo.baseline(sheet.y), labels.title, typo.font(), typo.size)
    _gap(sheet, typo)
    sheet.advance(draw_pairs(sheet, sheet.left, sheet.y,
                             [Pair(label(labels.ksef_number), invoice.ksef_number)], typo))
    _gap(sheet, typo, 0.8)
    _ksef_parties(sheet, invoice, labels, typo)
    _ksef_section(sheet, labels.details, typo)
    sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, [
        Pair(label(labels.issue_date), invoice.issue_date.isoformat(), "invoice_date"),
        Pair(label(labels.place), invoice.place),
        Pair(label(labels.sale_date), invoice.sale_date.isoformat(), "delivery_date"),
        Pair(label(labels.currency_code), invoice.currency, "currency"),
    ], _fitted(typo, labels.sale_date, sheet.width * 0.9)))
    _ksef_section(sheet, labels.items_heading, typo)
    draw_items(sheet, invoice, labels, typo, _KSEF_LOOK,
               ("lp", "description", "unit_price", "quantity", "unit", "vat_rate", "net"))
    _gap(sheet, typo)
    draw_notes(sheet, invoice, labels, typo)
    start_totals(sheet, invoice, _totals_height(typo, len(invoice.rate_totals) + 8))
    _ksef_section(sheet, labels.rates_heading, typo)
    draw_rate_summary(sheet, invoice, labels, typo, _KSEF_LOOK, anchor="left")
    # Net and VAT totals appear only as their per-rate parts; by contract the truth still carries
    # the sums, which an engine gets by adding up this table.
    sheet.mark("net_amount", invoice.printed_amount(invoice.net_total))
    sheet.mark("total_tax_amount", invoice.printed_amount(invoice.tax_total))
    _gap(sheet, typo)
    sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, [
        Pair(label(labels.to_pay), f"{invoice.printed_amount(invoice.gross_total)} "
             f"{invoice.currency}", "total_amount", bold=True)], typo.scaled(typo.size + 2)))
    _ksef_section(sheet, labels.payment_heading, typo)
    sheet.advance(draw_pairs(sheet, sheet.left, sheet.y, _ksef_payment(invoice, labels), typo))


def _fitted(typo: Typography, widest: str, width: float) -> Typography:
    """Body typography, scaled down if the long KSeF label plus a value would not fit."""
    return typo.scaled(fit_size(widest + " 0000-00-00 0000", typo.font(), typo.size, width))


def _ksef_heading(sheet: Sheet, heading: str, typo: Typography, element: str = "",
                  x: float | None = None, width: float | None = None) -> float:
    """Section heading over a thin rule, with the XML element name (Podmiot1...) at the right.

    Draws at the cursor without advancing it; returns the height used.
    """
    x = sheet.left if x is None else x
    width = sheet.width if width is None else width
    big = typo.scaled(typo.size + 2)
    sheet.text(x, big.baseline(sheet.y), heading, big.font(True), big.size)
    if element:
        sheet.text(x + width, big.baseline(sheet.y), element, typo.font(), typo.size - 1,
                   align="right", gray=0.45)
    sheet.line(x, sheet.y + big.leading + 2, x + width, sheet.y + big.leading + 2, width=0.6,
               gray=0.4)
    return big.leading + 2 + typo.leading * 0.4


def _ksef_section(sheet: Sheet, heading: str, typo: Typography) -> None:
    """A full-width section heading, kept on the same page as a few lines of its content."""
    _gap(sheet, typo, 0.6)
    sheet.ensure(typo.leading * 5)
    sheet.advance(_ksef_heading(sheet, heading, typo))


def _ksef_parties(sheet: Sheet, invoice: Invoice, labels: KsefLabels,
                  typo: Typography) -> None:
    """Podmiot1 and Podmiot2 side by side, or stacked when names are too long for half a page."""
    blocks = ((invoice.seller, "supplier", labels.seller, "Podmiot1"),
              (invoice.buyer, "receiver", labels.buyer, "Podmiot2"))
    pair_sets = [[Pair(label(labels.tax_id), party.nip_printed, f"{role}_tax_id"),
                  Pair(label(labels.name), party.name, f"{role}_name"),
                  *(Pair(label(labels.address) if number == 0 else "", line)
                    for number, line in enumerate(party.address))]
                 for party, role, _, _ in blocks]
    gap = typo.gap * 2
    half = (sheet.width - gap) / 2
    side_by_side = all(pairs_width(pairs, typo) <= half for pairs in pair_sets)
    width = half if side_by_side else sheet.width
    _gap(sheet, typo, 0.6)
    top = sheet.y
    heights = []
    for index, ((_, _, heading, element), pairs) in enumerate(zip(blocks, pair_sets)):
        x = sheet.left + index * (half + gap) if side_by_side else sheet.left
        if not side_by_side:
            sheet.ensure(typo.leading * (len(pairs) + 3))
            top = sheet.y
        height = _ksef_heading(sheet, heading, typo, element, x, width)
        height += draw_pairs(sheet, x, top + height, pairs, typo)
        heights.append(height)
        if not side_by_side:
            sheet.advance(height + typo.leading * 0.6)
    if side_by_side:
        sheet.advance(max(heights))


def _ksef_payment(invoice: Invoice, labels: Labels) -> list[Pair]:
    if invoice.payment != PAYMENT_TRANSFER:
        return [Pair(label(labels.payment), labels.cash)]
    return [Pair(label(labels.payment), labels.transfer),
            Pair(label(labels.due_date), invoice.due_date.isoformat(),
                 "due_date"),
            Pair(label(labels.bank), invoice.seller.iban_printed, "supplier_iban")]


# --- registry --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KsefLabels(Labels):
    """The KSeF visualisation's extra wording: section headings and field names."""

    ksef_number: str = ""
    name: str = ""
    address: str = ""
    details: str = ""
    currency_code: str = ""
    items_heading: str = ""
    rates_heading: str = ""
    payment_heading: str = ""


def _ksef(base: Labels, **wording: str) -> KsefLabels:
    return KsefLabels(**{**asdict(base), **wording})


LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (
    Layout("side_by_side", _draw_side_by_side,
           (fonts.DEJAVU_SANS, fonts.LIBERATION_SANS, fonts.FREE_SANS, fonts.DEJAVU_SERIF),
           {"pl": POLISH, "en": ENGLISH}),
    Layout("stacked", _draw_stacked,
           (fonts.LIBERATION_MONO, fonts.LIBERATION_SERIF, fonts.FREE_SERIF, fonts.DEJAVU_SANS),
           {"pl": replace(POLISH, title="Faktura", sale_date="Data dostawy", bank="Numer konta",
                          description="Nazwa", unit_price="Cena jedn.\nnetto",
                          vat_rate="Stawka\nVAT", net_value="Wartość\nnetto",
                          net_total="Wartość netto",
                          tax_total="Kwota VAT", gross_total="Wartość brutto"),
            "en": replace(ENGLISH, title="Invoice", sale_date="Date of supply", seller="Supplier",
                          buyer="Bill to", tax_id="Tax ID", bank="IBAN", description="Item",
                          vat_rate="VAT rate", net_total="Subtotal", tax_total="Tax",
                          to_pay="Total due")}),
    Layout("grid", _draw_grid, (fonts.DEJAVU_SANS, fonts.LIBERATION_SANS, fonts.FREE_SANS),
           {"pl": replace(POLISH, description="Nazwa", unit_price="Cena\nnetto",
                          net_value="Wartość\nnetto", vat_rate="Stawka\nVAT",
                          vat_amount="Kwota\nVAT", gross_value="Wartość\nbrutto",
                          bank="Rachunek bankowy"),
            "en": replace(ENGLISH, title="Invoice", sale_date="Date of supply",
                          unit_price="Unit\nprice", net_value="Net\namount",
                          vat_rate="VAT\nrate", vat_amount="VAT\namount",
                          gross_value="Gross\namount", bank="IBAN", to_pay="Total due")}),
    Layout("minimal", _draw_minimal,
           (fonts.LIBERATION_MONO, fonts.FREE_SERIF, fonts.LIBERATION_SERIF, fonts.DEJAVU_SERIF),
           {"pl": replace(POLISH, title="Faktura", issue_date="Data", bank="Konto",
                          description="Opis", unit_price="Cena", net_value="Wartość",
                          to_pay="Razem do zapłaty"),
            "en": replace(ENGLISH, title="Invoice", issue_date="Date", buyer="Bill to",
                          bank="Account", unit_price="Price", net_value="Amount",
                          to_pay="Total due")}),
    Layout("logo_header", _draw_logo_header,
           (fonts.LIBERATION_SANS, fonts.FREE_SANS, fonts.DEJAVU_SANS, fonts.DEJAVU_SERIF),
           {"pl": replace(POLISH, title="FAKTURA", number="Numer",
                          sale_date="Data wykonania usługi", due_date="Termin zapłaty",
                          bank="Numer konta", description="Opis towaru / usługi",
                          net_value="Netto", gross_value="Brutto", net_total="Suma netto",
                          tax_total="Suma VAT", gross_total="Suma brutto"),
            "en": replace(ENGLISH, title="INVOICE", number="Invoice No.",
                          sale_date="Date of supply", due_date="Payment due", buyer="Bill to",
                          tax_id="Tax ID", bank="IBAN", net_value="Net", gross_value="Gross",
                          net_total="Subtotal", tax_total="Tax", to_pay="Total due")}),
    Layout("totals_box", _draw_totals_box,
           (fonts.DEJAVU_SERIF, fonts.LIBERATION_SERIF, fonts.FREE_SERIF, fonts.LIBERATION_SANS),
           {"pl": replace(POLISH, bank="Rachunek bankowy"),
            "en": replace(ENGLISH, title="Invoice", sale_date="Date of supply",
                          seller="Supplier", buyer="Bill to", tax_id="NIP",
                          in_words="Amount in words")}),
    Layout("ksef", _draw_ksef, (fonts.DEJAVU_SANS, fonts.LIBERATION_SANS, fonts.FREE_SANS),
           {"pl": _ksef(POLISH, title="Faktura podstawowa", number="Numer Faktury",
                        ksef_number="Numer KSeF", name="Nazwa", address="Adres",
                        details="Szczegóły",
                        sale_date="Data dokonania lub zakończenia dostawy towarów lub "
                                  "wykonania usługi",
                        currency_code="Kod waluty", items_heading="Pozycje",
                        description="Nazwa towaru lub usługi", unit_price="Cena jedn.\nnetto",
                        unit="Miara", vat_rate="Stawka\npodatku",
                        net_value="Wartość\nsprzedaży\nnetto",
                        rates_heading="Podsumowanie stawek podatku",
                        summary_rate="Stawka podatku", summary_net="Kwota netto",
                        summary_vat="Kwota podatku", summary_gross="Kwota brutto",
                        to_pay="Kwota należności ogółem", payment_heading="Płatność",
                        payment="Forma płatności", transfer="Przelew", cash="Gotówka",
                        bank="Numer rachunku bankowego"),
            "en": _ksef(ENGLISH, title="Basic invoice", number="Invoice number",
                        ksef_number="KSeF number", name="Name", address="Address",
                        tax_id="Tax ID", details="Details",
                        sale_date="Date of supply of goods or services",
                        currency_code="Currency code", items_heading="Items",
                        description="Name of goods or service", unit_price="Unit net\nprice",
                        quantity="Quantity", vat_rate="Tax\nrate",
                        net_value="Net sales\nvalue", rates_heading="Tax rate summary",
                        summary_rate="Tax rate", summary_net="Net amount",
                        summary_vat="Tax amount", summary_gross="Gross amount",
                        to_pay="Total amount due", payment_heading="Payment",
                        transfer="Bank transfer", cash="Cash", bank="Bank account number")},
           body_sizes=(8.0, 8.5, 9.0, 9.5)),
)}
LAYOUT_NAMES = tuple(LAYOUTS)
