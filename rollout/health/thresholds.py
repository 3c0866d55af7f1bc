"""Gate thresholds: the seed's defaults (docs/architecture.md), overridable per run (DAG params, CLI options).

Absolute thresholds judge the canary on its own; the tolerances say how much worse than the
baseline (Google, on the same traffic) it may be before the comparison counts as a regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


class ThresholdError(ValueError):
    """An unknown threshold name or a value outside its range."""


@dataclass(frozen=True)
class Thresholds:
    # seed defaults
    max_processing_time_s: float = 30.0   # canary p95 of successful reads
    min_success_rate: float = 0.95
    min_confidence: float = 0.80          # canary mean confidence
    max_error_rate: float = 0.05
    critical_error_rate: float = 0.10
    critical_processing_time_s: float = 60.0
    critical_success_rate: float = 0.90
    # evidence
    min_documents: int = 0                # on top of the rule of three (3 / max_error_rate)
    critical_min_documents: int = 50      # critical thresholds act once this many canary documents exist
    # canary vs baseline
    alpha: float = 0.01                   # false-rollback budget of one gate, over all its looks
    error_rate_tolerance: float = 0.0     # canary error rate may exceed the baseline's by this much
    latency_tolerance: float = 0.5        # canary durations may be up to 50 % longer than the baseline's
    confidence_tolerance: float = 0.05    # canary confidence may be this much lower than the baseline's
    mixture_tau: float = 0.05             # the error-rate difference the sequential test is tuned to find

    def __post_init__(self):
        for name in ("min_success_rate", "min_confidence", "max_error_rate", "critical_error_rate",
                     "critical_success_rate", "error_rate_tolerance", "confidence_tolerance"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ThresholdError(f"{name} must be between 0 and 1, got {value!r}")
        for name in ("max_processing_time_s", "critical_processing_time_s", "mixture_tau"):
            if not getattr(self, name) > 0:
                raise ThresholdError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 < self.alpha < 0.5:
            raise ThresholdError(f"alpha must be in (0, 0.5), got {self.alpha!r}")
        if self.max_error_rate == 0:
            raise ThresholdError("max_error_rate must be > 0 (no finite sample can show a zero rate)")
        if self.latency_tolerance < 0 or self.min_documents < 0 or self.critical_min_documents < 1:
            raise ThresholdError("latency_tolerance and min_documents must be >= 0, critical_min_documents >= 1")
        if self.critical_error_rate < self.max_error_rate or self.critical_success_rate > self.min_success_rate \
                or self.critical_processing_time_s < self.max_processing_time_s:
            raise ThresholdError("critical thresholds must be at least as loose as the warning ones")

    @classmethod
    def from_mapping(cls, values: dict | None) -> "Thresholds":
        """From DAG params / JSON: unknown names are an error (a typo must not silently use a default)."""
        values = dict(values or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ThresholdError(f"unknown threshold(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        parsed = {}
        for name, value in values.items():
            try:
                parsed[name] = int(value) if known[name] == "int" else float(value)
            except (TypeError, ValueError):
                raise ThresholdError(f"{name} must be a number, got {value!r}") from None
            if isinstance(parsed[name], float) and not math.isfinite(parsed[name]):
                raise ThresholdError(f"{name} must be finite, got {value!r}")
        return cls(**parsed)

    @property
    def required_documents(self) -> int:
        """Rule of three: zero failures in n documents bound the failure rate below 3/n (95 %), so
        a PASS needs n >= 3 / max_error_rate before a rate above the threshold would have shown."""
        return max(math.ceil(3 / self.max_error_rate - 1e-9), self.min_documents)

    def as_dict(self) -> dict:
        return asdict(self)
