"""Latency p50/p95 of the integration requests, and a concurrent burst's throughput."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from staging.config import _golden_variants
from staging.suites import percentile, post_document

pytestmark = pytest.mark.performance


@pytest.fixture(scope="module")
def latencies(integration_run) -> list[float]:
    if not integration_run["latencies_s"]:
        pytest.fail("no latencies measured (no golden documents)", pytrace=False)
    return integration_run["latencies_s"]


@pytest.fixture(scope="module")
def burst(endpoints, options, suite_data) -> dict:
    digital = [p for p, v in _golden_variants(options.golden_dir) if v == "digital"]
    documents = [digital[i % len(digital)] for i in range(options.burst_documents)] if digital else []
    started = time.perf_counter()
    with ThreadPoolExecutor(options.burst_concurrency) as pool:
        answers = list(pool.map(lambda p: post_document(endpoints, p, "staging-burst", options.request_timeout_s),
                                documents))
    seconds = time.perf_counter() - started
    out = {"documents": len(documents), "concurrency": options.burst_concurrency, "seconds": round(seconds, 3),
           "statuses": sorted({a[0] for a in answers}), "answered_200": sum(a[0] == 200 for a in answers)}
    suite_data["performance"] = {"latency_source": "the integration requests", "burst": out}
    return out


def test_latency_p50(latencies, thresholds, check):
    p50 = percentile(latencies, 50)
    check("latency_p50", p50 <= thresholds["max_p50_s"], f"median of {len(latencies)} requests", round(p50, 3),
          thresholds["max_p50_s"])


def test_latency_p95(latencies, thresholds, check):
    p95 = percentile(latencies, 95)
    check("latency_p95", p95 <= thresholds["max_processing_time_s"], "95th percentile (max_processing_time)",
          round(p95, 3), thresholds["max_processing_time_s"])


def test_latency_max(latencies, thresholds, check):
    worst = max(latencies)
    check("latency_max", worst <= thresholds["critical_processing_time_s"], "slowest request (critical)",
          round(worst, 3), thresholds["critical_processing_time_s"])


def test_burst_success_rate(burst, thresholds, check):
    if not burst["documents"]:
        pytest.skip("no golden digital PDF to send")
    good, n = burst["answered_200"], burst["documents"]
    check("burst_success_rate", good / n >= thresholds["min_success_rate"],
          f"{good}/{n} answered 200 with {burst['concurrency']} concurrent clients", round(good / n, 4),
          thresholds["min_success_rate"])


def test_throughput(burst, thresholds, check):
    if not burst["documents"]:
        pytest.skip("no golden digital PDF to send")
    throughput = burst["answered_200"] / burst["seconds"] if burst["seconds"] else 0.0
    check("throughput", throughput >= thresholds["min_throughput_docs_per_s"],
          f"digital PDFs per second, {burst['concurrency']} concurrent clients", round(throughput, 3),
          thresholds["min_throughput_docs_per_s"])
