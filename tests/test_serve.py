"""`ocr-migrate serve` end to end: the real process with its settings, engine worker processes,
flag store, event writer; driven over HTTP and through the CLI."""

import json
import os
import re
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
               OCR_MIGRATE_CLIENT_API_KEYS="app:client-secret,other:other-secret",
               OCR_MIGRATE_ADMIN_API_KEYS="ops:admin-secret", OCR_MIGRATE_MAX_CONCURRENCY="1",
               OCR_MIGRATE_UPLOAD_GRACE_S="1", OCR_MIGRATE_UPLOAD_MIN_BYTES_PER_S="1024")
    env.pop("OCR_MIGRATE_DOCUMENTAI_PROJECT", None)
    log = (data / "serve.log").open("w")  # a file, not a pipe nobody reads: a full pipe blocks the service
    proc = subprocess.Popen([*cli, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
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
        pytest.fail(f"service did not start: {(data / 'serve.log').read_text()}")
    yield url, env
    proc.terminate()
    proc.wait(30)
    log.close()
    assert "Traceback" not in (data / "serve.log").read_text()


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
    timing = dict(part.strip().split(";dur=") for part in r.headers["Server-Timing"].split(","))
    assert 0 < float(timing["engine"]) <= float(timing["pipeline"]) <= float(timing["total"])


def test_a_client_gone_mid_upload_frees_its_place_and_leaves_no_file(service, golden_dir):
    """Half a body then a closed socket: the queue place is given back (else a few such clients
    would make the service answer 429 for ever) and the partial upload is deleted."""
    import glob
    import socket

    from service.pipeline import SCRATCH_DIR

    url, env = service
    host, port = url.removeprefix("http://").split(":")
    scratch = SCRATCH_DIR or __import__("tempfile").gettempdir()
    before = set(glob.glob(f"{scratch}/ocr-upload-*"))
    for _ in range(20):  # more than max_concurrency + max_queue (1 + 16)
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /v1/ocr HTTP/1.1\r\nHost: x\r\nX-API-Key: client-secret\r\n"
                         b"Content-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n%PDF-1.7 half")
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/health").json()["work"]["waiting"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(f"{url}/health").json()["work"] == {"in_flight": 0, "waiting": 0, "uploading": 0,
                                                          "max_concurrency": 1, "max_queue": 16}
    assert set(glob.glob(f"{scratch}/ocr-upload-*")) <= before
    pdf = (golden_dir / "inv-0003.pdf").read_bytes()
    r = httpx.post(f"{url}/v1/ocr", content=pdf, timeout=60,
                   headers={"X-API-Key": "client-secret", "X-User-Id": "u1", "Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    # a KSeF e-invoice is read from its XML by the ksef engine, whatever the stage
    xml = (golden_dir.parent / "ksef-official" / "xml" / "002.xml").read_bytes()
    r = httpx.post(f"{url}/v1/ocr", content=xml, timeout=60,
                   headers={"X-API-Key": "client-secret", "X-User-Id": "u1", "Content-Type": "application/xml"})
    assert r.status_code == 200 and r.json()["engine"] == "ksef", r.text


def test_clients_trickling_their_uploads_never_lock_others_out(service, golden_dir):
    """Twenty connections of one API key send their body a byte at a time: they hold connections,
    not places in the work queue (taken once an upload is complete), at most 8 of them upload at
    once, and each is ended (408) once it is slower than the minimum rate. Another client is
    served meanwhile."""
    import socket
    import threading

    url, env = service
    host, port = url.removeprefix("http://").split(":")
    stop = threading.Event()
    answers: list[bytes] = []

    def trickle():
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /v1/ocr HTTP/1.1\r\nHost: x\r\nX-API-Key: client-secret\r\n"
                         b"Content-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n%PDF-")
            sock.settimeout(0.3)
            while not stop.is_set():
                try:
                    answer = sock.recv(200)
                    answers.append(answer)
                    return
                except TimeoutError:
                    try:
                        sock.sendall(b"0")
                    except OSError:
                        return

    threads = [threading.Thread(target=trickle) for _ in range(20)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/health").json()["work"]["uploading"] < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{url}/health").json()["work"]["uploading"] == 8  # the per-key cap
        r = httpx.post(f"{url}/v1/ocr", content=(golden_dir / "inv-0003.pdf").read_bytes(), timeout=60,
                       headers={"X-API-Key": "other-secret", "X-User-Id": "u2", "Content-Type": "application/pdf"})
        assert r.status_code == 200, r.text
        for t in threads:
            t.join(30)
    finally:
        stop.set()
    statuses = sorted(a.split(b" ")[1].decode() for a in answers if a.startswith(b"HTTP/1.1"))
    assert statuses.count("408") == 8 and statuses.count("429") == 12, statuses
    assert httpx.get(f"{url}/health").json()["work"]["uploading"] == 0


def test_cli_health_and_admin_changes_reach_the_service(service, cli):
    url, env = service
    proc = subprocess.run([*cli, "health", "--url", url, "-o", "json"], capture_output=True, text=True, timeout=60)
    status = json.loads(proc.stdout)["status"]
    assert proc.returncode == {"healthy": 0, "degraded": 10}[status], proc.stderr  # the exit code says which
    assert json.loads(proc.stdout)["service"]["reachable"] is True
    # a change through the CLI (same database) reaches the service within its refresh interval
    subprocess.run([*cli, "enable", "--reason", "serve test"], env=env, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        flags = httpx.get(f"{url}/v1/admin/flags", headers={"X-API-Key": "admin-secret"}, timeout=5).json()
        if flags["percentage"] == 100:
            break
        time.sleep(0.2)
    assert flags["percentage"] == 100


def test_cli_health_when_the_service_is_down(cli, tmp_path):
    """The probe found only 'service_unreachable' (exit 7). A health check exists to show what is
    down: the flags, the database, Redis, the latest gate and the open alerts are still shown,
    the service is marked down, and the exit code says unhealthy."""
    env = dict(os.environ, OCR_MIGRATE_DATA_DIR=str(tmp_path), OCR_MIGRATE_REDIS_URL="redis://127.0.0.1:6379/0",
               OCR_MIGRATE_ACTOR="ops-test")
    subprocess.run([*cli, "advance", "--reason", "health drill"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*cli, "gate"], env=env, capture_output=True, timeout=60)  # INCONCLUSIVE, stored
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run([*cli, "health", "--url", url, "-o", "json"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 7, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "unhealthy" and data["service"] == {**data["service"], "reachable": False, "status": "down"}
    parts = data["components"]
    assert parts["database"]["status"] == "ok" and parts["redis"]["status"] == "ok"
    assert parts["flags"]["status"] == "ok" and parts["flags"]["percentage"] == 5 and parts["flags"]["stage"] == 1
    assert data["metrics"]["latest_gate"]["verdict"] == "INCONCLUSIVE"
    assert data["metrics"]["latest_gate"]["stage"] == 1
    table = subprocess.run([*cli, "health", "--url", url], env=env, capture_output=True, text=True, timeout=60)
    assert table.returncode == 7 and "down" in table.stdout and "stage 1 (5 %)" in table.stdout
    assert "latest gate" in table.stdout and "Traceback" not in table.stderr
    # Redis down too: still reported, part by part
    env["OCR_MIGRATE_REDIS_URL"] = "redis://127.0.0.1:1/0"
    data = json.loads(subprocess.run([*cli, "health", "--url", url, "-o", "json"], env=env, capture_output=True,
                                     text=True, timeout=60).stdout)
    assert data["components"]["redis"]["status"] == "down" and data["components"]["database"]["status"] == "ok"


def test_serve_refuses_to_start_without_keys(cli, tmp_path):
    env = dict(os.environ, OCR_MIGRATE_DATA_DIR=str(tmp_path), OCR_MIGRATE_CLIENT_API_KEYS="",
               OCR_MIGRATE_ADMIN_API_KEYS="", OCR_MIGRATE_SERVICE_PORT=str(free_port()))
    proc = subprocess.run([*cli, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5 and "API keys" in proc.stderr


def test_a_killed_engine_worker_is_reported_and_replaced(service, golden_dir):
    """An engine process killed while idle (the OOM killer, an operator): /health says so at once,
    the next document is still read (by a replacement, not by the dead worker), and the service is
    whole again."""
    import signal

    url, _ = service
    before = httpx.get(f"{url}/health").json()
    workers = before["workers"]["tesseract"]
    assert workers["configured"] == 1 and workers["live"] == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+ \((tesserocr|cli)\)", workers["version"])  # which Tesseract, run how
    [victim] = workers["pids"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/health").json()["workers"]["tesseract"]["live"] and time.monotonic() < deadline:
        time.sleep(0.05)
    hurt = httpx.get(f"{url}/health").json()
    assert hurt["workers"]["tesseract"]["live"] == 0 and hurt["status"] == "degraded"
    r = httpx.post(f"{url}/v1/ocr", content=(golden_dir / "inv-0002.pdf").read_bytes(), timeout=60,
                   headers={"X-API-Key": "client-secret", "X-User-Id": "u7", "Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["fields"]["invoice_id"]["value"] == \
        json.loads((golden_dir / "inv-0002.json").read_text())["invoice_id"]
    after = httpx.get(f"{url}/health").json()
    assert after["workers"]["tesseract"]["live"] == 1 and after["workers"]["tesseract"]["pids"] != [victim]
    assert after["status"] == before["status"]
