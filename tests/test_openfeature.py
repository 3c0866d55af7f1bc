"""The standard OpenFeature SDK, through our provider, answers exactly as the router does."""

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import ErrorCode

from rollout import stages
from rollout.openfeature_provider import OcrMigrateProvider
from rollout.router import OPENSOURCE, RequestContext, decide
from rollout.stages import Snapshot


@pytest.fixture
def client():
    state = {"snap": stages.advance(Snapshot(), percentage=35)}
    api.set_provider(OcrMigrateProvider(lambda: state["snap"]))
    yield api.get_client(), state
    api.shutdown()


def test_same_answer_as_the_router_for_every_user(client):
    c, state = client
    for i in range(2000):
        user = f"user-{i}"
        expected = decide(RequestContext(user), state["snap"]).engine == OPENSOURCE
        assert c.get_boolean_value("use_opensource_ocr", not expected, EvaluationContext(user)) is expected
    details = c.get_boolean_details("use_opensource_ocr", False, EvaluationContext("user-1"))
    assert details.reason == "SPLIT" and details.flag_metadata["percentage"] == 35


def test_tenant_attribute_and_flag_changes(client):
    c, state = client
    by_tenant = c.get_boolean_value("use_opensource_ocr", False, EvaluationContext(attributes={"tenantId": "acme"}))
    assert by_tenant is (decide(RequestContext(tenant_id="acme"), state["snap"]).engine == OPENSOURCE)
    state["snap"] = stages.enable(state["snap"])
    assert c.get_boolean_value("use_opensource_ocr", False, EvaluationContext("anyone")) is True
    assert c.get_integer_value("rollout_percentage", 0) == 100
    assert c.get_boolean_value("collect_ocr_metrics", False) is True


def test_unknown_flags_and_wrong_types_return_the_default_with_an_error(client):
    c, _ = client
    details = c.get_boolean_details("no_such_flag", True)
    assert details.value is True and details.error_code == ErrorCode.FLAG_NOT_FOUND
    details = c.get_string_details("maintenance_mode", "x")
    assert details.value == "x" and details.error_code == ErrorCode.TYPE_MISMATCH
