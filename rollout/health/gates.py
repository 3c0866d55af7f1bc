"""Health gates: PASS, FAIL or INCONCLUSIVE for the open-source canary in a window, with every
figure, threshold, sample size and the reason, stored in ``gate_evaluations``.

``decide`` is a pure function of the two samples and the thresholds (the simulator and the
benchmark call it directly); ``evaluate_gate`` loads the window's samples, decides and stores.

The rules, in the order they bite:

- No canary documents (or none that can be measured) → INCONCLUSIVE: missing data never passes.
- Critical thresholds (error rate, p95 processing time) → FAIL at once, whatever the comparison
  says, as soon as ``critical_min_documents`` canary documents exist.
- Warning thresholds: a point estimate beyond one is FAIL when its one-sided 1 - alpha bound is
  beyond it too, else INCONCLUSIVE (too early to tell, never a PASS).
- Canary vs baseline (Google on the same traffic, same window, fallback reads excluded): the
  error rates by an always-valid sequential test (mSPRT), durations and confidence by one-sided
  Mann-Whitney tests beyond a tolerance, like Kayenta. A significant regression → FAIL.
- Evidence: a PASS needs ``Thresholds.required_documents`` canary documents (rule of three).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Engine

from ..db import gate_evaluations, ocr_events
from ..events import database_now
from ..router import GOOGLE, OPENSOURCE
from ..stages import stage_for
from . import stats
from .schema import jsonable, recent_rows
from .thresholds import Thresholds

PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
MAX_BASELINE_SAMPLE = 5000  # rank tests on more add nothing but time; the canary is never capped


@dataclass
class Samples:
    """One engine's served, non-fallback reads in a window."""

    engine: str
    documents: int = 0
    failures: int = 0
    durations_ms: np.ndarray = field(default_factory=lambda: np.empty(0))  # successful reads
    confidences: np.ndarray = field(default_factory=lambda: np.empty(0))   # successful reads with one
    errors_by_class: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, "Samples"] = field(default_factory=dict)  # the same reads per upload kind

    @classmethod
    def from_reads(cls, engine: str, reads) -> "Samples":
        """``reads``: (success, duration_ms, confidence, error_class) tuples."""
        durations, confidences, errors = [], [], {}
        failures = 0
        n = 0
        for success, duration, confidence, error_class in reads:
            n += 1
            if success:
                durations.append(duration)
                if confidence is not None:
                    confidences.append(confidence)
            else:
                failures += 1
                errors[error_class or "unknown"] = errors.get(error_class or "unknown", 0) + 1
        return cls(engine, n, failures, np.asarray(durations, dtype=float), np.asarray(confidences, dtype=float),
                   errors)

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.documents if self.documents else None


@dataclass
class GateCheck:
    """One check of a health gate (error rate, p95 time, confidence, vs the baseline, evidence)."""

    name: str
    verdict: str
    value: float | None
    threshold: float | None
    detail: str
    critical: bool = False  # a critical threshold was crossed


