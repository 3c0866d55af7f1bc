"""Alerts: warning and critical, each with a message and a recommendation; stored in ``alerts``,
de-duplicated by key (an open alert is bumped, not raised again), resolved when its condition
clears, and sent to notifiers (log, generic webhook with retries) only when first raised.

Post-cutover watch: ``critical_alerts_since(db, since)`` is the "no critical alert for 24 h"
query.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine

from .gates import FAIL, INCONCLUSIVE, GateResult
from ..db import alerts
from .schema import as_utc

log = logging.getLogger(__name__)
WARNING, CRITICAL = "warning", "critical"


@dataclass
class Alert:
    key: str
    severity: str
    message: str
    recommendation: str
    source: str = "gate"
    stage: int | None = None
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"key": self.key, "severity": self.severity, "message": self.message,
                "recommendation": self.recommendation, "source": self.source, "stage": self.stage,
                "details": self.details}


def alerts_from_gate(result: GateResult, stage: int | None = None) -> list[Alert]:
    """A failed check is an alert (critical when a critical threshold was crossed); a check that
    is over a warning threshold but not yet significant is a warning to hold the stage."""
    stage = result.stage if stage is None else stage
    out = []
    for check in result.checks:
        if check.verdict == FAIL:
            severity = CRITICAL if check.critical else WARNING
            advice = _rollback_advice(stage)
        elif check.verdict == INCONCLUSIVE and check.name in ("error_rate", "processing_time_p95",
                                                               "confidence_mean") and check.value is not None \
                and result.canary_documents >= result.thresholds.get("critical_min_documents", 0):
            # (below that, a breach is a handful of documents: not worth waking anyone)
            severity, advice = WARNING, f"hold at stage {stage} until the gate decides" if stage is not None \
                else "hold until the gate decides"
        else:
            continue
        where = f" at stage {stage}" if stage is not None else ""
        out.append(Alert(f"{check.name}:{result.canary}", severity, f"{check.detail}{where}", advice, "gate", stage,
                         {"check": check.name, "value": check.value, "threshold": check.threshold,
                          "verdict": check.verdict}))
    return out


def _rollback_advice(stage: int | None) -> str:
    if stage is None:
        return "roll back to the previous stage"
    if stage >= 6:
        return "roll back to stage 5 (re-enable Google first if it is disabled: ocr-migrate set-flag " \
               "disable_google_cloud false)"
    if stage <= 1:
        return "roll back to stage 0 (Google only)"
    return f"roll back to stage {stage - 1}"


# ------------------------------------------------------------------------------------- notifiers


class Notifier:
    name = "notifier"

    def send(self, alert: dict) -> bool:
        raise NotImplementedError


class LogNotifier(Notifier):
    name = "log"

    def send(self, alert: dict) -> bool:
        level = logging.ERROR if alert["severity"] == CRITICAL else logging.WARNING
        log.log(level, "[%s] %s — %s", alert["severity"].upper(), alert["message"], alert["recommendation"])
        return True


class WebhookNotifier(Notifier):
    """POSTs the alert as JSON; retries connection errors, 5xx and 429 with exponential backoff
    (honouring Retry-After), never a 4xx (the payload will not get better)."""

    name = "webhook"

    def __init__(self, url: str, retries: int = 3, backoff_s: float = 0.5, timeout_s: float = 5.0,
                 headers: dict | None = None):
        self.url, self.retries, self.backoff_s, self.timeout_s = url, retries, backoff_s, timeout_s
        self.headers = headers or {}

    def send(self, alert: dict) -> bool:
        import httpx

        body = json.dumps({"text": f"[{alert['severity'].upper()}] {alert['message']} — {alert['recommendation']}",
                           **alert}, default=str)
        delay = self.backoff_s
        for attempt in range(1, self.retries + 2):
            try:
                r = httpx.post(self.url, content=body, timeout=self.timeout_s,
                               headers={"Content-Type": "application/json", **self.headers})
            except httpx.HTTPError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", delay
            else:
                if r.status_code < 300:
                    return True
                if r.status_code < 500 and r.status_code != 429:
                    log.error("webhook %s refused the alert: HTTP %s %s", self.url, r.status_code, r.text[:200])
                    return False
                problem = f"HTTP {r.status_code}"
                retry_after = r.headers.get("Retry-After", "")
                wait = min(float(retry_after), 30.0) if retry_after.replace(".", "", 1).isdigit() else delay
            if attempt > self.retries:
                log.error("webhook %s failed after %d attempts: %s", self.url, attempt, problem)
                return False
            time.sleep(wait)
            delay *= 2
        return False


def notifiers_from(webhook_url: str | None, retries: int = 3) -> list[Notifier]:
    out: list[Notifier] = [LogNotifier()]
    if webhook_url:
        out.append(WebhookNotifier(webhook_url, retries=retries))
    return out


# ------------------------------------------------------------------------------------------ store


class AlertStore:
    def __init__(self, db: Engine, notifiers: list[Notifier] | None = None):
        self.db = db
        self.notifiers = notifiers if notifiers is not None else [LogNotifier()]

    def process(self, current: list[Alert], source: str = "gate", resolve_missing: bool = True) -> list[dict]:
        """Raise new alerts, bump open ones with the same key, resolve open alerts of ``source``
        that are no longer current. Returns the alerts raised now (those were notified)."""
        now = datetime.now(timezone.utc)
        a = alerts.c
        raised = []
        with self.db.begin() as conn:
            open_rows = {r.key: r for r in conn.execute(
                select(alerts).where(and_(a.source == source, a.resolved_at.is_(None))))}
            for alert in current:
                row = open_rows.get(alert.key)
                if row is not None and row.severity == alert.severity:
                    conn.execute(update(alerts).where(a.id == row.id).values(
                        last_seen_at=now, count=row.count + 1, message=alert.message,
                        recommendation=alert.recommendation, details=alert.details))
                    continue
                if row is not None:  # the severity changed: close the old one, raise afresh
                    conn.execute(update(alerts).where(a.id == row.id).values(resolved_at=now))
                new_id = conn.execute(insert(alerts).values(
                    key=alert.key, severity=alert.severity, source=alert.source, message=alert.message,
                    recommendation=alert.recommendation, stage=alert.stage, raised_at=now, last_seen_at=now,
                    count=1, notified=False, details=alert.details)).inserted_primary_key[0]
                raised.append({"id": new_id, **alert.as_dict(), "raised_at": now.isoformat()})
            if resolve_missing:
                keys = {alert.key for alert in current}
                for key, row in open_rows.items():
                    if key not in keys:
                        conn.execute(update(alerts).where(a.id == row.id).values(resolved_at=now))
        for item in raised:
            delivered = [n.send(item) for n in self.notifiers]
            if all(delivered):
                with self.db.begin() as conn:
                    conn.execute(update(alerts).where(a.id == item["id"]).values(notified=True))
        return raised

    def resolve(self, keys: list[str]) -> int:
        """Close open alerts with these keys (their condition is known to be over)."""
        a = alerts.c
        with self.db.begin() as conn:
            return conn.execute(update(alerts).where(and_(a.key.in_(keys), a.resolved_at.is_(None)))
                                .values(resolved_at=datetime.now(timezone.utc))).rowcount

    def recent(self, limit: int = 50, open_only: bool = False) -> list[dict]:
        a = alerts.c
        query = select(alerts).order_by(a.raised_at.desc(), a.id.desc()).limit(limit)
        if open_only:
            query = query.where(a.resolved_at.is_(None))
        with self.db.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["resolved"] = row["resolved_at"] is not None
            for key in ("raised_at", "last_seen_at", "resolved_at"):
                if row[key] is not None:
                    row[key] = as_utc(row[key]).isoformat()
        return rows

    def critical_since(self, since: datetime) -> list[dict]:
        """Critical alerts raised, or still seen, since ``since``: the post-cutover watch's query."""
        a = alerts.c
        with self.db.connect() as conn:
            rows = conn.execute(select(alerts).where(and_(a.severity == CRITICAL, a.last_seen_at >= since))
                                .order_by(a.raised_at)).all()
        return [dict(r._mapping) for r in rows]


