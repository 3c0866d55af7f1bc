"""The migration's steps as plain functions over the flag store and the metrics database: what the
Airflow tasks of ``dags/ocr_migration.py`` call (and what the CLI or a test can call the same way).

Every step is idempotent, so clearing a task in Airflow re-applies its stage: setting a
percentage that is already active changes nothing and reports when it became active; a gate
decides from the events since then; a rollback to a percentage already in place is a no-op.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.engine import Engine

from . import stages
from .actions import apply_action
from .flags import FlagStore
from .health.golden_subsets import DEFAULT_GOLDEN_SUBSET, GOLDEN_SUBSET_CHOICES, is_golden_subset
from .health.schema import as_utc
from .health.thresholds import ThresholdError, Thresholds

DEFAULT_PLAN = stages.STAGE_PERCENTAGES[1:]  # every stage after Google only: 5, 15, 35, 60, 85, 100 %
MAX_GOLDEN_SHARDS = 64


class PlanError(ValueError):
    """The run's parameters are not a usable migration plan; nothing was changed."""


@dataclass(frozen=True)
class MigrationPlan:
    stages: tuple[int, ...] = DEFAULT_PLAN
    soak_s: float = 900.0                 # a stage PASSes only after this long
    min_documents: int = 200              # canary documents per stage (on top of the rule of three)
    stage_timeout_s: float = 6 * 3600.0   # INCONCLUSIVE this long: stop for a human
    thresholds: Thresholds = field(default_factory=Thresholds)
    require_approval: bool = False
    auto_rollback: bool = True
    post_cutover_watch_s: float = 24 * 3600.0
    golden_subset: str = DEFAULT_GOLDEN_SUBSET  # "mixed": digital, clean and degraded scans, ksef-official
    golden_shards: int = 4                # the golden gate's reads in this many mapped tasks

    def __post_init__(self):
        # the gate reads its evidence minimum from the thresholds: the plan's own, one value
        if self.thresholds.min_documents != self.min_documents:
            object.__setattr__(self, "thresholds", replace(self.thresholds, min_documents=self.min_documents))

    @classmethod
    def from_params(cls, params: dict) -> "MigrationPlan":
        """The plan of a run's parameters (the DAG's Params); a key not given keeps this class's
        default, which is also the DAG's Param default."""
        base = cls()
        try:
            plan = tuple(int(p) for p in params.get("stages", DEFAULT_PLAN))
        except (TypeError, ValueError):
            raise PlanError(f"stages must be a list of percentages, got {params.get('stages')!r}") from None
        if not plan or any(not 0 < p <= 100 for p in plan) or list(plan) != sorted(set(plan)):
            raise PlanError(f"stages must be strictly increasing percentages in 1..100, got {list(plan)}")
        if plan[-1] != 100:
            raise PlanError(f"the plan must end at 100 % before the cutover, got {list(plan)}")
        if len(plan) > len(DEFAULT_PLAN):
            raise PlanError(f"at most {len(DEFAULT_PLAN)} stages, got {len(plan)}")
        try:
            thresholds = Thresholds.from_mapping({**(params.get("thresholds") or {}),
                                                  "min_documents": int(params.get("min_documents", base.min_documents))})
        except (ThresholdError, TypeError, ValueError) as exc:
            raise PlanError(str(exc)) from None
        numbers = {}
        for name, default, low in (("soak_s", base.soak_s, 0.0), ("stage_timeout_s", base.stage_timeout_s, 1.0),
                                   ("post_cutover_watch_s", base.post_cutover_watch_s, 0.0)):
            try:
                numbers[name] = float(params.get(name, default))
            except (TypeError, ValueError):
                raise PlanError(f"{name} must be a number of seconds, got {params.get(name)!r}") from None
            if numbers[name] < low:
                raise PlanError(f"{name} must be >= {low:g}, got {numbers[name]:g}")
        subset = params.get("golden_subset", base.golden_subset)
        if not is_golden_subset(str(subset)):
            raise PlanError(f"golden_subset must be one of {', '.join(GOLDEN_SUBSET_CHOICES)}, got {subset!r}")
        try:
            shards = int(params.get("golden_shards", base.golden_shards))
        except (TypeError, ValueError):
            raise PlanError(f"golden_shards must be a whole number, got {params.get('golden_shards')!r}") from None
        if not 1 <= shards <= MAX_GOLDEN_SHARDS:
            raise PlanError(f"golden_shards must be in 1..{MAX_GOLDEN_SHARDS}, got {shards}")
        return cls(plan, numbers["soak_s"], thresholds.min_documents, numbers["stage_timeout_s"], thresholds,
                   bool(params.get("require_approval", base.require_approval)),
                   bool(params.get("auto_rollback", base.auto_rollback)),
                   numbers["post_cutover_watch_s"], subset, shards)

    def percentage_at(self, position: int) -> int | None:
        """The plan's percentage for stage slot ``position`` (1-based), None when the plan is shorter."""
        return self.stages[position - 1] if position <= len(self.stages) else None

    def previous(self, percentage: int) -> int:
        before = [p for p in self.stages if p < percentage]
        return before[-1] if before else 0


