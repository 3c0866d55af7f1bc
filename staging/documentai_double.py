"""A LOCAL TEST DOUBLE of Google Cloud Document AI's REST API — not Google, never production.

It answers ``POST /v1/projects/{p}/locations/{l}/processors/{id}[/processorVersions/{v}]:process``
in Google's JSON (camelCase, entities with ``normalizedValue``, ``line_item`` properties), so the
real ``google-cloud-documentai`` client with the REST transport, ``AnonymousCredentials`` and
``ClientOptions(api_endpoint="http://127.0.0.1:PORT")`` works unchanged — the way teams test
against LocalStack or the Pub/Sub emulator.

For a document of its golden directory (matched by content hash) it answers from that invoice's
truth file; any other document gets a response with no entities. It plays a realistic baseline
when asked to: log-normal latency (Google's typical 1-4 s), a per-field error rate, a failure
rate with HTTP codes (429/500/503). Every response is stamped ``document.uri =
"test-double:documentai"`` and the header ``X-Test-Double: documentai``, and the engine reports it.

Control endpoints for tests and demos: ``GET /__double__/stats`` (requests seen, by status) and
``POST /__double__/config`` (change the behaviour at run time), ``POST /token`` (a fake OAuth
token endpoint, so a service-account credentials file can point its ``token_uri`` here).

Run it: ``ocr-migrate documentai-double --golden expectations/golden --port 8081``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ocr_engines.evaluation import golden_documents

PROCESS_PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/processors/(?P<processor>[^/:]+)"
    r"(?:/processorVersions/(?P<version>[^/:]+))?:process$")
STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
PAGE_LIMIT = 15
AMOUNT_FIELDS = ("net_amount", "total_tax_amount", "total_amount")
DATE_FIELDS = ("invoice_date", "due_date", "delivery_date")


@dataclass
class DoubleConfig:
    """Behaviour knobs; all off by default so that tests are exact and fast."""

    project: str = "demo-project"
    location: str = "eu"
    processor_id: str = "demo-invoice-parser"
    latency_median_s: float = 0.0  # log-normal latency; 2.0 with sigma 0.35 spans Google's 1-4 s
    latency_sigma: float = 0.35
    failure_rate: float = 0.0  # share of requests answered with an error code
    failure_codes: list[int] = field(default_factory=lambda: [429, 500, 503])
    fail_next: list[int] = field(default_factory=list)  # scripted: the next requests fail with these codes
    field_error_rate: float = 0.0  # share of fields answered wrong (a changed digit or letter)
    malformed_next: int = 0  # the next N responses are not JSON
    permission_denied: bool = False
    confidence: float = 0.97
    seed: int = 7


class DocumentAIDouble:
    """The double's state: golden index, configuration, request statistics; and its server."""

    def __init__(self, golden_dir: Path | None = None, config: DoubleConfig | None = None):
        self.config = config or DoubleConfig()
        self.index: dict[str, tuple[dict, int]] = {}
        self.stats: Counter = Counter()
        self._waiting = 0
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._server: ThreadingHTTPServer | None = None
        if golden_dir is not None:
            self.load(Path(golden_dir))

    def load(self, golden_dir: Path) -> int:
        pages = {}
        manifest = golden_dir / "manifest.json"
        if manifest.is_file():  # {"documents": [{"file", "pages"}]}, or a list of {"pdf", "scan", "pages"}
            data = json.loads(manifest.read_text())
            for entry in data["documents"] if isinstance(data, dict) else data:
                for key in ("file", "pdf", "scan"):
                    if key in entry:
                        pages[entry[key]] = entry.get("pages", 1)
        for doc in golden_documents(golden_dir):
            digest = hashlib.sha256(doc.path.read_bytes()).hexdigest()
            rel = doc.path.relative_to(golden_dir).as_posix()
            self.index[digest] = (doc.truth, pages.get(rel, 1))
        return len(self.index)

    # ------------------------------------------------------------ server

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="documentai-double", daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_forever(self, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.serve_forever()

    # ------------------------------------------------------------ behaviour

    def configure(self, **changes) -> None:
        with self._lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise ValueError(f"unknown double setting {key!r}")
                setattr(self.config, key, value)
            self._rng = random.Random(self.config.seed)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.clear()

    def answer(self, path: str, body: bytes) -> tuple[int, bytes | dict]:
        """(HTTP status, JSON object or raw bytes) for one process request."""
        cfg = self.config
        with self._lock:
            self.stats["requests"] += 1
            delay = cfg.latency_median_s * math.exp(self._rng.gauss(0, cfg.latency_sigma)) if cfg.latency_median_s else 0
            scripted = cfg.fail_next.pop(0) if cfg.fail_next else None
            random_failure = cfg.failure_rate and self._rng.random() < cfg.failure_rate
            code = scripted or (self._rng.choice(cfg.failure_codes) if random_failure else None)
            malformed = cfg.malformed_next > 0
            if malformed:
                cfg.malformed_next -= 1
        if delay:  # the most requests waiting here at once: what a caller's concurrency reached
            with self._lock:
                self._waiting += 1
                self.stats["peak_in_flight"] = max(self.stats["peak_in_flight"], self._waiting)
            time.sleep(delay)
            with self._lock:
                self._waiting -= 1
        m = PROCESS_PATH.match(path)
        if not m or (m["project"], m["location"], m["processor"]) != (cfg.project, cfg.location, cfg.processor_id):
            return _error(404, f"Processor {path.removeprefix('/v1/').removesuffix(':process')} not found.")
        if cfg.permission_denied:
            return _error(403, "Permission 'documentai.processors.processOnline' denied on resource.")
        if code:
            return _error(code, "Quota exceeded for online processing requests." if code == 429
                          else "The service is currently unavailable." if code == 503 else "Internal error.")
        if malformed:
            return 200, b"<html>502 Bad Gateway</html>"
        try:
            raw = json.loads(body)["rawDocument"]
            content = base64.b64decode(raw["content"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "Request contains an invalid argument: rawDocument.content.")
        truth, pages = self.index.get(hashlib.sha256(content).hexdigest(), (None, 1))
        if pages > PAGE_LIMIT:
            return _error(400, f"Document pages exceed the limit: {PAGE_LIMIT} got {pages}")
        return 200, {"document": self._document(truth, pages, raw.get("mimeType", ""))}

    def _document(self, truth: dict | None, pages: int, mime_type: str) -> dict:
        entities = []
        with self._lock:
            for name, value in (truth or {}).items():
                if name == "line_items":
                    entities += [_line_item_entity(item, self.config.confidence) for item in value]
                    continue
                if self.config.field_error_rate and self._rng.random() < self.config.field_error_rate:
                    value = _perturb(str(value), self._rng)
                entities.append(_entity(name, str(value), truth.get("currency", "PLN"), self.config.confidence))
        text = "\n".join(e["mentionText"] for e in entities)
        return {"uri": "test-double:documentai", "mimeType": mime_type, "text": text, "entities": entities,
                "pages": [{"pageNumber": i + 1} for i in range(pages)]}


def _error(code: int, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}}


def _money(value: str, currency: str) -> dict:
    amount = Decimal(value)
    units = int(amount)
    return {"currencyCode": currency, "units": str(units), "nanos": int((amount - units) * 10**9)}


def _entity(name: str, value: str, currency: str, confidence: float) -> dict:
    entity = {"type": name, "mentionText": value, "confidence": confidence}
    if name in AMOUNT_FIELDS:
        entity["mentionText"] = value.replace(".", ",") + (" zł" if currency == "PLN" else f" {currency}")
        entity["normalizedValue"] = {"moneyValue": _money(value, currency), "text": f"{value} {currency}"}
    elif name in DATE_FIELDS:
        y, mth, d = (int(p) for p in value.split("-"))
        entity["mentionText"] = f"{d:02d}.{mth:02d}.{y}"
        entity["normalizedValue"] = {"dateValue": {"year": y, "month": mth, "day": d}, "text": value}
    elif name == "currency":
        entity["normalizedValue"] = {"text": value}
    elif name in ("supplier_tax_id", "receiver_tax_id"):
        entity["mentionText"] = f"{value[:3]}-{value[3:6]}-{value[6:8]}-{value[8:]}" if len(value) == 10 else value
    elif name == "supplier_iban":
        entity["mentionText"] = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return entity


def _line_item_entity(item: dict, confidence: float) -> dict:
    props = [{"type": f"line_item/{key}", "mentionText": str(item[src]), "confidence": confidence}
             for key, src in (("description", "description"), ("quantity", "quantity"),
                              ("unit_price", "unit_price"), ("amount", "amount"), ("tax_rate", "vat_rate"))
             if src in item]
    return {"type": "line_item", "mentionText": " ".join(p["mentionText"] for p in props),
            "confidence": confidence, "properties": props}


def _perturb(value: str, rng: random.Random) -> str:
    """A plausible misread: one digit or letter changed."""
    positions = [i for i, ch in enumerate(value) if ch.isalnum()]
    if not positions:
        return value
    i = rng.choice(positions)
    ch = value[i]
    new = str((int(ch) + 1) % 10) if ch.isdigit() else ("a" if ch != "a" else "e")
    return value[:i] + new + value[i + 1:]


def _handler(double: DocumentAIDouble):
    class Handler(BaseHTTPRequestHandler):
        server_version = "DocumentAIDouble/1"

        def log_message(self, fmt, *args):  # quiet: tests count requests through /__double__/stats
            pass

        def _send(self, status: int, payload) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Test-Double", "documentai")
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self):
            if self.path == "/__double__/stats":
                self._send(200, {"stats": dict(double.stats), "documents": len(double.index),
                                 "config": asdict(double.config)})
            else:
                self._send(*_error(404, f"{self.path} not found"))

        def do_POST(self):
            body = self._body()
            if self.path == "/__double__/config":
                try:
                    double.configure(**json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    return self._send(*_error(400, str(exc)))
                return self._send(200, asdict(double.config))
            if self.path == "/__double__/reset":
                double.reset_stats()
                return self._send(200, {})
            if self.path == "/token":
                return self._send(200, {"access_token": "double-access-token", "expires_in": 3600,
                                        "token_type": "Bearer"})
            status, payload = double.answer(self.path.split("?")[0], body)
            with double._lock:
                double.stats[f"status_{status}"] += 1
            self._send(status, payload)

    return Handler
