"""The staging test suites, run against a deployed stack (``StagingEndpoints``): the logic of the
``ocr_staging_tests`` DAG.

The checks are pytest tests (``staging/checks``: one module and one marker per suite, a test per
check). ``run_staging_tests`` runs the chosen suites in a pytest process of its own (``-m``, the
stack's endpoints and keys in its environment, never on disk), keeps pytest's JUnit XML, and turns
it into ``out_dir/<timestamp>/results.json`` and ``report.html`` and ``out_dir/latest.json``: per
suite its status, its checks (name, passed, detail, value, threshold) and, when its work could not
be done at all (a fixture's error), the reason. This module keeps what the checks share: the
thresholds, the options, the service calls and the contract's checks.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .config import StagingEndpoints, StagingError, _golden_variants, default_golden_dir, json_body, project_root

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
ACTOR = "staging-tests"
CHECKS_DIR = Path(__file__).resolve().with_name("checks")

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
    project_dir: Path = field(default_factory=project_root)  # unit: a checkout, whose tests marked `unit` run
    unit_timeout_s: float = 300
    request_timeout_s: float = 120
    burst_documents: int = 8  # performance: digital PDFs sent concurrently
    burst_concurrency: int = 2
    api_documents: int = 1  # api_compatibility: digital PDFs compared
    suite_timeout_s: float = 1800  # the whole pytest run

    def __post_init__(self):
        self.golden_dir, self.project_dir = Path(self.golden_dir), Path(self.project_dir)

    @classmethod
    def from_dict(cls, data: dict | None) -> "SuiteOptions":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in names and v is not None})


# The suites, in the order they run (pytest markers of staging/checks).
SUITES: dict[str, str] = {
    "infrastructure": "service /health, PostgreSQL, Redis, Tesseract's languages, the Document AI endpoint",
    "unit": "the project's unit tests (marked `unit`) in the deployed environment",
    "integration": "golden invoices through the service as the open-source engine, scored against their truth",
    "performance": "latency p50/p95 of the integration requests, a concurrent burst's throughput",
    "api_compatibility": "the service's JSON against Document AI's for the same invoice",
    "security": "auth required, admin separated, upload limits, public pages leak no keys",
}
NEEDS_OPENSOURCE = {"integration", "performance", "api_compatibility"}


# ---------------------------------------------------------------- what the checks share

def _admin_headers(endpoints: StagingEndpoints) -> dict:
    return {"X-API-Key": endpoints.admin_key}


@contextlib.contextmanager
def forced_opensource(endpoints: StagingEndpoints, reason: str = "staging tests read with the open-source engine"):
    """force_opensource_for_testing on (through the service's admin API, audited) for the block;
    put back as it was if this block changed it."""
    import httpx

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


def integration_documents(options: SuiteOptions) -> list:
    """The golden documents the integration suite sends: options.documents, else every digital PDF
    (up to digital_limit) and the first scan_limit 300-DPI scans."""
    from ocr_engines.evaluation import golden_documents

    docs = {d.path.resolve(): d for d in golden_documents(options.golden_dir)}
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


def post_document(endpoints: StagingEndpoints, path: Path, user: str, timeout_s: float):
    """(status, body, client seconds, server pipeline seconds or None)."""
    import httpx

    started = time.perf_counter()
    r = httpx.post(f"{endpoints.service_url.rstrip('/')}/v1/ocr",
                   headers={"X-API-Key": endpoints.client_key, "X-User-Id": user},
                   files={"file": (path.name, path.read_bytes())}, timeout=timeout_s)
    seconds = time.perf_counter() - started
    pipeline = re.search(r"pipeline;dur=([\d.]+)", r.headers.get("server-timing", ""))
    return r.status_code, json_body(r), seconds, float(pipeline[1]) / 1000 if pipeline else None


def integration_requests(endpoints: StagingEndpoints, options: SuiteOptions, data: dict) -> dict:
    """The integration suite's work: each golden document through the service, scored against its
    truth. Returns the figures its checks and the performance suite judge; the per-document rows
    go to ``data['integration']`` for the report."""
    from ocr_engines.evaluation import score_document, summarise

    docs = integration_documents(options)
    if not docs:
        raise StagingError(f"no golden documents selected in {options.golden_dir}")
    rows, scores, latencies, pipeline_s = [], [], [], []
    opensource = ok = 0
    started = time.perf_counter()
    for doc in docs:
        status, body, seconds, pipeline = post_document(endpoints, doc.path, "staging-integration",
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
    data["integration"] = {
        "documents": rows, "per_field": overall["per_field"],
        "per_variant": {g: {"documents": s["documents"], "field_exact_match": s["field_exact_match"]}
                        for g, s in report["groups"].items()},
        "line_item_exact_match": overall["line_item_exact_match"], "all_fields_correct": overall["all_fields_correct"]}
    return {"documents": len(docs), "ok": ok, "opensource": opensource, "latencies_s": latencies,
            "pipeline_s": pipeline_s, "elapsed_s": elapsed, "field_exact_match": overall["field_exact_match"]}


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def name_diff(a_name: str, a: set, b_name: str, b: set) -> str:
    if a == b:
        return f"same {len(a)} names"
    return f"only in {a_name}: {sorted(a - b)}; only in {b_name}: {sorted(b - a)}"


def type_problems(side: str, result: dict) -> list[str]:
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


def format_problems(side: str, result: dict) -> list[str]:
    problems = []
    for name, value in (result.get("fields") or {}).items():
        text = value.get("value") if isinstance(value, dict) else value
        pattern = FIELD_FORMATS.get(name)
        if not isinstance(text, str) or text == "" or (pattern and not re.fullmatch(pattern, text)):
            problems.append(f"{side}.{name} = {text!r}")
    return problems


def item_problems(items, keys) -> list[str]:
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




# ---------------------------------------------------------------- the run

def run_staging_tests(endpoints: StagingEndpoints, out_dir: Path | str = Path("staging_test_results"),
                      suites: list[str] | None = None, thresholds: dict | None = None,
                      options: SuiteOptions | dict | None = None) -> dict:
    """Run the suites (default: all, in SUITES order) as pytest tests of ``staging/checks`` and
    write out_dir/<timestamp>/junit.xml, results.json, report.html and out_dir/latest.json.
    Returns the summary: overall status (failed when any suite failed), per-suite status and
    failed checks, and the paths written. The checks run in a process of their own, by the
    command a container runs them with (``checks_command``; the DAG's DockerOperator)."""
    run = prepare_run(Path(out_dir), suites, thresholds, options)
    argv = checks_command(run["suites"], run["run_dir"] / "junit.xml")
    env = {**os.environ, **checks_environment(asdict(endpoints), run["thresholds"], run["options"])}
    try:
        proc = subprocess.run(argv, env=env, cwd=CHECKS_DIR, capture_output=True, text=True,
                              timeout=run["options"]["suite_timeout_s"])
    except subprocess.TimeoutExpired:
        raise StagingError(f"the staging checks did not finish within {run['options']['suite_timeout_s']:.0f} s") \
            from None
    log = {"command": " ".join(argv[1:]), "exit_code": proc.returncode,
           "output_tail": "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])}
    return finish_run(run, endpoints.to_dict(), log)


def prepare_run(out_dir: Path, suites: list[str] | None, thresholds: dict | None,
                options: SuiteOptions | dict | None) -> dict:
    """Check the choice of suites and thresholds and make the run's folder: what the checks'
    process (here, or a container) needs, as plain JSON values."""
    names = list(suites or SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise StagingError(f"unknown staging suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    unknown = sorted(set(thresholds or {}) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise StagingError(f"unknown threshold(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_THRESHOLDS)}")
    opts = options if isinstance(options, SuiteOptions) else SuiteOptions.from_dict(options)
    started_at = datetime.now(timezone.utc)
    return {"suites": names, "thresholds": {**DEFAULT_THRESHOLDS, **(thresholds or {})},
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()},
            "run_dir": _new_run_dir(out_dir.absolute(), started_at), "started_at": started_at,
            "started": time.perf_counter()}


def checks_command(suites: list[str], junit: Path | str, python: str = sys.executable) -> list[str]:
    """The checks' process: ``python -m staging.suites`` (``main`` below: pytest on staging/checks)."""
    return [python, "-m", "staging.suites", "--suites", ",".join(suites), "--junit", str(junit)]


def checks_environment(endpoints: dict, thresholds: dict, options: dict) -> dict[str, str]:
    """What the checks read (staging/checks/conftest.py): the endpoints (with the keys, or a
    ``keys_file`` to read them from) and the run's thresholds and options."""
    return {"OCR_STAGING_ENDPOINTS": json.dumps(endpoints, default=str),
            "OCR_STAGING_RUN": json.dumps({"thresholds": thresholds, "options": options}, default=str)}


def run_from_environment() -> tuple[dict, SuiteOptions]:
    """The run's thresholds (the defaults with its own over them) and options, as the checks'
    process reads them from ``checks_environment``."""
    run = json.loads(os.environ.get("OCR_STAGING_RUN") or "{}")
    return {**DEFAULT_THRESHOLDS, **(run.get("thresholds") or {})}, SuiteOptions.from_dict(run.get("options"))


def finish_run(run: dict, endpoints: dict, log: dict) -> dict:
    """results.json, report.html and latest.json from the run's junit.xml; the summary."""
    from presentation.staging_report import render_html

    run_dir = Path(run["run_dir"])
    junit = run_dir / "junit.xml"
    if not junit.is_file():  # pytest itself could not run (a usage error, an import error in the checks)
        raise StagingError(f"the staging checks did not run (exit {log.get('exit_code')}): "
                           f"{str(log.get('output_tail', ''))[-1500:]}")
    results = results_from_junit(junit, run["suites"])
    status = PASSED if all(r.status == PASSED for r in results) else FAILED
    started_at = run["started_at"]
    started_at = started_at if isinstance(started_at, datetime) else datetime.fromisoformat(started_at)
    summary = {
        "status": status, "started_at": started_at.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(timezone.utc) - started_at).total_seconds(), 2),
        "suites": {r.name: {"status": r.status, "duration_s": r.duration_s, "failed_checks": r.failed_checks,
                            "reason": r.reason} for r in results},
        "passed": [r.name for r in results if r.status == PASSED],
        "failed": [r.name for r in results if r.status == FAILED],
        "run_dir": str(run_dir), "results_json": str(run_dir / "results.json"),
        "report_html": str(run_dir / "report.html"), "junit_xml": str(junit),
    }
    document = {**summary, "endpoints": endpoints, "thresholds": run["thresholds"], "options": run["options"],
                "pytest": log, "results": [r.to_dict() for r in results]}
    text = json.dumps(document, indent=1, default=str)
    (run_dir / "results.json").write_text(text)
    (run_dir / "report.html").write_text(render_html(document))
    tmp = run_dir.parent / "latest.json.tmp"
    tmp.write_text(text)
    tmp.replace(run_dir.parent / "latest.json")
    return summary


def _new_run_dir(out_dir: Path, started_at: datetime) -> Path:
    run_dir = out_dir / started_at.strftime("%Y%m%dT%H%M%SZ")
    suffix = 1
    while run_dir.exists():
        run_dir = out_dir / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    """``python -m staging.suites --suites a,b --junit PATH``: pytest on staging/checks, the suites
    chosen by marker, JUnit XML to PATH; the endpoints and the run from the environment
    (``checks_environment``). Its exit code is pytest's."""
    import argparse

    import pytest

    parser = argparse.ArgumentParser(prog="python -m staging.suites", description=main.__doc__)
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated, of: " + ", ".join(SUITES))
    parser.add_argument("--junit", required=True, help="where pytest writes its JUnit XML")
    args = parser.parse_args(argv)
    names = [n for n in args.suites.split(",") if n]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}")
    return int(pytest.main([str(CHECKS_DIR), "-m", " or ".join(names), f"--junitxml={args.junit}",
                            "-o", "junit_family=xunit1", "-o", "junit_suite_name=staging", "-p", "no:cacheprovider",
                            "-p", "no:xdist", "-q", "-rfE", "--rootdir", str(CHECKS_DIR)]))