# ------------------------------------------------------------------------------- lost events


class EventLossAlarm:
    """Answered documents whose event could not be kept (the events database down and the spool's
    disk refusing, beyond what memory holds) raise one critical alert per replica, bumped as the
    count grows. The loss happens while the events database is down, and the alerts table lives
    there: so the notifiers (log, webhook) are told at once, from this alarm's own thread (a
    webhook's retries never hold up the event writer), and the alert row is stored, without a
    second notification, once the database answers. The alert stays open: its documents' reads
    are missing from every gate of the window, and the post-cutover watch must see it."""

    KEY = "events_lost"

    def __init__(self, db: Engine, notifiers: list[Notifier], replica: str, retry_s: float = 5.0):
        self.db, self.notifiers, self.replica, self.retry_s = db, notifiers, replica, retry_s
        self._total = 0  # lost since this process started
        self._stored = 0  # the count the stored alert row holds
        self._notified = 0  # the count the notifiers were last told, when the database was down
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-loss-alarm", daemon=True)

    def start(self) -> "EventLossAlarm":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def __call__(self, new: int, total: int) -> None:
        """The event writer's ``on_lost``: called with the events lost now and since start."""
        self._total = max(self._total, total)
        self._wake.set()

    @property
    def pending(self) -> bool:
        return self._total > self._stored

    def _alert(self, total: int) -> Alert:
        return Alert(f"{self.KEY}:{self.replica}", CRITICAL,
                     f"{total} answered documents' events could not be kept on {self.replica}: the events database "
                     f"was down and the spool's disk refused them; their reads are missing from the gates' figures",
                     "free space under the spool (OCR_MIGRATE_SPOOL_PATH), bring the events database back, and read "
                     "the gates of this window with care", "events", None, {"lost": total, "replica": self.replica})

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.retry_s)
            self._wake.clear()
            if self.pending:
                try:
                    self.report()
                except Exception:  # noqa: BLE001 (logged; the alarm must outlive it)
                    log.exception("event loss alarm round failed; retrying in %.0f s", self.retry_s)

    def report(self) -> None:
        """Store (or bump) the alert; with the database down, tell the notifiers directly, once
        per new count."""
        from sqlalchemy.exc import DBAPIError

        total = self._total
        try:
            store = AlertStore(self.db, [] if self._notified else self.notifiers)
            store.process([self._alert(total)], source=f"events:{self.replica}", resolve_missing=False)
        except DBAPIError:
            if total > self._notified:
                alert = self._alert(total).as_dict()
                alert["raised_at"] = datetime.now(timezone.utc).isoformat()
                for notifier in self.notifiers:
                    notifier.send(alert)
                self._notified = total
            return
        self._stored = total
