"""Presentation: how a health snapshot or a staging run is shown, apart from how it is computed.

``formatting`` (numbers, times, colours), ``templating`` (the one Jinja2 environment, its escape and
JSON helper), ``templates/`` (the base page, the health report, the staging report), ``plots`` (the
report's SVG plots as data), ``report`` and ``staging_report`` (render a page), ``dashboard`` (the
live terminal view, rich). Nothing here reads a database or changes state.
"""
