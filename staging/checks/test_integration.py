"""Golden invoices through the service as the open-source engine, scored against their truth."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_success_rate(integration_run, thresholds, check):
    ok, n = integration_run["ok"], integration_run["documents"]
    check("success_rate", ok / n >= thresholds["min_success_rate"], f"{ok}/{n} documents answered 200",
          round(ok / n, 4), thresholds["min_success_rate"])


def test_field_match_rate(integration_run, thresholds, check):
    rate = integration_run["field_exact_match"] or 0.0
    check("field_match_rate", rate >= thresholds["min_field_match_rate"],
          f"exact field matches against the golden truth over {integration_run['documents']} documents", rate,
          thresholds["min_field_match_rate"])


def test_opensource_served(integration_run, thresholds, check):
    served, n = integration_run["opensource"], integration_run["documents"]
    check("opensource_served", served / n >= thresholds["min_opensource_share"],
          f"{served}/{n} served by tesseract" + ("" if served == n else
                                                 " (the rest fell back to Document AI: see documents)"),
          round(served / n, 4), thresholds["min_opensource_share"])