def active_since(store: FlagStore, percentage: int) -> datetime | None:
    """When the current percentage became active (the audit log's last change to it)."""
    for entry in store.history(limit=1000):
        if entry.outcome != "applied" or not entry.after:
            continue
        if entry.after["percentage"] != percentage:
            return None  # a later change left this percentage
        if entry.before is None or entry.before["percentage"] != percentage:
            return as_utc(entry.at)
    return None


def set_percentage(store: FlagStore, percentage: int, actor: str, reason: str) -> dict:
    """Move the rollout to ``percentage`` (audited) unless it is there already; returns the state
    and when the percentage became active — the start of the stage's gate window."""
    snap = store.init()
    if snap.percentage == percentage and not (percentage < 100 and snap.flag("disable_google_cloud")):
        since = active_since(store, percentage) or datetime.now(timezone.utc)
        return {"changed": False, "state": snap.as_dict(), "since": since.isoformat()}
    new = apply_action(store, "set-percentage", actor, reason, based_on=snap, percentage=percentage)
    since = active_since(store, percentage) or datetime.now(timezone.utc)
    return {"changed": True, "state": new.as_dict(), "since": since.isoformat()}


def stage_gate(db: Engine, store: FlagStore, since: datetime, percentage: int, plan: MigrationPlan,
               run_id: str | None, notifiers=None, now: datetime | None = None) -> dict:
    """One look of the stage's gate, stored with its alerts. ``status``: ``pass`` (PASS and the
    soak time is over), ``fail`` (FAIL), ``timeout`` (still INCONCLUSIVE at the stage timeout) or
    ``wait``."""
    from .health.alerts import AlertStore
    from .health.gates import FAIL, PASS
    from .health.judge import judge

    now = now or datetime.now(timezone.utc)
    snap = store.snapshot()
    if snap.percentage != percentage:
        return {"status": "fail", "verdict": "FAIL", "reason": f"the rollout is at {snap.percentage} %, not "
                f"{percentage} %: someone changed it during the stage", "gate": None}
    result = judge(db, since, now, plan.thresholds, percentage=percentage, run_id=run_id,
                   notifiers=notifiers).result
    soaked = (now - since).total_seconds() >= plan.soak_s
    if result.verdict == FAIL:
        status = "fail"
    elif result.verdict == PASS and soaked:
        status = "pass"
        # this stage is healthy now: an earlier run's "stage failed" alert for it is over
        AlertStore(db, notifiers=[]).resolve([f"rollback:{percentage}"])
    elif (now - since).total_seconds() >= plan.stage_timeout_s:
        status = "timeout"
    else:
        status = "wait"
    reason = result.reason if soaked or result.verdict != PASS else \
        f"PASS, soaking until {(since + timedelta(seconds=plan.soak_s)).isoformat(timespec='seconds')}"
    return {"status": status, "verdict": result.verdict, "reason": reason, "gate": result.id,
            "canary_documents": result.canary_documents, "baseline_documents": result.baseline_documents}


