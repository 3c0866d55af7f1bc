"""The stage timeline of a window: what happened to the rollout, in time order, for one strip a
person reads at a glance (the Airflow UI page and the HTML report draw it; the page's JSON has it).

From the tables that record it:

- **stages**: the flag audit log's applied changes of the percentage (``flag_audit``): when each
  percentage began and ended (the one in force when the window opens too, and the current one,
  ``ended`` None); a change down (``rollback``, ``disable``, an automatic rollback's
  ``set-percentage``) is also a **rollback** marker, with its reason;
- **gates**: the health gate's verdicts (``gate_evaluations``), consecutive looks with the same
  verdict at the same percentage folded into one marker (the migration looks every few seconds);
- **golden**: the golden-set quality gate's suite runs (``gx_validations``);
- **remediations**: the re-reads after a failed or rejected stage (``ocr_remediations``), with
  their "re-read N, corrected M, published K" / "needs review N" summary.

The strip's span is the span of what is there, not the whole window: a 10-minute run in a 24-hour
window fills the strip (``span``); it runs on to the window's end when that is near.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import inspect, or_, select
from sqlalchemy.engine import Engine

from ..db import flag_audit, gate_evaluations, ocr_remediations
from .schema import as_utc

ROLLBACK_ACTIONS = ("rollback", "disable")
MAX_ROWS = 5000  # per table and window: a strip, not an archive


def stage_timeline(db: Engine, start: datetime, end: datetime, data_span: tuple[datetime, datetime] | None = None
                   ) -> dict:
    """The timeline of [start, end] (see the module docstring). ``data_span``: (first, last) served
    event in the window, when the caller knows it (it widens the strip to the traffic)."""
    tables = set(inspect(db).get_table_names())
    with db.connect() as conn:
        changes, before = _stage_changes(conn, start, end) if "flag_audit" in tables else ([], None)
        gates = _gates(conn, start, end) if "gate_evaluations" in tables else []
        golden = _golden(conn, start, end) if "gx_validations" in tables else []
        remediations = _remediations(conn, start, end) if "ocr_remediations" in tables else []

    times = [c["at"] for c in changes] + [g["first"] for g in gates] + [g["last"] for g in gates]
    times += [g["at"] for g in golden]
    times += [r["started_at"] for r in remediations] + [r["finished_at"] for r in remediations if r["finished_at"]]
    times = [datetime.fromisoformat(t) for t in times]
    if data_span:
        times += list(data_span)
    if not times and before is None:
        return {"span": None, "stages": [], "changes": [], "rollbacks": [], "gates": [], "golden": [],
                "remediations": [], "entries": []}
    # nothing happened in the window but a stage was in force: the strip is that stage, all window long
    t0, t1 = (max(min(times), start), min(max(times), end)) if times else (start, end)
    # the current stage and an unfinished remediation run on to now: to the window's end when it is
    # near (within a quarter of the span, or a minute), else the strip ends with the last thing seen
    if end - t1 <= max((t1 - t0) / 4, timedelta(minutes=1)):
        t1 = end
    if t1 <= t0:
        t1 = t0 + timedelta(seconds=1)

    stages = []
    in_force = before
    for c in changes:
        if in_force is not None:
            stages.append({**in_force, "ended": c["at"]})
        in_force = {"percentage": c["to"], "stage": c["stage"], "began": c["at"], "action": c["action"],
                    "actor": c["actor"], "reason": c["reason"]}
    if in_force is not None:
        stages.append({**in_force, "ended": None})
    rollbacks = [c for c in changes if c["rollback"]]
    return {"span": {"start": t0.isoformat(), "end": t1.isoformat()}, "stages": stages, "changes": changes,
            "rollbacks": rollbacks, "gates": gates, "golden": golden, "remediations": remediations,
            "entries": _entries(changes, gates, golden, remediations)}


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _stage_changes(conn, start: datetime, end: datetime) -> tuple[list[dict], dict | None]:
    """The applied changes of the percentage in the window (oldest first), and the stage in force
    when it opens (None when the rollout had no state yet)."""
    from ..stages import stage_for

    a = flag_audit.c
    applied = a.outcome == "applied"

    def change(row) -> dict | None:
        before, after = _json(row.before) or {}, _json(row.after) or {}
        was, now = before.get("percentage"), after.get("percentage")
        if now is None or (was == now and before):
            return None
        down = was is not None and now < was
        return {"at": _iso(row.at), "action": row.action, "actor": row.actor, "reason": row.reason,
                "from": was, "to": now, "stage": after.get("stage", stage_for(now)),
                "rollback": bool(before) and (down or row.action in ROLLBACK_ACTIONS)}

    changes = [c for row in conn.execute(select(flag_audit).where(applied, a.at >= start, a.at <= end)
                                         .order_by(a.at, a.id).limit(MAX_ROWS))
               if (c := change(row)) is not None]
    before = None
    for row in conn.execute(select(flag_audit).where(applied, a.at < start).order_by(a.at.desc(), a.id.desc())
                            .limit(MAX_ROWS)):
        c = change(row)
        if c is None:
            continue
        if before is None:
            before = c
        elif c["to"] == before["to"]:
            before = c  # the same percentage set again earlier: the stage began then
        else:
            break
    if before is not None:
        before = {"percentage": before["to"], "stage": before["stage"], "began": before["at"],
                  "action": before["action"], "actor": before["actor"], "reason": before["reason"]}
    return changes, before


def _gates(conn, start: datetime, end: datetime) -> list[dict]:
    """Gate verdicts in the window, oldest first; consecutive looks with the same verdict at the
    same percentage are one entry (``count``, ``first``, ``last``; the reason and id of the last)."""
    g = gate_evaluations.c
    rows = conn.execute(select(g.id, g.evaluated_at, g.run_id, g.stage, g.percentage, g.verdict, g.reason,
                               g.canary_documents, g.baseline_documents)
                        .where(g.evaluated_at >= start, g.evaluated_at <= end)
                        .order_by(g.evaluated_at, g.id).limit(MAX_ROWS)).all()
    out: list[dict] = []
    for row in rows:
        at = _iso(row.evaluated_at)
        last = out[-1] if out else None
        if last and (last["verdict"], last["percentage"], last["run_id"]) == (row.verdict, row.percentage, row.run_id):
            last.update(last=at, count=last["count"] + 1, id=row.id, reason=row.reason,
                        canary_documents=row.canary_documents, baseline_documents=row.baseline_documents)
        else:
            out.append({"verdict": row.verdict, "percentage": row.percentage, "stage": row.stage,
                        "run_id": row.run_id, "first": at, "last": at, "count": 1, "id": row.id,
                        "reason": row.reason, "canary_documents": row.canary_documents,
                        "baseline_documents": row.baseline_documents})
    return out


def _golden(conn, start: datetime, end: datetime) -> list[dict]:
    from .golden_gate import gx_validations

    x = gx_validations.c
    rows = conn.execute(select(x.id, x.evaluated_at, x.stage, x.suite, x.success, x.documents,
                               x.unsuccessful_expectations)
                        .where(x.evaluated_at >= start, x.evaluated_at <= end)
                        .order_by(x.evaluated_at, x.id).limit(MAX_ROWS)).all()
    return [{"id": r.id, "at": _iso(r.evaluated_at), "stage": r.stage, "suite": r.suite, "success": r.success,
             "verdict": "PASS" if r.success else ("FAIL" if r.success is False else "INCONCLUSIVE"),
             "documents": r.documents, "failed_expectations": r.unsuccessful_expectations} for r in rows]


def remediation_summary(row: dict) -> str:
    """'re-read N, corrected M, published K' (and what needs review or failed), or 'needs review N'."""
    parts = []
    if row.get("reread") or not row.get("needs_review"):
        parts.append(f"re-read {row.get('reread') or 0}, corrected {row.get('corrected') or 0}, "
                     f"published {row.get('published') or 0}")
    if row.get("needs_review"):
        parts.append(f"needs review {row['needs_review']}")
    if row.get("failed"):
        parts.append(f"failed {row['failed']}")
    text = "; ".join(parts)
    return text + (" (running)" if not row.get("finished_at") else "")


def _remediations(conn, start: datetime, end: datetime) -> list[dict]:
    r = ocr_remediations.c
    rows = conn.execute(select(r.id, r.run_id, r.stage, r.percentage, r.cause, r.window_start, r.window_end,
                               r.started_at, r.finished_at, r.served, r.retained, r.reread, r.corrected,
                               r.published, r.needs_review, r.failed)
                        .where(r.started_at <= end, or_(r.finished_at.is_(None), r.finished_at >= start))
                        .order_by(r.started_at, r.id).limit(MAX_ROWS)).mappings().all()
    out = []
    for row in rows:
        item = {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in row.items()}
        item["summary"] = remediation_summary(item)
        out.append(item)
    return out


def _entries(changes: list[dict], gates: list[dict], golden: list[dict], remediations: list[dict]) -> list[dict]:
    """Everything on the strip as one list in time order: ``at``, ``type`` (stage | rollback | gate |
    golden | remediation), ``verdict`` (gates), ``title`` (short) and ``detail`` (the reason)."""
    out = []
    for c in changes:
        was = f"{c['from']} % → " if c["from"] is not None else ""
        out.append({"at": c["at"], "type": "rollback" if c["rollback"] else "stage",
                    "title": f"{'rollback' if c['rollback'] else 'stage'} {was}{c['to']} % ({c['action']}, {c['actor']})",
                    "detail": c["reason"], "verdict": None})
    for g in gates:
        times = f" ×{g['count']} since {g['first']}" if g["count"] > 1 else ""
        out.append({"at": g["last"], "type": "gate", "verdict": g["verdict"],
                    "title": f"gate {g['verdict']} at {g['percentage']} %{times}", "detail": g["reason"]})
    for x in golden:
        out.append({"at": x["at"], "type": "golden", "verdict": x["verdict"],
                    "title": f"golden gate {x['verdict']} ({x['suite']}, {x['documents']} documents)",
                    "detail": f"{x['failed_expectations']} expectations failed" if x["failed_expectations"] else ""})
    for r in remediations:
        out.append({"at": r["started_at"], "type": "remediation", "verdict": None,
                    "title": f"remediation of {r['percentage']} % ({r['cause']}): {r['summary']}",
                    "detail": f"{r['served']} documents served by the open-source engine, {r['retained']} kept"})
    return sorted(out, key=lambda e: e["at"])


def _json(value):
    import json

    return json.loads(value) if isinstance(value, str) else value
