"""The rollout plan and its transitions, as pure functions of the flag snapshot.

Stages (docs/architecture.md): 0 = Google only, then 5, 15, 35, 60, 85 and 100 % open source. Every
transition takes a snapshot and returns the next one, or raises ``InvalidTransition`` with a
message an operator can act on; storing, auditing and distributing it is ``flags.FlagStore``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

STAGE_PERCENTAGES = (0, 5, 15, 35, 60, 85, 100)
FLAG_NAMES = (
    "use_opensource_ocr", "disable_google_cloud", "gradual_rollout_enabled", "rollout_percentage",
    "enable_performance_monitoring", "enable_accuracy_comparison", "collect_ocr_metrics", "maintenance_mode",
    "force_opensource_for_testing",
)
BOOLEAN_FLAGS = tuple(name for name in FLAG_NAMES if name != "rollout_percentage")
DEFAULT_FLAGS = {
    "use_opensource_ocr": False, "disable_google_cloud": False, "gradual_rollout_enabled": True,
    "enable_performance_monitoring": True, "enable_accuracy_comparison": False, "collect_ocr_metrics": True,
    "maintenance_mode": False, "force_opensource_for_testing": False,
}


class InvalidTransition(ValueError):
    """The requested change is not allowed from the current state; nothing was changed."""


@dataclass(frozen=True)
class Snapshot:
    """The whole rollout state at one version: what every router decision reads."""

    version: int = 0
    stage: int = 0
    percentage: int = 0
    flags: dict = field(default_factory=lambda: dict(DEFAULT_FLAGS))
    maintenance_reason: str = ""

    def flag(self, name: str) -> bool | int:
        if name == "rollout_percentage":
            return self.percentage
        if name not in BOOLEAN_FLAGS:
            raise InvalidTransition(f"unknown flag {name!r}; flags are: {', '.join(FLAG_NAMES)}")
        return bool(self.flags.get(name, DEFAULT_FLAGS[name]))

    def as_dict(self) -> dict:
        return {"version": self.version, "stage": self.stage, "percentage": self.percentage,
                "flags": {name: self.flag(name) for name in FLAG_NAMES},
                "maintenance_reason": self.maintenance_reason}

    @classmethod
    def from_dict(cls, data: dict) -> "Snapshot":
        flags = {k: bool(v) for k, v in data.get("flags", {}).items() if k in BOOLEAN_FLAGS}
        return cls(version=int(data.get("version", 0)), stage=int(data["stage"]), percentage=int(data["percentage"]),
                   flags={**DEFAULT_FLAGS, **flags}, maintenance_reason=data.get("maintenance_reason", ""))

    def with_flags(self, **changes) -> "Snapshot":
        return replace(self, flags={**self.flags, **changes})


def stage_for(percentage: int) -> int:
    """The highest stage whose percentage does not exceed ``percentage``."""
    return max(i for i, p in enumerate(STAGE_PERCENTAGES) if p <= percentage)


def checked_percentage(percentage) -> int:
    """A rollout percentage as given by an operator, API body or task: a whole number 0-100.
    7.5, '7', True or [5] are refused, not rounded: every store (SQL, Redis, the router) must
    hold the same value."""
    if isinstance(percentage, bool) or not isinstance(percentage, int):
        raise InvalidTransition(f"percentage must be a whole number between 0 and 100, not {percentage!r}")
    if not 0 <= percentage <= 100:
        raise InvalidTransition(f"percentage must be between 0 and 100, not {percentage}")
    return percentage


def checked_bool(name: str, value) -> bool:
    """A flag value: a real boolean ('false' is a string, and not false)."""
    if not isinstance(value, bool):
        raise InvalidTransition(f"{name} must be true or false, not {value!r}")
    return value


def checked_text(name: str, value: str) -> str:
    """Text an operator gives (a reason, a maintenance message): no NUL and no lone surrogate,
    which no database column can store."""
    if any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in value):
        raise InvalidTransition(f"{name} holds a NUL or an unpaired surrogate, which cannot be stored")
    return value


def _at(snap: Snapshot, percentage: int) -> Snapshot:
    percentage = checked_percentage(percentage)
    moved = replace(snap, percentage=percentage, stage=stage_for(percentage))
    return moved.with_flags(use_opensource_ocr=percentage > 0)


def move_to(snap: Snapshot, percentage: int) -> Snapshot:
    """To exactly ``percentage``, up or down (Google on again below 100 %): a migration stage."""
    moved = _at(snap, percentage)
    return moved.with_flags(disable_google_cloud=False) if moved.percentage < 100 else moved


MAX_REASON_CHARS = 2000
_STATE_KEYS = ("version", "stage", "percentage", "flags", "maintenance_reason")


def stored_snapshot(data) -> Snapshot:
    """A whole rollout state read from outside the flag database (the Redis copy readers get, a
    backup file), trusted only after the checks every change passes: a JSON object of exactly
    the state's keys, whole numbers that are numbers (not true, 7.5 or '7'), the percentage 0-100
    and its stage, real booleans for the flags ('false' is a string, not false), a reason without
    NUL, and no Google switched off below 100 %. Raises ``InvalidTransition`` saying what is wrong."""
    if not isinstance(data, dict):
        raise InvalidTransition(f"a rollout state is a JSON object, not {type(data).__name__}")
    missing = [k for k in ("stage", "percentage", "flags") if k not in data]
    unknown = sorted(set(data) - set(_STATE_KEYS))
    if missing or unknown:
        raise InvalidTransition(f"not a rollout state: {'missing ' + ', '.join(missing) if missing else ''}"
                                f"{'; ' if missing and unknown else ''}"
                                f"{'unknown keys ' + ', '.join(map(str, unknown[:5])) if unknown else ''}")
    version = data.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidTransition(f"version must be a whole number >= 0, not {version!r}")
    percentage = checked_percentage(data["percentage"])
    stage = data["stage"]
    if isinstance(stage, bool) or not isinstance(stage, int) or stage != stage_for(percentage):
        raise InvalidTransition(f"inconsistent state: stage {stage!r} at {percentage} %")
    flags = data["flags"]
    if not isinstance(flags, dict):
        raise InvalidTransition(f"flags must be an object, not {type(flags).__name__}")
    unknown_flags = sorted(set(flags) - set(FLAG_NAMES))
    if unknown_flags:
        raise InvalidTransition(f"unknown flags: {', '.join(map(str, unknown_flags[:5]))}")
    if "rollout_percentage" in flags and flags["rollout_percentage"] != percentage:
        raise InvalidTransition(f"flags.rollout_percentage {flags['rollout_percentage']!r} is not the "
                                f"percentage {percentage}")
    booleans = {name: checked_bool(name, value) for name, value in flags.items() if name in BOOLEAN_FLAGS}
    reason = data.get("maintenance_reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
        raise InvalidTransition(f"maintenance_reason must be text of at most {MAX_REASON_CHARS} characters")
    snap = Snapshot(version=version, stage=stage, percentage=percentage, flags={**DEFAULT_FLAGS, **booleans},
                    maintenance_reason=checked_text("maintenance_reason", reason))
    if snap.flag("disable_google_cloud") and snap.percentage < 100:
        raise InvalidTransition("the state disables Google below 100 %")
    return snap


def restore_check(state: dict) -> Snapshot:
    """A stored state (a backup), trusted only after the same checks as any change."""
    return stored_snapshot(state)


def restore(snap: Snapshot, state: dict) -> Snapshot:
    """The stored ``state`` back, as the next version of ``snap``, keeping the current maintenance
    mode and its message: a rollback script must not switch maintenance off (or on) behind the
    operator's back; that is its own action."""
    restored = restore_check(state)
    return replace(restored.with_flags(maintenance_mode=snap.flag("maintenance_mode")), version=snap.version,
                   maintenance_reason=snap.maintenance_reason)