def roll_back_stage(db: Engine, store: FlagStore, percentage: int, plan: MigrationPlan, run_id: str | None,
                    actor: str, cause: str, notifiers=None) -> dict:
    """After a failed stage: back to the previous percentage when auto_rollback is on and a gate
    (health or golden) FAILed; an INCONCLUSIVE stage is left where it is, for a human."""
    from .health.alerts import CRITICAL, Alert, AlertStore
    from .health.gates import gate_history

    latest = next((g for g in gate_history(db, limit=50, run_id=run_id) if g["percentage"] == percentage), None)
    failed = cause == "golden" or (latest is not None and latest["verdict"] == "FAIL")
    if not failed:
        why = latest["reason"] if latest else "no gate evaluation"
        return {"action": "none", "reason": f"stage {percentage} % stopped without a FAIL ({why}): "
                                            "left in place for a human to decide"}
    target = plan.previous(percentage)
    detail = latest["reason"] if cause != "golden" and latest else "the golden-set quality gate failed"
    if not plan.auto_rollback:
        action, message = "none", f"stage {percentage} % FAILED ({detail}); auto_rollback is off"
    else:
        set_percentage(store, target, actor, f"automatic rollback: stage {percentage} % failed: {detail}")
        action, message = "rollback", f"rolled back from {percentage} % to {target} %: {detail}"
    AlertStore(db, notifiers).process([Alert(
        f"rollback:{percentage}", CRITICAL, f"stage {percentage} % failed its gate: {detail}",
        f"rolled back to {target} %; investigate before re-running" if action == "rollback"
        else f"roll back to {target} % (ocr-migrate rollback)", source="migration",
        stage=stages.stage_for(percentage), details={"run_id": run_id})], source="migration", resolve_missing=False)
    return {"action": action, "target": target, "reason": message}


def reject_stage(db: Engine, store: FlagStore, percentage: int, plan: MigrationPlan, run_id: str | None,
                 reviewer: str, reason: str, notifiers=None) -> dict:
    """A person rejected the stage at its approval: back to the previous percentage, with who and
    why in the audit log, and a warning alert. ``auto_rollback`` does not apply: it governs what
    the machine does on a FAIL, and this is a human's decision."""
    from .health.alerts import WARNING, Alert, AlertStore

    reviewer, why = _one_line(reviewer, 100) or "an unnamed reviewer", _one_line(reason, 500) or "no reason given"
    target = plan.previous(percentage)
    set_percentage(store, target, f"{reviewer} (approval, {run_id})"[:200],
                   f"stage {percentage} % rejected at its approval by {reviewer}: {why}")
    AlertStore(db, notifiers).process([Alert(
        f"rejected:{percentage}", WARNING, f"stage {percentage} % rejected by {reviewer}: {why}",
        f"rolled back to {target} %; run the migration again when the reason is dealt with", source="migration",
        stage=stages.stage_for(percentage), details={"run_id": run_id})], source="migration", resolve_missing=False)
    return {"action": "rollback", "target": target,
            "reason": f"rejected by {reviewer} ({why}): rolled back from {percentage} % to {target} %"}


def _one_line(text: str | None, limit: int) -> str:
    """A person's free text as one storable line: control characters, NULs and lone surrogates
    become spaces, runs of space collapse, at most ``limit`` characters."""
    cleaned = "".join(" " if ch < " " or ch == "\x7f" or "\ud800" <= ch <= "\udfff" else ch for ch in str(text or ""))
    return " ".join(cleaned.split())[:limit]


# ------------------------------------------------------------------------------------------ cutover


def cutover_problems(db: Engine, plan: MigrationPlan, run_id: str | None, store: FlagStore | None = None) -> list[str]:
    """What stands in the way of switching Google off: maintenance mode (no document would be read,
    so the watch after the cutover would judge nothing), a plan stage without a PASS in this run,
    an open critical alert."""
    from .health.alerts import CRITICAL, AlertStore
    from .health.gates import gate_history

    problems = []
    if store is not None:
        snap = store.snapshot()
        if snap.flag("maintenance_mode"):
            problems.append(f"maintenance mode is on ({snap.maintenance_reason or 'no reason given'}): no "
                            "document would be read after the cutover; turn it off first")
    history = gate_history(db, limit=5000, run_id=run_id)
    for p in plan.stages:
        if not any(g["percentage"] == p and g["verdict"] == "PASS" for g in history):
            problems.append(f"stage {p} % has no PASS gate in this run")
    for alert in AlertStore(db, notifiers=[]).recent(100, open_only=True):
        if alert["severity"] == CRITICAL:
            problems.append(f"open critical alert: {alert['message']}")
    return problems


