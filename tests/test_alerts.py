"""Alerts: recommendations from gate results, de-duplication, resolution, the post-cutover query,
and webhook delivery with retries against a real local HTTP server."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from rollout.db import make_db, upgrade
from rollout.health.alerts import (CRITICAL, WARNING, Alert, AlertStore, WebhookNotifier, alerts_from_gate)
from rollout.health.gates import Samples, decide
from tests.servers import Hook, free_port


def samples(engine, n, failures=0):
    ok = n - failures
    return Samples(engine, n, failures, np.linspace(800, 1200, ok), np.linspace(0.9, 0.95, ok))


def test_critical_gate_failure_recommends_rolling_back_one_stage():
    result = decide(samples("tesseract", 100, 12), samples("documentai", 600, 6))
    result.stage = 3
    alerts = alerts_from_gate(result)
    critical = [a for a in alerts if a.severity == CRITICAL]
    assert len(critical) == 1
    assert critical[0].message == "error rate 12.0 % > critical 10.0 % (n=100) at stage 3"
    assert critical[0].recommendation == "roll back to stage 2" and critical[0].key == "error_rate:tesseract"


def test_not_yet_significant_breach_is_a_warning_to_hold():
    result = decide(samples("tesseract", 80, 5), samples("documentai", 600, 30))  # 6.25 %, n=80 >= 50
    result.stage = 2
    (alert,) = alerts_from_gate(result)
    assert alert.severity == WARNING and alert.recommendation == "hold at stage 2 until the gate decides"
    assert alerts_from_gate(decide(samples("tesseract", 300), samples("documentai", 900))) == []


def migrated(url: str):
    """The database at the schema's head, as the service's start leaves it."""
    db = make_db(url)
    upgrade(db)
    return db


@pytest.fixture
def store(db_url):
    sent = []

    class Recorder:
        name = "recorder"

        def send(self, alert):
            sent.append(alert)
            return True

    s = AlertStore(migrated(db_url), [Recorder()])
    s.sent = sent
    return s


def alert(severity=CRITICAL, key="error_rate:tesseract", message="error rate 12 % > critical 10 % at stage 3"):
    return Alert(key, severity, message, "roll back to stage 2", stage=3)


def test_alerts_are_deduplicated_and_resolved(store):
    assert len(store.process([alert()])) == 1
    assert store.process([alert(message="error rate 13 % > critical 10 % at stage 3")]) == []  # same key: bumped
    rows = store.recent()
    assert len(rows) == 1 and rows[0]["count"] == 2 and rows[0]["message"].startswith("error rate 13 %")
    assert len(store.sent) == 1 and rows[0]["notified"]  # notified once, when raised
    store.process([])  # the condition cleared
    assert store.recent(open_only=True) == [] and store.recent()[0]["resolved"]
    assert len(store.process([alert()])) == 1  # a new occurrence is a new alert
    assert len(store.recent()) == 2 and len(store.sent) == 2


def test_severity_change_raises_a_new_alert(store):
    store.process([alert(severity=WARNING)])
    raised = store.process([alert(severity=CRITICAL)])
    assert [a["severity"] for a in raised] == [CRITICAL]
    open_rows = store.recent(open_only=True)
    assert [r["severity"] for r in open_rows] == [CRITICAL]


def test_no_critical_alert_since_is_a_query(store):
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert store.critical_since(before) == []
    store.process([alert(severity=WARNING, key="latency:tesseract")], source="monitor")
    assert store.critical_since(before) == []
    store.process([alert()])
    assert [a["key"] for a in store.critical_since(before)] == ["error_rate:tesseract"]
    assert store.critical_since(datetime.now(timezone.utc) + timedelta(hours=1)) == []


@pytest.fixture
def hook(request):
    h = Hook(request.param)
    yield h
    h.close()


@pytest.mark.parametrize("hook", [[503, 429, 200]], indirect=True)
def test_webhook_retries_server_errors_then_delivers(hook):
    assert WebhookNotifier(hook.url, retries=3, backoff_s=0.01).send(alert().as_dict())
    assert len(hook.received) == 3
    assert hook.received[-1]["severity"] == CRITICAL and "roll back to stage 2" in hook.received[-1]["text"]


@pytest.mark.parametrize("hook", [[503, 503, 503, 503]], indirect=True)
def test_webhook_gives_up_after_its_retries(hook):
    assert not WebhookNotifier(hook.url, retries=2, backoff_s=0.01).send(alert().as_dict())
    assert len(hook.received) == 3  # the first attempt and two retries


@pytest.mark.parametrize("hook", [[400]], indirect=True)
def test_webhook_does_not_retry_a_client_error(hook):
    assert not WebhookNotifier(hook.url, retries=3, backoff_s=0.01).send(alert().as_dict())
    assert len(hook.received) == 1


def test_webhook_unreachable_is_not_an_exception_and_the_alert_stays_unnotified(db_url):
    notifier = WebhookNotifier(f"http://127.0.0.1:{free_port()}/hook", retries=1, backoff_s=0.01)
    store = AlertStore(migrated(db_url), [notifier])
    assert len(store.process([alert()])) == 1
    assert store.recent()[0]["notified"] is False  # kept, to be seen in the UI and the report


def test_resolve_closes_open_alerts_by_key(store):
    store.process([alert(key="rollback:15")], source="migration", resolve_missing=False)
    assert store.resolve(["rollback:15", "rollback:35"]) == 1
    assert store.recent(open_only=True) == [] and store.resolve(["rollback:15"]) == 0
