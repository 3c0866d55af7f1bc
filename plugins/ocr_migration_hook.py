"""Where the migration's stores come from, for every task of the migration DAGs: Airflow
Connections and Variables, falling back to the OCR_MIGRATE_* settings. ``OcrMigrationHook``
gives the ``Stores`` (the flag store publishing to Redis, the metrics database, the notifiers) a
callable or a sensor works with.

Connections / Variables (all optional; unset = the OCR_MIGRATE_* environment):
  ocr_metrics_db (postgres or sqlite connection) — flag state, events, gates, alerts
  ocr_redis (redis connection)                    — flag distribution
  ocr_notifier_webhook (Variable)                 — alerts are POSTed here
  ocr_golden_dir (Variable)                       — golden invoices for the GX gates
  ocr_service_url (Variable)                      — the OCR service the monitoring DAG checks

Nothing heavy is imported at module level: DAG files import this at parse time.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

log = logging.getLogger(__name__)

METRICS_CONN, REDIS_CONN = "ocr_metrics_db", "ocr_redis"
WEBHOOK_VAR, GOLDEN_VAR, SERVICE_VAR = "ocr_notifier_webhook", "ocr_golden_dir", "ocr_service_url"
PRICE_VAR = "ocr_documentai_price_per_page"  # the contracted Document AI price (the cost ledger)
REPO_ROOT = Path(__file__).resolve().parent.parent


def connection_or_none(conn_id: str):
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    except Exception as exc:  # no Airflow context (e.g. a plain script): the environment decides
        log.debug("connection %s not readable: %s", conn_id, exc)
        return None


def variable(key: str) -> str | None:
    from airflow.sdk import Variable

    try:
        return Variable.get(key, default=None) or None
    except Exception as exc:
        log.debug("variable %s not readable: %s", key, exc)
        return None


def sqlalchemy_url(conn) -> str:
    """An Airflow connection as an SQLAlchemy URL for our stores. A PostgreSQL connection is the
    postgres provider's (``PostgresHook.sqlalchemy_url``: psycopg 3 under SQLAlchemy 2, the
    connection's ``sqlalchemy_query`` and IAM extras honoured); SQLite, the embedded default, is a
    file path."""
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return PostgresHook(connection=conn).sqlalchemy_url.render_as_string(hide_password=False)
    return conn.get_uri()


def migration_settings(metrics_conn_id: str = METRICS_CONN, redis_conn_id: str = REDIS_CONN):
    """The project's Settings with the Airflow Connections/Variables applied over the environment."""
    from rollout.settings import Settings

    overrides = {}
    if (conn := connection_or_none(metrics_conn_id)) is not None:
        overrides["database_url"] = sqlalchemy_url(conn)
    if (conn := connection_or_none(redis_conn_id)) is not None:
        overrides["redis_url"] = conn.get_uri()
    if (hook := variable(WEBHOOK_VAR)) is not None:
        overrides["alert_webhook_url"] = hook
    if (price := variable(PRICE_VAR)) is not None:
        overrides["documentai_price_per_page"] = price
    return Settings(**overrides)


@functools.lru_cache(maxsize=4)
def metrics_db(url: str):
    """The metrics and flag database: one SQLAlchemy Engine (and its connection pool) per URL in a
    worker process, which a sensor poking every minute reuses instead of building its own. Its
    schema is the DAG's first task's to upgrade (``get_stores(at_start=True)``), never a poke's."""
    from rollout.db import make_db

    return make_db(url)


class Stores:
    """The flag store (publishing changes to Redis), the metrics database ``db``, the notifiers and
    the settings they came from: what a callable or a sensor works with."""

    def __init__(self, settings, at_start: bool = False):
        from rollout.distribution import publish
        from rollout.flags import FlagStore
        from rollout.health.alerts import notifiers_from

        self.settings = settings
        self.db = metrics_db(settings.sqlalchemy_url)
        self.flags = FlagStore(self.db, on_change=lambda snap: publish(settings.redis_url, snap))
        self.notifiers = notifiers_from(settings.alert_webhook_url, settings.alert_webhook_retries)
        if at_start:
            self.flags.init()


class OcrMigrationHook(BaseHook):
    """The migration's stores from Airflow's connections, as a provider's hook gives its client:
    ``ocr_metrics_db`` becomes the database through the postgres provider's hook (SQLite for the
    embedded default), ``ocr_redis`` the flag distribution, over the Variables and the
    ``OCR_MIGRATE_*`` settings. ``get_stores(at_start=True)`` (a DAG's first task) also upgrades the
    schema (Alembic, ``rollout.db``) and seeds the rollout state; every other task, and every
    poke, finds them in place."""

    conn_name_attr = "metrics_conn_id"
    default_conn_name = METRICS_CONN
    conn_type = "postgres"
    hook_name = "OCR migration stores"

    def __init__(self, metrics_conn_id: str = METRICS_CONN, redis_conn_id: str = REDIS_CONN, **kwargs):
        super().__init__(**kwargs)
        self.metrics_conn_id, self.redis_conn_id = metrics_conn_id, redis_conn_id

    def get_settings(self):
        return migration_settings(self.metrics_conn_id, self.redis_conn_id)

    def get_conn(self):
        """The metrics and flag database's SQLAlchemy Engine (one per URL in this process)."""
        return metrics_db(self.get_settings().sqlalchemy_url)

    def get_stores(self, at_start: bool = False) -> Stores:
        return Stores(self.get_settings(), at_start=at_start)


def actor(context) -> str:
    return f"airflow:{context['dag'].dag_id}/{context['run_id']}"


def plan_of(context):
    from rollout.migration import MigrationPlan, PlanError

    try:
        return MigrationPlan.from_params(dict(context["params"]))
    except PlanError as exc:
        raise AirflowFailException(f"invalid migration plan: {exc}") from None


def golden_dir() -> Path:
    return Path(variable(GOLDEN_VAR) or REPO_ROOT / "expectations" / "golden")


def plan_percentage(plan, position: int) -> int:
    """The plan slot's percentage; a slot beyond this run's plan is skipped (it does not
    'succeed': the grid shows the run's real stages)."""
    percentage = plan.percentage_at(position)
    if percentage is None:
        raise AirflowSkipException(f"plan slot {position} is beyond this run's {len(plan.stages)}-stage plan")
    return percentage
