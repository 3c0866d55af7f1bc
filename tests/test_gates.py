"""Gate logic on constructed windows: each verdict with its reason, INCONCLUSIVE on empty and sparse
data, the same verdict from PostgreSQL and SQLite, and the statistics against known values."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import create_engine

from rollout.events import EventWriter
from rollout.health import stats
from rollout.health.gates import FAIL, INCONCLUSIVE, PASS, Samples, decide, evaluate_gate, gate_history
from rollout.health.simulate import SCENARIOS, Behaviour
from rollout.health.thresholds import ThresholdError, Thresholds

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def samples(engine, n, failures=0, duration=1000.0, confidence=0.92, spread=True):
    ok = n - failures
    durations = np.full(ok, duration) * (np.linspace(0.8, 1.2, ok) if spread and ok else 1)
    confidences = np.clip(np.full(ok, confidence) + (np.linspace(-0.03, 0.03, ok) if spread and ok else 0), 0, 1)
    return Samples(engine, n, failures, durations, confidences, {"OcrTimeoutError": failures} if failures else {})


def check(result, name):
    return next(c for c in result.checks if c.name == name)


def test_healthy_canary_with_enough_documents_passes():
    r = decide(samples("tesseract", 400, 4), samples("documentai", 2000, 20))
    assert r.verdict == PASS, r.reason
    assert {c.name for c in r.checks} >= {"error_rate", "processing_time_p95", "confidence_mean",
                                           "error_rate_vs_baseline", "latency_vs_baseline", "confidence_vs_baseline",
                                           "evidence"}
    assert (r.canary_documents, r.baseline_documents) == (400, 2000) and r.thresholds["max_error_rate"] == 0.05
    assert "400 canary / 2000 baseline documents" in r.reason


@pytest.mark.parametrize("canary,baseline,why", [
    (Samples("tesseract"), samples("documentai", 500), "no tesseract documents"),
    (samples("tesseract", 30), samples("documentai", 500), "30 canary documents < 60 needed (rule of three"),
    (samples("tesseract", 200), Samples("documentai"), "no documentai documents to compare with"),
])
def test_missing_or_sparse_data_is_inconclusive_never_pass(canary, baseline, why):
    r = decide(canary, baseline)
    assert r.verdict == INCONCLUSIVE and why in r.reason


def test_rule_of_three_sets_the_minimum():
    assert Thresholds().required_documents == 60          # 3 / 0.05
    assert Thresholds(max_error_rate=0.01).required_documents == 300
    assert Thresholds(min_documents=500).required_documents == 500
    assert decide(samples("tesseract", 59), samples("documentai", 500)).verdict == INCONCLUSIVE
    assert decide(samples("tesseract", 60), samples("documentai", 500)).verdict == PASS


def test_critical_error_rate_fails_at_once_once_the_minimum_is_met():
    # 6 failures in 49: above 10 % but below the critical minimum of 50 documents
    early = decide(samples("tesseract", 49, 6), samples("documentai", 49, 6))
    assert early.verdict == INCONCLUSIVE and not early.critical
    r = decide(samples("tesseract", 50, 6), samples("documentai", 50, 6))  # the baseline is as bad: no matter
    assert r.verdict == FAIL and r.critical and r.reason.startswith("error rate 12.0 % > critical 10.0 % (n=50)")


def test_warning_threshold_fails_only_when_significant():
    base = samples("documentai", 5000, 300)  # the baseline is as bad: the absolute threshold still judges
    assert decide(samples("tesseract", 200, 13), base).verdict == INCONCLUSIVE   # 6.5 %: could be luck
    r = decide(samples("tesseract", 2000, 180), base)                             # 9 % of 2000: it is not
    assert r.verdict == FAIL and check(r, "error_rate").verdict == FAIL and not r.critical


def test_error_rate_regression_against_the_baseline():
    r = decide(samples("tesseract", 400, 19), samples("documentai", 4000, 40))  # 4.75 % vs 1 %
    assert r.verdict == FAIL and check(r, "error_rate_vs_baseline").verdict == FAIL
    assert check(r, "error_rate").verdict == PASS  # under the absolute 5 %: only the comparison caught it
    assert "always-valid p=" in r.reason


def test_slow_canary_fails_beyond_the_latency_tolerance_only():
    base = samples("documentai", 2000, duration=1000)
    assert decide(samples("tesseract", 300, duration=1300), base).verdict == PASS  # 30 % slower: tolerated
    r = decide(samples("tesseract", 300, duration=2000), base)
    assert r.verdict == FAIL and check(r, "latency_vs_baseline").verdict == FAIL and "Mann-Whitney" in r.reason


def test_processing_time_thresholds():
    r = decide(samples("tesseract", 100, duration=70_000, spread=False), samples("documentai", 500, duration=70_000))
    assert r.verdict == FAIL and r.critical and "critical 60 s" in r.reason


def test_low_confidence_canary_fails():
    r = decide(samples("tesseract", 300, confidence=0.84), samples("documentai", 2000, confidence=0.93))
    assert r.verdict == FAIL and check(r, "confidence_vs_baseline").verdict == FAIL
    r = decide(samples("tesseract", 300, confidence=0.70), samples("documentai", 2000, confidence=0.72))
    assert r.verdict == FAIL and check(r, "confidence_mean").verdict == FAIL  # below the absolute 0.80


def test_no_baseline_is_fine_at_100_percent():
    assert decide(samples("tesseract", 300), Samples("documentai"), require_baseline=False).verdict == PASS


def test_thresholds_are_validated():
    with pytest.raises(ThresholdError, match="unknown threshold"):
        Thresholds.from_mapping({"max_eror_rate": 0.1})
    with pytest.raises(ThresholdError, match="between 0 and 1"):
        Thresholds.from_mapping({"max_error_rate": 1.5})
    with pytest.raises(ThresholdError, match="must be a number"):
        Thresholds.from_mapping({"max_error_rate": "lots"})
    with pytest.raises(ThresholdError, match="at least as loose"):
        Thresholds(critical_error_rate=0.01)
    assert Thresholds.from_mapping({"min_documents": "200"}).min_documents == 200


def test_statistics_against_known_values():
    lo, hi = stats.wilson_interval(0, 60)
    assert lo == 0 and hi == pytest.approx(0.0602, abs=1e-3)
    assert stats.mcnemar(0, 0) == 1.0 and stats.mcnemar(10, 0) == pytest.approx(2 / 1024)
    lo, hi = stats.newcombe_interval(56, 70, 48, 80)  # Newcombe (1998) table II example: 0.0524 to 0.3339
    assert (lo, hi) == (pytest.approx(0.0524, abs=1e-3), pytest.approx(0.3339, abs=1e-3))
    same = stats.msprt_proportions(20, 1000, 20, 1000, alpha=0.005)
    assert same.p_value == 1.0 and same.ci_low < 0 < same.ci_high
    worse = stats.msprt_proportions(70, 1000, 20, 1000, alpha=0.005)
    assert worse.p_value < 1e-4 and worse.ci_low > 0


def test_sequential_gate_false_alarm_rate_on_a_small_aa_simulation():
    """A/A traffic looked at every 25 documents up to 500: the always-valid test keeps false
    rollbacks rare where a z-test at every look would not (the full figure is bench_gates.py's)."""
    rng = np.random.default_rng(7)
    aa = SCENARIOS["aa"]
    fails = 0
    for _ in range(40):
        c_reads, b_reads = aa.canary.reads(500, rng), aa.baseline.reads(2833, rng)
        for n in range(25, 501, 25):
            from rollout.health.simulate import samples_of
            r = decide(samples_of("tesseract", *(v[:n] for v in c_reads)),
                       samples_of("documentai", *(v[:round(n * 85 / 15)] for v in b_reads)), Thresholds(min_documents=500))
            if r.verdict == FAIL:
                fails += 1
                break
    assert fails <= 1


@pytest.fixture
def window_db(db_url, tmp_path):
    writer = EventWriter(db_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    return writer


def write_scenario(writer, name, documents, percentage, seed=1, **overrides):
    scenario = SCENARIOS[name]
    if overrides:
        from dataclasses import replace
        scenario = replace(scenario, canary=Behaviour(**overrides))
    events = scenario.events(documents, percentage, NOW - timedelta(minutes=50), timedelta(minutes=40), 2,
                             np.random.default_rng(seed), shadow_share=0.1)
    for e in events:
        writer.record(e)
    writer.flush()
    return events


def test_evaluate_gate_reads_the_window_stores_and_agrees_across_databases(window_db):
    events = write_scenario(window_db, "errors", 6000, 15)
    db = window_db.db
    result = evaluate_gate(db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15, run_id="run-1")
    assert result.verdict == FAIL and result.id is not None
    canary = [e for e in events if e.engine == "tesseract" and not e.shadow]
    assert result.canary_documents + result.baseline_documents == 6000
    assert result.canary_documents == len(canary)
    assert result.figures["canary"]["failures"] == sum(not e.success for e in canary)
    rows = gate_history(db, run_id="run-1")
    assert rows[0]["verdict"] == FAIL and rows[0]["stage"] == 2 and rows[0]["checks"][0]["name"] == "error_rate"
    assert rows[0]["thresholds"]["critical_error_rate"] == 0.1
    empty = evaluate_gate(db, NOW - timedelta(hours=5), NOW - timedelta(hours=4), store=False)
    assert empty.verdict == INCONCLUSIVE and "missing data is never a pass" in empty.reason


def test_evaluate_gate_passes_a_healthy_window(window_db):
    write_scenario(window_db, "aa", 3000, 15, seed=3)
    result = evaluate_gate(window_db.db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15)
    assert result.verdict == PASS, result.reason


def test_ksef_reads_are_neither_canary_nor_baseline(window_db):
    """KSeF XML uploads (engine 'ksef', any stage) stay out of the gate: a flood of them, failing
    ones too, changes neither side's count nor the verdict."""
    from rollout.events import OcrEvent

    write_scenario(window_db, "aa", 3000, 15, seed=3)
    before = evaluate_gate(window_db.db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15, store=False)
    for i in range(500):
        window_db.record(OcrEvent(request_id=f"xml-{i}", engine="ksef", stage=2, percentage=15, duration_ms=2,
                                  success=i % 2 == 0, error_class=None if i % 2 == 0 else "InvalidEInvoiceError",
                                  confidence=1.0 if i % 2 == 0 else None, pages=1,
                                  at=NOW - timedelta(minutes=30)))
    window_db.flush()
    after = evaluate_gate(window_db.db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15, store=False)
    assert after.verdict == before.verdict == PASS, after.reason
    assert (after.canary_documents, after.baseline_documents) == (before.canary_documents, before.baseline_documents)
    assert after.figures == before.figures


def test_sqlite_and_postgres_give_the_same_figures(pg_url, tmp_path):
    results = []
    for url in (f"sqlite:///{tmp_path / 'parity.db'}", pg_url):
        db = create_engine(url)
        writer = EventWriter(db, tmp_path / f"spool-{len(results)}.jsonl")
        writer.init_schema()
        write_scenario(writer, "slow", 1500, 35, seed=11)
        results.append(evaluate_gate(db, NOW - timedelta(hours=1), NOW, store=False))
    a, b = results
    assert (a.verdict, a.reason, a.canary_documents) == (b.verdict, b.reason, b.canary_documents)
    assert a.figures == b.figures


def test_events_of_skewed_clocks_make_the_gate_inconclusive_with_the_reason(window_db, db_url, tmp_path):
    """1 100 healthy canary reads in the window; 800 failed reads written by replicas whose clocks
    run two hours behind or ten minutes ahead. Before: invisible, PASS. Now: each writer measures
    its offset to the database's clock and stores it with its events, and the gate says why it
    cannot judge."""
    from datetime import datetime as _dt

    from rollout.events import OcrEvent

    write_scenario(window_db, "aa", 3000, 15, seed=3)
    assert evaluate_gate(window_db.db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15,
                         store=False).verdict == PASS
    for name, skew in (("behind", -timedelta(hours=2)), ("ahead", timedelta(minutes=10))):
        writer = EventWriter(db_url, tmp_path / f"{name}.jsonl", now=lambda skew=skew: _dt.now(timezone.utc) + skew)
        assert abs(writer.measure_clock() / 1000 + skew.total_seconds()) < 5
        for i in range(400):
            writer.record(OcrEvent(request_id=f"{name}-{i}", engine="tesseract", stage=2, percentage=15,
                                   duration_ms=900, success=False, error_class="OcrTimeoutError", pages=1,
                                   # read 30 (behind) or 5 (ahead) minutes before NOW, dated by the skewed
                                   # clock outside the window
                                   at=NOW - timedelta(minutes=30 if name == "behind" else 5) + skew))
        writer.flush()
    result = evaluate_gate(window_db.db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15, store=False)
    assert result.verdict == INCONCLUSIVE, result.reason
    assert "800 event(s) from writers whose clocks were off" in result.reason
    clock = next(c for c in result.checks if c.name == "clock")
    assert clock.verdict == INCONCLUSIVE


def test_events_dated_in_the_future_make_the_gate_inconclusive(window_db):
    from datetime import datetime as _dt

    from rollout.events import OcrEvent

    write_scenario(window_db, "aa", 3000, 15, seed=3)
    window_db.record(OcrEvent(request_id="from-the-future", engine="tesseract", stage=2, percentage=15,
                              duration_ms=900, success=True, pages=1,
                              at=_dt.now(timezone.utc) + timedelta(minutes=10)))
    window_db.flush()
    result = evaluate_gate(window_db.db, NOW - timedelta(hours=1), NOW, stage=2, percentage=15, store=False)
    assert result.verdict == INCONCLUSIVE and "dated in the future" in result.reason


def test_a_kind_read_badly_fails_on_its_own_once_it_has_the_evidence(db_url, tmp_path):
    """900 digital PDFs read well hide 100 photos read badly: 3.9 % overall passes the 5 % error
    rate; the photos' 30 % fails the gate once 60 of them are in (the rule of three at 5 %)."""
    from rollout.events import OcrEvent

    writer = EventWriter(db_url, tmp_path / "spool.jsonl")
    writer.init_schema()
    start = NOW - timedelta(hours=1)
    i = 0

    def add(engine, kind, n, failures):
        nonlocal i
        for k in range(n):
            i += 1
            writer.record(OcrEvent(request_id=f"r{i}", engine=engine, stage=3, percentage=35, duration_ms=900 + k % 200,
                                   success=k >= failures, error_class=None if k >= failures else "OcrTimeoutError",
                                   confidence=0.93 if k >= failures else None, pages=1, kind=kind,
                                   at=start + timedelta(seconds=i)))

    add("tesseract", "digital", 900, 9)
    add("documentai", "digital", 900, 9)
    add("documentai", "photo", 100, 2)
    add("tesseract", "photo", 40, 12)  # 30 %, but only 40 photos: not judged yet
    writer.flush()
    db = create_engine(db_url)
    early = evaluate_gate(db, start, NOW, percentage=35, store=False)
    assert "error_rate[photo]" not in {c.name for c in early.checks}
    assert early.figures["kinds"]["photo"]["canary"]["documents"] == 40
    add("tesseract", "photo", 60, 18)  # 100 photos, 30 failed
    writer.flush()
    result = evaluate_gate(db, start, NOW, percentage=35, store=False)
    assert check(result, "error_rate").verdict == PASS  # 39 of 1000 overall
    photo = check(result, "error_rate[photo]")
    assert photo.verdict == FAIL and result.verdict == FAIL and "photo: error rate 30.0 %" in result.reason
    assert check(result, "error_rate[digital]").verdict == PASS
    assert result.figures["kinds"]["photo"]["baseline"]["documents"] == 100
