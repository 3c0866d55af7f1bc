"""Auth required, admin separated, upload limits enforced, public pages leak no keys."""

from __future__ import annotations

import httpx
import pytest

from staging.config import _golden_variants, json_body

pytestmark = pytest.mark.security
BOGUS_KEY = "staging-wrong-key-0000"


@pytest.fixture(scope="module")
def base(endpoints) -> str:
    return endpoints.service_url.rstrip("/")


@pytest.fixture(scope="module")
def sample(options) -> bytes:
    pdf = next((p for p, v in _golden_variants(options.golden_dir) if v == "digital"), None)
    return pdf.read_bytes() if pdf else b"%PDF-1.4\n%%EOF\n"


PDF_HEADERS = {"Content-Type": "application/pdf", "X-User-Id": "staging-security"}


def test_ocr_without_key(base, sample, check):
    r = httpx.post(f"{base}/v1/ocr", content=sample, headers=PDF_HEADERS, timeout=30)
    check("ocr_without_key", r.status_code in (401, 403), f"POST /v1/ocr without X-API-Key -> {r.status_code}",
          r.status_code, "401|403")


def test_ocr_with_wrong_key(base, sample, check):
    r = httpx.post(f"{base}/v1/ocr", content=sample, headers={**PDF_HEADERS, "X-API-Key": BOGUS_KEY}, timeout=30)
    check("ocr_with_wrong_key", r.status_code in (401, 403) and BOGUS_KEY not in r.text,
          f"POST /v1/ocr with a wrong key -> {r.status_code}", r.status_code, "401|403")


def test_admin_without_key(base, check):
    r = httpx.get(f"{base}/v1/admin/flags", timeout=30)
    check("admin_without_key", r.status_code in (401, 403), f"GET /v1/admin/flags without a key -> {r.status_code}",
          r.status_code, "401|403")


def test_admin_with_client_key(base, endpoints, check):
    r = httpx.get(f"{base}/v1/admin/flags", headers={"X-API-Key": endpoints.client_key}, timeout=30)
    check("admin_with_client_key", r.status_code == 403,
          f"GET /v1/admin/flags with the client key -> {r.status_code}", r.status_code, 403)


def test_admin_change_with_client_key(base, endpoints, check):
    r = httpx.post(f"{base}/v1/admin/flags/maintenance-on", headers={"X-API-Key": endpoints.client_key},
                   json={"reason": "security suite: must be refused"}, timeout=30)
    check("admin_change_with_client_key", r.status_code == 403,
          f"POST /v1/admin/flags/maintenance-on with the client key -> {r.status_code}", r.status_code, 403)


@pytest.fixture(scope="module")
def oversize(endpoints) -> tuple[int, float, dict]:
    """(bytes past the limit, the limit in MiB, the client's headers)."""
    limit_mb = endpoints.max_upload_mb or 40
    return int(limit_mb * 2**20) + 2**20, limit_mb, {**PDF_HEADERS, "X-API-Key": endpoints.client_key}


def test_oversize_upload(base, oversize, check):
    size, limit_mb, headers = oversize
    try:
        r = httpx.post(f"{base}/v1/ocr", content=b"%PDF-1.4\n" + b"0" * size, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        check("oversize_upload", False, f"the connection broke instead of a 413: {exc}")
        return
    check("oversize_upload", r.status_code == 413, f"{size / 2**20:.1f} MiB with Content-Length "
          f"(limit {limit_mb:g} MiB) -> {r.status_code}", r.status_code, 413)


def test_oversize_streamed_upload(base, oversize, check):
    size, _, headers = oversize

    def chunks():
        yield b"%PDF-1.4\n"
        for _ in range(size // 2**20):
            yield b"0" * 2**20

    try:
        r = httpx.post(f"{base}/v1/ocr", content=chunks(), headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        check("oversize_streamed_upload", False, f"the connection broke instead of a 413: {exc}")
        return
    check("oversize_streamed_upload", r.status_code == 413, f"{size / 2**20:.1f} MiB chunked, no "
          f"Content-Length -> {r.status_code}", r.status_code, 413)


def test_wrong_content_type(base, endpoints, check):
    r = httpx.post(f"{base}/v1/ocr", content=b"not an invoice, just text", timeout=30,
                   headers={**PDF_HEADERS, "X-API-Key": endpoints.client_key, "Content-Type": "text/plain"})
    check("wrong_content_type", r.status_code in (415, 422), f"text/plain body -> {r.status_code} "
          f"{json_body(r).get('error', '')}", r.status_code, "415|422")


def test_corrupt_pdf(base, endpoints, check):
    r = httpx.post(f"{base}/v1/ocr", files={"file": ("invoice.pdf", b"%PDF-1.4 truncated garbage")}, timeout=30,
                   headers={"X-API-Key": endpoints.client_key, "X-User-Id": "staging-security"})
    check("corrupt_pdf", r.status_code in (415, 422), f"a corrupt PDF -> {r.status_code} "
          f"{json_body(r).get('error', '')}", r.status_code, "415|422")


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/openapi.json", "/health"])
def test_public_page_leaks_no_key(base, endpoints, path, check):
    r = httpx.get(f"{base}{path}", timeout=30)
    leaked = [("client key" if s == endpoints.client_key else "admin key")
              for s in (endpoints.client_key, endpoints.admin_key) if s and s in r.text]
    check(f"public {path}", r.status_code == 200 and not leaked,
          f"GET {path} without a key -> {r.status_code}" + (f"; LEAKS the {', '.join(leaked)}" if leaked else
                                                            "; no key in the body"), r.status_code, 200)
