"""The health report: one self-contained HTML page rendered from a health snapshot dict.

Pure rendering: no database access; the only I/O is :func:`write_html`. The page carries its own
CSS and draws its plots as inline SVG (no scripts, fonts or CDN), so it opens offline and can be
mailed or attached to an Airflow task as is. The markup is ``templates/health_report.html``
(rendered by :mod:`.templating`, which escapes every value: they come from a database that users'
traffic writes into).

Snapshot shape (all keys present; lists may be empty; numbers may be None): ``generated_at``,
``window`` {start, end, hours}, ``state`` {stage, percentage, version, maintenance_reason, flags},
``engines`` (``WindowStats.as_dict()`` rows), ``comparison`` (None or {baseline, canary, volume,
metrics, fields}), ``series`` (per engine and time bucket), ``gates`` and ``alerts`` (newest first),
``service`` (None or {url, status, detail}), and, optional: ``cost`` (the cost ledger of
``ledger.cost_ledger``), ``kinds`` (``windows.kind_figures``: per upload kind and engine),
``bucket_seconds`` (the plots' bucket) and ``timeline`` (``timeline.stage_timeline``: the strip).
"""

from __future__ import annotations

from pathlib import Path

from .formatting import PLOTS, engine_order
from .plots import plot_model
from .templating import render
from .timeline import timeline_model


def render_html(data: dict) -> str:
    """The whole report as one self-contained HTML document (UTF-8, inline CSS and SVG, no scripts)."""
    return render("health_report.html", **context(data))


def context(data: dict) -> dict:
    """What ``health_report.html`` (and a page extending it) renders: the snapshot and its plots."""
    series, engines = data.get("series") or [], engine_order(data)
    kind_engines = [e for e in engines if any(e in (k.get("engines") or {}) for k in data.get("kinds") or [])]
    kind_engines += sorted({e for k in data.get("kinds") or [] for e in (k.get("engines") or {})} - set(kind_engines))
    return {"data": data, "plots": [plot_model(series, metric, title, unit, engines) for metric, title, unit in PLOTS],
            "timeline": timeline_model(data.get("timeline")), "kind_engines": kind_engines}


def write_html(data: dict, path: str | Path) -> Path:
    """Render and write the report as UTF-8; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return path
