"""Document confidence that predicts field accuracy.

A document's confidence is the expected share of its fields that are right: each header field
found counts the probability that a field with its confidence is right (a table fitted on the
generator's output, ``calibration.json``), each expected field not found counts zero (expected:
every invoice's fields, and those whose label the page prints, ``extract.expected_fields``). A field's
own confidence already carries its checks (a NIP or IBAN checksum, net + VAT = gross and items
adding up raise it to 0.97 or more; a failed check caps it at 0.2; an unchecked OCR value keeps
Tesseract's word confidence; a PDF text layer gives 1.0), so failed checks and absent fields
both pull the document down, and a high figure means the read can be kept.

Refit with one command (about 5 minutes on 2 cores; the corpus is generated first when absent):

    ocr-migrate calibrate --golden data/golden-full

``bench/bench_accuracy.py`` reports how well it predicts on invoices we did not make (expected
calibration error, risk-coverage table) and the confidence floor it implies.
"""

from __future__ import annotations

import bisect
import functools
import json
from pathlib import Path

from .result import HEADER_FIELDS as HEADER

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
# Upper edges of the field-confidence bins (the last bin is exactly 1.0: a PDF text layer).
EDGES = (0.2, 0.6, 0.8, 0.9, 0.95, 0.97, 0.9999)


def _bin(conf: float) -> int:
    return bisect.bisect_left(EDGES, conf)


@functools.cache
def _table() -> tuple[float, ...]:
    data = json.loads(CALIBRATION_FILE.read_text())
    if tuple(data["edges"]) != EDGES:
        raise ValueError(f"{CALIBRATION_FILE}: fitted for other bins; refit it")
    return tuple(data["p_correct"])


def field_probability(conf: float) -> float:
    """The probability that a header field read with this confidence is right."""
    return _table()[_bin(conf)]


def document_confidence(fields: dict, expected) -> float:
    """The expected share of right header fields: found ones by their calibrated probability,
    ``expected`` ones not found as wrong."""
    found = [fields[n].conf for n in HEADER if n in fields]
    absent = sum(n not in fields for n in expected if n in HEADER)
    if not found:
        return 0.0
    return sum(field_probability(c) for c in found) / (len(found) + absent)


# ---------------------------------------------------------------- fitting


def fit(pairs: list[tuple[float, bool]], source: str) -> dict:
    """The table from (field confidence, right?) pairs: each bin's share right, with one right
    and one wrong read added (so that a bin with few fields does not claim certainty)."""
    right = [0] * (len(EDGES) + 1)
    total = [0] * (len(EDGES) + 1)
    for conf, ok in pairs:
        b = _bin(conf)
        total[b] += 1
        right[b] += bool(ok)
    p = [(r + 1) / (t + 2) for r, t in zip(right, total)]
    return {"edges": list(EDGES), "p_correct": [round(x, 4) for x in _non_decreasing(p, [t + 2 for t in total])],
            "fields_per_bin": total, "fitted_on": source}


def _non_decreasing(values: list[float], weights: list[float]) -> list[float]:
    """The closest non-decreasing sequence (pool adjacent violators): a higher field confidence
    never means a lower probability of being right."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m1, w1, n1), (m2, w2, n2) = blocks[-2], blocks.pop()
            blocks[-1] = [(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2]
    return [m for m, _, n in blocks for _ in range(int(n))]


def field_pairs(scores) -> list[tuple[float, bool]]:
    """(confidence, right?) of every header field an engine gave, from evaluation scores."""
    out = []
    for s in scores:
        for name, conf in (s.field_confidence or {}).items():
            if name in HEADER:
                out.append((conf, s.fields.get(name, False)))
    return out