def advance(snap: Snapshot, percentage: int | None = None) -> Snapshot:
    """To the next stage, or to a given percentage above the current one."""
    if percentage is None:
        if snap.stage >= len(STAGE_PERCENTAGES) - 1:
            raise InvalidTransition("already at the last stage (100 % open source)")
        return _at(snap, STAGE_PERCENTAGES[snap.stage + 1])
    percentage = checked_percentage(percentage)
    if percentage <= snap.percentage:
        raise InvalidTransition(f"advance goes up from {snap.percentage} %; use rollback to go down to {percentage} %")
    return _at(snap, percentage)


def rollback(snap: Snapshot) -> Snapshot:
    """To the previous stage (a percentage between stages rolls back to the stage below it)."""
    if snap.percentage == 0:
        raise InvalidTransition("already at stage 0 (Google only); nothing to roll back")
    target = snap.stage - 1 if snap.percentage == STAGE_PERCENTAGES[snap.stage] else snap.stage
    moved = _at(snap, STAGE_PERCENTAGES[target])
    return moved.with_flags(disable_google_cloud=False)  # going back needs Google again


def enable(snap: Snapshot) -> Snapshot:
    """100 % open source."""
    return _at(snap, 100)


def disable(snap: Snapshot) -> Snapshot:
    """Back to Google for everyone."""
    return _at(snap, 0).with_flags(disable_google_cloud=False, force_opensource_for_testing=False)


def maintenance_on(snap: Snapshot, reason: str) -> Snapshot:
    if not reason.strip():
        raise InvalidTransition("maintenance mode needs a reason (users see it in the 503 response)")
    return replace(snap.with_flags(maintenance_mode=True), maintenance_reason=reason.strip())


def maintenance_off(snap: Snapshot) -> Snapshot:
    if not snap.flag("maintenance_mode"):
        raise InvalidTransition("maintenance mode is already off")
    return replace(snap.with_flags(maintenance_mode=False), maintenance_reason="")


def disable_google(snap: Snapshot, force: bool = False) -> Snapshot:
    """Switch Google off: only when open source serves everyone, unless forced (and audited)."""
    if snap.percentage < 100 and not checked_bool("force", force):
        raise InvalidTransition(f"open source serves {snap.percentage} %, not 100 %: disabling Google would "
                                "leave users without OCR; advance to 100 % first or pass --force")
    return snap.with_flags(disable_google_cloud=True)


def set_flag(snap: Snapshot, name: str, value: bool) -> Snapshot:
    """Plain on/off flags; the ones with rules go through their own transitions."""
    guarded = {"rollout_percentage": "advance/rollback", "use_opensource_ocr": "advance/enable/disable",
               "disable_google_cloud": "disable-google", "maintenance_mode": "maintenance-on/off"}
    snap.flag(name)  # unknown names raise
    if name in guarded:
        raise InvalidTransition(f"{name} is changed with {guarded[name]}, which keep the rollout consistent")
    return snap.with_flags(**{name: checked_bool(name, value)})
