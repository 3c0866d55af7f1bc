"""One settings object, read from OCR_MIGRATE_* environment variables (docs/architecture.md).

The CLI, the OCR service and the Airflow tasks all build their configuration from this, so a
value set once in the environment (or an Airflow connection exported to it) means the same
everywhere.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ocr_engines.documents import Limits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OCR_MIGRATE_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = Field(default="", description="SQLAlchemy URL; default: SQLite in data_dir")
    redis_url: str | None = None

    ocr_languages: str = "pol+eng"
    max_upload_mb: float = Field(default=40, gt=0)
    max_pages: int = Field(default=50, ge=1)
    max_image_pixels: int = Field(default=80_000_000, ge=1_000_000)
    render_dpi: int = Field(default=300, ge=72, le=600)
    page_timeout_s: float = Field(default=60, gt=0)
    second_look: bool = Field(default=True, description="re-read a scan from an ink-only image when the first "
                              "OCR pass leaves an expected field absent or a check fails")
    # cli by default: the in-process backend's bundled Tesseract 5.5.4 reads our corpus a little worse than
    # Debian's 5.3.0 (bench/bench_tesseract_versions.py; README "How Tesseract runs").
    tesseract_backend: Literal["auto", "tesserocr", "cli"] = Field(
        default="cli", description="how Tesseract runs: cli (the tesseract program per page, via pytesseract), "
        "tesserocr (in the worker process, models loaded once), auto (tesserocr when it loads, else cli)")
    capture: bool = Field(default=True, description="capture normalisation before a page is read: pages turned "
                          "upright, photos flattened, faxes resampled, stamps and signatures suppressed")
    # bench/bench_capture.py: the lower-case letter height (px) a page is resampled to when its print is too small
    target_xheight_px: float = Field(default=20.0, ge=8, le=60, description="lower-case letter height in pixels "
                                     "that small print (faxes, low-resolution scans) is resampled to")
    engine_deadline_s: float = Field(default=300, gt=0, description="a Tesseract read not answered by "
                                     "then is ended (its worker killed and replaced) and may fall back to Google")

    service_host: str = "127.0.0.1"
    service_port: int = Field(default=8001, ge=1, le=65535)
    client_api_keys: str = Field(default="", description="comma-separated name:secret pairs that may process")
    admin_api_keys: str = Field(default="", description="comma-separated name:secret pairs that may change flags")
    max_concurrency: int = Field(default=2, ge=1, description="documents read at once")
    max_queue: int = Field(default=16, ge=0, description="documents waiting; beyond it: 429")
    upload_timeout_s: float = Field(default=120, gt=0, description="an upload not complete by then: 408")
    upload_grace_s: float = Field(default=5, ge=0, description="after this, an upload slower than "
                                  "upload_min_bytes_per_s is ended (408)")
    upload_min_bytes_per_s: int = Field(default=8192, ge=0)
    max_uploads_per_key: int = Field(default=8, ge=1, description="uploads one API key may have in progress")
    shadow_percentage: int = Field(default=10, ge=0, le=100)
    # bench/bench_accuracy.py: every ksef-official scan is at 0.824 or more and together they are
    # 98.6 % right, so the lowest floor that keeps >= 98 % keeps them all; 0.8 keeps the same set.
    confidence_floor: float = Field(default=0.8, ge=0, le=1, description="open-source reads less confident "
                                    "than this are re-read by Google while it is on")
    flag_refresh_s: float = Field(default=2.0, gt=0)
    # The circuit breaker (service/pipeline.py): a real outage fails every request, so 5 in a row
    # from 3 different requests arrive within seconds at any real load and well inside a minute at
    # a trickle; failures the document caused (no entities, an image Tesseract cannot decode)
    # never count. 30 s of cooldown is a few Document AI retry cycles.
    breaker_failures: int = Field(default=5, ge=1, description="engine-health failures in a row that open an "
                                  "engine's circuit breaker")
    breaker_min_requests: int = Field(default=3, ge=1, description="... from at least this many distinct requests")
    breaker_window_s: float = Field(default=60, gt=0, description="... the first of them at most this long ago")
    breaker_cooldown_s: float = Field(default=30, gt=0, description="how long an open breaker keeps the "
                                      "engine out before one probe request")

    fault_injection: str | None = Field(default=None, pattern=r"^(tesseract|documentai):(0(\.\d+)?|1(\.0+)?)$",
                                        description="ENGINE:RATE, e.g. tesseract:0.3 — that share of reads fail (drills)")
    alert_webhook_url: str | None = Field(default=None, description="alerts are POSTed here as JSON")
    alert_webhook_retries: int = Field(default=3, ge=0, le=10)
    # Remediation (rollout/remediation.py): off by default. On, each document the open-source engine
    # serves is kept, with what it served, for retention_hours only; a stage that FAILs or is
    # rejected re-reads them with Document AI and publishes each changed result as a correction.
    remediation: bool = Field(default=False, description="keep what the open-source engine serves, to re-read it "
                              "with Google when its stage fails")
    retention_hours: float = Field(default=72.0, gt=0, le=24 * 90, description="how long a served document is "
                                   "kept for remediation; deleted after")
    retention_dir: Path | None = Field(default=None, description="where kept documents live (private, 0700): a "
                                       "directory every replica and Airflow worker reaches; default DATA_DIR/retained")
    remediation_concurrency: int = Field(default=4, ge=1, le=32, description="Document AI re-reads in flight per "
                                         "remediation shard (within the processor's concurrent-request quota)")
    # Corrections carry invoice values: never the alert webhook.
    corrections_webhook_url: str | None = Field(default=None, description="each correction is POSTed here as JSON")
    corrections_webhook_retries: int = Field(default=3, ge=0, le=10)

    documentai_project: str | None = None
    documentai_location: str = "eu"
    documentai_processor_id: str | None = None
    documentai_processor_version: str | None = None
    documentai_endpoint: str | None = Field(default=None, description="override, e.g. the local test double")
    documentai_credentials_file: str | None = Field(default=None, description="service-account JSON; default ADC")
    documentai_timeout_s: float = Field(default=60, gt=0)
    documentai_max_attempts: int = Field(default=4, ge=1, le=10)
    documentai_backoff_s: float = Field(default=1.0, ge=0)
    # The cost ledger (rollout/health/ledger.py): the contracted price, entered by the operator.
    documentai_price_per_page: Decimal | None = Field(default=None, gt=0, max_digits=12, decimal_places=6,
                                                      description="what Document AI costs per page read, e.g. "
                                                      "0.01; no default: without it the ledger counts pages only")
    documentai_price_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$",
                                           description="the currency of documentai_price_per_page (ISO 4217)")

    @staticmethod
    def parse_keys(text: str) -> dict[str, str]:
        """'ops:s3cret,app:k3y' → {secret: name}; a bare secret is named key1, key2, ..."""
        keys = {}
        for i, item in enumerate(filter(None, (part.strip() for part in text.split(","))), 1):
            name, sep, secret = item.partition(":")
            keys[secret if sep else name] = name if sep else f"key{i}"
        return keys

    @property
    def spool_path(self) -> Path:
        return self.data_dir / "events-spool.jsonl"

    @property
    def retained_dir(self) -> Path:
        return self.retention_dir or self.data_dir / "retained"

    @property
    def data_docs_dir(self) -> Path:
        """Great Expectations Data Docs (static HTML) built by the golden gates, served by the UI plugin."""
        return self.data_dir / "data_docs"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'ocr_migrate.db').resolve()}"

    def limits(self) -> Limits:
        return Limits(
            max_bytes=int(self.max_upload_mb * 1024 * 1024),
            max_pages=self.max_pages,
            max_pixels=self.max_image_pixels,
            render_dpi=self.render_dpi,
            page_timeout_s=self.page_timeout_s,
        )

    def engine_options(self, engine: str) -> dict:
        if engine == "tesseract":
            return {"languages": self.ocr_languages, "limits": self.limits(), "second_look": self.second_look,
                    "backend": self.tesseract_backend, "capture": self.capture,
                    "target_xheight_px": self.target_xheight_px}
        if engine == "documentai":
            from ocr_engines.documentai import DocumentAIConfig

            return {"limits": self.limits(), "config": DocumentAIConfig(
                project=self.documentai_project or "", location=self.documentai_location,
                processor_id=self.documentai_processor_id or "",
                processor_version=self.documentai_processor_version, endpoint=self.documentai_endpoint,
                credentials_file=self.documentai_credentials_file, timeout_s=self.documentai_timeout_s,
                max_attempts=self.documentai_max_attempts, backoff_initial_s=self.documentai_backoff_s)}
        return {"limits": self.limits()}


@functools.cache
def get_settings() -> Settings:
    return Settings()