@dataclass
class GateResult:
    verdict: str
    reason: str
    checks: list[GateCheck]
    canary: str
    baseline: str | None
    canary_documents: int
    baseline_documents: int
    figures: dict
    thresholds: dict
    stage: int | None = None
    percentage: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    evaluated_at: datetime | None = None
    run_id: str | None = None
    id: int | None = None

    @property
    def critical(self) -> bool:
        return any(c.critical and c.verdict == FAIL for c in self.checks)

    def as_dict(self) -> dict:
        out = asdict(self)
        for key in ("window_start", "window_end", "evaluated_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


@dataclass(frozen=True)
class Metric:
    """One figure a gate holds to a threshold, as Argo Rollouts' analysis metrics are: how it is
    measured, which side of its limit is bad, the one-sided test that makes a breach significant,
    an optional critical limit that fails at once, and what each outcome says. ``judge_metric``
    walks every metric with the same ladder (critical → significant breach → breach not yet
    significant → pass), so a new figure is a new entry, not a new copy of the ladder."""

    name: str
    measure: Callable[[Samples, Thresholds, float], tuple[float, bool, dict] | None]
    limit: Callable[[Thresholds], float]
    bad_above: bool  # True: a value above the limit is bad (error rate, time); False: below (confidence)
    says: dict[str, str]  # outcome (critical, fail, wait, pass, missing) -> detail template
    critical_limit: Callable[[Thresholds], float] | None = None

    def beyond(self, value: float, limit: float) -> bool:
        return value > limit if self.bad_above else value < limit


def _max_error_rate(t: Thresholds) -> float:
    # the seed's max_error_rate and min_success_rate are one figure here (1 - 0.9 is 0.0999...98)
    return round(min(t.max_error_rate, 1 - t.min_success_rate), 12)


def _critical_error_rate(t: Thresholds) -> float:
    return round(min(t.critical_error_rate, 1 - t.critical_success_rate), 12)


def _error_rate(s: Samples, t: Thresholds, level: float):
    """The share of failed reads; significant when the Wilson lower bound is above the limit."""
    n = s.documents
    rate = s.failures / n
    low, _ = stats.wilson_interval(s.failures, n, level)
    return rate, low > _max_error_rate(t), {"n": n, "low_pct": _pct(low)}


def _p95_time(s: Samples, t: Thresholds, level: float):
    """p95 of successful reads in seconds; "p95 > limit" <=> "over 5 % of reads exceed it", so it
    is significant when the lower bound of that share is above 5 %."""
    durations = s.durations_ms
    if len(durations) == 0:
        return None
    over = int((durations > t.max_processing_time_s * 1000).sum())
    low_over, _ = stats.wilson_interval(over, len(durations), level)
    return float(np.quantile(durations, 0.95)) / 1000, low_over > 0.05, {"over": over, "reads": len(durations)}


def _mean_confidence(s: Samples, t: Thresholds, level: float):
    """The mean document confidence, judged with a one-sided t bound."""
    if len(s.confidences) == 0:
        return None
    upper = stats.mean_upper_bound(s.confidences, t.alpha)
    return float(s.confidences.mean()), upper < t.min_confidence, {"upper": upper}


_ERROR_RATE_SAYS = {
    "critical": "{prefix}error rate {value_pct} > critical {limit_pct} (n={n})",
    "fail": "{prefix}error rate {value_pct} > {limit_pct}, lower bound {low_pct} (n={n})",
    "wait": "{prefix}error rate {value_pct} > {limit_pct} but not yet significant (n={n})",
    "pass": "{prefix}error rate {value_pct} <= {limit_pct}",
}
ERROR_RATE = Metric("error_rate", _error_rate, _max_error_rate, True, _ERROR_RATE_SAYS, _critical_error_rate)
# per upload kind the pass says its sample size too: a kind's n differs from the gate's
KIND_ERROR_RATE = Metric("error_rate", _error_rate, _max_error_rate, True,
                         {**_ERROR_RATE_SAYS, "pass": "{prefix}error rate {value_pct} <= {limit_pct} (n={n})"},
                         _critical_error_rate)
P95_TIME = Metric("processing_time_p95", _p95_time, lambda t: t.max_processing_time_s, True, {
    "critical": "p95 processing time {value:.1f} s > critical {limit:g} s",
    "fail": "p95 processing time {value:.1f} s > {limit:g} s ({over} of {reads} reads over it)",
    "wait": "p95 processing time {value:.1f} s > {limit:g} s, not yet significant",
    "pass": "p95 processing time {value:.2f} s <= {limit:g} s",
    "missing": "no successful reads to time",
}, lambda t: t.critical_processing_time_s)
MEAN_CONFIDENCE = Metric("confidence_mean", _mean_confidence, lambda t: t.min_confidence, False, {
    "fail": "mean confidence {value:.3f} < {limit:g} (upper bound {upper:.3f})",
    "wait": "mean confidence {value:.3f} < {limit:g}, not yet significant",
    "pass": "mean confidence {value:.3f} >= {limit:g}",
    "missing": "no confidence figures",
})
METRICS = (ERROR_RATE, P95_TIME, MEAN_CONFIDENCE)


def judge_metric(metric: Metric, s: Samples, t: Thresholds, gate_documents: int, name: str | None = None,
                 prefix: str = "") -> GateCheck:
    """One metric's check on one sample. ``gate_documents``: the canary documents the gate has
    (a critical limit bites from ``critical_min_documents``, a significant breach fails from
    ``required_documents``)."""
    name = name or metric.name
    limit = metric.limit(t)
    measured = metric.measure(s, t, 1 - 2 * t.alpha)  # the two-sided level whose bound is one-sided 1 - alpha
    if measured is None:
        return GateCheck(name, INCONCLUSIVE, None, limit, metric.says["missing"])
    value, significant, extra = measured

    def say(outcome: str, against: float) -> str:
        return metric.says[outcome].format(prefix=prefix, value=value, limit=against, value_pct=_pct(value),
                                           limit_pct=_pct(against), **extra)

    critical = metric.critical_limit(t) if metric.critical_limit else None
    if critical is not None and gate_documents >= t.critical_min_documents and metric.beyond(value, critical):
        return GateCheck(name, FAIL, value, critical, say("critical", critical), critical=True)
    if not metric.beyond(value, limit):
        return GateCheck(name, PASS, value, limit, say("pass", limit))
    if significant and gate_documents >= t.required_documents:
        return GateCheck(name, FAIL, value, limit, say("fail", limit))
    return GateCheck(name, INCONCLUSIVE, value, limit, say("wait", limit))


def decide(canary: Samples, baseline: Samples | None, t: Thresholds | None = None,
           require_baseline: bool = True) -> GateResult:
    t = t or Thresholds()
    n = canary.documents
    nb = baseline.documents if baseline else 0
    figures: dict = {"canary": _figures(canary), "baseline": _figures(baseline) if baseline else None}
    if n == 0:
        return _result(INCONCLUSIVE, f"no {canary.engine} documents in the window: missing data is never a pass",
                       [GateCheck("evidence", INCONCLUSIVE, 0, t.required_documents, "no canary documents")],
                       canary, baseline, figures, t)
    # the canary's own figures against their thresholds
    checks = [judge_metric(metric, canary, t, n) for metric in METRICS]

    # --- canary vs baseline on the same traffic
    if baseline is None or nb == 0:
        if require_baseline:
            checks.append(GateCheck("baseline", INCONCLUSIVE, 0, None,
                                f"no {baseline.engine if baseline else GOOGLE} documents to compare with"))
    else:
        checks.extend(_comparison_checks(canary, baseline, t, figures))

    # --- per kind: a kind with the evidence the error-rate threshold needs FAILs on its own
    checks.extend(_kind_checks(canary, baseline, t, figures))

    # --- evidence (rule of three)
    need = t.required_documents
    checks.append(GateCheck("evidence", PASS if n >= need else INCONCLUSIVE, n, need,
                        f"{n} canary documents" + ("" if n >= need else
                                                   f" < {need} needed (rule of three for {_pct(t.max_error_rate)})")))

    failed = [c for c in checks if c.verdict == FAIL]
    waiting = [c for c in checks if c.verdict == INCONCLUSIVE]
    if failed:
        failed.sort(key=lambda c: not c.critical)
        return _result(FAIL, "; ".join(c.detail for c in failed), checks, canary, baseline, figures, t)
    if waiting:
        return _result(INCONCLUSIVE, "; ".join(c.detail for c in waiting), checks, canary, baseline, figures, t)
    summary = ", ".join(c.detail for c in checks if c.name in {m.name for m in METRICS})
    return _result(PASS, f"{summary}; {n} canary / {nb} baseline documents", checks, canary, baseline, figures, t)


def _kind_checks(canary: Samples, baseline: Samples | None, t: Thresholds, figures: dict) -> list[GateCheck]:
    """Error rate per upload kind (digital, scan, photo, ...). A photo read badly hides among
    digital PDFs read well: 60 failed photos in 1 000 documents is 6 % overall, 50 % of photos. A
    kind decides only once it has ``required_documents`` of its own (60 at 5 %: the rule of
    three); below that its figures are shown, not judged."""
    if not canary.kinds:
        return []
    figures["kinds"] = {kind: {"canary": _figures(s), "baseline": _figures(baseline.kinds[kind])
                               if baseline is not None and kind in baseline.kinds else None}
                        for kind, s in sorted(canary.kinds.items())}
    if len(canary.kinds) < 2:
        return []  # one kind: the overall checks are its checks
    return [judge_metric(KIND_ERROR_RATE, s, t, s.documents, f"error_rate[{kind}]", f"{kind}: ")
            for kind, s in sorted(canary.kinds.items()) if s.documents >= t.required_documents]


def _comparison_checks(canary: Samples, baseline: Samples, t: Thresholds, figures: dict) -> list[GateCheck]:
    out = []
    # the false-rollback budget, split: half to the error rates, a quarter each to the rank tests
    seq = stats.msprt_proportions(canary.failures, canary.documents, baseline.failures, baseline.documents,
                                  alpha=t.alpha / 2, tau=t.mixture_tau, tolerance=t.error_rate_tolerance)
    figures["error_rate_delta"] = {"delta": seq.delta, "p_value": seq.p_value, "cs_low": seq.ci_low,
                                   "cs_high": seq.ci_high}
    verdict = FAIL if seq.p_value < t.alpha / 2 else PASS
    out.append(GateCheck("error_rate_vs_baseline", verdict, seq.delta, t.error_rate_tolerance,
                     f"error rate {_pct(canary.error_rate)} vs baseline {_pct(baseline.error_rate)}: "
                     f"+{100 * seq.delta:.1f} pp, always-valid p={seq.p_value:.2g}"
                     if verdict == FAIL else
                     f"error rate delta {100 * seq.delta:+.1f} pp (always-valid p={seq.p_value:.2g})"))
    rng = np.random.default_rng(canary.documents * 1_000_003 + baseline.documents)
    base_d = _cap(baseline.durations_ms, rng)
    if len(canary.durations_ms) >= 20 and len(base_d) >= 20:
        p = stats.shifted_mann_whitney(canary.durations_ms, base_d, "greater", t.latency_tolerance, relative=True)
        ratio = float(np.median(canary.durations_ms) / max(np.median(base_d), 1e-9))
        figures["latency"] = {"median_ratio": ratio, "p_value": p}
        bad = p < t.alpha / 4
        out.append(GateCheck("latency_vs_baseline", FAIL if bad else PASS, ratio, 1 + t.latency_tolerance,
                         f"canary median duration {ratio:.2f}x the baseline's"
                         + (f" > {1 + t.latency_tolerance:.2f}x (Mann-Whitney p={p:.2g})" if bad else "")))
    base_c = _cap(baseline.confidences, rng)
    if len(canary.confidences) >= 20 and len(base_c) >= 20:
        p = stats.shifted_mann_whitney(canary.confidences, base_c, "less", t.confidence_tolerance, relative=False)
        delta = float(canary.confidences.mean() - base_c.mean())
        figures["confidence"] = {"mean_delta": delta, "p_value": p}
        bad = p < t.alpha / 4
        out.append(GateCheck("confidence_vs_baseline", FAIL if bad else PASS, delta, -t.confidence_tolerance,
                         f"canary confidence {delta:+.3f} vs baseline"
                         + (f", lower by more than {t.confidence_tolerance:g} (Mann-Whitney p={p:.2g})" if bad else "")))
    return out


def _cap(values: np.ndarray, rng) -> np.ndarray:
    return rng.choice(values, MAX_BASELINE_SAMPLE, replace=False) if len(values) > MAX_BASELINE_SAMPLE else values


def _figures(s: Samples) -> dict:
    d = s.durations_ms
    return {"engine": s.engine, "documents": s.documents, "failures": s.failures, "error_rate": s.error_rate,
            "errors_by_class": s.errors_by_class,
            "duration_p50_ms": float(np.quantile(d, 0.5)) if len(d) else None,
            "duration_p95_ms": float(np.quantile(d, 0.95)) if len(d) else None,
            "confidence_mean": float(s.confidences.mean()) if len(s.confidences) else None}


def _result(verdict, reason, checks, canary: Samples, baseline: Samples | None, figures, t) -> GateResult:
    return GateResult(verdict, reason, checks, canary.engine, baseline.engine if baseline else None,
                      canary.documents, baseline.documents if baseline else 0, figures, t.as_dict())


# ---------------------------------------------------------------------------------------- storage


def load_samples(db: Engine, start: datetime, end: datetime, canary: str = OPENSOURCE,
                 baseline: str = GOOGLE, stage: int | None = None) -> tuple[Samples, Samples]:
    """Served, non-fallback reads of both engines in [start, end) (optionally one stage)."""
    e = ocr_events.c
    cond = and_(e.at >= start, e.at < end, e.shadow.is_(False), e.fallback.is_(False),
                e.engine.in_([canary, baseline]))
    if stage is not None:
        cond = and_(cond, e.stage == stage)
    reads: dict[str, list] = {canary: [], baseline: []}
    kinds: dict[str, dict[str, list]] = {canary: {}, baseline: {}}
    with db.connect() as conn:
        for row in conn.execute(select(e.engine, e.success, e.duration_ms, e.confidence, e.error_class,
                                       e.kind).where(cond)):
            reads[row[0]].append(row[1:5])
            kinds[row[0]].setdefault(row[5] or "unknown", []).append(row[1:5])
    out = []
    for engine in (canary, baseline):
        samples = Samples.from_reads(engine, reads[engine])
        samples.kinds = {kind: Samples.from_reads(engine, rows) for kind, rows in kinds[engine].items()}
        out.append(samples)
    return out[0], out[1]


def evaluate_gate(db: Engine, start: datetime, end: datetime, thresholds: Thresholds | None = None, *,
                  stage: int | None = None, percentage: int | None = None, run_id: str | None = None,
                  require_baseline: bool | None = None, store: bool = True) -> GateResult:
    """Decide the gate for the window and (by default) store it. At 100 % there is no baseline
    traffic left to compare with, so the comparison is only required below 100 %. ``stage``
    restricts the window to that stage's events; the result is labelled with it, or else with
    the stage of ``percentage`` (the stage being judged)."""
    canary, baseline = load_samples(db, start, end, stage=stage)
    if require_baseline is None:
        require_baseline = percentage is None or percentage < 100
    result = decide(canary, baseline, thresholds, require_baseline=require_baseline)
    clock = clock_check(db, start, end)
    if clock is not None:
        result.checks.append(clock)
        if result.verdict == PASS:  # a FAIL stays a FAIL: the failures it saw are real
            result.verdict, result.reason = INCONCLUSIVE, clock.detail
    if stage is None and percentage is not None:
        stage = stage_for(percentage)
    result.stage, result.percentage, result.run_id = stage, percentage, run_id
    result.window_start, result.window_end = start, end
    result.evaluated_at = datetime.now(timezone.utc)
    if store:
        row = result.as_dict()
        with db.begin() as conn:
            result.id = conn.execute(insert(gate_evaluations).values(
                evaluated_at=result.evaluated_at, run_id=run_id, stage=stage, percentage=percentage,
                canary=result.canary, baseline=result.baseline, window_start=start, window_end=end,
                verdict=result.verdict, reason=result.reason, canary_documents=result.canary_documents,
                baseline_documents=result.baseline_documents, checks=row["checks"],
                figures=jsonable(result.figures), thresholds=result.thresholds)).inserted_primary_key[0]
    return result


CLOCK_TOLERANCE_S = 60.0  # a writer's clock this far from the database's makes its events' times unreliable
CLOCK_LOOKAROUND = timedelta(days=1)  # how far outside the window a skewed writer's events are looked for


def clock_check(db: Engine, start: datetime, end: datetime, tolerance_s: float = CLOCK_TOLERANCE_S) -> GateCheck | None:
    """INCONCLUSIVE when the window cannot be trusted for time: events dated in the future (by the
    database's clock), or events of writers whose clocks were off by more than ``tolerance_s`` whose
    real time (their date plus the writer's measured offset) or stated date falls in the window
    (a replica two hours behind dates its failures out of every window; ten minutes ahead, into
    windows they do not belong to). None when the clocks agree."""
    from sqlalchemy import func

    with db.connect() as conn:
        db_now = database_now(conn)
        future = conn.execute(select(func.count()).select_from(ocr_events).where(
            ocr_events.c.at > db_now + timedelta(seconds=tolerance_s))).scalar_one()
        skewed = conn.execute(select(ocr_events.c.at, ocr_events.c.clock_offset_ms).where(
            func.abs(ocr_events.c.clock_offset_ms) > tolerance_s * 1000,
            ocr_events.c.at >= start - CLOCK_LOOKAROUND, ocr_events.c.at < end + CLOCK_LOOKAROUND)).all()
    affected, worst = 0, 0.0
    for at, offset_ms in skewed:
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        real = at + timedelta(milliseconds=offset_ms)
        if start <= real < end or start <= at < end:
            affected += 1
            worst = max(worst, abs(offset_ms) / 1000)
    if not future and not affected:
        return None
    parts = []
    if future:
        parts.append(f"{future} event(s) dated in the future by the database's clock")
    if affected:
        parts.append(f"{affected} event(s) from writers whose clocks were off by up to {worst:.0f} s")
    return GateCheck("clock", INCONCLUSIVE, float(future + affected), tolerance_s,
                     "; ".join(parts) + f" (tolerance {tolerance_s:g} s): the window cannot be trusted; fix the "
                     "replicas' clocks (NTP) and judge again")


def gate_history(db: Engine, limit: int = 50, run_id: str | None = None) -> list[dict]:
    """Stored evaluations, newest first."""
    return recent_rows(db, gate_evaluations, "evaluated_at", limit, run_id,
                       ("evaluated_at", "window_start", "window_end"))

