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


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away database on the real PostgreSQL server (CI starts it), dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"ocr_migrate_test_{os.getpid()}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each flag/metrics test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flags.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(postgres_url):
    """The throw-away PostgreSQL database with none of our tables: a clean slate per test."""
    url = postgres_url
    from sqlalchemy import create_engine, text

    db = create_engine(url)
    with db.begin() as conn:  # a clean slate per test
        conn.execute(text("DROP TABLE IF EXISTS flag_audit, rollout_state, ocr_events, gate_evaluations, alerts, gx_validations, ocr_remediations, ocr_corrections"))
    db.dispose()
    return url


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
