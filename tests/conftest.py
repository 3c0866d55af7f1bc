import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "expectations" / "golden"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    assert (GOLDEN / "manifest.json").is_file(), "the committed golden subset is missing"
    return GOLDEN


@pytest.fixture(scope="session")
def ksef_dir() -> Path:
    """The committed ksef-official subset: invoices of the official KSeF visualiser."""
    return Path(__file__).resolve().parent.parent / "expectations" / "ksef-official"


@pytest.fixture(scope="session")
def cli() -> list[str]:
    """The installed console command (falls back to the module when run outside the venv)."""
    exe = Path(sys.executable).with_name("ocr-migrate")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from cli import main; main()"]


PG_ADMIN_URL = os.environ.get("OCR_MIGRATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin():
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _recreate(name: str, template: str | None = None) -> str:
    """Database ``name`` made again (connections a test left open are ended), empty or a copy of
    ``template``; its URL."""
    from sqlalchemy import text

    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template
                                                          else "")))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop(name: str) -> None:
    from sqlalchemy import text

    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_template():
    """The schema at head, upgraded ONCE per session (``rollout.db.upgrade``: the Alembic
    migrations, as ``ocr-migrate db upgrade`` runs them): every test's PostgreSQL database is a
    copy of this one (CREATE DATABASE ... TEMPLATE)."""
    from rollout.db import make_db, upgrade

    name = f"ocr_migrate_template_{os.getpid()}"
    db = make_db(_recreate(name))
    upgrade(db)
    db.dispose()
    yield name
    _drop(name)


@pytest.fixture(scope="session")
def postgres_url(postgres_template):
    """A throw-away database on the real PostgreSQL server (CI starts it), at the schema's head,
    dropped afterwards."""
    name = f"ocr_migrate_test_{os.getpid()}"
    yield _recreate(name, postgres_template)
    _drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each flag/metrics test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flags.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(postgres_url, postgres_template):
    """The throw-away PostgreSQL database made again from the template per test: a clean slate at
    the schema's head, with no rows."""
    return _recreate(postgres_url.rsplit("/", 1)[1], postgres_template)


@pytest.fixture
def pg_empty_url(postgres_url):
    """The throw-away PostgreSQL database made again EMPTY: no table, no schema version (what a
    first deployment, or an old database's fixture, starts from)."""
    return _recreate(postgres_url.rsplit("/", 1)[1])


DOUBLE_DEFAULTS = dict(fail_next=[], failure_rate=0.0, field_error_rate=0.0, malformed_next=0,
                       permission_denied=False, latency_median_s=0.0, latency_sigma=0.35, failure_codes=[429, 500, 503])


@pytest.fixture(scope="session")
def double(golden_dir):
    """The local Document AI API double, answering the committed golden documents."""
    from staging.documentai_double import DocumentAIDouble

    d = DocumentAIDouble(golden_dir)
    d.start()
    yield d
    d.stop()


@pytest.fixture
def fresh(double):
    """The double with default behaviour and zeroed counters, restored after the test too."""
    double.configure(**DOUBLE_DEFAULTS)
    double.reset_stats()
    yield double
    double.configure(**DOUBLE_DEFAULTS)


@pytest.fixture(scope="session")
def google_engine(double):
    """Build a Document AI engine (the real client) pointed at the double."""
    from ocr_engines import get_engine
    from ocr_engines.documentai import DocumentAIConfig

    def make(**overrides):
        cfg = dict(project="demo-project", location="eu", processor_id="demo-invoice-parser", endpoint=double.url,
                   timeout_s=5.0, max_attempts=3, backoff_initial_s=0.001)
        cfg.update(overrides)
        return get_engine("documentai", config=DocumentAIConfig(**cfg))

    return make
