"""The one Jinja2 environment every HTML page of the project is rendered with.

Autoescaping is on for every template (the values come from a database that users' traffic writes
into), so the one escape is Jinja's own (:func:`markupsafe.escape`), and :func:`to_json` is the one
way a value is shown as JSON. The formatters of :mod:`.formatting` are the templates' filters.
Templates live in ``templates/`` beside this module; a caller with templates of its own (the
Airflow UI page in ``plugins/``) passes their folder as ``search`` and may extend these.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from rollout.health.schema import jsonable
from . import formatting

TEMPLATES = Path(__file__).with_name("templates")

__all__ = ["Markup", "escape", "render", "to_json", "TEMPLATES"]


def cell(value: Any) -> str:
    """A table cell's text: nothing for None, JSON for a mapping or a list, the text otherwise."""
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    if isinstance(value, (dict, list, tuple)):
        return to_json(value, indent=None)
    return str(value)


def to_json(value: Any, indent: int | None = 1) -> str:
    """``value`` as JSON text (UTF-8 kept, keys sorted, anything unusual made plain by ``jsonable``)."""
    return json.dumps(jsonable(value), indent=indent, sort_keys=True, ensure_ascii=False)


def _defined(formatter):
    """The formatter with Jinja's Undefined (a key the row lacks) passed as None."""
    @functools.wraps(formatter)
    def call(value, *args):
        return formatter(None if isinstance(value, jinja2.Undefined) else value,
                         *(None if isinstance(a, jinja2.Undefined) else a for a in args))
    return call


@functools.lru_cache(maxsize=8)
def environment(search: tuple[str, ...] = ()) -> jinja2.Environment:
    # A key a snapshot row lacks is shown as "no data" (ChainableUndefined reaches the formatters as None).
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([*search, str(TEMPLATES)]), autoescape=True,
                             undefined=jinja2.ChainableUndefined, extensions=["jinja2.ext.do"],
                             trim_blocks=True, lstrip_blocks=True)
    for name in ("fmt_int", "fmt_pct", "fmt_ms", "fmt_score", "fmt_p", "fmt_value", "fmt_delta", "fmt_ci",
                 "fmt_time", "fmt_check_value", "fmt_money", "fmt_hours", "fmt_seconds", "or_no_data"):
        env.filters[name] = _defined(getattr(formatting, name))
    env.filters["to_json"] = _defined(to_json)
    env.filters["cell"] = cell
    env.globals.update(NO_DATA=formatting.NO_DATA, is_num=_defined(formatting.is_num),
                       ci_excludes_zero=_defined(formatting.ci_excludes_zero),
                       delta_direction=_defined(formatting.delta_direction))
    return env


def render(template: str, /, search: Sequence[str | Path] = (), **context: Any) -> str:
    """Render ``template`` (looked up in ``search``, then in this package's templates) with ``context``."""
    return environment(tuple(str(p) for p in search)).get_template(template).render(**context)
