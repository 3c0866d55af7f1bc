"""The rollout actions, once: name → pure transition (``stages``) and its parameters.

The CLI verbs, the service's admin API, the ``ocr_emergency`` DAG and the migration DAG's tasks
all change the rollout through :func:`apply_action`, which looks the action up here and applies it
through ``FlagStore.apply`` (one audited compare-and-set write path; ``expect_version`` makes a
change decided on an older state a conflict). Each action has one spelling, hyphenated
(``maintenance-on``); the underscore spellings are accepted as aliases (``ocr_emergency``'s Param).

| action | parameters | what it does |
| --- | --- | --- |
| advance | percentage (optional) | the next stage, or a given percentage above the current one |
| rollback | | the previous stage; Google on again |
| enable | | 100 % open source |
| disable | | everyone back to Google |
| maintenance-on | (the reason is the message users see) | OCR answers 503 + Retry-After |
| maintenance-off | | OCR served again |
| disable-google | force (optional) | Google off (only at 100 %, unless forced: audited as forced) |
| set-flag | name, value | a plain on/off flag |
| set-percentage | percentage | exactly this percentage, either way (the migration DAG's stages) |
| restore | state (a stored snapshot dict) | a saved state back (``rollback_cutover.sh``) |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import stages
from .stages import InvalidTransition, Snapshot


@dataclass(frozen=True)
class Action:
    name: str
    summary: str
    transition: Callable[..., Snapshot]  # (snapshot, **params) -> snapshot; pure
    params: tuple[str, ...] = ()  # the keyword parameters it takes (all optional unless required)
    required: tuple[str, ...] = ()
    message_is_reason: bool = False  # the change's reason is also the transition's text (maintenance)
    audit: Callable[[dict], str] | None = None  # the audit log's action name, from the parameters

    def audit_name(self, params: dict) -> str:
        return self.audit(params) if self.audit else self.name


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("advance", "Next stage, or a given percentage", stages.advance, ("percentage",)),
    Action("rollback", "Previous stage", stages.rollback),
    Action("enable", "100 % open source", stages.enable),
    Action("disable", "Everyone back to Google", stages.disable),
    Action("maintenance-on", "Refuse OCR with 503 + Retry-After", stages.maintenance_on, ("reason",),
           message_is_reason=True),
    Action("maintenance-off", "Serve OCR again", stages.maintenance_off),
    Action("disable-google", "Switch Google Cloud off", stages.disable_google, ("force",),
           audit=lambda p: "disable-google-forced" if p.get("force") else "disable-google"),
    Action("set-flag", "Turn a plain on/off flag on or off", stages.set_flag, ("name", "value"), ("name", "value"),
           audit=lambda p: f"set-flag {p['name']}"),
    Action("set-percentage", "Exactly this percentage, up or down", stages.move_to, ("percentage",), ("percentage",)),
    Action("restore", "Put back a saved rollout state", stages.restore, ("state",), ("state",)),
)}
ALIASES = {name.replace("-", "_"): name for name in ACTIONS if "-" in name}


def action(name: str) -> Action:
    """The action called ``name`` (or its underscore alias); InvalidTransition for any other."""
    found = ACTIONS.get(ALIASES.get(name, name)) if isinstance(name, str) else None
    if found is None:
        raise InvalidTransition(f"unknown action {name!r}; one of {', '.join(ACTIONS)}")
    return found


def apply_action(store, name: str, actor: str, reason: str, /, *, expect_version: int | None = None,
                 based_on: Snapshot | None = None, **params: Any) -> Snapshot:
    """Apply the named action (audited; refused and conflicting changes too): the one way the
    CLI, the admin API and the Airflow tasks change the rollout."""
    act = action(name)
    unknown = set(params) - set(act.params)
    if unknown:
        raise InvalidTransition(f"{act.name} takes {', '.join(act.params) or 'no parameters'}, "
                                f"not {', '.join(sorted(unknown))}")
    missing = [p for p in act.required if params.get(p) is None]
    if missing:
        raise InvalidTransition(f"{act.name} needs {', '.join(missing)}")
    given = {k: v for k, v in params.items() if v is not None}
    if act.message_is_reason:
        given["reason"] = reason
    return store.apply(act.audit_name(given), actor, reason, lambda snap: act.transition(snap, **given),
                       based_on=based_on, expect_version=expect_version)
