"""The staging test report as one self-contained HTML page (inline CSS, no scripts, every value
escaped), rendered from the same document as results.json by ``templates/staging_report.html``."""

from __future__ import annotations

from .templating import render


def render_html(document: dict) -> str:
    return render("staging_report.html", document=document)
