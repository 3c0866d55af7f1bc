"""Service /health, PostgreSQL (SELECT 1, the rollout tables), Redis PING, Tesseract's languages,
the Document AI endpoint."""

from __future__ import annotations

import httpx
import pytest

from staging.config import json_body, mask_password
from rollout.health.judge import is_serving

pytestmark = pytest.mark.infrastructure


def test_service_health(endpoints, check):
    base = endpoints.service_url.rstrip("/")
    try:
        r = httpx.get(f"{base}/health", timeout=10)
    except httpx.HTTPError as exc:
        check("service_health", False, f"{base}/health unreachable: {exc}")
        return
    body = json_body(r)
    state = body.get("status")
    check("service_health", r.status_code == 200 and is_serving(state),
          f"GET /health -> {r.status_code}, flags from {body.get('flags', {}).get('source')}", state,
          "healthy|degraded")


@pytest.fixture(scope="module")
def database(endpoints):
    """(SELECT 1's answer, the rollout state's version or the error, the error connecting)."""
    from sqlalchemy import create_engine, text

    args = {"connect_timeout": 5} if endpoints.database_url.startswith("postgresql") else {}
    db = create_engine(endpoints.database_url, connect_args=args)
    try:
        with db.connect() as conn:
            one = conn.execute(text("SELECT 1")).scalar()
            try:
                version = conn.execute(text("SELECT version FROM rollout_state WHERE id = 1")).scalar()
                conn.execute(text("SELECT count(*) FROM ocr_events")).scalar()
                schema = (version is not None, "rollout_state and ocr_events exist", version)
            except Exception as exc:  # noqa: BLE001
                schema = (False, f"flag/event tables missing (run load_test_data): {str(exc).splitlines()[0][:200]}",
                          None)
        return one, schema, None
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        return None, None, str(exc).splitlines()[0][:300]
    finally:
        db.dispose()


def test_postgres_select_1(endpoints, database, check):
    one, _, error = database
    where = mask_password(endpoints.database_url)
    check("postgres_select_1", error is None and one == 1, f"{where}: {error}" if error else where, one, 1)


def test_rollout_schema(database, check):
    _, schema, error = database
    if error:
        pytest.skip("the database is not reachable (postgres_select_1 says why)")
    check("rollout_schema", *schema)


def test_redis_ping(endpoints, check):
    if not endpoints.redis_url:
        check("redis_ping", False, "no Redis configured for staging (production distributes flags through it)")
        return
    import redis

    where = mask_password(endpoints.redis_url)
    try:
        pong = redis.Redis.from_url(endpoints.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        check("redis_ping", False, f"{where}: {exc}")
        return
    check("redis_ping", bool(pong), where, "PONG" if pong else None)


def test_tesseract_languages(check):
    try:
        import pytesseract

        langs = set(pytesseract.get_languages(config=""))
    except Exception as exc:  # noqa: BLE001
        check("tesseract_languages", False, f"tesseract not usable: {exc}")
        return
    check("tesseract_languages", {"pol", "eng"} <= langs, "on the host running the suites", sorted(langs),
          ["eng", "pol"])


def test_documentai_double(endpoints, check):
    if not endpoints.documentai_endpoint:
        pytest.skip("no Document AI test double in this stack")
    try:
        r = httpx.get(f"{endpoints.documentai_endpoint.rstrip('/')}/__double__/stats", timeout=5)
    except httpx.HTTPError as exc:
        check("documentai_double", False, f"{endpoints.documentai_endpoint}: {exc}")
        return
    check("documentai_double", r.status_code == 200, f"{endpoints.documentai_endpoint} (local test double)",
          json_body(r).get("documents"))
