"""What every verb shares: the output option, one clear error line (or JSON object) instead of a
traceback, and the exit codes — one table for the whole command.

| code | meaning |
| --- | --- |
| 0 | success (``health``: healthy) |
| 3 | the document is unusable |
| 4 | the engine failed |
| 5 | configuration or an input path |
| 6 | a change refused (by the rollout rules, or a conflict) |
| 7 | a store or the service cannot be reached (``health``: unhealthy) |
| 8 / 9 | a gate FAILed / is INCONCLUSIVE |
| 10 | ``health``: degraded |
"""

from __future__ import annotations

import json
from enum import Enum, IntEnum

import typer
from rich.console import Console

from presentation.formatting import safe

console = Console()
err_console = Console(stderr=True)


class Exit(IntEnum):
    DOCUMENT = 3
    ENGINE = 4
    CONFIG = 5
    REFUSED = 6
    UNAVAILABLE = 7
    GATE_FAIL = 8
    GATE_INCONCLUSIVE = 9
    DEGRADED = 10


EXIT_DOCUMENT, EXIT_ENGINE, EXIT_CONFIG = Exit.DOCUMENT, Exit.ENGINE, Exit.CONFIG
EXIT_REFUSED, EXIT_UNAVAILABLE = Exit.REFUSED, Exit.UNAVAILABLE
EXIT_GATE_FAIL, EXIT_GATE_INCONCLUSIVE, EXIT_DEGRADED = Exit.GATE_FAIL, Exit.GATE_INCONCLUSIVE, Exit.DEGRADED


class Output(str, Enum):
    table = "table"
    json = "json"


OutputOpt = typer.Option(Output.table, "--output", "-o", help="table for people, json for machines")


def error_line(exc: BaseException) -> str:
    """A store's error as one short line: the driver's own message (SQLAlchemy's ``orig``) when
    there is one, its first line, at most 200 characters."""
    return str(getattr(exc, "orig", exc)).splitlines()[0][:200]


def fail(output: Output, code: int, error: str, message: str) -> None:
    if output is Output.json:
        print(json.dumps({"error": error, "message": message}))
    else:
        err_console.print(f"[bold red]error[/] ({safe(error)}): {safe(message)}")
    raise typer.Exit(int(code))
