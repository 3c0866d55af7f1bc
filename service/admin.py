"""/v1/admin/flags: the rollout state, and one POST route per action of the registry
(``actions.ACTIONS``), changing flags as the CLI does; admin keys only."""

from __future__ import annotations

import inspect

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from starlette.concurrency import run_in_threadpool

from rollout import stages
from rollout.actions import ACTIONS
from rollout.flags import StoreUnavailableError
from .state import Admin, ServiceState, State, error


REFUSALS = {409: {"description": "refused by the rollout rules, or decided on another version (conflict)"},
            422: {"description": "the body is not valid (types, ranges, unknown fields)"}}


def get_flags(state: State, name: Admin):
    return state.reader.get().as_dict()


async def change(state: ServiceState, action: str, name: str, body: "ChangeBody", /, **params) -> Response:
    """``actions.apply_action`` for an admin: refusals and conflicts 409, no store 503."""
    from rollout.actions import apply_action
    from rollout.flags import ConcurrentUpdateError

    store = state.store
    if store is None:
        return error(503, "read_only", "this service instance has no flag store")
    try:
        snap = await run_in_threadpool(lambda: apply_action(store, action, f"api:{name}", body.reason,
                                                            expect_version=body.expect_version, **params))
    except stages.InvalidTransition as exc:
        return error(409, "refused", str(exc))
    except ConcurrentUpdateError as exc:
        return error(409, "concurrent_update", str(exc))
    except StoreUnavailableError as exc:
        return error(503, "flag_store_unavailable", str(exc), {"Retry-After": "5"})
    return JSONResponse(snap.as_dict())


def _apply(action: str, model: type[ChangeBody]):
    """The route of one action: the body's own fields (beyond ChangeBody's) are the action's
    parameters. Its signature names ``model``, the body FastAPI validates and documents."""
    async def apply(body, state, name):
        return await change(state, action, name, body, **body.model_dump(exclude=set(ChangeBody.model_fields)))

    keyword = inspect.Parameter.KEYWORD_ONLY
    apply.__signature__ = inspect.Signature([inspect.Parameter("body", keyword, annotation=model),
                                             inspect.Parameter("state", keyword, annotation=State),
                                             inspect.Parameter("name", keyword, annotation=Admin)])
    return apply


def admin_router() -> APIRouter:
    """``GET /v1/admin/flags`` and ``POST /v1/admin/flags/<action>`` for every action of the
    registry (``actions.ACTIONS``), made when the app is: an action whose parameters its body
    cannot carry stops the service at start, not at the first request."""
    router = APIRouter(prefix="/v1/admin")
    router.get("/flags", summary="Current rollout state")(get_flags)
    for action, act in ACTIONS.items():
        model = ACTION_BODIES.get(action, ChangeBody)
        given = set(model.model_fields) - set(ChangeBody.model_fields)
        if not given <= set(act.params) <= set(model.model_fields):
            raise RuntimeError(f"the admin API's body for {action} ({model.__name__}) does not give its "
                               f"parameters ({', '.join(act.params) or 'none'})")
        router.post(f"/flags/{action}", name=action.replace("-", "_"), summary=act.summary,
                    responses=REFUSALS)(_apply(action, model))
    return router


class ChangeBody(BaseModel):
    """What every rollout change carries: why, and (optionally) the state version it was decided
    on; from any other version the change is refused as a conflict (409), and audited."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="kept in the audit log")
    expect_version: StrictInt | None = Field(default=None, ge=0, le=2**31 - 1, description="the version you decided on")

    @field_validator("reason")
    @classmethod
    def _storable(cls, value: str) -> str:
        return stages.checked_text("reason", value)


class AdvanceBody(ChangeBody):
    percentage: StrictInt | None = Field(default=None, ge=0, le=100,
                                         description="a whole percentage above the current one; default: next stage")


class DisableGoogleBody(ChangeBody):
    force: StrictBool = Field(default=False, description="even below 100 % (audited as forced)")


class SetPercentageBody(ChangeBody):
    percentage: StrictInt = Field(ge=0, le=100, description="the whole percentage to move to, up or down")


class RestoreBody(ChangeBody):
    state: dict = Field(description="a stored rollout state (a pre-cutover backup's 'state')")


class SetFlagBody(ChangeBody):
    name: str = Field(pattern=r"^[a-z_]{1,40}$", description="a plain on/off flag, e.g. enable_accuracy_comparison")
    value: StrictBool


# the body of each action that takes parameters; the others take a ChangeBody
ACTION_BODIES: dict[str, type[ChangeBody]] = {
    "advance": AdvanceBody, "disable-google": DisableGoogleBody, "set-flag": SetFlagBody,
    "set-percentage": SetPercentageBody, "restore": RestoreBody,
}
