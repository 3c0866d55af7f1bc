"""An OpenFeature provider backed by the same flag snapshot as the router.

The invoicing application evaluates ``use_opensource_ocr`` for a user with the standard SDK and
gets exactly the router's answer (the targeting key is the user id; ``tenantId`` is the fallback
stickiness attribute, as in the service). The other seed flags resolve to their stored values;
``rollout_percentage`` is an integer flag.

    from openfeature import api
    api.set_provider(OcrMigrateProvider(reader.get))
    api.get_client().get_boolean_value("use_opensource_ocr", False, EvaluationContext("user-123"))
"""

from __future__ import annotations

from typing import Any, Callable

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import FlagNotFoundError, TypeMismatchError
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from .router import OPENSOURCE, RequestContext, decide
from .stages import BOOLEAN_FLAGS, FLAG_NAMES, Snapshot

ROUTED_FLAG = "use_opensource_ocr"


class OcrMigrateProvider(AbstractProvider):
    def __init__(self, snapshot_source: Callable[[], Snapshot]):
        super().__init__()
        self.snapshot_source = snapshot_source

    def get_metadata(self) -> Metadata:
        return Metadata(name="ocr-migrate")

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        snap = self.snapshot_source()
        if flag_key == ROUTED_FLAG:
            ctx = evaluation_context or EvaluationContext()
            attrs = ctx.attributes or {}
            decision = decide(RequestContext(ctx.targeting_key or attrs.get("userId"), attrs.get("tenantId")), snap)
            on = decision.engine == OPENSOURCE
            return FlagResolutionDetails(
                value=on, variant="on" if on else "off",
                reason=Reason.SPLIT if decision.bucket is not None else Reason.STATIC,
                flag_metadata={"engine": decision.engine or "", "reason": decision.reason,
                               "bucket": decision.bucket if decision.bucket is not None else -1,
                               "percentage": decision.percentage, "version": snap.version})
        if flag_key not in BOOLEAN_FLAGS:
            raise self._error(flag_key, BOOLEAN_FLAGS, "boolean")
        return FlagResolutionDetails(value=bool(snap.flag(flag_key)), reason=Reason.STATIC,
                                     flag_metadata={"version": snap.version})

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        if flag_key != "rollout_percentage":
            raise self._error(flag_key, ("rollout_percentage",), "integer")
        snap = self.snapshot_source()
        return FlagResolutionDetails(value=snap.percentage, reason=Reason.STATIC, flag_metadata={"version": snap.version})

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        raise self._error(flag_key, (), "string")

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        raise self._error(flag_key, (), "float")

    def resolve_object_details(self, flag_key: str, default_value: Any,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[Any]:
        raise self._error(flag_key, (), "object")

    @staticmethod
    def _error(flag_key: str, names, kind: str) -> Exception:
        """The OpenFeature error for a flag this type cannot resolve (the SDK returns the default)."""
        if flag_key not in FLAG_NAMES:
            return FlagNotFoundError(f"{flag_key!r} is not an ocr-migrate flag ({', '.join(FLAG_NAMES)})")
        return TypeMismatchError(f"{flag_key} is not a {kind} flag")
