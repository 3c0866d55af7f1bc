"""Remediation: a stage that fails leaves no wrong data behind.

Argo Rollouts and Flagger cannot undo what a failed canary served; an OCR migration can, because a
document can be read again. With remediation on (``OCR_MIGRATE_REMEDIATION``, off by default):

1. **Keep.** The service keeps each document the open-source engine served, with the result it
   served, in ``RetentionStore`` (a private directory every replica and Airflow worker reaches:
   ``OCR_MIGRATE_RETENTION_DIR``, a shared volume in compose), for ``retention_hours`` only:
   ``purge`` deletes what is older (the service runs it every ``PURGE_EVERY_S``, and so does every
   remediation). Off, nothing is kept.
2. **Re-read.** When a stage's gate FAILs or a person rejects it, the DAG's ``remediate`` step
   (after ``rollback``, mapped over the documents for fan-out) takes every document the
   open-source engine served during the stage's window (``served_by_open_source``: its non-shadow
   successful reads, less those Google then served after a low confidence), re-reads each with
   Document AI and compares field by field (``ocr_engines.compare``).
3. **Publish.** A changed result is a correction: a row in ``ocr_corrections``, a POST to
   ``OCR_MIGRATE_CORRECTIONS_WEBHOOK_URL`` (corrections carry invoice values, so never the alert
   webhook; the same retries), and ``ocr-migrate corrections``. When Google is off (a failing
   post-cutover watch) or a document is no longer kept, nothing can re-read it: it is listed as
   needing review. ``ocr_remediations`` holds each run's counts (served, re-read, corrected,
   published, needs review), for the UI page and the report.

Re-running a remediation step adds nothing twice: a correction is unique per (remediation,
request), and one already published is not sent again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Engine

from .db import ocr_corrections, ocr_events, ocr_remediations
from .health.schema import as_utc, jsonable
from .router import GOOGLE, OPENSOURCE

log = logging.getLogger(__name__)

PURGE_EVERY_S = 300.0  # how often the service deletes what is past its retention
NEEDS_REVIEW, CORRECTED = "needs_review", "corrected"


class RemediationError(RuntimeError):
    """Remediation cannot run as asked (a typed refusal, with the reason)."""


# ------------------------------------------------------------------------------------ keep


def _key(request_id: str) -> str:
    """A file name for a request id (a client's word: never a path)."""
    return hashlib.sha256(request_id.encode()).hexdigest()[:40]


class RetentionStore:
    """Documents the open-source engine served, kept for ``retention_s``: ``<root>/<UTC hour>/
    <key>.doc`` (the upload as sent) and ``<key>.json`` (request, time, stage, kind and the result
    served). Folders 0700, files 0600: they hold invoices. The hour folders make ``purge`` a look
    at a few dozen names, not a walk over every document."""

    def __init__(self, root: Path, retention_s: float, now=None):
        self.root = Path(root)
        self.retention_s = retention_s
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.errors = 0

    def keep(self, request_id: str, path: Path, outcome, snap) -> bool:
        """Keep one served document; False (logged, counted) when the disk refuses: that costs the
        document's remediation, never the answer."""
        at = self.now()
        folder = self.root / at.strftime("%Y%m%d%H")
        key = _key(request_id)
        meta = {"request_id": request_id, "at": at.isoformat(), "stage": snap.stage, "percentage": snap.percentage,
                "kind": outcome.kind, "engine": outcome.engine, "result": outcome.result.to_dict()}
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            doc = folder / f"{key}.doc"
            fd = os.open(doc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            fd = os.open(folder / f"{key}.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(jsonable(meta), out)
        except OSError as exc:
            self.errors += 1
            log.warning("could not keep %s for remediation (%s: %s)", request_id, type(exc).__name__, exc)
            return False
        return True

    def find(self, request_id: str) -> tuple[Path, dict] | None:
        """(the kept document, what was served) or None when it is not (or no longer) kept."""
        key = _key(request_id)
        if not self.root.is_dir():
            return None
        for folder in sorted(self.root.iterdir(), reverse=True):
            meta_path = folder / f"{key}.json"
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            doc = folder / f"{key}.doc"
            if doc.is_file() and meta.get("request_id") == request_id:
                return doc, meta
        return None

    def purge(self) -> int:
        """Delete every document kept longer than the retention; returns how many went."""
        if not self.root.is_dir():
            return 0
        now = self.now()
        cutoff = now - timedelta(seconds=self.retention_s)
        removed = 0
        for folder in sorted(self.root.iterdir()):
            try:
                hour = datetime.strptime(folder.name, "%Y%m%d%H").replace(tzinfo=timezone.utc)
            except ValueError:
                continue  # not ours
            if hour + timedelta(hours=1) <= cutoff:  # the whole hour is past
                removed += sum(1 for p in folder.glob("*.doc"))
                shutil.rmtree(folder, ignore_errors=True)
                continue
            if hour > cutoff:
                continue
            for meta_path in folder.glob("*.json"):  # the hour the cutoff falls in: one by one
                try:
                    kept_at = datetime.fromisoformat(json.loads(meta_path.read_text(encoding="utf-8"))["at"])
                except (OSError, ValueError, KeyError):
                    kept_at = datetime.fromtimestamp(meta_path.stat().st_mtime, timezone.utc)
                if kept_at <= cutoff:
                    meta_path.with_suffix(".doc").unlink(missing_ok=True)
                    meta_path.unlink(missing_ok=True)
                    removed += 1
        return removed


def retention_from(settings) -> RetentionStore | None:
    """The settings' retention store; None with remediation off (nothing is kept)."""
    if not settings.remediation:
        return None
    return RetentionStore(settings.retained_dir, settings.retention_hours * 3600)


# ------------------------------------------------------------------------------------ decide


@dataclass(frozen=True)
class Served:
    request_id: str
    at: datetime
    stage: int | None
    percentage: int | None
    kind: str | None


def served_by_open_source(db: Engine, start: datetime, end: datetime) -> list[Served]:
    """The documents the open-source engine served in [start, end): its successful non-shadow
    reads, less those Google then read and served (a confidence under the floor). Shadow reads
    and Google's reads are never remediated: nobody was served them by the open-source engine."""
    e = ocr_events.c
    window = and_(e.at >= start, e.at < end, e.shadow.is_(False), e.success.is_(True))
    served_by_google = select(e.request_id).where(window, e.engine == GOOGLE, e.fallback.is_(True))
    query = (select(e.request_id, func.min(e.at), func.max(e.stage), func.max(e.percentage), func.max(e.kind))
             .where(window, e.engine == OPENSOURCE, e.request_id.not_in(served_by_google))
             .group_by(e.request_id).order_by(func.min(e.at)))
    with db.connect() as conn:
        return [Served(r[0], as_utc(r[1]), r[2], r[3], r[4]) for r in conn.execute(query)]


def changed_fields(served: dict, corrected: dict) -> dict:
    """The fields whose value Document AI reads differently from what was served (``compare``:
    control = Document AI, candidate = the served result), with both values."""
    from ocr_engines.compare import IGNORED, MATCH, compare

    diff = compare(corrected, served)
    out = {name: {"served": d.candidate, "corrected": d.control, "status": d.status}
           for name, d in diff.fields.items() if d.status not in (MATCH, IGNORED)}
    items = diff.line_items
    if items is not None and items.status not in (MATCH, IGNORED):
        out["line_items"] = {"served": items.candidate, "corrected": items.control, "status": items.status}
    return out


# ------------------------------------------------------------------------------------ run


def start(db: Engine, percentage: int, stage: int | None, cause: str, run_id: str | None, window_start: datetime,
          window_end: datetime) -> tuple[int, list[str]]:
    """Open a remediation run for a failed stage's window: (its id, the request ids to re-read)."""
    served = served_by_open_source(db, window_start, window_end)
    now = datetime.now(timezone.utc)
    with db.begin() as conn:
        rid = conn.execute(insert(ocr_remediations).values(
            run_id=run_id, stage=stage, percentage=percentage, cause=cause, window_start=window_start,
            window_end=window_end, started_at=now, served=len(served),
            details={"kinds": dict(Counter(s.kind or "unknown" for s in served))})).inserted_primary_key[0]
    log.info("remediation %s: %d documents the open-source engine served at %s %% between %s and %s", rid,
             len(served), percentage, window_start.isoformat(timespec="seconds"),
             window_end.isoformat(timespec="seconds"))
    return rid, [s.request_id for s in served]


def google_reader(settings, flags_state: dict | None):
    """Document AI as the re-reader, or (None, why not) when it cannot re-read."""
    if flags_state and flags_state.get("disable_google_cloud"):
        return None, "Google is switched off (disable_google_cloud)"
    if not (settings.documentai_project and settings.documentai_processor_id):
        return None, "Document AI is not configured"
    from ocr_engines import OcrError, get_engine

    try:
        return get_engine("documentai", **settings.engine_options("documentai")), None
    except OcrError as exc:
        return None, f"Document AI not available: {exc.message}"


def remediate(db: Engine, remediation_id: int, request_ids: list[str], retention: RetentionStore | None,
              google, why_not: str | None, publisher=None, concurrency: int = 1) -> dict:
    """Re-read ``request_ids`` with ``google`` (None: list them as needing review, ``why_not``),
    ``concurrency`` re-reads in flight, store each changed result as a correction and publish it.
    Returns this shard's counts."""
    counts = {"retained": 0, "reread": 0, "corrected": 0, "published": 0, "needs_review": 0, "failed": 0}
    c = ocr_corrections.c
    to_read: list[tuple[dict, dict, Path]] = []
    for request_id in request_ids:
        with db.connect() as conn:
            done = conn.execute(select(c.id, c.published, c.status).where(
                c.remediation_id == remediation_id, c.request_id == request_id)).first()
        kept = retention.find(request_id) if retention is not None else None
        counts["retained"] += kept is not None
        if done is not None:  # a retried shard: what was decided stands; publish what was not
            counts[done.status if done.status == NEEDS_REVIEW else "corrected"] += 1
            counts["reread"] += done.status == CORRECTED
            if done.status == CORRECTED and not done.published and publisher is not None:
                counts["published"] += _publish(db, done.id, publisher)
            else:
                counts["published"] += bool(done.published)
            continue
        meta = kept[1] if kept else {}
        base = {"remediation_id": remediation_id, "request_id": request_id, "stage": meta.get("stage"),
                "percentage": meta.get("percentage"), "kind": meta.get("kind"),
                "served_at": datetime.fromisoformat(meta["at"]) if meta.get("at") else None}
        if kept is None or google is None:
            reason = why_not if google is None else "the document is not kept (remediation was off, or past " \
                                                    "its retention)"
            _insert(db, {**base, "status": NEEDS_REVIEW, "fields": {"reason": reason}, "corrected_result": None})
            counts["needs_review"] += 1
            continue
        to_read.append((base, meta, kept[0]))
    for (base, meta, _), corrected in zip(to_read, reread(google, [doc for _, _, doc in to_read], concurrency)):
        if not isinstance(corrected, dict):
            counts["failed"] += 1
            _insert(db, {**base, "status": NEEDS_REVIEW, "corrected_result": None,
                         "fields": {"reason": f"the re-read failed: {corrected.code}: {corrected.message}"}})
            counts["needs_review"] += 1
            continue
        counts["reread"] += 1
        fields = changed_fields(meta.get("result") or {}, corrected)
        if not fields:
            continue
        correction_id = _insert(db, {**base, "status": CORRECTED, "fields": fields, "corrected_result": corrected})
        counts["corrected"] += 1
        if publisher is not None:
            counts["published"] += _publish(db, correction_id, publisher)
    return counts


def reread(google, documents: list[Path], concurrency: int):
    """Document AI's reads of ``documents``, in order: each a result dict or the ``OcrError``.
    Re-reading is waiting on Google (1-4 s a document, median ~2 s), not computing: one read at a
    time, a shard of 1 000 documents takes over half an hour; ``concurrency`` reads in flight
    (threads; the client is thread-safe, as the service's concurrent uploads use it) divide that,
    within the processor's quota of concurrent online requests. The demo's rejected 100 % stage
    re-read 911 documents from a double that answers in 0.25 s: 66 s one at a time."""
    from ocr_engines.errors import OcrError

    def one(document: Path):
        try:
            return google.extract(document).to_dict()
        except OcrError as exc:
            return exc

    if concurrency <= 1 or len(documents) <= 1:
        yield from map(one, documents)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="remediate") as pool:
        yield from pool.map(one, documents)


def _insert(db: Engine, row: dict) -> int:
    with db.begin() as conn:
        return conn.execute(insert(ocr_corrections).values(
            created_at=datetime.now(timezone.utc), published=False, **jsonable_row(row))).inserted_primary_key[0]


def jsonable_row(row: dict) -> dict:
    return {k: (jsonable(v) if k in ("fields", "corrected_result") else v) for k, v in row.items()}


def _publish(db: Engine, correction_id: int, publisher) -> bool:
    with db.connect() as conn:
        row = conn.execute(select(ocr_corrections).where(ocr_corrections.c.id == correction_id)).first()
    payload = correction_payload(dict(row._mapping))
    if not publisher.send(payload):
        return False
    with db.begin() as conn:
        conn.execute(update(ocr_corrections).where(ocr_corrections.c.id == correction_id).values(published=True))
    return True


def correction_payload(row: dict) -> dict:
    """What the corrections webhook receives for one correction."""
    return jsonable({"type": "ocr_correction", "severity": "info", "correction_id": row["id"],
                     "remediation_id": row["remediation_id"], "request_id": row["request_id"],
                     "stage": row["stage"], "percentage": row["percentage"], "kind": row["kind"],
                     "served_at": row["served_at"], "fields": row["fields"], "result": row["corrected_result"],
                     "message": f"corrected read of {row['request_id']}: "
                                f"{', '.join(sorted(row['fields'])) or 'no field'} changed",
                     "recommendation": "replace the values served for this request with these"})


class CorrectionsWebhook:
    """POSTs a correction as JSON, with the alert webhook's retries (``WebhookNotifier``)."""

    def __init__(self, url: str, retries: int = 3):
        from .health.alerts import WebhookNotifier

        self._hook = WebhookNotifier(url, retries=retries)

    def send(self, payload: dict) -> bool:
        return self._hook.send(payload)


def publisher_from(settings):
    return CorrectionsWebhook(settings.corrections_webhook_url, settings.corrections_webhook_retries) \
        if settings.corrections_webhook_url else None


def finish(db: Engine, remediation_id: int, shard_counts: list[dict]) -> dict:
    """Close the run with the counts of all its shards; returns the run's row."""
    total = {k: sum(int(c.get(k, 0)) for c in shard_counts) for k in
             ("retained", "reread", "corrected", "published", "needs_review", "failed")}
    with db.begin() as conn:
        conn.execute(update(ocr_remediations).where(ocr_remediations.c.id == remediation_id).values(
            finished_at=datetime.now(timezone.utc), **total))
        row = dict(conn.execute(select(ocr_remediations).where(ocr_remediations.c.id == remediation_id)).one()._mapping)
    return jsonable(row)


def summary_line(row: dict) -> str:
    line = (f"remediation of stage {row['percentage']} %: served {row['served']}, re-read {row['reread']}, "
            f"corrected {row['corrected']}, published {row['published']}")
    if row.get("needs_review"):
        line += f", needs review {row['needs_review']}"
    return line


def corrections(db: Engine, stage: int | None = None, limit: int = 200) -> list[dict]:
    """Corrections, newest first (``ocr-migrate corrections``); ``stage``: of that stage only."""
    c = ocr_corrections.c
    query = select(ocr_corrections).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
    if stage is not None:
        query = query.where(c.stage == stage)
    with db.connect() as conn:
        return [jsonable(dict(r._mapping)) for r in conn.execute(query)]


def remediations(db: Engine, limit: int = 20) -> list[dict]:
    r = ocr_remediations.c
    with db.connect() as conn:
        return [jsonable(dict(row._mapping)) for row in conn.execute(
            select(ocr_remediations).order_by(r.started_at.desc(), r.id.desc()).limit(limit))]
