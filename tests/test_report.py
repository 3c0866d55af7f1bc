"""Health report (HTML) and live dashboard (rich) rendered from one health snapshot dict."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from rich.console import Console

from presentation.dashboard import render_dashboard
from presentation.report import PLOTS, render_html, write_html

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EVIL = "<script>alert(1)</script>"
FLAGS = {"use_opensource_ocr": True, "disable_google_cloud": False, "gradual_rollout_enabled": True,
         "rollout_percentage": 15, "enable_performance_monitoring": True, "enable_accuracy_comparison": True,
         "collect_ocr_metrics": True, "maintenance_mode": False, "force_opensource_for_testing": False}


def engine_row(engine, docs, ok, errors, p50, conf, shadow=0, agreement=None, fields=None):
    return {"engine": engine, "stage": None, "documents": docs, "successes": ok, "errors_by_class": errors,
            "duration_ms": {"avg": p50 * 1.05, "min": p50 / 3, "max": p50 * 5, "p50": p50, "p95": p50 * 1.8,
                            "p99": p50 * 2.9},
            "confidence_mean": conf, "confidence_p05": conf - 0.12, "fallbacks": 0, "shadow_documents": shadow,
            "shadow_agreement": agreement, "field_agreement": fields or {},
            "success_rate": ok / docs, "error_rate": 1 - ok / docs, "fallback_rate": 0.0}


def series():
    rows = []
    for i in range(6):
        bucket = (NOW - timedelta(minutes=60 - 10 * i)).isoformat()
        rows.append({"engine": "documentai", "bucket": bucket, "documents": 140, "success_rate": 0.99 - 0.001 * i,
                     "error_rate": 0.01 + 0.001 * i, "duration_p50": 850.0 + i, "duration_p95": 1500.0,
                     "confidence_mean": 0.93, "fallback_rate": 0.0})
        # the canary's first bucket has no successful reads: its times and confidence are None
        rows.append({"engine": "tesseract", "bucket": bucket, "documents": 25, "success_rate": 0.96 + 0.005 * i,
                     "error_rate": 0.04 - 0.005 * i, "duration_p50": None if i == 0 else 640.0 + 5 * i,
                     "duration_p95": None if i == 0 else 1200.0, "confidence_mean": None if i == 0 else 0.9,
                     "fallback_rate": 0.0})
    return rows


def make_snapshot():
    return {
        "generated_at": NOW.isoformat(),
        "window": {"start": (NOW - timedelta(hours=1)).isoformat(), "end": NOW.isoformat(), "hours": 1.0},
        "state": {"stage": 2, "percentage": 15, "version": 7, "maintenance_reason": None, "flags": dict(FLAGS)},
        "engines": [engine_row("documentai", 850, 840, {"QuotaExceeded": 10}, 850.0, 0.93, 40, 0.91,
                               {"invoice_id": 0.95, "total_amount": 0.9}),
                    engine_row("tesseract", 150, 147, {"OcrTimeoutError": 2, "CorruptDocumentError": 1}, 640.0, 0.9)],
        "comparison": {
            "baseline": "documentai", "canary": "tesseract", "volume": {"documentai": 850, "tesseract": 150},
            "metrics": [
                {"name": "error_rate", "unit": "ratio", "baseline": 0.012, "canary": 0.02, "delta": 0.008,
                 "ci_low": -0.01, "ci_high": 0.03},
                {"name": "duration_p50", "unit": "ms", "baseline": 850.0, "canary": 640.0, "delta": -210.0,
                 "ci_low": -260.0, "ci_high": -150.0},
                {"name": "confidence_mean", "unit": "ratio", "baseline": 0.93, "canary": 0.9, "delta": -0.03,
                 "ci_low": -0.05, "ci_high": -0.01}],
            "fields": [
                {"field": "invoice_id", "n": 40, "agreement": 0.95, "ci_low": 0.83, "ci_high": 0.99, "missing": 2,
                 "extra": 0, "mcnemar_p": 0.5},
                {"field": "total_amount", "n": 40, "agreement": 0.9, "ci_low": 0.77, "ci_high": 0.96,
                 "missing": 1, "extra": 3, "mcnemar_p": 0.0004}]},
        "series": series(),
        "gates": [
            {"id": 3, "evaluated_at": (NOW - timedelta(minutes=5)).isoformat(), "stage": 2, "percentage": 15,
             "verdict": "FAIL", "reason": f"canary error rate 6.1 % (n=312) {EVIL}", "canary_documents": 312,
             "baseline_documents": 5000,
             "checks": [{"name": "error_rate", "verdict": "FAIL", "value": 0.061, "threshold": 0.05,
                         "detail": "upper CI 7.9 % > 5 %"},
                        {"name": "duration_p95", "verdict": "PASS", "value": 1200.0, "threshold": 3000.0,
                         "detail": None}]},
            {"id": 2, "evaluated_at": (NOW - timedelta(hours=2)).isoformat(), "stage": 1, "percentage": 5,
             "verdict": "PASS", "reason": "canary error rate 1.9 % (n=312)", "canary_documents": 312,
             "baseline_documents": 5000, "checks": []},
            {"id": 1, "evaluated_at": (NOW - timedelta(hours=4)).isoformat(), "stage": 1, "percentage": 5,
             "verdict": "INCONCLUSIVE", "reason": "only 12 canary reads (< 200)", "canary_documents": 12,
             "baseline_documents": 400, "checks": []}],
        "alerts": [
            {"id": 5, "raised_at": (NOW - timedelta(minutes=20)).isoformat(), "last_seen_at": NOW.isoformat(),
             "severity": "critical", "key": "error_rate:tesseract",
             "message": "error rate 12 % > critical 10 % at stage 3", "recommendation": "roll back to stage 2",
             "count": 3, "resolved": False},
            {"id": 4, "raised_at": (NOW - timedelta(hours=3)).isoformat(),
             "last_seen_at": (NOW - timedelta(hours=2)).isoformat(), "severity": "warning",
             "key": "latency:tesseract", "message": "p95 3.4 s > warning 3 s [bold]not markup[/bold]",
             "recommendation": None, "count": 1, "resolved": True}],
        "service": {"url": "http://127.0.0.1:8001", "status": "healthy",
                    "detail": {"engines": ["tesseract", "documentai"], "version": "0.1.0", "uptime_s": 3600}},
    }


def make_empty():
    return {"generated_at": NOW.isoformat(), "window": {"start": None, "end": None, "hours": None},
            "state": {"stage": 0, "percentage": 0, "version": None, "maintenance_reason": None, "flags": {}},
            "engines": [], "comparison": None, "series": [], "gates": [], "alerts": [], "service": None}


@pytest.fixture
def snapshot():
    return make_snapshot()


@pytest.fixture
def empty():
    return make_empty()


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Checker(HTMLParser):
    """Tag balance plus the facts the tests look at: plots, their lines, resource references, scripts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []
        self.plots = {}  # metric -> engines with a polyline
        self.current_plot = None
        self.refs, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)

    def _attrs(self, tag, attrs):
        a = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("src", "href", "xlink:href", "action") and v]
        self.refs += re.findall(r"url\(([^)]*)\)", a.get("style") or "")
        self.scripts += tag == "script"
        if tag == "svg" and "plot" in (a.get("class") or "").split():
            self.current_plot = a.get("data-metric")
            self.plots[self.current_plot] = []
        if tag in ("polyline", "path") and self.current_plot:
            self.plots[self.current_plot].append(a.get("data-engine"))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag == "svg":
            self.current_plot = None


