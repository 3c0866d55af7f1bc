"""Invoice sections shared by the layouts: labels, party blocks, item and VAT tables, totals.

Each section draws on a `Sheet` and marks the truth fields it prints, so a layout's truth file
follows from what it chose to draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

from . import formatting
from .blocks import Column, Pair, Row, TableLook, Typography, draw_lines, draw_table, draw_wrapped
from .blocks import fit_size
from .model import PAYMENT_TRANSFER, Invoice, LineItem, Party
from .sheet import Sheet
from .words import amount_in_words


@dataclass(frozen=True)
class Labels:
    """Printed wording of one layout in one language (no trailing colons)."""

    title: str
    number: str  # between the title and the invoice number: "nr", "No."
    issue_date: str
    sale_date: str
    due_date: str
    place: str
    seller: str
    buyer: str
    tax_id: str
    bank: str
    payment: str
    transfer: str
    cash: str
    lp: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    net_value: str
    vat_rate: str
    vat_amount: str
    gross_value: str
    summary_rate: str
    summary_net: str
    summary_vat: str
    summary_gross: str
    net_total: str
    tax_total: str
    gross_total: str
    to_pay: str
    in_words: str
    total_row: str
    notes: str
    sign_issuer: str
    sign_receiver: str
    page: str  # footer template with {page} and {pages}
    summary_title: str = ""  # heading over a per-rate VAT summary, where a layout prints one


POLISH = Labels(
    title="Faktura VAT", number="nr", issue_date="Data wystawienia", sale_date="Data sprzedaży",
    due_date="Termin płatności", place="Miejsce wystawienia", seller="Sprzedawca",
    buyer="Nabywca", tax_id="NIP", bank="Nr rachunku", payment="Sposób płatności",
    transfer="przelew", cash="gotówka", lp="Lp.", description="Nazwa towaru / usługi",
    quantity="Ilość", unit="J.m.", unit_price="Cena netto", net_value="Wartość netto",
    vat_rate="VAT", vat_amount="Kwota VAT", gross_value="Wartość brutto",
    summary_rate="Stawka VAT", summary_net="Wartość netto", summary_vat="Kwota VAT",
    summary_gross="Wartość brutto", net_total="Razem netto", tax_total="Razem VAT",
    gross_total="Razem brutto", to_pay="Do zapłaty", in_words="Słownie", total_row="Razem",
    notes="Uwagi", sign_issuer="Podpis osoby upoważnionej do wystawienia faktury",
    sign_receiver="Podpis osoby upoważnionej do odbioru faktury", page="Strona {page}/{pages}",
)

ENGLISH = Labels(
    title="VAT Invoice", number="No.", issue_date="Issue date", sale_date="Delivery date",
    due_date="Due date", place="Place of issue", seller="Seller", buyer="Buyer",
    tax_id="VAT ID", bank="Bank account", payment="Payment method", transfer="bank transfer",
    cash="cash", lp="No.", description="Description", quantity="Qty", unit="Unit",
    unit_price="Unit price", net_value="Net amount", vat_rate="VAT", vat_amount="VAT amount",
    gross_value="Gross amount", summary_rate="VAT rate", summary_net="Net amount",
    summary_vat="VAT amount", summary_gross="Gross amount", net_total="Net total",
    tax_total="VAT", gross_total="Total", to_pay="Amount due", in_words="In words",
    total_row="Total", notes="Notes", sign_issuer="Authorised signature (issuer)",
    sign_receiver="Authorised signature (recipient)", page="Page {page} of {pages}",
)

# Item-table columns: key -> (Labels attribute of the header, alignment, truth key)
_ITEM_COLUMNS = {
    "lp": ("lp", "right", None),
    "description": ("description", "left", "description"),
    "quantity": ("quantity", "right", "quantity"),
    "unit": ("unit", "left", None),
    "unit_price": ("unit_price", "right", "unit_price"),
    "net": ("net_value", "right", "amount"),
    "vat_rate": ("vat_rate", "right", "vat_rate"),
    "vat": ("vat_amount", "right", None),
    "gross": ("gross_value", "right", None),
}
_TOTALS_ROW_FIELDS = {"net": "net_amount", "vat": "total_tax_amount", "gross": "total_amount"}


def label(text: str, colon: bool = True) -> str:
    """A label as printed before its value; grid cells print labels without the colon."""
    return f"{text}:" if colon else text


def with_currency(invoice: Invoice, value: Decimal) -> str:
    return f"{invoice.printed_amount(value)} {invoice.currency_label}"


def title_line(invoice: Invoice, labels: Labels) -> str:
    """E.g. "Faktura VAT nr FV/2026/11/0427"."""
    return f"{labels.title} {labels.number} {invoice.number}"


def date_pairs(invoice: Invoice, labels: Labels, *, colon: bool = True, sale: bool = True,
               place: bool = False, due: bool = False) -> list[Pair]:
    """Issue date first, then optionally sale date, due date and place of issue."""
    pairs = [Pair(label(labels.issue_date, colon), invoice.printed_date(invoice.issue_date),
                  "invoice_date")]
    if sale:
        pairs.append(Pair(label(labels.sale_date, colon), invoice.printed_date(invoice.sale_date),
                          "delivery_date"))
    if due and invoice.payment == PAYMENT_TRANSFER:
        pairs.append(Pair(label(labels.due_date, colon), invoice.printed_date(invoice.due_date),
                          "due_date"))
    if place:
        pairs.append(Pair(label(labels.place, colon), invoice.place))
    return pairs


def payment_pairs(invoice: Invoice, labels: Labels, *, colon: bool = True, due: bool = True,
                  bank: bool = True) -> list[Pair]:
    """Payment method and, for bank transfers, the due date and the seller's account."""
    transfer = invoice.payment == PAYMENT_TRANSFER
    pairs = [Pair(label(labels.payment, colon), labels.transfer if transfer else labels.cash)]
    if transfer and due:
        pairs.append(Pair(label(labels.due_date, colon), invoice.printed_date(invoice.due_date),
                          "due_date"))
    if transfer and bank:
        pairs.append(Pair(label(labels.bank, colon), invoice.seller.iban_printed, "supplier_iban"))
    return pairs


