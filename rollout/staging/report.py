"""The staging test report as one self-contained HTML page (inline CSS, no scripts, every value
escaped), rendered from the same document as results.json."""

from __future__ import annotations

import json
from html import escape


def _e(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return escape(str(value), quote=True)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d1d1f;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}.passed{color:#0a7d28;font-weight:600}.failed{color:#c0161f;font-weight:600}
.skipped{color:#8a6d00;font-weight:600}.muted{color:#666}pre{white-space:pre-wrap;font-size:.8rem;
background:#f5f5f7;padding:.5rem}
"""


def render_html(document: dict) -> str:
    status = document.get("status", "failed")
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Staging tests: {_e(status)}</title><style>{CSS}</style></head><body>",
        f"<h1>OCR staging tests: <span class='{_e(status)}'>{_e(status.upper())}</span></h1>",
        f"<p class='muted'>started {_e(document.get('started_at'))}, {_e(document.get('duration_s'))} s; "
        f"service {_e(document.get('endpoints', {}).get('service_url'))}</p>",
        "<table><tr><th>suite</th><th>status</th><th>duration (s)</th><th>failed checks / reason</th></tr>",
    ]
    for result in document.get("results", []):
        why = ", ".join(c["name"] for c in result["checks"] if not c["passed"])
        if result.get("reason"):
            why = f"{result['reason']}{'; ' + why if why else ''}"
        out.append(f"<tr><td><a href='#{_e(result['name'])}'>{_e(result['name'])}</a></td>"
                   f"<td class='{_e(result['status'])}'>{_e(result['status'])}</td>"
                   f"<td>{_e(result['duration_s'])}</td><td>{_e(why)}</td></tr>")
    out.append("</table>")
    for result in document.get("results", []):
        out.append(f"<h2 id='{_e(result['name'])}'>{_e(result['name'])}: "
                   f"<span class='{_e(result['status'])}'>{_e(result['status'])}</span></h2>")
        if result.get("reason"):
            out.append(f"<p><strong>Reason:</strong> {_e(result['reason'])}</p>")
        if result["checks"]:
            out.append("<table><tr><th>check</th><th>result</th><th>value</th><th>threshold</th><th>detail</th></tr>")
            for c in result["checks"]:
                verdict = "passed" if c["passed"] else "failed"
                out.append(f"<tr><td>{_e(c['name'])}</td><td class='{verdict}'>{verdict}</td><td>{_e(c['value'])}</td>"
                           f"<td>{_e(c['threshold'])}</td><td>{_e(c['detail'])}</td></tr>")
            out.append("</table>")
        data = result.get("data") or {}
        documents = data.get("documents")
        if documents:
            out.append("<table><tr><th>document</th><th>variant</th><th>HTTP</th><th>engine</th><th>latency (s)</th>"
                       "<th>fields</th><th>mismatches</th></tr>")
            for d in documents:
                out.append(f"<tr><td>{_e(d['file'])}</td><td>{_e(d['variant'])}</td><td>{_e(d['status'])}</td>"
                           f"<td>{_e(d['engine'])}</td><td>{_e(d['latency_s'])}</td>"
                           f"<td>{_e(d['fields_matched'])}/{_e(d['fields_total'])}</td>"
                           f"<td>{_e(d['mismatches'] or '')}</td></tr>")
            out.append("</table>")
        rest = {k: v for k, v in data.items() if k != "documents"}
        if rest:
            out.append(f"<pre>{_e(json.dumps(rest, indent=1, ensure_ascii=False, default=str))}</pre>")
    out.append(f"<h2>Thresholds</h2><pre>{_e(json.dumps(document.get('thresholds', {}), indent=1))}</pre>")
    out.append("</body></html>")
    return "\n".join(out)
