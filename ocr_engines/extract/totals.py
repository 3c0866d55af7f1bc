"""Invoice totals: net, VAT and gross, chosen so that they add up.

Candidates come from labels ('Razem do zapłaty', 'Wartość netto'), from a totals row that holds
net, VAT and gross side by side, and from a per-rate summary table; the triple that satisfies
net + VAT = gross wins.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from .. import labels as L
from ..normalize import find_amounts, fold, format_amount
from .reader import CENT, Found, InvoiceReader, LabelHit


def row_amounts_after(reader: InvoiceReader, hit: LabelHit) -> list[Decimal]:
    row = reader.rows[hit.row]
    texts = [reader.remainder(hit)] + [s.text for s in row.segments[hit.seg + 1:]]
    return find_amounts("  ".join(texts))


def labelled_amounts(reader: InvoiceReader, candidates, exclude: set[int]) -> list[Found]:
    """Amounts printed after (or just below) each occurrence of a label, in reading order."""
    out = []
    for hit in reader.find_labels(candidates):
        if hit.row in exclude:
            continue
        amounts = row_amounts_after(reader, hit)
        conf = reader.rows[hit.row].segments[hit.seg].conf
        if amounts:
            out.append(Found(format_amount(amounts[0]), conf, hit.row))
            continue
        for seg, r in reader.segments_below(hit.row, reader.rows[hit.row].segments[hit.seg], 1):
            below = find_amounts(seg.text)
            if below:
                out.append(Found(format_amount(below[0]), seg.conf, r))
    return out


def sum_row_triple(reader: InvoiceReader, exclude: set[int]) -> tuple[Decimal, Decimal, Decimal, float, int] | None:
    """A 'Razem'/'Total' row with net, VAT and gross side by side (net + VAT = gross)."""
    for hit in reader.find_labels(L.SUM_ROW, anchored=True):
        if hit.row in exclude:
            continue
        triple = additive_triple(row_amounts_after(reader, hit))
        if triple:
            return (*triple, reader.rows[hit.row].segments[hit.seg].conf, hit.row)
    return None


def per_rate_summary(reader: InvoiceReader, exclude: set[int]) -> tuple[Decimal, Decimal, Decimal, float] | None:
    """Sum of a per-VAT-rate summary table (rows: rate, net, VAT, gross)."""
    net = tax = gross = Decimal(0)
    confs = []
    seen_rates = set()
    for r, row in enumerate(reader.rows):
        if r in exclude:
            continue
        text = row.text
        rate = re.search(r"(?<!\d)(\d{1,2}) ?%|\bzw\b|\bnp\b", fold(text))
        if not rate:
            continue
        amounts = find_amounts(text)
        triple = additive_triple(amounts)
        if not triple and len(amounts) >= 2 and rate.group(1):
            # The VAT cell is unreadable: net and gross still fix it when VAT = net x rate.
            n, g = amounts[0], amounts[-1]
            if (n * int(rate.group(1)) / 100).quantize(CENT, ROUND_HALF_UP) == g - n:
                triple = (n, g - n, g)
        if not triple or rate.group(0) in seen_rates:
            continue
        seen_rates.add(rate.group(0))
        net, tax, gross = net + triple[0], tax + triple[1], gross + triple[2]
        confs.append(min(s.conf for s in row.segments))
    if not confs:
        return None
    return net, tax, gross, min(confs)


def additive_triple(amounts: list[Decimal]) -> tuple[Decimal, Decimal, Decimal] | None:
    """The first (a, b, c) in order with a + b = c: net, VAT, gross as printed in a row."""
    n = len(amounts)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                if amounts[i] + amounts[j] == amounts[k] and amounts[k] > 0 and amounts[j] < amounts[k]:
                    return amounts[i], amounts[j], amounts[k]
    return None


def totals(reader: InvoiceReader, table_rows: set[int]) -> dict[str, Found]:
    """net, VAT and gross totals: labelled candidates, chosen so that net + VAT = gross;
    ``table_rows`` (the item table's) hold no totals."""
    exclude = table_rows
    cands = {
        "total_amount": labelled_amounts(reader, L.TOTAL, exclude),
        "net_amount": labelled_amounts(reader, L.NET, exclude),
        "total_tax_amount": labelled_amounts(reader, L.TAX, exclude),
    }
    n_labelled_totals = len(cands["total_amount"])
    triple = sum_row_triple(reader, exclude)
    if triple:
        t_net, t_tax, t_gross, conf, r = triple
        for name, value in (("net_amount", t_net), ("total_tax_amount", t_tax), ("total_amount", t_gross)):
            cands[name].append(Found(format_amount(value), conf, r))
    summary = per_rate_summary(reader, exclude)
    if summary:
        for name, value in (("net_amount", summary[0]), ("total_tax_amount", summary[1]), ("total_amount", summary[2])):
            cands[name].append(Found(format_amount(value), summary[3]))
    labelled_totals = {c.value for c in cands["total_amount"][:n_labelled_totals]}
    for total in cands["total_amount"]:
        if labelled_totals and total.value not in labelled_totals:
            continue  # sums that disagree with the printed total are misreads
        for net in cands["net_amount"]:
            for tax in cands["total_tax_amount"]:
                if Decimal(net.value) + Decimal(tax.value) == Decimal(total.value):
                    return {"net_amount": net, "total_tax_amount": tax, "total_amount": total}
    # Nothing adds up: report what was labelled (the checks will mark it unreliable).
    out = {}
    for name in ("net_amount", "total_tax_amount", "total_amount"):
        labelled = [c for c in cands[name] if c.row >= 0]
        if labelled:
            out[name] = labelled[0]
    return out
