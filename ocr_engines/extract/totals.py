"""Invoice totals: net, VAT and gross, chosen jointly so that they add up.

Candidates come from labels ('Razem do zapłaty', 'Wartość netto'), from a totals row that holds
net, VAT and gross side by side, from a per-rate summary table (rows in any column order; a cell
OCR lost is rebuilt from the other two and the rate), and from the line items (their sum, and the
VAT per rate). Each candidate value gathers the weight of the sources that give it; the triple
with net + VAT = gross and the most weight wins (``totals``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .. import labels as L
from ..normalize import find_amounts, fold, format_amount
from .items import VAT_RATES
from .reader import CENT, UNLABELLED_CONF, Found, InvoiceReader, LabelHit
from .values import amount_in_words


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


_RATE_CELL = re.compile(r"(?<![\d,.])(\d{1,2}) ?%|\b(zw|np|oo)\b")


def row_rates(text: str) -> tuple[set[int], bool] | None:
    """(the VAT rates a row's text names, whether it names an exempt rate) or None: '23%',
    '23% lub 22%' (the visualiser's wording for a rate that changed), 'zw', 'np'."""
    rates, exempt = set(), False
    for m in _RATE_CELL.finditer(fold(text)):
        if m.group(1):
            rates.add(int(m.group(1)))
        else:
            exempt = True
    return (rates, exempt) if rates or exempt else None


def vat_of(net: Decimal, rate: int) -> Decimal:
    return (net * rate / 100).quantize(CENT, ROUND_HALF_UP)


def _close(a: Decimal, b: Decimal) -> bool:
    """Equal within a cent of rounding (software that rounds VAT per line)."""
    return abs(a - b) <= CENT


def rate_row_triple(amounts: list[Decimal], rates: set[int], exempt: bool) -> tuple[Decimal, Decimal, Decimal] | None:
    """(net, VAT, gross) of one row of a per-rate summary: three amounts that add up, or two
    amounts and the rate, which fixes the missing one (OCR drops a cell of a boxed table)."""
    triple = additive_triple(amounts)
    if triple:
        return triple
    if exempt and not rates:
        rates = {0}
    if len(amounts) == 1 and rates == {0} and amounts[0] > 0:
        return amounts[0], Decimal(0), amounts[0]  # a 0 % (or exempt) row prints its net alone
    for i in range(len(amounts)):
        for j in range(i + 1, len(amounts)):
            x, y = amounts[i], amounts[j]
            for rate in sorted(rates, reverse=True):
                if y > x and _close(vat_of(x, rate), y - x):
                    return x, y - x, y  # net, gross
                if y > x and _close(vat_of(y - x, rate), x):
                    return y - x, x, y  # VAT, gross
                if rate and x > y and _close(vat_of(x, rate), y):
                    return x, y, x + y  # net, VAT
    return None


def per_rate_rows(reader: InvoiceReader, exclude: set[int], after: int = -1) -> list[tuple[set[int], bool, tuple[Decimal, Decimal, Decimal], float, int]]:
    """The rows of a per-VAT-rate summary table (a row per rate: rate, net, VAT, gross in any
    order) below row ``after`` (the item table, which a summary always follows): (rates named,
    exempt, (net, VAT, gross), confidence, row) each."""
    out = []
    seen_rates = set()
    for r, row in enumerate(reader.rows):
        if r in exclude or r <= after:
            continue
        text = row.text
        found = row_rates(text)
        if not found:
            continue
        if any(fold(seg.text).rstrip().endswith((" lub", " or")) for seg in row.segments) and r + 1 < len(reader.rows):
            # '22% lub' / '23%': the rate cell wraps ('23% lub 22%', a rate that changed)
            more = row_rates(reader.rows[r + 1].text)
            if more and not find_amounts(reader.rows[r + 1].text):
                found = (found[0] | more[0], found[1] or more[1])
        triple = rate_row_triple(find_amounts(text), *found)
        key = (frozenset(found[0]), found[1])
        if not triple or key in seen_rates:
            continue
        seen_rates.add(key)
        out.append((found[0], found[1], triple, min(s.conf for s in row.segments), r))
    return out


def per_rate_summary(reader: InvoiceReader, exclude: set[int], after: int = -1) -> tuple[Decimal, Decimal, Decimal, float, int] | None:
    """Sum of a per-VAT-rate summary table (``per_rate_rows``)."""
    rows = per_rate_rows(reader, exclude, after)
    if not rows:
        return None
    net, tax, gross = (sum((row[2][k] for row in rows), Decimal(0)) for k in range(3))
    return net, tax, gross, min(row[3] for row in rows), rows[0][4]


def items_totals(items: list[dict[str, str]]) -> tuple[Decimal, Decimal | None] | None:
    """(net, VAT) that the line items imply: their amounts' sum, and the VAT per rate on the
    summed net of that rate (None when an item has no readable rate)."""
    if not items:
        return None
    net = sum(Decimal(i["amount"]) for i in items)
    by_rate: dict[int, Decimal] = {}
    for item in items:
        rate = item.get("vat_rate")
        if rate is None:
            return net, None
        rate = int(rate) if rate.isdigit() else 0  # 'zw', 'np': no VAT
        by_rate[rate] = by_rate.get(rate, Decimal(0)) + Decimal(item["amount"])
    return net, sum(vat_of(n, rate) for rate, n in by_rate.items())


def per_rate_vat_lines(reader: InvoiceReader, labelled: list[tuple[Found, str]]) -> tuple[list[Found], Found] | None:
    """VAT labels on rows that each name another rate are per-rate lines: (them, their sum)."""
    parts, rates = [], set()
    for found, _ in labelled:
        named = row_rates(reader.rows[found.row].text) if found.row >= 0 else None
        if named and named[0]:
            parts.append(found)
            rates |= named[0]
    if len(parts) < 2 or len(rates) < 2:
        return None
    total = sum((Decimal(f.value) for f in parts), Decimal(0))
    return parts, Found(format_amount(total), min(f.conf for f in parts), parts[-1].row)


def amounts_after_table(reader: InvoiceReader, table_rows: set[int]) -> list[tuple[list[Decimal], float, int]]:
    """(the amounts of a cell, its confidence, its row) of every cell after the item table."""
    start = max(table_rows, default=-1) + 1
    return [(find_amounts(seg.text), seg.conf, r)
            for r in range(start, len(reader.rows)) for seg in reader.rows[r].segments]


def repeated_largest(cells: list[tuple[list[Decimal], float, int]]) -> Found | None:
    """With no total label the lexicon knows: the largest amount after the item table when it is
    printed twice there (the total and the amount paid or due, as receipts print them)."""
    seen: dict[Decimal, list[tuple[float, int]]] = {}
    for amounts, conf, r in cells:
        for amount in amounts:
            seen.setdefault(amount, []).append((conf, r))
    if not seen:
        return None
    largest = max(seen)
    if len(seen[largest]) < 2 or largest <= 0:
        return None
    conf, r = seen[largest][0]
    return Found(format_amount(largest), conf * UNLABELLED_CONF, r, guessed=True)


MAX_VAT_SHARE = Decimal("0.27")  # no VAT rate in the EU is above 27 % of the net


def unlabelled_triple(cells: list[tuple[list[Decimal], float, int]]) -> tuple[Found, Found, Found] | None:
    """Net, VAT and gross printed after the item table under labels the lexicon does not know:
    three amounts of their own cells with net + VAT = gross and a VAT of at most 27 % of the net.
    The gross must be the largest amount there: VAT lines of two rates add up to their sum too."""
    amounts = [(found[0], conf, r) for found, conf, r in cells if len(found) == 1]
    if not amounts:
        return None
    largest = max(a for a, _, _ in amounts)
    for net, n_conf, n_row in amounts:
        for tax, t_conf, t_row in amounts:
            if net <= 0 or tax < 0 or tax > net * MAX_VAT_SHARE or net + tax != largest:
                continue
            g_conf, g_row = next((c, r) for a, c, r in amounts if a == largest)
            return (Found(format_amount(net), n_conf, n_row), Found(format_amount(tax), t_conf, t_row),
                    Found(format_amount(largest), g_conf, g_row))
    return None


def additive_triple(amounts: list[Decimal]) -> tuple[Decimal, Decimal, Decimal] | None:
    """The first (a, b, c) in order with a + b = c: net, VAT, gross as printed in a row."""
    n = len(amounts)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                if amounts[i] + amounts[j] == amounts[k] and amounts[k] > 0 and amounts[j] < amounts[k]:
                    return amounts[i], amounts[j], amounts[k]
    return None


# How much each kind of evidence counts when choosing the totals. A printed label says what an
# amount is; a per-rate summary or a totals row is read whole and cross-checked by its own sum;
# the line items imply the net (and, with their rates, the VAT) independently of all of them.
WEIGHTS = {"label": 3.0, "summary": 2.0, "sum_row": 2.0, "items": 1.5, "arithmetic": 1.0, "repeated": 2.0,
           "words": 2.0}


def total_in_words(reader: InvoiceReader) -> list[Found]:
    """The total as the page states it in words ('Słownie: … złotych 63/100'), when it parses
    whole (``values.amount_in_words``); a wrapped statement is read with its next row."""
    out = []
    for hit in reader.find_labels(L.AMOUNT_IN_WORDS):
        row = reader.rows[hit.row]
        text = " ".join([reader.remainder(hit)] + [s.text for s in row.segments[hit.seg + 1:]])
        value = amount_in_words(text)
        if value is None and hit.row + 1 < len(reader.rows):
            value = amount_in_words(f"{text} {reader.rows[hit.row + 1].text}")
        if value is not None and value > 0:
            out.append(Found(format_amount(value), row.segments[hit.seg].conf, hit.row))
    return out


NAMES = ("net_amount", "total_tax_amount", "total_amount")


def totals(reader: InvoiceReader, table_rows: set[int], items: list[dict[str, str]] | None = None) -> dict[str, Found]:
    """net, VAT and gross: the jointly consistent choice (net + VAT = gross) with the most
    evidence. ``table_rows`` (the item table's) hold no totals; ``items`` imply a net and a VAT.

    A triple may leave out a value the page does not give at all: it is then the difference of
    the other two, which must have evidence worth two sources. The
    net or the VAT must be printed somewhere: the items confirm totals, never state them alone.
    """
    cands = _total_candidates(reader, table_rows, items)
    evidence, printed = _total_evidence(cands)
    best = _best_triple(evidence, printed)
    if best:
        return best
    # Nothing adds up: report what was labelled (the checks will mark it unreliable).
    # Without a label, a value two sources agree on (printed twice, a summary's sum) stands.
    out = {}
    for name in NAMES:
        labelled = [f for f, src in cands[name] if src == "label"]
        if labelled:
            out[name] = labelled[0]
            continue
        strong = [(score, found) for score, found in evidence[name].values() if score >= 2]
        if strong and name != "net_amount":
            out[name] = max(strong, key=lambda sf: sf[0])[1]
    return out


def _total_candidates(reader: InvoiceReader, table_rows: set[int],
                      items: list[dict[str, str]] | None) -> dict[str, list[tuple[Found, str]]]:
    """Every reading of each total, with its source (a key of ``WEIGHTS``)."""
    cands: dict[str, list[tuple[Found, str]]] = {n: [] for n in NAMES}
    for name, labels in (("total_amount", L.TOTAL), ("net_amount", L.NET), ("total_tax_amount", L.TAX)):
        cands[name] += [(f, "label") for f in labelled_amounts(reader, labels, table_rows)]
    cands["total_amount"] += [(f, "words") for f in total_in_words(reader)]
    per_rate = per_rate_vat_lines(reader, cands["total_tax_amount"])
    if per_rate:  # 'VAT A 23%  59.39' / 'VAT C 5%  1.64': parts of the VAT, their sum the whole
        parts, whole = per_rate
        cands["total_tax_amount"] = [c for c in cands["total_tax_amount"] if c[0] not in parts]
        cands["total_tax_amount"].append((whole, "summary"))
    triple = sum_row_triple(reader, table_rows)
    if triple:
        *values, conf, r = triple
        for name, value in zip(NAMES, values):
            cands[name].append((Found(format_amount(value), conf, r), "sum_row"))
    summary = per_rate_summary(reader, table_rows, after=max(table_rows, default=-1))
    if summary:
        *values, conf, r = summary
        for name, value in zip(NAMES, values):
            cands[name].append((Found(format_amount(value), conf, r), "summary"))
    after_table = amounts_after_table(reader, table_rows)
    if not cands["total_amount"] and (repeated := repeated_largest(after_table)):
        cands["total_amount"].append((repeated, "repeated"))
    found_triple = unlabelled_triple(after_table)
    if found_triple:
        for name, found in zip(NAMES, found_triple):
            cands[name].append((found, "arithmetic"))
    implied = items_totals(items or [])
    if implied:
        net, tax = implied
        cands["net_amount"].append((Found(format_amount(net), 0.9), "items"))
        if tax is not None:
            cands["total_tax_amount"].append((Found(format_amount(tax), 0.9), "items"))
    return cands


def _total_evidence(cands) -> tuple[dict[str, dict[Decimal, tuple[float, Found]]], set[tuple[str, Decimal]]]:
    """Per total, each value's evidence (its sources' weights summed, and one reading of it);
    and the values some part of the page states itself (not only the items)."""
    evidence: dict[str, dict[Decimal, tuple[float, Found]]] = {n: {} for n in NAMES}
    printed: set[tuple[str, Decimal]] = set()
    for name in NAMES:
        for found, source in cands[name]:
            value = Decimal(found.value)
            if source != "items":
                printed.add((name, value))
            if value in evidence[name]:
                continue
            sources = {src for f, src in cands[name] if Decimal(f.value) == value}
            evidence[name][value] = (sum(WEIGHTS[src] for src in sources), found)
    return evidence, printed


def _best_triple(evidence, printed) -> dict[str, Found] | None:
    """The consistent net + VAT = gross with the most evidence, or None."""
    best, best_score = None, 0.0
    for gross, (g_score, g_found) in evidence["total_amount"].items():
        for net, (n_score, n_found) in evidence["net_amount"].items():
            tax = gross - net
            t_score, t_found = evidence["total_tax_amount"].get(tax, (0.0, None))
            if tax < 0 or (t_found is None and (evidence["total_tax_amount"] or min(g_score, n_score) < 2)):
                continue  # a VAT that is printed and disagrees is a misread somewhere: no triple
            if ("net_amount", net) not in printed and ("total_tax_amount", tax) not in printed:
                continue  # an invoice that prints neither: the items confirm totals, never state them
            score = g_score + n_score + t_score
            if score > best_score:
                best_score = score
                best = {"net_amount": n_found, "total_tax_amount": t_found or Found(format_amount(tax), min(g_found.conf, n_found.conf)),
                        "total_amount": g_found}
        for tax, (t_score, t_found) in evidence["total_tax_amount"].items():
            net = gross - tax
            if evidence["net_amount"] or net < 0 or min(g_score, t_score) < 2:
                continue  # with a net of its own, the loop above judged it
            if ("total_tax_amount", tax) not in printed:
                continue
            score = g_score + t_score
            if score > best_score:
                best_score = score
                best = {"net_amount": Found(format_amount(net), min(g_found.conf, t_found.conf)),
                        "total_tax_amount": t_found, "total_amount": g_found}
    return best


MAX_RATE_ASSIGNMENTS = 50_000  # rates ** unrated items tried at most (4 rates, 7 items)


@dataclass(frozen=True)
class RateEvidence:
    """What a page says of its VAT rates, apart from the item rows' own rate cells: the rates it
    prints (outside the item table, or on other items), and its per-rate summary as (rate, net)
    rows ('23% lub 22%' counts as 23)."""

    printed: frozenset[str] = frozenset()
    summary: tuple[tuple[int, Decimal], ...] = ()

    def __or__(self, other: RateEvidence) -> RateEvidence:
        return RateEvidence(self.printed | other.printed, self.summary or other.summary)


def rate_evidence(reader: InvoiceReader, table_rows: set[int], items: list[dict[str, str]]) -> RateEvidence:
    printed = {item["vat_rate"] for item in items if "vat_rate" in item}
    for r, row in enumerate(reader.rows):
        named = row_rates(row.text) if r not in table_rows else None
        if named:
            printed |= {str(rate) for rate in named[0] if rate in VAT_RATES}
    summary = tuple((max(rates) if rates else 0, triple[0])
                    for rates, _, triple, _, _ in per_rate_rows(reader, table_rows, after=max(table_rows, default=-1)))
    return RateEvidence(frozenset(printed), summary)


def fill_item_rates(items: list[dict[str, str]], evidence: RateEvidence, found: dict[str, Found]) -> list[dict[str, str]]:
    """The items, those whose rate cell OCR lost (a boxed, shaded column blurs first) given the
    rate the rest of the invoice implies.

    The rates an item can take are the ones the page prints (``RateEvidence``). An assignment of
    them must reproduce what the page says of its rates: each row of a per-rate summary
    ('23 % | 4 225,40 | 971,84 | 5 197,24') is the sum of its items' nets, or, without such a
    table, the items' VAT per rate adds up to the invoice's VAT and their nets to its net. An
    item gets a rate only when every assignment that fits agrees on it, so a rate is never
    guessed between two that fit equally.
    """
    unrated = [i for i, item in enumerate(items) if "vat_rate" not in item]
    printed = sorted(evidence.printed)
    if not unrated or not printed or len(printed) ** len(unrated) > MAX_RATE_ASSIGNMENTS:
        return items
    try:
        amounts = [Decimal(item["amount"]) for item in items]
    except (KeyError, ArithmeticError):
        return items
    summary: dict[int, Decimal] = {}
    for rate, net in evidence.summary:
        summary[rate] = summary.get(rate, Decimal(0)) + net
    net, tax = found.get("net_amount"), found.get("total_tax_amount")
    if not summary and (net is None or tax is None or sum(amounts) != Decimal(net.value)):
        return items

    def fits(rates: list[str]) -> bool:
        by_rate: dict[int, Decimal] = {}
        for amount, rate in zip(amounts, rates):
            key = int(rate) if rate.isdigit() else 0  # 'zw', 'np': no VAT
            by_rate[key] = by_rate.get(key, Decimal(0)) + amount
        if summary:
            return set(summary) == set(by_rate) and all(_close(summary[k], by_rate[k]) for k in summary)
        return abs(sum(vat_of(n, k) for k, n in by_rate.items()) - Decimal(tax.value)) <= CENT * len(by_rate)

    known = [item.get("vat_rate") for item in items]
    agreed: list[set[str]] = [set() for _ in unrated]
    for choice in itertools.product(printed, repeat=len(unrated)):
        rates = list(known)
        for k, rate in zip(unrated, choice):
            rates[k] = rate
        if fits(rates):
            for options, rate in zip(agreed, choice):
                options.add(rate)
    out = list(items)
    for k, options in zip(unrated, agreed):
        if len(options) == 1:
            out[k] = {**items[k], "vat_rate": next(iter(options))}
    return out