def backup_state(db: Engine, store: FlagStore, out_dir: Path, run_id: str | None) -> Path:
    """The flag state, the recent audit log and a metrics snapshot, as one JSON file."""
    from .health.windows import last_hours, window_metrics

    out_dir.mkdir(parents=True, exist_ok=True)
    snap = store.snapshot()
    start, end = last_hours(24)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"pre-cutover-{stamp}.json"
    path.write_text(json.dumps({
        "created_at": datetime.now(timezone.utc).isoformat(), "run_id": run_id, "state": snap.as_dict(),
        "audit": [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "outcome": e.outcome,
                   "reason": e.reason} for e in store.history(limit=200)],
        "metrics_24h": [s.as_dict() for s in window_metrics(db, start, end)]}, indent=1, default=str))
    return path


def cut_over(store: FlagStore, actor: str, reason: str) -> dict:
    """100 % open source, then Google off (each audited; both idempotent)."""
    snap = store.init()
    if snap.percentage != 100:  # each step decided on the state just read: a concurrent change is a conflict
        snap = apply_action(store, "enable", actor, reason, expect_version=snap.version)
    if not snap.flag("disable_google_cloud"):
        snap = apply_action(store, "disable-google", actor, reason, expect_version=snap.version)
    return snap.as_dict()


def write_rollback_script(backup: Path, script: Path, database_url: str | None = None) -> Path:
    """A bash script that regenerates the pre-cutover state through the CLI (``ocr-migrate
    restore``). The backup is validated now, and every value in the script is shell-quoted: a
    stored reason or path cannot inject a command."""
    state = json.loads(backup.read_text())["state"]
    stages.restore_check(state)
    cli = Path(sys.executable).parent / "ocr-migrate"
    lines = ["#!/usr/bin/env bash",
             "# Regenerates the rollout state from before the cutover (Google back on).",
             # A comment ends at a newline, which a path may hold: ascii() writes it as '\n'.
             f"# Backup: {ascii(str(backup))} (stage {int(state['stage'])}, {int(state['percentage'])} %)",
             "set -euo pipefail"]
    if database_url:
        lines.append(f"export OCR_MIGRATE_DATABASE_URL={shlex.quote(database_url)}")
    lines.append(f"{shlex.quote(str(cli))} restore --backup {shlex.quote(str(backup.resolve()))} "
                 f"--reason {shlex.quote('rollback of the cutover')} \"$@\"")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o750)
    return script


def post_cutover_status(db: Engine, store: FlagStore, since: datetime, watch_s: float,
                        run_id: str | None = None, notifiers=None, now: datetime | None = None,
                        thresholds: Thresholds | None = None, evidence_wait_s: float | None = None) -> dict:
    """The watch after the cutover: ``fail`` on a critical alert since the cutover, ``pass`` when
    the watch is over without one and the gate at 100 % passes, else ``wait``. Each look also
    judges the traffic at 100 %.

    Once the watch is over, a gate without enough evidence waits ``evidence_wait_s`` more (the
    plan's ``stage_timeout_s``: as long as a stage waits for its evidence; the watch's own length
    when not given) and then fails. A fixed doubling of the watch failed a fresh clone's demo
    on a loaded machine (59 of 60 documents after 42 s of a 20 s watch), while every stage before
    it had waited for its evidence and passed."""
    from .health.alerts import AlertStore
    from .health.judge import judge

    now = now or datetime.now(timezone.utc)
    result = judge(db, max(since, now - timedelta(hours=1)), now, thresholds or Thresholds(), percentage=100,
                   run_id=run_id, notifiers=notifiers).result
    critical = AlertStore(db, notifiers).critical_since(since)
    if critical:
        return {"status": "fail", "reason": f"critical alert after the cutover: {critical[0]['message']}"}
    watched = (now - since).total_seconds()
    if watched >= watch_s:
        # No alert is not evidence: the watch passes on a PASS gate over the traffic at 100 %. Without
        # one (maintenance on, no traffic, too few documents) it waits for evidence, then fails:
        # missing data never passes.
        if result.verdict == "PASS":
            return {"status": "pass", "reason": f"no critical alert for {watch_s:g} s after the cutover, and the "
                                                f"gate at 100 % passes: {result.reason}"}
        if watched >= watch_s + (watch_s if evidence_wait_s is None else evidence_wait_s):
            return {"status": "fail", "reason": f"no evidence after {watched:.0f} s at 100 %: gate {result.verdict}: "
                                                f"{result.reason}"}
        return {"status": "wait", "reason": f"watch over, waiting for evidence; gate {result.verdict}: {result.reason}"}
    return {"status": "wait", "reason": f"watching; latest gate {result.verdict}: {result.reason}"}
