"""Which engine reads this invoice: a pure function of (request context, flag snapshot).

No I/O on this path — the snapshot is already in memory — so a decision is a few dict reads and
one hash (Unleash's strategy evaluation works the same way). The bucketing branch is the hot one
and is kept lean: a tuple for the decision, its reason text formatted only when asked for.
"""

from __future__ import annotations

from typing import NamedTuple

import mmh3

from .bucketing import DEFAULT_GROUP
from .stages import Snapshot

GOOGLE, OPENSOURCE = "documentai", "tesseract"
KSEF = "ksef"  # the structured path's engine (ocr_engines.ksef): KSeF XML, at every stage, no OCR
MAINTENANCE_RETRY_AFTER_S = 120


class RequestContext(NamedTuple):
    user_id: str | None = None
    tenant_id: str | None = None

    @property
    def stickiness_key(self) -> str | None:
        """The user when known, else the tenant: a customer's invoices stay on one engine."""
        return self.user_id or self.tenant_id


class Decision(NamedTuple):
    engine: str | None  # None: refuse the request
    percentage: int
    bucket: int | None = None
    retry_after_s: int | None = None
    note: str | None = None  # the reason, when it is not the bucket comparison

    @property
    def reason(self) -> str:
        if self.note is not None:
            return self.note
        op = "<=" if self.engine == OPENSOURCE else ">"
        return f"bucket {self.bucket} {op} {self.percentage} %"

    def as_dict(self) -> dict:
        return {"engine": self.engine, "reason": self.reason, "percentage": self.percentage, "bucket": self.bucket,
                "retry_after_s": self.retry_after_s}


def decide(ctx: RequestContext, snap: Snapshot, group_id: str = DEFAULT_GROUP) -> Decision:
    flags, pct = snap.flags, snap.percentage
    if flags["maintenance_mode"]:
        return Decision(None, pct, retry_after_s=MAINTENANCE_RETRY_AFTER_S,
                        note=f"maintenance: {snap.maintenance_reason or 'OCR is under maintenance'}")
    if flags["force_opensource_for_testing"]:
        return Decision(OPENSOURCE, pct, note="force_opensource_for_testing is on")
    if flags["disable_google_cloud"]:
        return Decision(OPENSOURCE, pct, note="Google Cloud is disabled")
    if not flags["use_opensource_ocr"]:
        return Decision(GOOGLE, pct, note="use_opensource_ocr is off")
    if not flags["gradual_rollout_enabled"]:
        return Decision(OPENSOURCE, pct, note="use_opensource_ocr is on for everyone (gradual rollout off)")
    key = ctx[0] or ctx[1]
    if key is None:
        return Decision(GOOGLE, pct, note="no user or tenant id to bucket by: the baseline engine")
    # Unleash's normalisation, inlined (bucketing.bucket is the readable twin, tested equal).
    b = mmh3.hash(f"{group_id}:{key}", 0, False) % 100 + 1
    return Decision(OPENSOURCE if b <= pct else GOOGLE, pct, b)
