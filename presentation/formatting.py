"""Number, time and colour formatting shared by every view of a health snapshot: the HTML report,
the Airflow UI page (as Jinja2 filters) and the terminal dashboard. Pure functions, no markup."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

NO_DATA = "–"

#: Metrics where a larger value is worse (used to say whether a significant delta is good or bad).
LOWER_IS_BETTER = ("error", "duration", "fallback", "latency", "missing", "extra")

#: The plots over time: (metric key in ``series`` rows, title, unit).
PLOTS: tuple[tuple[str, str, str], ...] = (
    ("duration_p50", "Processing time p50", "ms"),
    ("duration_p95", "Processing time p95", "ms"),
    ("success_rate", "Success rate", "ratio"),
    ("confidence_mean", "Mean confidence", "score"),
)

#: Flags shown in the compact status lines (the report shows all flags).
KEY_FLAGS = ("use_opensource_ocr", "gradual_rollout_enabled", "disable_google_cloud", "maintenance_mode",
             "force_opensource_for_testing")

ENGINE_COLOURS = {"documentai": "#1f77b4", "google": "#1f77b4", "tesseract": "#ff7f0e"}
PALETTE = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


def is_num(value: Any) -> bool:
    """A finite int/float/Decimal (not a bool): what the formatters and plots accept as a number."""
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt_int(value: Any) -> str:
    return f"{int(value):,}" if is_num(value) else NO_DATA


def fmt_pct(value: Any, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f} %" if is_num(value) else NO_DATA


def fmt_ms(value: Any) -> str:
    return f"{value:,.0f} ms" if is_num(value) else NO_DATA


def fmt_score(value: Any) -> str:
    return f"{value:.3f}" if is_num(value) else NO_DATA


def fmt_p(value: Any) -> str:
    if not is_num(value):
        return NO_DATA
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _is_score(name: str) -> bool:
    return "confidence" in name or "agreement" in name


def fmt_value(value: Any, unit: str | None, name: str = "") -> str:
    """A metric value in its unit: ratios as percentages (confidence-like scores as 0.000), ms as ms."""
    if not is_num(value):
        return NO_DATA
    if unit == "ms":
        return fmt_ms(value)
    if unit == "ratio":
        return fmt_score(value) if _is_score(name) else fmt_pct(value, 2)
    if unit == "score":
        return fmt_score(value)
    return f"{value:,.4g}"


def fmt_delta(value: Any, unit: str | None, name: str = "") -> str:
    """A signed difference: percentage points for rates, ms for times."""
    if not is_num(value):
        return NO_DATA
    if unit == "ms":
        return f"{value:+,.0f} ms"
    if unit == "ratio":
        return f"{value:+.3f}" if _is_score(name) else f"{value * 100:+.2f} pp"
    if unit == "score":
        return f"{value:+.3f}"
    return f"{value:+,.4g}"


def fmt_ci(low: Any, high: Any, unit: str | None, name: str = "") -> str:
    if not (is_num(low) and is_num(high)):
        return NO_DATA
    return f"[{fmt_delta(low, unit, name)}, {fmt_delta(high, unit, name)}]"


def ci_excludes_zero(low: Any, high: Any) -> bool | None:
    """True when the 95 % CI of a delta lies wholly on one side of zero; None without a CI."""
    if not (is_num(low) and is_num(high)):
        return None
    return low > 0 or high < 0


def delta_direction(name: str, delta: Any, low: Any, high: Any) -> str:
    """'better', 'worse' (the CI excludes zero, in the good or bad direction) or 'ns' / 'n/a'."""
    excl = ci_excludes_zero(low, high)
    if excl is None or not is_num(delta):
        return "n/a"
    if not excl:
        return "ns"
    worse_if_up = any(part in name for part in LOWER_IS_BETTER)
    return "worse" if (delta > 0) == worse_if_up else "better"


def fmt_time(value: Any) -> str:
    """ISO timestamp → 'YYYY-MM-DD HH:MM:SS UTC±..' when it parses; the raw text otherwise."""
    if value is None:
        return NO_DATA
    dt = parse_time(value)
    if dt is None:
        return str(value)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.utcoffset() is not None:
        offset = dt.strftime("%z")
        text += " UTC" if offset in ("+0000", "-0000") else f" {offset}"
    return text


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def engine_colour(engine: str, order: list[str]) -> str:
    if engine in ENGINE_COLOURS:
        return ENGINE_COLOURS[engine]
    others = [e for e in order if e not in ENGINE_COLOURS]
    idx = others.index(engine) if engine in others else len(others)
    return PALETTE[idx % len(PALETTE)]


def engine_order(data: dict) -> list[str]:
    """Engines in a stable order: those of the window table first, then any seen only in the series."""
    seen: list[str] = []
    for row in (data.get("engines") or []):
        name = str(row.get("engine"))
        if name not in seen:
            seen.append(name)
    for row in (data.get("series") or []):
        name = str(row.get("engine"))
        if name not in seen:
            seen.append(name)
    return seen


def fmt_check_value(value: Any) -> str:
    """A gate check's value or threshold: four significant digits for numbers, the text otherwise."""
    if value is None:
        return NO_DATA
    if is_num(value):
        return f"{value:.4g}"
    return str(value)


def fmt_money(value: Any, currency: Any) -> str:
    return NO_DATA if value is None else f"{value} {currency or ''}".strip()


def fmt_hours(hours: Any) -> str:
    """A window length: '6 h', '36 h', '7 d'."""
    if not is_num(hours):
        return NO_DATA
    return f"{hours:g} h" if hours < 48 or hours % 24 else f"{hours / 24:g} d"


def fmt_seconds(seconds: Any) -> str:
    """A bucket size: '10 s', '5 min', '3 h', '1 d'."""
    if not is_num(seconds):
        return NO_DATA
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


def or_no_data(value: Any) -> Any:
    return NO_DATA if value is None else value


def safe(value: Any) -> str:
    """Text others control (a reason, a maintenance message, an alert, an invoice's value, an
    error that quotes a file name) as rich console markup shows it: its own brackets escaped (a
    '[/]' would crash the view), control characters and bidi overrides gone (an ESC sequence would
    reach the terminal)."""
    from rich.markup import escape

    from ocr_engines.normalize import strip_controls

    return escape(strip_controls("" if value is None else str(value)))