def check(html):
    parser = Checker()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert parser.scripts == 0
    external = [r for r in parser.refs if re.match(r"\s*(https?:)?//", r)]
    assert external == []
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html)
    return parser


def test_html_report(snapshot, tmp_path):
    html = render_html(snapshot)
    parser = check(html)
    # one plot per metric; one line per engine with data for that metric
    assert sorted(parser.plots) == sorted(m for m, _, _ in PLOTS)
    for metric in parser.plots:
        assert sorted(parser.plots[metric]) == ["documentai", "tesseract"], metric
    assert html.count('class="plot"') == len(PLOTS)
    # the canary's None first bucket is left out of its line, not drawn as zero
    p50 = re.search(r'data-metric="duration_p50".*?</svg>', html, re.DOTALL).group(0)
    tess = re.search(r'data-engine="tesseract"[^>]*points="([^"]+)"', p50).group(1)
    assert len(tess.split()) == 5
    assert "<title>" in p50  # tooltips per point
    # state, engines, comparison, gates, alerts
    assert "Stage" in html and ">2<" in html and "15 %" in html
    for text in ("use_opensource_ocr", "documentai", "tesseract", "QuotaExceeded", "invoice_id", "total_amount",
                 "McNemar", "FAIL", "PASS", "INCONCLUSIVE", "only 12 canary reads (&lt; 200)",
                 "error rate 12 % &gt; critical 10 % at stage 3", "roll back to stage 2", "upper CI 7.9 % &gt; 5 %",
                 "+0.80 pp", "[-1.00 pp, +3.00 pp]", "-210 ms", "healthy"):
        assert text in html, text
    assert 'class="verdict fail"' in html and 'class="verdict pass"' in html
    assert 'class="verdict inconclusive"' in html
    # CI marking: error-rate CI includes 0, p50 is significantly better, confidence significantly worse
    comparison = re.search(r'<table class="comparison">.*?</table>', html, re.DOTALL).group(0)
    assert "no (includes 0)" in comparison
    assert 'class="sig better"' in comparison and 'class="sig worse"' in comparison
    # escaping: the script in a gate reason is text, not a tag
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # written as UTF-8
    out = write_html(snapshot, tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8") == html


def test_html_escapes_every_source(snapshot):
    snapshot["engines"][1]["engine"] = EVIL
    for row in snapshot["series"]:
        if row["engine"] == "tesseract":
            row["engine"] = EVIL
    snapshot["state"]["maintenance_reason"] = EVIL
    snapshot["state"]["flags"]["maintenance_mode"] = True
    snapshot["comparison"]["canary"] = EVIL
    snapshot["comparison"]["fields"][0]["field"] = EVIL
    snapshot["alerts"][0]["message"] = EVIL
    snapshot["alerts"][0]["key"] = '"><img src=x onerror=alert(1)>'
    snapshot["gates"][0]["checks"][0]["detail"] = EVIL
    snapshot["service"]["detail"] = {"note": EVIL}
    html = render_html(snapshot)
    check(html)
    assert "<script" not in html and "<img" not in html
    assert "Maintenance mode is ON" in html


def test_html_empty(empty):
    html = render_html(empty)
    parser = check(html)
    assert sorted(parser.plots) == sorted(m for m, _, _ in PLOTS)
    assert all(lines == [] for lines in parser.plots.values())
    for text in ("no reads in the window", "no comparison", "no gate evaluations yet", "no alerts",
                 "no service probe", "no data"):
        assert text in html, text


def test_single_bucket_and_odd_values(snapshot):
    """One bucket (zero time span), a non-ISO bucket label and flat values still give valid plots."""
    snapshot["series"] = [{"engine": "tesseract", "bucket": "2026-11-30T11:00:00+00:00", "documents": 3,
                           "success_rate": 1.0, "error_rate": 0.0, "duration_p50": 500.0, "duration_p95": 500.0,
                           "confidence_mean": 0.9, "fallback_rate": 0.0}]
    parser = check(render_html(snapshot))
    assert all(lines == ["tesseract"] for lines in parser.plots.values())
    snapshot["series"] = [dict(snapshot["series"][0], bucket=label) for label in ("b1", "b2")]
    parser = check(render_html(snapshot))
    assert all(lines == ["tesseract"] for lines in parser.plots.values())


def render_text(data, width=100):
    console = Console(record=True, width=width, color_system=None, force_terminal=False)
    console.print(render_dashboard(data))
    return console.export_text()


def test_dashboard(snapshot):
    text = render_text(snapshot)
    assert max(len(line) for line in text.splitlines()) <= 100
    for fragment in ("Deployment", "Stage", "2", "15 %", "documentai", "tesseract", "healthy",
                     "http://127.0.0.1:8001", "FAIL", "error rate 12 % > critical 10 % at stage 3",
                     "roll back to stage 2", "CRITICAL", "[bold]not markup[/bold]", "+0.80 pp", "better", "worse"):
        assert fragment in text, fragment
    assert re.search(r"Stage\s+2\s+15 %", text)
    # critical alerts are red
    console = Console(record=True, width=100, color_system="truecolor", force_terminal=True)
    console.print(render_dashboard(snapshot))
    styled = console.export_html(inline_styles=True)
    assert re.search(r'color: #800000[^"]*"[^>]*>error rate 12 %', styled) or \
        re.search(r'color: #ff0000[^"]*"[^>]*>error rate 12 %', styled) or \
        re.search(r'#(800000|ff0000)[^>]*>CRITICAL', styled)


def test_dashboard_empty_and_narrow(empty, snapshot):
    text = render_text(empty)
    for fragment in ("no reads in the window", "no comparison", "no gate evaluations yet", "no alerts",
                     "no service probe"):
        assert fragment in text, fragment
    snapshot["state"]["maintenance_reason"] = "DB migration [red]x[/red]"
    snapshot["state"]["flags"]["maintenance_mode"] = True
    text = render_text(snapshot, width=60)
    assert "ON" in text and "[red]x[/red]" in text


def test_the_cost_ledger_section_shows_pages_and_money():
    from collections import Counter
    from decimal import Decimal

    from rollout.health.ledger import Pages

    row = Pages(documents=6, served=Counter(documentai=7, tesseract=5, ksef=1), google=10, google_shadow=3)
    figures = row.figures(Decimal("0.01"))
    data = {**make_snapshot(), "cost": {"price_per_page": "0.01", "currency": "EUR",
                                        "rows": [{"day": "2026-11-30", "stage": 2, **figures}], "total": figures}}
    page = render_html(data)
    HTMLParser().feed(page)
    section = page[page.index("<section id=cost>"):page.index("</section>", page.index("<section id=cost>"))]
    assert "0.10 EUR" in section and "0.03 EUR" in section and "10 (3)" in section
    assert "at 0.01 EUR per page" in section and section.count("<tr") == 3 and section.count("<tr class=\"total\">") == 1  # header, the day, the total
    unpriced = render_html({**data, "cost": {**data["cost"], "price_per_page": None,
                                             "rows": [{"day": "2026-11-30", "stage": 2, **row.figures(None)}],
                                             "total": row.figures(None)}})
    assert "No Document AI price is set" in unpriced and "EUR</span>" not in unpriced
    # per upload kind, when the events have kinds (not for a ledger of events recorded before them)
    per_kind = render_html({**data, "cost": {**data["cost"], "kinds": [{"kind": "scan", **figures},
                                                                       {"kind": None, **figures}]}})
    section = per_kind[per_kind.index("<section id=cost>"):per_kind.index("</section>", per_kind.index("<section id=cost>"))]
    assert '<tr data-kind="scan"><td>scan</td>' in section and '<tr data-kind=""><td>–</td>' in section
    assert section.count("0.03 EUR") == 4  # the day, the total, and the two kinds
    no_kinds = render_html({**data, "cost": {**data["cost"], "kinds": [{"kind": None, **figures}]}})
    assert "cost-kinds" not in no_kinds


def test_the_staging_report_lists_failed_checks_and_escapes_every_value():
    from presentation.staging_report import render_html as render_staging

    document = {"status": "failed", "started_at": "2026-12-01T10:00:00", "duration_s": 12.5,
                "endpoints": {"service_url": "http://127.0.0.1:8001"}, "thresholds": {"field_match_rate": 0.9},
                "results": [
                    {"name": "unit", "status": "passed", "duration_s": 1.0, "data": {},
                     "checks": [{"name": "health", "passed": True, "value": {"ok": True}, "threshold": None,
                                 "detail": None}]},
                    {"name": "integration", "status": "failed", "reason": "too few fields", "duration_s": 2.0,
                     "checks": [{"name": "field_match_rate", "passed": False, "value": 0.5, "threshold": 0.9,
                                 "detail": EVIL}],
                     "data": {"documents": [{"file": "a.pdf", "variant": "clean", "status": 200, "engine": "tesseract",
                                             "latency_s": 1.2, "fields_matched": 6, "fields_total": 12,
                                             "mismatches": ["seller_nip"]}], "burst": {"n": 4}}}]}
    page = render_staging(document)
    parser = check(page)
    assert parser.scripts == 0 and EVIL not in page
    assert "<title>Staging tests: failed</title>" in page and "FAILED" in page
    assert "<td>too few fields; field_match_rate</td>" in page  # the summary row says why
    text = unescape(page)
    assert "<td>6/12</td>" in page and '["seller_nip"]' in text and '{"ok": true}' in text
    assert '"burst": {' in text and '"field_match_rate": 0.9' in text  # the rest as JSON, the thresholds


def timeline_snapshot():
    """A stage timeline as ``rollout.health.timeline`` gives it: 5 %, 15 %, a FAIL, the rollback to 5 %
    and the remediation; reasons and actors carry markup that must be shown as text."""
    at = lambda minutes: (NOW - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    rollback = {"at": at(8), "action": "set-percentage", "actor": f"ocr_migration {EVIL}",
                "reason": f"automatic rollback: stage 15 % failed {EVIL}", "from": 15, "to": 5, "stage": 1,
                "rollback": True}
    return {
        "span": {"start": at(20), "end": NOW.isoformat()},
        "stages": [{"percentage": 5, "stage": 1, "began": at(30), "ended": at(15), "action": "set-percentage",
                    "actor": "ocr_migration", "reason": "stage 1"},
                   {"percentage": 15, "stage": 2, "began": at(15), "ended": at(8), "action": "set-percentage",
                    "actor": "ocr_migration", "reason": "stage 2"},
                   {"percentage": 5, "stage": 1, "began": at(8), "ended": None, "action": "set-percentage",
                    "actor": rollback["actor"], "reason": rollback["reason"]}],
        "changes": [rollback], "rollbacks": [rollback],
        "gates": [{"verdict": "INCONCLUSIVE", "percentage": 15, "stage": 2, "first": at(14), "last": at(10),
                   "count": 9, "id": 4, "reason": "too few reads"},
                  {"verdict": "FAIL", "percentage": 15, "stage": 2, "first": at(9), "last": at(9), "count": 1,
                   "id": 5, "reason": f"error rate 31 % {EVIL}"}],
        "golden": [{"at": at(18), "verdict": "PASS", "suite": "ocr_golden_fields", "documents": 25,
                    "failed_expectations": 0}],
        "remediations": [{"started_at": at(7), "finished_at": at(6), "percentage": 15, "cause": "gate",
                          "served": 45, "retained": 41, "summary": "re-read 41, corrected 12, published 11"}],
        "entries": [{"at": at(9), "type": "gate", "verdict": "FAIL", "title": "gate FAIL at 15 %",
                     "detail": f"error rate 31 % {EVIL}"},
                    {"at": at(8), "type": "rollback", "verdict": None, "title": "rollback 15 % → 5 %",
                     "detail": rollback["reason"]}]}


def test_the_timeline_and_the_kinds_in_the_report(snapshot):
    snapshot["timeline"] = timeline_snapshot()
    snapshot["bucket_seconds"] = 10
    snapshot["kinds"] = [
        {"kind": "scan", "documents": 30, "engines": {
            "documentai": {"documents": 20, "errors": 1, "error_rate": 0.05, "duration_p50": 900.0,
                           "duration_p95": 1500.0},
            "tesseract": {"documents": 10, "errors": 3, "error_rate": 0.3, "duration_p50": 700.0,
                          "duration_p95": 1200.0}}},
        {"kind": EVIL, "documents": 1, "engines": {
            "documentai": {"documents": 1, "errors": 0, "error_rate": 0.0, "duration_p50": None,
                           "duration_p95": None}}}]
    html = render_html(snapshot)
    check(html)
    strip = html[html.index('<svg class="timeline"'):]
    strip = strip[:strip.index("</svg>")]
    assert re.findall(r'data-verdict="(\w+)"', strip) == ["PASS", "INCONCLUSIVE", "FAIL"]  # the FAIL on top
    assert re.findall(r"<text [^>]*>(\d+) %</text>", strip) == ["5", "15", "5"]
    stage_x = [float(x) for x in re.findall(r'<g class="stage[^"]*"><rect x="([\d.]+)"', strip)]
    assert stage_x == sorted(stage_x) and stage_x[0] < stage_x[1] < stage_x[2]
    assert "rollback 15 → 5 %" in strip and "remediation: re-read 41, corrected 12, published 11" in strip
    assert "(10 s buckets)" in html
    assert '<tr data-kind="scan">' in html and "30.0 %" in html and "1,200 ms" in html
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in strip  # the rollback's actor and reason, as text


def test_a_snapshot_without_timeline_or_kinds_renders_as_before(snapshot, empty):
    for data in (snapshot, empty):
        html = render_html(data)
        check(html)
        assert 'id=timeline' not in html and 'id=kinds' not in html
    empty["timeline"] = {"span": None, "stages": [], "entries": []}
    empty["kinds"] = []
    html = render_html(empty)
    assert "no stage changes, gates or traffic in the window" in html and "nothing happened to the rollout" in html
