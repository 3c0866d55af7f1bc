"""The staging test suites, run against a deployed stack (``StagingEndpoints``): the logic of the
``ocr_staging_tests`` DAG.

Each suite is a function ``suite(endpoints, options=None, thresholds=None, shared=None) ->
SuiteResult``: a list of checks (name, passed, detail, value, threshold) and a status — failed
when any check failed or the suite itself broke (the exception becomes the reason, never a
crash of the run). ``shared`` carries figures between suites of one run (the performance suite
reads the integration suite's latencies instead of sending the documents again).

``run_staging_tests`` runs them in order and writes ``out_dir/<timestamp>/results.json`` and
``report.html`` and ``out_dir/latest.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from rollout.health.judge import is_serving
from .config import StagingEndpoints, StagingError, _golden_variants, default_golden_dir, json_body, project_root

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
ACTOR = "staging-tests"

# docs/architecture.md's seed thresholds plus the staging-specific ones; every one can be overridden per run.
DEFAULT_THRESHOLDS = {
    "min_field_match_rate": 0.9,  # integration: share of golden fields read exactly
    "min_success_rate": 0.95,  # integration and the performance burst: share of 200 responses
    "min_opensource_share": 0.9,  # integration: share of documents the open-source engine served
    "max_processing_time_s": 30.0,  # performance: p95 latency
    "max_p50_s": 15.0,  # performance: median latency
    "critical_processing_time_s": 60.0,  # performance: the slowest request
    "min_throughput_docs_per_s": 0.5,  # performance: concurrent burst of digital PDFs
    "min_api_agreement": 0.9,  # api_compatibility: fields equal between the service and Document AI
}

# docs/architecture.md's extraction contract, as formats a client can rely on.
FIELD_FORMATS = {
    "invoice_date": r"\d{4}-\d{2}-\d{2}", "due_date": r"\d{4}-\d{2}-\d{2}", "delivery_date": r"\d{4}-\d{2}-\d{2}",
    "net_amount": r"-?\d+\.\d{2}", "total_tax_amount": r"-?\d+\.\d{2}", "total_amount": r"-?\d+\.\d{2}",
    "supplier_tax_id": r"\d+", "receiver_tax_id": r"\d+", "supplier_iban": r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}",
    "currency": r"[A-Z]{3}",
}
ENVELOPE_KEYS = {"request_id", "engine", "decision", "fallback", "result"}


@dataclass
class SuiteCheck:
    """One check of a staging test suite (staging/suites.py)."""

    name: str
    passed: bool
    detail: str = ""
    value: Any = None
    threshold: Any = None


@dataclass
class SuiteResult:
    name: str
    status: str  # passed | failed | skipped
    duration_s: float = 0.0
    checks: list[dict] = field(default_factory=list)
    reason: str | None = None  # why it failed or was skipped, when no single check says it
    data: dict = field(default_factory=dict)  # per-document figures and the like, for the report

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def failed_checks(self) -> list[str]:
        return [c["name"] for c in self.checks if not c["passed"]]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SuiteResult":
        return cls(**data)


@dataclass
class SuiteOptions:
    golden_dir: Path = field(default_factory=default_golden_dir)
    documents: list[str] | None = None  # integration: these files of golden_dir, instead of the selection below
    digital_limit: int | None = None  # integration: digital PDFs (None: all)
    scan_limit: int = 3  # integration: 300-DPI scans
    unit_tests: list[str] = field(default_factory=lambda: ["tests/test_router.py", "tests/test_normalize.py"])
    project_dir: Path = field(default_factory=project_root)  # where unit_tests are (a checkout)
    unit_timeout_s: float = 300
    request_timeout_s: float = 120
    burst_documents: int = 8  # performance: digital PDFs sent concurrently
    burst_concurrency: int = 2
    api_documents: int = 1  # api_compatibility: digital PDFs compared

    def __post_init__(self):
        self.golden_dir, self.project_dir = Path(self.golden_dir), Path(self.project_dir)

    @classmethod
    def from_dict(cls, data: dict | None) -> "SuiteOptions":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in names and v is not None})


class _Collector:
    def __init__(self):
        self.checks: list[SuiteCheck] = []
        self.data: dict = {}

    def add(self, name: str, passed: bool, detail: str = "", value: Any = None, threshold: Any = None) -> bool:
        self.checks.append(SuiteCheck(name, bool(passed), detail, value, threshold))
        return bool(passed)


def _suite(fn: Callable) -> Callable:
    """Time the suite, turn its checks into a SuiteResult, and an exception into a failed suite."""
    name = fn.__name__

    def run(endpoints: StagingEndpoints, options: SuiteOptions | None = None, thresholds: dict | None = None,
            shared: dict | None = None) -> SuiteResult:
        out = _Collector()
        started = time.perf_counter()
        reason = None
        try:
            reason = fn(endpoints, options or SuiteOptions(), {**DEFAULT_THRESHOLDS, **(thresholds or {})},
                        shared if shared is not None else {}, out)
        except Exception as exc:  # noqa: BLE001 - a broken suite is a failed suite, with the reason
            reason = f"{type(exc).__name__}: {exc}"
            out.data["traceback"] = traceback.format_exc(limit=6)
        checks = [asdict(c) for c in out.checks]
        if reason is None and not checks:
            reason = "no checks ran"
        status = FAILED if reason or any(not c["passed"] for c in checks) else PASSED
        return SuiteResult(name, status, round(time.perf_counter() - started, 3), checks, reason, out.data)

    run.__name__, run.__doc__, run.__wrapped__ = name, fn.__doc__, fn
    return run


# ---------------------------------------------------------------- helpers

def _http():
    import httpx

    return httpx


def _client_headers(endpoints: StagingEndpoints, user: str) -> dict:
    return {"X-API-Key": endpoints.client_key, "X-User-Id": user}


def _admin_headers(endpoints: StagingEndpoints) -> dict:
    return {"X-API-Key": endpoints.admin_key}


@contextlib.contextmanager
def forced_opensource(endpoints: StagingEndpoints, reason: str = "staging tests read with the open-source engine"):
    """force_opensource_for_testing on (through the service's admin API, audited) for the block;
    put back as it was if this block changed it."""
    httpx = _http()
    base = endpoints.service_url.rstrip("/")

    def set_flag(value: bool) -> None:
        r = httpx.post(f"{base}/v1/admin/flags/set-flag", headers=_admin_headers(endpoints), timeout=30,
                       json={"name": "force_opensource_for_testing", "value": value, "reason": reason})
        if r.status_code != 200:
            raise StagingError(f"set force_opensource_for_testing={value} via the admin API: {r.status_code} "
                               f"{r.text[:300]}")

    r = httpx.get(f"{base}/v1/admin/flags", headers=_admin_headers(endpoints), timeout=30)
    if r.status_code != 200:
        raise StagingError(f"GET /v1/admin/flags with the admin key: {r.status_code} {r.text[:300]}")
    before = bool(json_body(r).get("flags", {}).get("force_opensource_for_testing"))
    if not before:
        set_flag(True)
    try:
        yield
    finally:
        if not before:
            set_flag(False)


def _golden(options: SuiteOptions) -> list:
    from ocr_engines.evaluation import golden_documents

    return golden_documents(options.golden_dir)


def integration_documents(options: SuiteOptions) -> list:
    """The golden documents the integration suite sends: options.documents, else every digital PDF
    (up to digital_limit) and the first scan_limit 300-DPI scans."""
    docs = {d.path.resolve(): d for d in _golden(options)}
    if options.documents:
        chosen = []
        for name in options.documents:
            path = (options.golden_dir / name).resolve()
            if path not in docs:
                raise StagingError(f"{name}: not a golden document (with truth) in {options.golden_dir}")
            chosen.append(docs[path])
        return chosen
    variants = _golden_variants(options.golden_dir)
    digital = [docs[p.resolve()] for p, v in variants if v == "digital" and p.resolve() in docs]
    scans = [docs[p.resolve()] for p, v in variants if v.startswith("scan") and v != "scan_degraded"
             and p.resolve() in docs]
    if options.digital_limit is not None:
        digital = digital[:options.digital_limit]
    return digital + scans[:options.scan_limit]


def _post_document(endpoints: StagingEndpoints, path: Path, user: str, timeout_s: float):
    """(status, body, client seconds, server pipeline seconds or None)."""
    httpx = _http()
    started = time.perf_counter()
    r = httpx.post(f"{endpoints.service_url.rstrip('/')}/v1/ocr", headers=_client_headers(endpoints, user),
                   files={"file": (path.name, path.read_bytes())}, timeout=timeout_s)
    seconds = time.perf_counter() - started
    pipeline = re.search(r"pipeline;dur=([\d.]+)", r.headers.get("server-timing", ""))
    return r.status_code, json_body(r), seconds, float(pipeline[1]) / 1000 if pipeline else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# ---------------------------------------------------------------- suites

@_suite
def infrastructure(endpoints, options, thresholds, shared, out):
    """Service /health, PostgreSQL (SELECT 1, the rollout tables), Redis PING, Tesseract's languages,
    the Document AI endpoint."""
    httpx = _http()
    base = endpoints.service_url.rstrip("/")
    try:
        r = httpx.get(f"{base}/health", timeout=10)
        body = json_body(r)
        state = body.get("status")
        out.add("service_health", r.status_code == 200 and is_serving(state),
                f"GET /health -> {r.status_code}, flags from {body.get('flags', {}).get('source')}", state,
                "healthy|degraded")
    except httpx.HTTPError as exc:
        out.add("service_health", False, f"{base}/health unreachable: {exc}")

    from sqlalchemy import create_engine, text

    from .config import mask_password

    args = {"connect_timeout": 5} if endpoints.database_url.startswith("postgresql") else {}
    db = create_engine(endpoints.database_url, connect_args=args)
    try:
        with db.connect() as conn:
            one = conn.execute(text("SELECT 1")).scalar()
            out.add("postgres_select_1", one == 1, mask_password(endpoints.database_url), one, 1)
            try:
                version = conn.execute(text("SELECT version FROM rollout_state WHERE id = 1")).scalar()
                conn.execute(text("SELECT count(*) FROM ocr_events")).scalar()
                out.add("rollout_schema", version is not None, "rollout_state and ocr_events exist", version)
            except Exception as exc:  # noqa: BLE001
                out.add("rollout_schema", False, f"flag/event tables missing (run load_test_data): "
                                                 f"{str(exc).splitlines()[0][:200]}")
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        out.add("postgres_select_1", False, f"{mask_password(endpoints.database_url)}: "
                                            f"{str(exc).splitlines()[0][:300]}")
    finally:
        db.dispose()

    if endpoints.redis_url:
        import redis

        try:
            pong = redis.Redis.from_url(endpoints.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
            out.add("redis_ping", bool(pong), mask_password(endpoints.redis_url), "PONG" if pong else None)
        except redis.RedisError as exc:
            out.add("redis_ping", False, f"{mask_password(endpoints.redis_url)}: {exc}")
    else:
        out.add("redis_ping", False, "no Redis configured for staging (production distributes flags through it)")

    try:
        import pytesseract

        langs = set(pytesseract.get_languages(config=""))
        out.add("tesseract_languages", {"pol", "eng"} <= langs, "on the host running the suites",
                sorted(langs), ["eng", "pol"])
    except Exception as exc:  # noqa: BLE001
        out.add("tesseract_languages", False, f"tesseract not usable: {exc}")

    if endpoints.documentai_endpoint:
        try:
            r = httpx.get(f"{endpoints.documentai_endpoint.rstrip('/')}/__double__/stats", timeout=5)
            out.add("documentai_double", r.status_code == 200, f"{endpoints.documentai_endpoint} (local test double)",
                    json_body(r).get("documents"))
        except httpx.HTTPError as exc:
            out.add("documentai_double", False, f"{endpoints.documentai_endpoint}: {exc}")


@_suite
def unit(endpoints, options, thresholds, shared, out):
    """A small, fast subset of the pytest suite (options.unit_tests), run from options.project_dir."""
    import subprocess

    missing = [t for t in options.unit_tests if not (options.project_dir / t).exists()]
    if missing:
        return (f"unit tests not found in {options.project_dir}: {', '.join(missing)} (a deployed image ships "
                "without tests/; point SuiteOptions.project_dir at a checkout)")
    argv = [sys.executable, "-m", "pytest", *options.unit_tests, "-q", "-x", "-p", "no:cacheprovider"]
    try:
        proc = subprocess.run(argv, cwd=options.project_dir, capture_output=True, text=True,
                              timeout=options.unit_timeout_s)
    except subprocess.TimeoutExpired:
        return f"pytest did not finish within {options.unit_timeout_s:.0f} s"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = next((line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)),
                   (lines[-1] if lines else proc.stderr.strip()[-300:]))
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
    out.data.update({"command": " ".join(argv[1:]), "summary": summary, "counts": counts,
                     "output_tail": "\n".join(lines[-15:]) if proc.returncode else ""})
    if proc.returncode == 1 and "No module named pytest" in proc.stderr:
        return "pytest is not installed in this environment"
    out.add("pytest_exit_code", proc.returncode == 0, summary, proc.returncode, 0)
    out.add("tests_passed", counts.get("passed", 0) > 0 and not counts.get("failed") and not counts.get("error")
            and not counts.get("errors"), summary, counts.get("passed", 0))


@_suite
def integration(endpoints, options, thresholds, shared, out):
    """Golden invoices through the service as the open-source engine, scored against their truth."""
    from ocr_engines.evaluation import score_document, summarise

    docs = integration_documents(options)
    if not docs:
        return f"no golden documents selected in {options.golden_dir}"
    rows, scores, latencies, pipeline_s = [], [], [], []
    opensource = ok = 0
    with forced_opensource(endpoints):
        started = time.perf_counter()
        for doc in docs:
            status, body, seconds, pipeline = _post_document(endpoints, doc.path, "staging-integration",
                                                             options.request_timeout_s)
            result = body.get("result") if status == 200 else None
            error = None if status == 200 else f"HTTP {status}: {body.get('error') or body.get('detail')}"
            score = score_document(doc, result, seconds, error)
            scores.append(score)
            latencies.append(seconds)
            if pipeline is not None:
                pipeline_s.append(pipeline)
            ok += status == 200
            opensource += body.get("engine") == "tesseract"
            rows.append({"file": doc.path.name, "variant": doc.group, "status": status, "engine": body.get("engine"),
                         "fallback": body.get("fallback"), "latency_s": round(seconds, 3),
                         "fields_matched": sum(score.fields.values()), "fields_total": len(score.fields),
                         "mismatches": {k: list(v) for k, v in score.mismatches.items()}})
        elapsed = time.perf_counter() - started
    report = summarise(scores, elapsed)
    overall = report["overall"]
    n = len(docs)
    shared["integration"] = {"latencies_s": latencies, "pipeline_s": pipeline_s, "elapsed_s": elapsed, "documents": n}
    out.data.update({"documents": rows, "per_field": overall["per_field"], "per_variant": {
        g: {"documents": s["documents"], "field_exact_match": s["field_exact_match"]}
        for g, s in report["groups"].items()}})
    out.add("success_rate", ok / n >= thresholds["min_success_rate"], f"{ok}/{n} documents answered 200",
            round(ok / n, 4), thresholds["min_success_rate"])
    rate = overall["field_exact_match"] or 0.0
    out.add("field_match_rate", rate >= thresholds["min_field_match_rate"],
            f"exact field matches against the golden truth over {n} documents", rate,
            thresholds["min_field_match_rate"])
    out.add("opensource_served", opensource / n >= thresholds["min_opensource_share"],
            f"{opensource}/{n} served by tesseract" + ("" if opensource == n else
                                                        " (the rest fell back to Document AI: see documents)"),
            round(opensource / n, 4), thresholds["min_opensource_share"])
    out.data["line_item_exact_match"] = overall["line_item_exact_match"]
    out.data["all_fields_correct"] = overall["all_fields_correct"]


@_suite
def performance(endpoints, options, thresholds, shared, out):
    """Latency p50/p95 of the integration requests (or its own), and a concurrent burst's throughput."""
    from concurrent.futures import ThreadPoolExecutor

    figures = shared.get("integration")
    with forced_opensource(endpoints):
        if not figures:
            latencies = []
            for doc in integration_documents(options):
                status, _, seconds, _ = _post_document(endpoints, doc.path, "staging-performance",
                                                       options.request_timeout_s)
                latencies.append(seconds)
            source = "own requests"
        else:
            latencies, source = figures["latencies_s"], "the integration suite's requests"
        digital = [p for p, v in _golden_variants(options.golden_dir) if v == "digital"]
        burst = [digital[i % len(digital)] for i in range(options.burst_documents)] if digital else []
        started = time.perf_counter()
        with ThreadPoolExecutor(options.burst_concurrency) as pool:
            answers = list(pool.map(lambda p: _post_document(endpoints, p, "staging-burst", options.request_timeout_s),
                                    burst))
        burst_s = time.perf_counter() - started
    if not latencies:
        return "no latencies measured (no golden documents)"
    p50, p95, worst = percentile(latencies, 50), percentile(latencies, 95), max(latencies)
    out.data.update({"latency_source": source, "requests": len(latencies),
                     "burst": {"documents": len(burst), "concurrency": options.burst_concurrency,
                               "seconds": round(burst_s, 3),
                               "statuses": sorted({a[0] for a in answers})}})
    out.add("latency_p50", p50 <= thresholds["max_p50_s"], f"median of {len(latencies)} requests ({source})",
            round(p50, 3), thresholds["max_p50_s"])
    out.add("latency_p95", p95 <= thresholds["max_processing_time_s"], "95th percentile (max_processing_time)",
            round(p95, 3), thresholds["max_processing_time_s"])
    out.add("latency_max", worst <= thresholds["critical_processing_time_s"], "slowest request (critical)",
            round(worst, 3), thresholds["critical_processing_time_s"])
    if burst:
        good = sum(a[0] == 200 for a in answers)
        throughput = good / burst_s if burst_s else 0.0
        out.add("burst_success_rate", good / len(burst) >= thresholds["min_success_rate"],
                f"{good}/{len(burst)} answered 200 with {options.burst_concurrency} concurrent clients",
                round(good / len(burst), 4), thresholds["min_success_rate"])
        out.add("throughput", throughput >= thresholds["min_throughput_docs_per_s"],
                f"digital PDFs per second, {options.burst_concurrency} concurrent clients",
                round(throughput, 3), thresholds["min_throughput_docs_per_s"])


@_suite
def api_compatibility(endpoints, options, thresholds, shared, out):
    """The service's JSON against the Document AI engine's for the same invoice: same keys, field
    names, types and normalised formats (docs/architecture.md's extraction contract)."""
    from ocr_engines import FIELD_NAMES, LINE_ITEM_KEYS, get_engine
    from ocr_engines.compare import compare
    from ocr_engines.documentai import DocumentAIConfig
    from staging.documentai_double import DocumentAIDouble, DoubleConfig

    digital = [p for p, v in _golden_variants(options.golden_dir) if v == "digital"][:options.api_documents]
    if not digital:
        return f"no golden digital PDF in {options.golden_dir}"
    own_double = None
    endpoint = endpoints.documentai_endpoint
    if not endpoint:  # staging without a double (Docker): one in this process, answering the same golden set
        own_double = DocumentAIDouble(options.golden_dir)
        endpoint = own_double.start()
    double = DoubleConfig()
    engine = get_engine("documentai", config=DocumentAIConfig(
        project=double.project, location=double.location, processor_id=double.processor_id, endpoint=endpoint,
        timeout_s=30, max_attempts=3, backoff_initial_s=0.2))
    out.data["documentai_endpoint"] = endpoint + (" (in-process double)" if own_double else "")
    documents = []
    try:
        with forced_opensource(endpoints):
            for path in digital:
                status, body, _, _ = _post_document(endpoints, path, "staging-api", options.request_timeout_s)
                google = engine.extract(path).to_dict()
                documents.append((path, status, body, google))
    finally:
        if own_double:
            own_double.stop()

    for path, status, body, google in documents:
        tag = path.name
        if not out.add(f"{tag}: service_200", status == 200, f"POST /v1/ocr -> {status}", status, 200):
            continue
        service = body.get("result") or {}
        out.add(f"{tag}: envelope", set(body) == ENVELOPE_KEYS, f"service keys {sorted(body)}", sorted(body),
                sorted(ENVELOPE_KEYS))
        out.add(f"{tag}: top_level_keys", set(service) == set(google),
                _diff("service", set(service), "documentai", set(google)), sorted(service), sorted(google))
        out.add(f"{tag}: served_by", body.get("engine") == "tesseract" and google.get("engine") == "documentai",
                f"service answered with {body.get('engine')}, direct engine {google.get('engine')}")
        s_fields, g_fields = set(service.get("fields", {})), set(google.get("fields", {}))
        unknown = sorted((s_fields | g_fields) - set(FIELD_NAMES))
        out.add(f"{tag}: field_names", not unknown and s_fields == g_fields,
                f"unknown {unknown}; " + _diff("service", s_fields, "documentai", g_fields) if unknown
                else _diff("service", s_fields, "documentai", g_fields), len(s_fields), len(g_fields))
        problems = _type_problems("service", service) + _type_problems("documentai", google)
        out.add(f"{tag}: types", not problems, "; ".join(problems[:8]) or "same JSON types on both sides")
        bad = _format_problems("service", service) + _format_problems("documentai", google)
        out.add(f"{tag}: normalised_formats", not bad,
                "; ".join(bad[:8]) or "dates YYYY-MM-DD, amounts 0.00, tax ids digits, IBAN and currency")
        item_problems = [f"{side}: {p}" for side, result in (("service", service), ("documentai", google))
                         for p in _item_problems(result.get("line_items"), LINE_ITEM_KEYS)]
        out.add(f"{tag}: line_items", not item_problems, "; ".join(item_problems[:8]) or
                f"{len(service.get('line_items') or [])} / {len(google.get('line_items') or [])} items, same keys")
        diff = compare(google, service)
        agreement = diff.agreement or 0.0
        out.add(f"{tag}: value_agreement", agreement >= thresholds["min_api_agreement"],
                f"mismatched: {diff.mismatched_fields}" if diff.mismatched_fields else "every field equal",
                round(agreement, 4), thresholds["min_api_agreement"])


def _diff(a_name: str, a: set, b_name: str, b: set) -> str:
    if a == b:
        return f"same {len(a)} names"
    return f"only in {a_name}: {sorted(a - b)}; only in {b_name}: {sorted(b - a)}"


def _type_problems(side: str, result: dict) -> list[str]:
    expected = {"engine": str, "engine_version": str, "pages": int, "confidence": (int, float), "fields": dict,
                "line_items": list, "warnings": list, "timings_ms": dict}
    problems = [f"{side}.{key} is {type(result.get(key)).__name__}" for key, kind in expected.items()
                if not isinstance(result.get(key), kind) or isinstance(result.get(key), bool)]
    for name, value in (result.get("fields") or {}).items():
        if not (isinstance(value, dict) and set(value) == {"value", "confidence"} and isinstance(value["value"], str)
                and isinstance(value["confidence"], (int, float)) and 0 <= value["confidence"] <= 1):
            problems.append(f"{side}.fields.{name} = {value!r:.80}")
    problems += [f"{side}.warnings has a {type(w).__name__}" for w in result.get("warnings") or []
                 if not isinstance(w, str)]
    problems += [f"{side}.timings_ms.{k} is {type(v).__name__}" for k, v in (result.get("timings_ms") or {}).items()
                 if not isinstance(v, int)]
    return problems


def _format_problems(side: str, result: dict) -> list[str]:
    problems = []
    for name, value in (result.get("fields") or {}).items():
        text = value.get("value") if isinstance(value, dict) else value
        pattern = FIELD_FORMATS.get(name)
        if not isinstance(text, str) or text == "" or (pattern and not re.fullmatch(pattern, text)):
            problems.append(f"{side}.{name} = {text!r}")
    return problems


def _item_problems(items, keys) -> list[str]:
    if not isinstance(items, list):
        return [f"line_items is {type(items).__name__}"]
    problems = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"item {i} is {type(item).__name__}")
            continue
        extra = set(item) - set(keys)
        if extra:
            problems.append(f"item {i} has unknown keys {sorted(extra)}")
        problems += [f"item {i}.{k} is {type(v).__name__}" for k, v in item.items() if not isinstance(v, str)]
    return problems


