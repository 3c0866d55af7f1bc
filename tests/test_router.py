"""Sticky bucketing (Unleash-compatible) and the pure routing decision."""

import pytest

from rollout import stages
from rollout.bucketing import bucket, in_rollout
from rollout.router import GOOGLE, OPENSOURCE, RequestContext, decide
from rollout.stages import Snapshot

# pure logic in seconds: the staging unit suite runs these in the deployed environment
pytestmark = pytest.mark.unit


def test_bucket_matches_unleash_specification_vectors():
    # Unleash client-specification: normalizedValue("123", "gr1") = 73, ("999", "groupX") = 25.
    assert bucket("123", "gr1") == 73
    assert bucket("999", "groupX") == 25


def test_buckets_are_uniform_and_sticky():
    users = [f"user-{i}" for i in range(20000)]
    for pct in (5, 15, 35, 60, 85):
        share = sum(in_rollout(u, pct) for u in users) / len(users)
        assert abs(share - pct / 100) < 0.015, pct
    # a user in at p stays in at every higher p: nobody flips back while the percentage grows
    for u in users[:2000]:
        seen = [in_rollout(u, p) for p in stages.STAGE_PERCENTAGES]
        assert seen == sorted(seen)
    assert not any(in_rollout(u, 0) for u in users) and all(in_rollout(u, 100) for u in users)


def at(pct: int, **flags) -> Snapshot:
    snap = stages.advance(Snapshot(), percentage=pct) if pct else Snapshot()
    return snap.with_flags(**flags) if flags else snap


def test_decision_order():
    ctx = RequestContext(user_id="123")
    maintenance = stages.maintenance_on(at(100), "database upgrade")
    d = decide(ctx, maintenance)
    assert d.engine is None and d.retry_after_s and "database upgrade" in d.reason
    assert decide(ctx, at(0, force_opensource_for_testing=True)).engine == OPENSOURCE
    assert decide(ctx, at(0)).engine == GOOGLE
    assert decide(ctx, stages.disable_google(at(100))).engine == OPENSOURCE
    assert decide(ctx, at(35, gradual_rollout_enabled=False)).engine == OPENSOURCE


def test_bucket_decides_between_stages():
    b = bucket("123")
    assert decide(RequestContext("123"), at(b)).engine == OPENSOURCE
    below = decide(RequestContext("123"), at(b - 1))
    assert below.engine == GOOGLE and below.bucket == b and below.reason == f"bucket {b} > {b - 1} %"


def test_tenant_is_the_fallback_stickiness_key_and_no_id_means_baseline():
    snap = at(60)
    assert decide(RequestContext(tenant_id="acme"), snap).bucket == bucket("acme")
    assert decide(RequestContext(user_id="u1", tenant_id="acme"), snap).bucket == bucket("u1")
    anonymous = decide(RequestContext(), snap)
    assert anonymous.engine == GOOGLE and anonymous.bucket is None


@pytest.mark.parametrize("pct", [5, 35, 85])
def test_router_share_follows_the_percentage(pct):
    snap = at(pct)
    share = sum(decide(RequestContext(f"u{i}"), snap).engine == OPENSOURCE for i in range(10000)) / 10000
    assert abs(share - pct / 100) < 0.02
