"""The real google-cloud-documentai client, over HTTP, against the local API double: mapping,
retries (counted by the double), every error path, and that credentials never leak."""

import json
import logging
import subprocess

import pypdfium2 as pdfium
import pytest
from reportlab.pdfgen import canvas

from ocr_engines import errors as E
from ocr_engines import get_engine
from ocr_engines.documentai import DocumentAIConfig
from ocr_engines.evaluation import golden_documents


def test_every_field_and_line_item_is_mapped(fresh, golden_dir, google_engine):
    engine = google_engine()
    docs = golden_documents(golden_dir)
    for doc in docs:
        result = engine.extract(doc.path)
        assert {k: v.value for k, v in result.fields.items()} == {
            k: v for k, v in doc.truth.items() if k != "line_items"}, doc.path.name
        assert result.line_items == [{k: i[k] for k in ("description", "quantity", "unit_price", "amount", "vat_rate")}
                                     for i in doc.truth["line_items"]], doc.path.name
        assert all(0 < f.confidence <= 1 for f in result.fields.values())
    assert fresh.stats["requests"] == len(docs)


def test_multi_page_documents_report_their_pages(fresh, golden_dir, google_engine):
    manifest = json.loads((golden_dir / "manifest.json").read_text())["documents"]
    two_page = [e["file"] for e in manifest if e["pages"] == 2]
    assert two_page
    for name in two_page:
        assert google_engine().extract(golden_dir / name).pages == 2


def test_the_double_never_passes_for_google(fresh, golden_dir, google_engine):
    result = google_engine().extract(golden_dir / "inv-0001.pdf")
    assert any("test double" in w and fresh.url in w for w in result.warnings)


def test_regional_endpoint_and_processor_name():
    cfg = DocumentAIConfig(project="p", location="eu", processor_id="abc", processor_version="pretrained-invoice-v2.0")
    assert cfg.api_endpoint == "eu-documentai.googleapis.com"
    assert cfg.processor_name == "projects/p/locations/eu/processors/abc/processorVersions/pretrained-invoice-v2.0"


def test_transient_errors_are_retried(fresh, golden_dir, google_engine):
    fresh.configure(fail_next=[503, 429])
    result = google_engine().extract(golden_dir / "inv-0002.pdf")
    assert result.value("invoice_id")
    assert fresh.stats["requests"] == 3 and fresh.stats["status_503"] == 1 and fresh.stats["status_429"] == 1


@pytest.mark.parametrize("code,error", [(429, E.QuotaExceededError), (503, E.EngineUnavailableError),
                                        (500, E.EngineUnavailableError)])
def test_persistent_errors_give_up_after_max_attempts(fresh, golden_dir, code, error, google_engine):
    fresh.configure(fail_next=[code] * 5)
    with pytest.raises(error, match="after 3 attempts"):
        google_engine().extract(golden_dir / "inv-0002.pdf")
    assert fresh.stats["requests"] == 3


def test_permission_denied_is_not_retried(fresh, golden_dir, google_engine):
    fresh.configure(permission_denied=True)
    with pytest.raises(E.PermissionDeniedError, match="documentai.apiUser"):
        google_engine().extract(golden_dir / "inv-0002.pdf")
    assert fresh.stats["requests"] == 1


def test_wrong_processor(fresh, golden_dir, google_engine):
    with pytest.raises(E.InvalidProcessorError, match="not found"):
        google_engine(processor_id="no-such-processor").extract(golden_dir / "inv-0002.pdf")
    assert fresh.stats["requests"] == 1


def test_missing_configuration_is_a_clear_error():
    with pytest.raises(E.InvalidProcessorError, match="OCR_MIGRATE_DOCUMENTAI_PROJECT"):
        get_engine("documentai", config=DocumentAIConfig(project=""))


def test_malformed_response_body(fresh, golden_dir, google_engine):
    fresh.configure(malformed_next=1)
    with pytest.raises(E.MalformedResponseError, match="not a Document AI response"):
        google_engine().extract(golden_dir / "inv-0002.pdf")


def test_timeout_is_retried_then_reported(fresh, golden_dir, google_engine):
    fresh.configure(latency_median_s=1.5, latency_sigma=0.0)
    with pytest.raises(E.OcrTimeoutError, match="within"):
        google_engine(timeout_s=0.3, max_attempts=2).extract(golden_dir / "inv-0002.pdf")
    assert fresh.stats["requests"] == 2


def test_unreachable_endpoint(golden_dir):
    engine = get_engine("documentai", config=DocumentAIConfig(
        project="p", processor_id="x", endpoint="http://127.0.0.1:9", max_attempts=2, backoff_initial_s=0.001))
    with pytest.raises(E.EngineUnavailableError, match="cannot reach"):
        engine.extract(golden_dir / "inv-0002.pdf")


def test_a_response_without_entities(fresh, tmp_path, google_engine):
    path = tmp_path / "unknown.pdf"
    c = canvas.Canvas(str(path), invariant=1)
    c.drawString(72, 720, "Not one of the golden invoices")
    c.save()
    with pytest.raises(E.EmptyResponseError, match="no invoice entities"):
        google_engine().extract(path)


