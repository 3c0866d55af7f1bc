"""Which engine reads this invoice: a pure function of (request context, flag snapshot).

No I/O on this path — the snapshot is already in memory — so a decision is a few attribute
reads and one hash (Unleash's strategy evaluation works the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

from .bucketing import DEFAULT_GROUP, bucket
from .stages import Snapshot

GOOGLE, OPENSOURCE = "documentai", "tesseract"
MAINTENANCE_RETRY_AFTER_S = 120


@dataclass(frozen=True)
class RequestContext:
    user_id: str | None = None
    tenant_id: str | None = None

    @property
    def stickiness_key(self) -> str | None:
        """The user when known, else the tenant: a customer's invoices stay on one engine."""
        return self.user_id or self.tenant_id


@dataclass(frozen=True)
class Decision:
    engine: str | None  # None: refuse the request
    reason: str
    percentage: int
    bucket: int | None = None
    retry_after_s: int | None = None

    def as_dict(self) -> dict:
        return {"engine": self.engine, "reason": self.reason, "percentage": self.percentage, "bucket": self.bucket,
                "retry_after_s": self.retry_after_s}


def decide(ctx: RequestContext, snap: Snapshot, group_id: str = DEFAULT_GROUP) -> Decision:
    flags, pct = snap.flags, snap.percentage
    if flags.get("maintenance_mode"):
        return Decision(None, f"maintenance: {snap.maintenance_reason or 'OCR is under maintenance'}", pct,
                        retry_after_s=MAINTENANCE_RETRY_AFTER_S)
    if flags.get("force_opensource_for_testing"):
        return Decision(OPENSOURCE, "force_opensource_for_testing is on", pct)
    if flags.get("disable_google_cloud"):
        return Decision(OPENSOURCE, "Google Cloud is disabled", pct)
    if not flags.get("use_opensource_ocr"):
        return Decision(GOOGLE, "use_opensource_ocr is off", pct)
    if not flags.get("gradual_rollout_enabled"):
        return Decision(OPENSOURCE, "use_opensource_ocr is on for everyone (gradual rollout off)", pct)
    key = ctx.stickiness_key
    if key is None:
        return Decision(GOOGLE, "no user or tenant id to bucket by: the baseline engine", pct)
    b = bucket(key, group_id)
    if b <= pct:
        return Decision(OPENSOURCE, f"bucket {b} <= {pct} %", pct, b)
    return Decision(GOOGLE, f"bucket {b} > {pct} %", pct, b)