def results_from_junit(junit: Path, names: list[str]) -> list[SuiteResult]:
    """Per suite (a module ``test_<suite>``): each check's test (its recorded name, detail, value and
    threshold, passed unless it failed), the first error or failure outside a check as the reason
    (its work could not be done), and the figures it kept (``data:<suite>``)."""
    from defusedxml import ElementTree

    root = ElementTree.parse(junit).getroot()
    data = {p.get("name", "")[5:]: json.loads(p.get("value") or "null")
            for p in root.iter("property") if p.get("name", "").startswith("data:")}
    results = {name: SuiteResult(name, PASSED, data=data.get(name) or {}) for name in names}
    for case in root.iter("testcase"):
        suite = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
        if suite not in results:
            continue
        result = results[suite]
        result.duration_s = round(result.duration_s + float(case.get("time") or 0), 3)
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        problem = next((case.find(tag) for tag in ("error", "failure") if case.find(tag) is not None), None)
        if "check" in props and (problem is None or problem.tag == "failure"):
            result.checks.append({"name": props["check"], "passed": problem is None, "detail": props.get("detail", ""),
                                  "value": json.loads(props.get("value") or "null"),
                                  "threshold": json.loads(props.get("threshold") or "null")})
        elif problem is not None and result.reason is None:
            result.reason = _reason(problem.get("message") or problem.text or problem.tag)
    for result in results.values():
        if result.reason is None and not result.checks:
            result.reason = "no checks ran"
        if result.reason or result.failed_checks:
            result.status = FAILED
    return [results[name] for name in names]


def _reason(message: str) -> str:
    """A fixture's error as one line: pytest's 'failed on setup with "..."' unwrapped."""
    found = re.match(r'failed on setup with "(.*)"$', message.strip(), re.S)
    text = found[1] if found else message
    return text.strip().splitlines()[0][:500] if text.strip() else message[:500]


if __name__ == "__main__":
    sys.exit(main())