def test_page_limit_checked_before_the_call(fresh, tmp_path, google_engine):
    pdf = pdfium.PdfDocument.new()
    for _ in range(16):
        pdf.new_page(595, 842)
    path = tmp_path / "long.pdf"
    pdf.save(str(path))
    with pytest.raises(E.TooManyPagesError, match="15 pages"):
        google_engine().extract(path)
    assert fresh.stats["requests"] == 0


def _service_account_file(tmp_path, token_uri: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "demo-project", "private_key_id": "k1", "private_key": pem,
            "client_email": "ocr@demo-project.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path, pem


def test_credentials_never_appear_in_errors_or_logs(fresh, golden_dir, tmp_path, caplog, google_engine):
    sa_path, pem = _service_account_file(tmp_path, f"{fresh.url}/token")
    engine = google_engine(credentials_file=str(sa_path))
    caplog.set_level(logging.DEBUG)
    assert engine.extract(golden_dir / "inv-0002.pdf").value("invoice_id")  # the token flow works
    fresh.configure(permission_denied=True)
    with pytest.raises(E.PermissionDeniedError) as info:
        engine.extract(golden_dir / "inv-0002.pdf")
    secret_bits = [pem.splitlines()[1], "double-access-token", "Bearer"]
    for text in (info.value.message, str(info.value), caplog.text):
        assert not any(bit in text for bit in secret_bits)


@pytest.fixture
def double_env(fresh):
    import os

    env = dict(os.environ, OCR_MIGRATE_DOCUMENTAI_ENDPOINT=fresh.url, OCR_MIGRATE_DOCUMENTAI_PROJECT="demo-project",
               OCR_MIGRATE_DOCUMENTAI_LOCATION="eu", OCR_MIGRATE_DOCUMENTAI_PROCESSOR_ID="demo-invoice-parser",
               OCR_MIGRATE_DOCUMENTAI_BACKOFF_S="0.001")
    return env


def test_cli_extract_with_documentai(cli, double_env, golden_dir):
    proc = subprocess.run([*cli, "extract", str(golden_dir / "inv-0005.pdf"), "--engine", "documentai", "-o", "json"],
                          capture_output=True, text=True, env=double_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    truth = json.loads((golden_dir / "inv-0005.json").read_text())
    assert data["engine"] == "documentai" and data["fields"]["total_amount"]["value"] == truth["total_amount"]


def test_cli_evaluate_with_documentai(cli, double_env, golden_dir):
    proc = subprocess.run([*cli, "evaluate", "--golden", str(golden_dir), "--engine", "documentai", "--limit", "6",
                           "-o", "json"], capture_output=True, text=True, env=double_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["documents"] == 6 and out["overall"]["field_exact_match"] == 1.0


def test_cli_evaluate_refuses_missing_documentai_settings(cli, golden_dir):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("OCR_MIGRATE_DOCUMENTAI")}
    proc = subprocess.run([*cli, "evaluate", "--golden", str(golden_dir), "--engine", "documentai"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 5 and "invalid_processor" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_compare_prints_the_per_field_diff(cli, double_env, golden_dir):
    proc = subprocess.run([*cli, "compare", str(golden_dir / "inv-0001.pdf"), "-o", "json"],
                          capture_output=True, text=True, env=double_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["control"] == "documentai" and out["candidate"] == "tesseract"
    assert out["agreement"] == 1.0 and out["fields"]["total_amount"]["status"] == "match"
    table = subprocess.run([*cli, "compare", str(golden_dir / "inv-0001.pdf")], capture_output=True, text=True,
                           env=double_env, timeout=120)
    assert table.returncode == 0 and "agreement 100%" in table.stdout and "total_amount" in table.stdout


def test_cli_compare_reports_a_failing_control(cli, double_env, golden_dir):
    env = dict(double_env, OCR_MIGRATE_DOCUMENTAI_PROCESSOR_ID="gone")
    proc = subprocess.run([*cli, "compare", str(golden_dir / "inv-0001.pdf"), "-o", "json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["control_error"].startswith("invalid_processor") and out["agreement"] is None


def test_random_failures_and_field_errors_play_a_degraded_baseline(fresh, golden_dir, google_engine):
    doc = golden_dir / "inv-0002.pdf"
    truth = json.loads((golden_dir / "inv-0002.json").read_text())
    fresh.configure(field_error_rate=1.0)
    result = google_engine().extract(doc)
    wrong = [k for k, v in truth.items() if k != "line_items" and result.value(k) != v]
    assert len(wrong) >= len(truth) - 2  # every field perturbed (a perturbed currency may not parse)
    fresh.configure(field_error_rate=0.0, failure_rate=1.0, failure_codes=[503])
    with pytest.raises(E.EngineUnavailableError):
        google_engine().extract(doc)
    assert fresh.stats["status_503"] == 3


def test_double_control_endpoint_rejects_unknown_settings(fresh):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{fresh.url}/__double__/config", data=b'{"no_such": 1}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400
    stats = json.loads(urllib.request.urlopen(f"{fresh.url}/__double__/stats", timeout=5).read())
    assert stats["documents"] > 0 and "config" in stats