def totals_pairs(invoice: Invoice, labels: Labels, *, breakdown: bool = True) -> list[Pair]:
    """Net, VAT and gross totals (if `breakdown`) and the bold amount to pay, with currency."""
    pairs = []
    if breakdown:
        pairs += [Pair(label(labels.net_total), with_currency(invoice, invoice.net_total),
                       "net_amount"),
                  Pair(label(labels.tax_total), with_currency(invoice, invoice.tax_total),
                       "total_tax_amount"),
                  Pair(label(labels.gross_total), with_currency(invoice, invoice.gross_total),
                       "total_amount")]
    pairs.append(Pair(label(labels.to_pay), with_currency(invoice, invoice.gross_total),
                      "total_amount", bold=True))
    return pairs


def mark_currency(sheet: Sheet, invoice: Invoice) -> None:
    """Amounts are printed with their currency label, so the currency is on the page."""
    sheet.mark("currency", invoice.currency_label)


def party_lines(party: Party, role: str, labels: Labels, *, heading: str | None = None,
                bank_label: str | None = None) -> list[tuple[str, bool, str | None]]:
    """Lines of a party block: [heading], name, address, tax id, [bank account].

    `role` is "supplier" or "receiver", the truth-field prefix.
    """
    lines: list[tuple[str, bool, str | None]] = [(heading, True, None)] if heading else []
    lines.append((party.name, True, f"{role}_name"))
    lines += [(line, False, None) for line in party.address]
    lines.append((f"{labels.tax_id}: {party.nip_printed}", False, f"{role}_tax_id"))
    if bank_label and party.iban_printed:
        lines.append((f"{bank_label}: {party.iban_printed}", False, "supplier_iban"))
    return lines


def draw_party(sheet: Sheet, x: float, top: float, width: float, party: Party, role: str,
               labels: Labels, typo: Typography, *, heading: str | None = None) -> float:
    """A party block within `width` (scaled down if a line is too long); returns its height."""
    return draw_lines(sheet, x, top, party_lines(party, role, labels, heading=heading), typo,
                      width)


def draw_parties_side_by_side(sheet: Sheet, invoice: Invoice, labels: Labels,
                              typo: Typography) -> float:
    """Seller left, buyer right, separated by a clear gap; returns the taller block's height."""
    gap = typo.gap * 2
    half = (sheet.width - gap) / 2
    top = sheet.y
    heights = (
        draw_party(sheet, sheet.left, top, half, invoice.seller, "supplier", labels, typo,
                   heading=label(labels.seller)),
        draw_party(sheet, sheet.left + half + gap, top, half, invoice.buyer, "receiver", labels,
                   typo, heading=label(labels.buyer)),
    )
    return max(heights)


def draw_items(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography,
               look: TableLook, keys: Sequence[str], *, totals_row: bool = False) -> None:
    """The line-item table; records the printed line items for the truth file."""
    columns = [Column(getattr(labels, _ITEM_COLUMNS[key][0]), _ITEM_COLUMNS[key][1],
                      flexible=key == "description") for key in keys]
    rows = [Row(tuple(_item_cell(invoice, number, key) for key in keys))
            for number in range(len(invoice.items))]
    if totals_row:
        rows.append(_items_totals_row(invoice, labels, keys))
    printed = draw_table(sheet, columns, rows, typo, look)
    for item, cells in zip(invoice.items, printed):
        sheet.line_items.append(_item_truth(item, dict(zip(keys, cells))))


