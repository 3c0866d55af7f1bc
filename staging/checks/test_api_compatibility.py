"""The service's JSON against the Document AI engine's for the same invoice: same keys, field
names, types and normalised formats (docs/architecture.md's extraction contract)."""

from __future__ import annotations

import pytest

from staging.config import _golden_variants
from staging.suites import (ENVELOPE_KEYS, SuiteOptions, format_problems, item_problems, name_diff, post_document,
                            run_from_environment, type_problems)

pytestmark = pytest.mark.api_compatibility


def _documents(options: SuiteOptions) -> list:
    return [p for p, v in _golden_variants(options.golden_dir) if v == "digital"][:options.api_documents]


def pytest_generate_tests(metafunc):
    if "document" in metafunc.fixturenames:
        names = [p.name for p in _documents(run_from_environment()[1])] or ["(no golden digital PDF)"]
        metafunc.parametrize("document", names)


@pytest.fixture(scope="module")
def answers(endpoints, options, suite_data) -> dict:
    """Per document: (the service's status, its body, Document AI's result read directly)."""
    from ocr_engines import get_engine
    from ocr_engines.documentai import DocumentAIConfig
    from staging.documentai_double import DocumentAIDouble, DoubleConfig

    documents = _documents(options)
    if not documents:
        pytest.fail(f"no golden digital PDF in {options.golden_dir}", pytrace=False)
    own_double = None
    endpoint = endpoints.documentai_endpoint
    if not endpoint:  # staging without a double (Docker): one in this process, answering the same golden set
        own_double = DocumentAIDouble(options.golden_dir)
        endpoint = own_double.start()
    double = DoubleConfig()
    engine = get_engine("documentai", config=DocumentAIConfig(
        project=double.project, location=double.location, processor_id=double.processor_id, endpoint=endpoint,
        timeout_s=30, max_attempts=3, backoff_initial_s=0.2))
    suite_data["api_compatibility"] = {"documentai_endpoint": endpoint + (" (in-process double)" if own_double
                                                                           else "")}
    out = {}
    try:
        for path in documents:
            status, body, _, _ = post_document(endpoints, path, "staging-api", options.request_timeout_s)
            out[path.name] = (status, body, engine.extract(path).to_dict())
    finally:
        if own_double:
            own_double.stop()
    return out


@pytest.fixture
def answer(answers, document):
    status, body, google = answers[document]
    if status != 200:
        pytest.skip(f"the service answered {status} (service_200)")
    return body, body.get("result") or {}, google


def test_service_200(answers, document, check):
    status = answers[document][0]
    check(f"{document}: service_200", status == 200, f"POST /v1/ocr -> {status}", status, 200)


def test_envelope(answer, document, check):
    body = answer[0]
    check(f"{document}: envelope", set(body) == ENVELOPE_KEYS, f"service keys {sorted(body)}", sorted(body),
          sorted(ENVELOPE_KEYS))


def test_top_level_keys(answer, document, check):
    _, service, google = answer
    check(f"{document}: top_level_keys", set(service) == set(google),
          name_diff("service", set(service), "documentai", set(google)), sorted(service), sorted(google))


def test_served_by(answer, document, check):
    body, _, google = answer
    check(f"{document}: served_by", body.get("engine") == "tesseract" and google.get("engine") == "documentai",
          f"service answered with {body.get('engine')}, direct engine {google.get('engine')}")


def test_field_names(answer, document, check):
    from ocr_engines import FIELD_NAMES

    _, service, google = answer
    s_fields, g_fields = set(service.get("fields", {})), set(google.get("fields", {}))
    unknown = sorted((s_fields | g_fields) - set(FIELD_NAMES))
    diff = name_diff("service", s_fields, "documentai", g_fields)
    check(f"{document}: field_names", not unknown and s_fields == g_fields,
          f"unknown {unknown}; {diff}" if unknown else diff, len(s_fields), len(g_fields))


def test_types(answer, document, check):
    _, service, google = answer
    problems = type_problems("service", service) + type_problems("documentai", google)
    check(f"{document}: types", not problems, "; ".join(problems[:8]) or "same JSON types on both sides")


def test_normalised_formats(answer, document, check):
    _, service, google = answer
    bad = format_problems("service", service) + format_problems("documentai", google)
    check(f"{document}: normalised_formats", not bad,
          "; ".join(bad[:8]) or "dates YYYY-MM-DD, amounts 0.00, tax ids digits, IBAN and currency")


def test_line_items(answer, document, check):
    from ocr_engines import LINE_ITEM_KEYS

    _, service, google = answer
    problems = [f"{side}: {p}" for side, result in (("service", service), ("documentai", google))
                for p in item_problems(result.get("line_items"), LINE_ITEM_KEYS)]
    check(f"{document}: line_items", not problems, "; ".join(problems[:8]) or
          f"{len(service.get('line_items') or [])} / {len(google.get('line_items') or [])} items, same keys")


def test_value_agreement(answer, document, thresholds, check):
    from ocr_engines.compare import compare

    _, service, google = answer
    diff = compare(google, service)
    agreement = diff.agreement or 0.0
    check(f"{document}: value_agreement", agreement >= thresholds["min_api_agreement"],
          f"mismatched: {diff.mismatched_fields}" if diff.mismatched_fields else "every field equal",
          round(agreement, 4), thresholds["min_api_agreement"])
