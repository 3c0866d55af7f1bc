"""`ocr-migrate`: the one console command of the migration.

Every subcommand takes ``--output json`` for machines; tables are for people. Errors are typed
and printed as one clear line (or a JSON object), never as a traceback, with distinct exit codes
(``common.Exit``). The verbs live in one module per group — ``documents`` (extract, evaluate,
compare, documentai-double, calibrate, corpus), ``deployment`` (the seed's manage_deployment
verbs, serve, health) and ``health`` (report, gate, gates, alerts, monitor, simulate) — each with
its own ``commands``, joined here — and ``db`` (upgrade, current), a named group.
"""

from __future__ import annotations

import sys

import typer

from . import database, deployment, documents, health

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n\n")[0])
# Explicit registration: each group of verbs is a module with its own ``commands`` Typer; added
# without a name, a group's verbs join the top level (``ocr-migrate advance``, not ``ocr-migrate
# deployment advance``), in this order (``ocr-migrate --help`` lists them so).
GROUPS = (documents, deployment, health)
for _group in GROUPS:
    app.add_typer(_group.commands)
app.add_typer(database.commands, name="db")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
