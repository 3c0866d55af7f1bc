"""Self-validation of a deployment (the seed's validate_deployment_implementation.py): DAG import
errors and parse times, the stores behind the Airflow connections, the OCR service, Tesseract
and its languages, the Great Expectations suites, the UI plugin — each PASS / WARN / FAIL, then a
verdict (exit 0 when nothing FAILed).

Run it where Airflow runs (same AIRFLOW_HOME and environment as the scheduler and workers):
  .venv/bin/python scripts/validate_deployment.py [--service-url http://127.0.0.1:8001] [--output json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

EXPECTED_DAGS = {"ocr_migration", "ocr_staging_deploy", "ocr_staging_tests", "ocr_emergency", "ocr_monitoring"}
PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


def check_dags(results: list) -> None:
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    folder = conf.get("core", "dags_folder")
    start = time.perf_counter()
    bag = DagBag(dag_folder=folder)
    results.append(("DAG import errors", FAIL if bag.import_errors else PASS,
                    "; ".join(f"{Path(k).name}: {str(v).splitlines()[-1]}" for k, v in bag.import_errors.items())
                    or f"none in {folder} ({time.perf_counter() - start:.1f} s)"))
    missing = EXPECTED_DAGS - set(bag.dag_ids)
    results.append(("DAGs present", FAIL if missing else PASS,
                    f"missing {sorted(missing)}" if missing else ", ".join(sorted(EXPECTED_DAGS))))
    slow = {s.file: s.duration.total_seconds() for s in bag.dagbag_stats}
    worst = max(slow.values(), default=0)
    results.append(("DAG parse time", WARN if worst > 0.5 else PASS,
                    ", ".join(f"{Path(f).name} {t:.2f} s" for f, t in sorted(slow.items())) + " (target <= 0.5 s)"))


def check_stores(results: list) -> dict:
    import ocr_migration_hook as hook
    from sqlalchemy import text

    from rollout.db import current, head, make_db

    settings = hook.migration_settings()
    source = "connection ocr_metrics_db" if hook.connection_or_none(hook.METRICS_CONN) else "OCR_MIGRATE_DATABASE_URL / default"
    try:
        db = make_db(settings.sqlalchemy_url)
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
        results.append(("metrics database", PASS, f"{settings.sqlalchemy_url.split('@')[-1]} ({source})"))
        at, newest = current(db), head()
        results.append(("database schema", PASS if at == newest else FAIL, f"revision {at or 'none'}" + (
            "" if at == newest else f"; the code needs {newest}: run `ocr-migrate db upgrade`")))
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        results.append(("metrics database", FAIL, f"{source}: {str(exc).splitlines()[0][:160]}"))
    if settings.redis_url:
        import redis

        try:
            redis.Redis.from_url(settings.redis_url, socket_timeout=3).ping()
            results.append(("redis", PASS, settings.redis_url.split("@")[-1]))
        except Exception as exc:  # noqa: BLE001
            results.append(("redis", FAIL, f"{settings.redis_url.split('@')[-1]}: {exc}"))
    else:
        results.append(("redis", WARN, "not configured: flag changes reach services by SQL polling"))
    results.append(("alert webhook", PASS if settings.alert_webhook_url else WARN,
                    "configured" if settings.alert_webhook_url else "not set: alerts go to the log only"))
    return {"settings": settings}


def check_service(results: list, url: str | None) -> None:
    import httpx

    import ocr_migration_hook as hook

    url = url or hook.variable(hook.SERVICE_VAR) or os.environ.get("OCR_MIGRATE_SERVICE_URL")
    if not url:
        results.append(("OCR service", WARN, "no URL (--service-url, Variable ocr_service_url)"))
        return
    try:
        data = httpx.get(f"{url.rstrip('/')}/health", timeout=5).json()
        status = data.get("status")
        results.append(("OCR service", PASS if status == "healthy" else WARN if status == "degraded" else FAIL,
                        f"{url}: {status}"))
    except (httpx.HTTPError, ValueError) as exc:
        results.append(("OCR service", FAIL, f"{url}: {exc}"))


def check_tesseract(results: list) -> None:
    exe = shutil.which("tesseract")
    if not exe:
        results.append(("tesseract", FAIL, "not installed (apt-get install tesseract-ocr tesseract-ocr-pol)"))
        return
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    langs = set(subprocess.run([exe, "--list-langs"], capture_output=True, text=True).stdout.split()[1:])
    missing = {"pol", "eng"} - langs
    results.append(("tesseract", FAIL if missing else PASS,
                    f"{version}; languages {sorted(langs)}" + (f"; missing {sorted(missing)}" if missing else "")))
    threads = os.environ.get("OMP_THREAD_LIMIT")
    results.append(("OMP_THREAD_LIMIT", PASS if threads == "1" else WARN,
                    f"{threads or 'unset'} (1 is ~8x faster here: parallelise with processes)"))


def check_gx(results: list) -> None:
    from rollout.health.gx_suites import declared_expectations, default_gx_dir

    gx_dir = default_gx_dir()
    for suite in ("ocr_golden_fields", "ocr_shadow_agreement"):
        try:
            count = len(declared_expectations(suite))
            results.append((f"GX suite {suite}", PASS if count else FAIL, f"{count} expectations in {gx_dir}"))
        except Exception as exc:  # noqa: BLE001
            results.append((f"GX suite {suite}", FAIL, str(exc)[:200]))


def check_plugin(results: list) -> None:
    try:
        import ocr_migration_plugin  # noqa: F401

        results.append(("UI plugin", PASS, "ocr_migration_plugin imports; page at /ocr-migration/"))
    except Exception as exc:  # noqa: BLE001
        results.append(("UI plugin", FAIL, str(exc)[:200]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service-url")
    parser.add_argument("--output", choices=["table", "json"], default="table")
    args = parser.parse_args()
    results: list[tuple[str, str, str]] = []
    for check in (check_dags, check_stores, lambda r: check_service(r, args.service_url), check_tesseract,
                  check_gx, check_plugin):
        try:
            check(results)
        except Exception as exc:  # noqa: BLE001 - a broken check is a finding, not a crash
            results.append((getattr(check, "__name__", "check"), FAIL, f"{type(exc).__name__}: {exc}"[:200]))
    verdict = FAIL if any(r[1] == FAIL for r in results) else WARN if any(r[1] == WARN for r in results) else PASS
    if args.output == "json":
        print(json.dumps({"verdict": verdict, "checks": [{"check": c, "status": s, "detail": d}
                                                         for c, s, d in results]}))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("check", "status", "detail", title="deployment validation")
        colour = {PASS: "green", WARN: "yellow", FAIL: "red"}
        for name, status, detail in results:
            table.add_row(name, f"[{colour[status]}]{status}[/]", detail)
        console = Console()
        console.print(table)
        console.print(f"verdict: [bold {colour[verdict]}]{verdict}[/]"
                      + (" — ready" if verdict != FAIL else " — fix the FAIL lines above"))
    return 1 if verdict == FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