@_suite
def security(endpoints, options, thresholds, shared, out):
    """Auth required, admin separated, upload limits enforced, public pages leak no keys."""
    httpx = _http()
    base = endpoints.service_url.rstrip("/")
    pdf = next((p for p, v in _golden_variants(options.golden_dir) if v == "digital"), None)
    sample = pdf.read_bytes() if pdf else b"%PDF-1.4\n%%EOF\n"
    pdf_headers = {"Content-Type": "application/pdf", "X-User-Id": "staging-security"}
    secrets_ = [s for s in (endpoints.client_key, endpoints.admin_key) if s]

    def leaks(text: str) -> list[str]:
        return [("client key" if s == endpoints.client_key else "admin key") for s in secrets_ if s in text]

    r = httpx.post(f"{base}/v1/ocr", content=sample, headers=pdf_headers, timeout=30)
    out.add("ocr_without_key", r.status_code in (401, 403), f"POST /v1/ocr without X-API-Key -> {r.status_code}",
            r.status_code, "401|403")
    bogus = "staging-wrong-key-0000"
    r = httpx.post(f"{base}/v1/ocr", content=sample, headers={**pdf_headers, "X-API-Key": bogus}, timeout=30)
    out.add("ocr_with_wrong_key", r.status_code in (401, 403) and bogus not in r.text,
            f"POST /v1/ocr with a wrong key -> {r.status_code}", r.status_code, "401|403")
    r = httpx.get(f"{base}/v1/admin/flags", timeout=30)
    out.add("admin_without_key", r.status_code in (401, 403), f"GET /v1/admin/flags without a key -> {r.status_code}",
            r.status_code, "401|403")
    r = httpx.get(f"{base}/v1/admin/flags", headers={"X-API-Key": endpoints.client_key}, timeout=30)
    out.add("admin_with_client_key", r.status_code == 403, f"GET /v1/admin/flags with the client key -> "
            f"{r.status_code}", r.status_code, 403)
    r = httpx.post(f"{base}/v1/admin/flags/maintenance-on", headers={"X-API-Key": endpoints.client_key},
                   json={"reason": "security suite: must be refused"}, timeout=30)
    out.add("admin_change_with_client_key", r.status_code == 403,
            f"POST /v1/admin/flags/maintenance-on with the client key -> {r.status_code}", r.status_code, 403)

    limit_mb = endpoints.max_upload_mb or 40
    size = int(limit_mb * 2**20) + 2**20
    client_headers = {**pdf_headers, "X-API-Key": endpoints.client_key}
    try:
        r = httpx.post(f"{base}/v1/ocr", content=b"%PDF-1.4\n" + b"0" * size, headers=client_headers, timeout=60)
        out.add("oversize_upload", r.status_code == 413, f"{size / 2**20:.1f} MiB with Content-Length "
                f"(limit {limit_mb:g} MiB) -> {r.status_code}", r.status_code, 413)
    except httpx.HTTPError as exc:
        out.add("oversize_upload", False, f"the connection broke instead of a 413: {exc}")

    def chunks():
        yield b"%PDF-1.4\n"
        for _ in range(size // 2**20):
            yield b"0" * 2**20

    try:
        r = httpx.post(f"{base}/v1/ocr", content=chunks(), headers=client_headers, timeout=60)
        out.add("oversize_streamed_upload", r.status_code == 413, f"{size / 2**20:.1f} MiB chunked, no "
                f"Content-Length -> {r.status_code}", r.status_code, 413)
    except httpx.HTTPError as exc:
        out.add("oversize_streamed_upload", False, f"the connection broke instead of a 413: {exc}")

    r = httpx.post(f"{base}/v1/ocr", content=b"not an invoice, just text", timeout=30,
                   headers={**client_headers, "Content-Type": "text/plain"})
    out.add("wrong_content_type", r.status_code in (415, 422), f"text/plain body -> {r.status_code} "
            f"{json_body(r).get('error', '')}", r.status_code, "415|422")
    r = httpx.post(f"{base}/v1/ocr", files={"file": ("invoice.pdf", b"%PDF-1.4 truncated garbage")}, timeout=30,
                   headers={"X-API-Key": endpoints.client_key, "X-User-Id": "staging-security"})
    out.add("corrupt_pdf", r.status_code in (415, 422), f"a corrupt PDF -> {r.status_code} "
            f"{json_body(r).get('error', '')}", r.status_code, "415|422")

    for path in ("/metrics", "/docs", "/openapi.json", "/health"):
        r = httpx.get(f"{base}{path}", timeout=30)
        leaked = leaks(r.text)
        out.add(f"public {path}", r.status_code == 200 and not leaked,
                f"GET {path} without a key -> {r.status_code}" + (f"; LEAKS the {', '.join(leaked)}" if leaked else
                                                                  "; no key in the body"), r.status_code, 200)


SUITES: dict[str, Callable[..., SuiteResult]] = {
    "infrastructure": infrastructure, "unit": unit, "integration": integration, "performance": performance,
    "api_compatibility": api_compatibility, "security": security,
}
NEEDS_OPENSOURCE = {"integration", "performance", "api_compatibility"}


# ---------------------------------------------------------------- the run

def run_staging_tests(endpoints: StagingEndpoints, out_dir: Path | str = Path("staging_test_results"),
                      suites: list[str] | None = None, thresholds: dict | None = None,
                      options: SuiteOptions | dict | None = None) -> dict:
    """Run the suites (default: all, in SUITES order) and write out_dir/<timestamp>/results.json,
    report.html and out_dir/latest.json. Returns the summary: overall status (failed when any suite
    failed), per-suite status and failed checks, and the paths written."""
    from presentation.staging_report import render_html

    names = list(suites or SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise StagingError(f"unknown staging suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    unknown = sorted(set(thresholds or {}) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise StagingError(f"unknown threshold(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_THRESHOLDS)}")
    opts = options if isinstance(options, SuiteOptions) else SuiteOptions.from_dict(options)
    merged = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    shared: dict = {}
    results: list[SuiteResult] = []
    with contextlib.ExitStack() as stack:
        if NEEDS_OPENSOURCE & set(names):
            try:  # once for the whole run (one audited change, not one per suite)
                stack.enter_context(forced_opensource(endpoints))
            except Exception:  # noqa: BLE001 - each suite tries again and reports why it cannot
                pass
        for name in names:
            results.append(SUITES[name](endpoints, opts, merged, shared))
    status = PASSED if all(r.status == PASSED for r in results) else FAILED

    out_dir = Path(out_dir).absolute()
    run_dir = out_dir / started_at.strftime("%Y%m%dT%H%M%SZ")
    suffix = 1
    while run_dir.exists():
        run_dir = out_dir / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    summary = {
        "status": status, "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
        "suites": {r.name: {"status": r.status, "duration_s": r.duration_s, "failed_checks": r.failed_checks,
                            "reason": r.reason} for r in results},
        "passed": [r.name for r in results if r.status == PASSED],
        "failed": [r.name for r in results if r.status == FAILED],
        "run_dir": str(run_dir), "results_json": str(run_dir / "results.json"),
        "report_html": str(run_dir / "report.html"),
    }
    document = {**summary, "endpoints": endpoints.to_dict(), "thresholds": merged,
                "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
                "results": [r.to_dict() for r in results]}
    text = json.dumps(document, indent=1, default=str)
    (run_dir / "results.json").write_text(text)
    (run_dir / "report.html").write_text(render_html(document))
    tmp = out_dir / "latest.json.tmp"
    tmp.write_text(text)
    tmp.replace(out_dir / "latest.json")
    return summary
