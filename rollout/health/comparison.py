"""Engine comparison, Google (baseline) vs open source (canary), on the same window's traffic:
deltas of each figure with 95 % confidence intervals, the volume split, and for shadow-compared
documents the paired per-field agreement (McNemar on the fields only one engine found)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from ocr_engines.compare import EXTRA, IGNORED, MATCH, MISSING

from ..db import ocr_events
from ..router import GOOGLE, OPENSOURCE
from . import stats
from .gates import Samples, load_samples


def compare_samples(canary: Samples, baseline: Samples) -> list[dict]:
    """One row per figure: baseline, canary, delta (canary - baseline) and its 95 % interval."""
    rows = []
    if canary.documents and baseline.documents:
        kc, kb = canary.failures, baseline.failures
        lo, hi = stats.newcombe_interval(kc, canary.documents, kb, baseline.documents)
        rows.append(_row("error_rate", "ratio", baseline.error_rate, canary.error_rate, lo, hi))
        rows.append(_row("success_rate", "ratio", 1 - baseline.error_rate, 1 - canary.error_rate, -hi, -lo))
    for name, q in (("duration_p50", 0.5), ("duration_p95", 0.95)):
        c, b = canary.durations_ms, baseline.durations_ms
        if len(c) and len(b):
            delta, lo, hi = stats.quantile_difference_interval(c, b, q)
            rows.append(_row(name, "ms", float(_q(b, q)), float(_q(c, q)), lo, hi))
    c, b = canary.confidences, baseline.confidences
    if len(c) and len(b):
        delta, lo, hi = stats.mean_difference_interval(c, b)
        rows.append(_row("confidence_mean", "ratio", float(b.mean()), float(c.mean()), lo, hi))
    return rows


def _q(values, q):
    import numpy as np

    return np.quantile(values, q)


def _row(name, unit, baseline, canary, lo, hi) -> dict:
    return {"name": name, "unit": unit, "baseline": baseline, "canary": canary,
            "delta": None if baseline is None or canary is None else canary - baseline, "ci_low": lo, "ci_high": hi}


def field_agreement(db: Engine, start: datetime, end: datetime) -> list[dict]:
    """Per field over shadow-compared documents: agreement share with its Wilson interval, and the
    discordant pairs — found only by Google (``missing`` in the open-source read) or only by the
    open-source engine (``extra``) — with McNemar's exact p-value."""
    e = ocr_events.c
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with db.connect() as conn:
        for (agreement,) in conn.execute(select(e.field_agreement).where(
                and_(e.at >= start, e.at < end, e.shadow.is_(True)))):
            for name, status in (agreement or {}).items():
                if status != IGNORED:
                    counts[name][status] += 1
    out = []
    for name in sorted(counts):
        c = counts[name]
        n = sum(c.values())
        lo, hi = stats.wilson_interval(c[MATCH], n)
        out.append({"field": name, "n": n, "agreement": c[MATCH] / n, "ci_low": lo, "ci_high": hi,
                    "missing": c[MISSING], "extra": c[EXTRA], "mcnemar_p": stats.mcnemar(c[MISSING], c[EXTRA])})
    return out


def compare_engines(db: Engine, start: datetime, end: datetime, canary: str = OPENSOURCE,
                    baseline: str = GOOGLE) -> dict | None:
    """The comparison for the window, or None when either engine served nothing in it."""
    c, b = load_samples(db, start, end, canary, baseline)
    fields = field_agreement(db, start, end)
    if not c.documents or not b.documents:
        if not fields:
            return None
        return {"baseline": baseline, "canary": canary, "volume": {baseline: b.documents, canary: c.documents},
                "metrics": [], "fields": fields}
    return {"baseline": baseline, "canary": canary, "volume": {baseline: b.documents, canary: c.documents},
            "metrics": compare_samples(c, b), "fields": fields}