def _item_cell(invoice: Invoice, number: int, key: str) -> str:
    item = invoice.items[number]
    cells = {
        "lp": lambda: f"{number + 1}",
        "description": lambda: item.description,
        "quantity": lambda: invoice.printed_quantity(item.quantity),
        "unit": lambda: item.unit,
        "unit_price": lambda: invoice.printed_amount(item.unit_price),
        "net": lambda: invoice.printed_amount(item.net),
        "vat_rate": lambda: formatting.vat_rate(item.vat_rate),
        "vat": lambda: invoice.printed_amount(item.vat),
        "gross": lambda: invoice.printed_amount(item.gross),
    }
    return cells[key]()


def _item_truth(item: LineItem, printed: dict[str, str]) -> dict[str, str]:
    """Normalised truth of one printed row; the description is exactly as printed."""
    values = {"description": printed.get("description"),
              "quantity": formatting.quantity_truth(item.quantity),
              "unit_price": formatting.amount_truth(item.unit_price),
              "amount": formatting.amount_truth(item.net),
              "vat_rate": str(item.vat_rate)}
    present = {_ITEM_COLUMNS[key][2] for key in printed} - {None}
    return {key: value for key, value in values.items() if key in present}


def _items_totals_row(invoice: Invoice, labels: Labels, keys: Sequence[str]) -> Row:
    amounts = {"net": invoice.net_total, "vat": invoice.tax_total, "gross": invoice.gross_total}
    cells = tuple(labels.total_row if key == "description"
                  else invoice.printed_amount(amounts[key]) if key in amounts else ""
                  for key in keys)
    fields = tuple((index, _TOTALS_ROW_FIELDS[key]) for index, key in enumerate(keys)
                   if key in _TOTALS_ROW_FIELDS)
    return Row(cells, bold=True, truth_fields=fields)


def draw_rate_summary(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography,
                      look: TableLook, *, anchor: str = "right") -> None:
    """Per-rate table (rate, net, VAT, gross), the way Polish invoices break down their VAT."""
    columns = [Column(labels.summary_rate), Column(labels.summary_net),
               Column(labels.summary_vat), Column(labels.summary_gross)]
    amount = invoice.printed_amount
    rows = [Row((formatting.vat_rate(total.rate), amount(total.net), amount(total.vat),
                 amount(total.gross))) for total in invoice.rate_totals]
    draw_table(sheet, columns, rows, typo, look, anchor=anchor)


def draw_in_words(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """ "Słownie: jeden tysiąc ... złote 55/100" on one line."""
    text = (f"{label(labels.in_words)} "
            f"{amount_in_words(invoice.gross_total, invoice.currency, invoice.language)}")
    size = fit_size(text, typo.font(), typo.size, sheet.width)
    sheet.ensure(typo.leading)
    sheet.text(sheet.left, typo.baseline(sheet.y), text, typo.font(), size)
    sheet.advance(typo.leading)


def draw_notes(sheet: Sheet, invoice: Invoice, labels: Labels, typo: Typography) -> None:
    """The "Uwagi" block; on two-page invoices it is long enough to fill the first page."""
    if not invoice.notes:
        return
    sheet.ensure(typo.leading * 2)
    sheet.text(sheet.left, typo.baseline(sheet.y), label(labels.notes), typo.font(True),
               typo.size)
    sheet.advance(typo.leading)
    for note in invoice.notes:
        draw_wrapped(sheet, sheet.left, sheet.width, note, typo)


def start_totals(sheet: Sheet, invoice: Invoice, height: float) -> None:
    """Keep the totals block together; two-page invoices always carry it onto page 2."""
    if invoice.two_pages and sheet.page_count == 1:
        sheet.new_page()
    else:
        sheet.ensure(height)


def draw_signatures(sheet: Sheet, labels: Labels, typo: Typography) -> None:
    """Two dotted signature lines with small captions, at the foot of the content."""
    small = typo.scaled(max(6.5, typo.size - 2))
    width = (sheet.width - typo.gap * 3) / 2
    height = typo.leading * 3 + small.leading
    sheet.ensure(height)
    line_y = sheet.y + typo.leading * 3
    for x in (sheet.left, sheet.right - width):
        sheet.line(x, line_y, x + width, line_y, width=0.6, dash=(1, 2))
    for x, caption in ((sheet.left, labels.sign_issuer),
                       (sheet.right - width, labels.sign_receiver)):
        size = fit_size(caption, small.font(), small.size, width)
        sheet.text(x + width / 2, line_y + small.size + 2, caption, small.font(), size,
                   align="center", gray=0.3)
    sheet.advance(height)
