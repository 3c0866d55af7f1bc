"""`ocr-migrate serve` end to end: the real process with its settings, engine worker processes,
flag store, event writer; driven over HTTP and through the CLI."""

import json
import os
import subprocess
import time

import httpx
import pytest

from .servers import free_port


@pytest.fixture(scope="module")
def service(cli, tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = dict(os.environ, OCR_MIGRATE_DATA_DIR=str(data), OCR_MIGRATE_SERVICE_PORT=str(port),
               OCR_MIGRATE_CLIENT_API_KEYS="app:client-secret", OCR_MIGRATE_ADMIN_API_KEYS="ops:admin-secret",
               OCR_MIGRATE_MAX_CONCURRENCY="1")
    env.pop("OCR_MIGRATE_DOCUMENTAI_PROJECT", None)
    proc = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"service did not start: {proc.stdout.read()}")
    yield url, env
    proc.terminate()
    proc.wait(30)


def test_serve_reads_invoices_and_records_events(service, golden_dir):
    url, env = service
    pdf = (golden_dir / "inv-0003.pdf").read_bytes()
    r = httpx.post(f"{url}/v1/ocr", content=pdf, timeout=60,
                   headers={"X-API-Key": "client-secret", "X-User-Id": "u1", "Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    body = r.json()
    # Google is not configured here: the decision names it, and the fallback says why tesseract served
    assert body["engine"] == "tesseract" and body["fallback"] == "documentai not configured"
    assert body["result"]["fields"]["invoice_id"]["value"] == json.loads((golden_dir / "inv-0003.json").read_text())["invoice_id"]
    assert "pipeline;dur=" in r.headers["Server-Timing"]


def test_cli_health_and_admin_changes_reach_the_service(service, cli):
    url, env = service
    proc = subprocess.run([*cli, "health", "--url", url, "-o", "json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] in ("healthy", "degraded")
    # a change through the CLI (same database) reaches the service within its refresh interval
    subprocess.run([*cli, "enable", "--reason", "serve test"], env=env, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        flags = httpx.get(f"{url}/v1/admin/flags", headers={"X-API-Key": "admin-secret"}, timeout=5).json()
        if flags["percentage"] == 100:
            break
        time.sleep(0.2)
    assert flags["percentage"] == 100


def test_cli_health_when_the_service_is_down(cli):
    proc = subprocess.run([*cli, "health", "--url", f"http://127.0.0.1:{free_port()}"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 7 and "service_unreachable" in proc.stderr


def test_serve_refuses_to_start_without_keys(cli, tmp_path):
    env = dict(os.environ, OCR_MIGRATE_DATA_DIR=str(tmp_path), OCR_MIGRATE_CLIENT_API_KEYS="",
               OCR_MIGRATE_ADMIN_API_KEYS="", OCR_MIGRATE_SERVICE_PORT=str(free_port()))
    proc = subprocess.run([*cli, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5 and "API keys" in proc.stderr
