"""The staging stack's configuration and what a deploy hands on: ``StagingConfig`` (ports, folders,
timeouts), ``StagingEndpoints`` (where the stack answers; ``to_dict()`` carries no secrets, they
stay in ``base_dir/keys.json``, mode 0600, and ``from_dict()`` reads them back), the API keys, and
the golden documents the checks send. See docs/architecture.md."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


STAGING_ACTOR = "staging-deploy"
# What staging runs with on top of the seed defaults: shadow comparisons on, metrics collected.
STAGING_FLAGS = {"enable_accuracy_comparison": True, "collect_ocr_metrics": True, "enable_performance_monitoring": True}
KEYS_FILE = "keys.json"


class StagingError(RuntimeError):
    """The staging stack could not be deployed, reached or checked; the message says what to do."""


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def default_golden_dir() -> Path:
    try:
        import expectations

        found = Path(expectations.__file__).resolve().parent / "golden"
        if found.is_dir():
            return found
    except ImportError:
        pass
    return project_root() / "expectations" / "golden"


def _default_base_dir() -> Path:
    return Path(os.environ.get("OCR_MIGRATE_STAGING_DIR", "data/staging"))


@dataclass
class StagingConfig:
    service_host: str = "127.0.0.1"
    service_port: int = 8001
    redis_port: int = 6380
    postgres_port: int = 5433
    documentai_port: int = 8091  # the local Document AI double: staging's "Google"
    base_dir: Path = field(default_factory=_default_base_dir)  # pid records, logs, keys, PostgreSQL data
    golden_dir: Path = field(default_factory=default_golden_dir)
    database_url: str | None = None  # reuse this store instead of starting PostgreSQL
    redis_url: str | None = None  # reuse this Redis instead of starting redis-server
    client_key: str | None = None  # default: generated once, kept in base_dir/keys.json
    admin_key: str | None = None
    database_name: str = "ocr_staging"
    max_upload_mb: float = 5  # small, so that the security suite's oversize upload stays cheap
    max_concurrency: int = 2
    startup_timeout_s: float = 120
    compose_file: Path | None = None  # DockerDeployer; default: docker-compose.airflow.yml of the project

    def __post_init__(self):
        self.base_dir = Path(self.base_dir).expanduser().absolute()
        self.golden_dir = Path(self.golden_dir).expanduser().absolute()
        if self.compose_file is not None:
            self.compose_file = Path(self.compose_file).expanduser().absolute()

    @classmethod
    def from_dict(cls, data: dict) -> "StagingConfig":
        """From Airflow Params / a JSON object; unknown keys are ignored, None means the default."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and v is not None})

    def to_dict(self) -> dict:
        """JSON-safe, without the keys."""
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        out.pop("client_key"), out.pop("admin_key")
        for name in ("database_url", "redis_url"):
            out[name] = mask_password(out[name])
        return out

    @property
    def keys_file(self) -> Path:
        return self.base_dir / KEYS_FILE


@dataclass
class StagingEndpoints:
    service_url: str
    database_url: str
    redis_url: str | None
    documentai_endpoint: str | None
    client_key: str = field(repr=False, default="")
    admin_key: str = field(repr=False, default="")
    max_upload_mb: float | None = None  # the service's upload limit (None: the service default, 40)
    keys_file: str | None = None  # where from_dict finds the secrets
    kind: str = "local"

    def to_dict(self) -> dict:
        """For XCom: no API keys, passwords in URLs masked (from_dict restores both from keys_file)."""
        return {"service_url": self.service_url, "database_url": mask_password(self.database_url),
                "redis_url": mask_password(self.redis_url), "documentai_endpoint": self.documentai_endpoint,
                "max_upload_mb": self.max_upload_mb, "keys_file": self.keys_file, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict, base_dir: Path | str | None = None) -> "StagingEndpoints":
        """Keys (and masked passwords) come from ``data`` when present, else from ``data['keys_file']``
        or ``base_dir/keys.json``."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        path = Path(values.get("keys_file") or Path(base_dir or _default_base_dir()) / KEYS_FILE)
        stored: dict = {}
        if not (values.get("client_key") and values.get("admin_key")) or _masked(values.get("database_url")) \
                or _masked(values.get("redis_url")):
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                raise StagingError(f"the staging keys are not in the endpoints and {path} cannot be read: run the "
                                   "staging deploy on this host first (or pass client_key/admin_key)") from None
        values["client_key"] = values.get("client_key") or stored.get("client_key", "")
        values["admin_key"] = values.get("admin_key") or stored.get("admin_key", "")
        for name in ("database_url", "redis_url"):
            secret_url = stored.get(name)
            if _masked(values.get(name)) and secret_url and mask_password(secret_url) == values[name]:
                values[name] = secret_url
        values["keys_file"] = str(path)
        return cls(**values)


_PASSWORD = re.compile(r"(://[^:/@]*:)([^@]*)@")


def mask_password(url: str | None) -> str | None:
    return _PASSWORD.sub(r"\1***@", url) if url else url


def _masked(url: str | None) -> bool:
    return bool(url) and ":***@" in url


def ensure_keys(config: StagingConfig, extra: dict | None = None) -> dict:
    """The staging API keys: given in the config, else kept in base_dir/keys.json, else generated.
    ``extra`` (URLs with passwords) is kept beside them so that XCom needs none of it."""
    path = config.keys_file
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    wanted = dict(stored)
    wanted["client_key"] = config.client_key or stored.get("client_key") or secrets.token_hex(24)
    wanted["admin_key"] = config.admin_key or stored.get("admin_key") or secrets.token_hex(24)
    wanted.update({k: v for k, v in (extra or {}).items() if v})
    if wanted != stored:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(wanted, fh, indent=1)
        tmp.replace(path)
    return wanted


def golden_digital(golden_dir: Path) -> list[Path]:
    """The golden corpus's digital PDFs (manifest variant 'digital'), sorted."""
    return [p for p, variant in _golden_variants(golden_dir) if variant == "digital"]


def _golden_variants(golden_dir: Path) -> list[tuple[Path, str]]:
    """(document, variant) of a golden folder: the manifest's variant, else digital for a PDF."""
    from ocr_engines.evaluation import golden_documents

    return [(d.path, d.group if d.group != "all" else "digital" if d.path.suffix.lower() == ".pdf" else "scan")
            for d in golden_documents(golden_dir)]


def json_body(response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
