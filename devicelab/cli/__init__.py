"""The devicelab command line: parse, call the API, render. No logic lives here.

`app.py` holds the typer app and what the command groups share; each other module is one command group and
registers its commands on the app when imported here (they import app.py, never this package's __init__).
"""

from __future__ import annotations

import importlib
import os
import sys

from devicelab.cli.app import _print_error, app, err_console
from devicelab.errors import DevicelabError

# Importing a group registers its commands; this order is the order of `devicelab --help`.
GROUPS = ("convert", "measure", "results", "zoo", "devices", "schema", "batch", "study")
for _group in GROUPS:
    importlib.import_module(f"devicelab.cli.{_group}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors end in one message and a hint, never a traceback (unless --verbose)."""
    try:
        app(args=argv, prog_name="devicelab")
    except DevicelabError as exc:
        if os.environ.get("DEVICELAB_VERBOSE"):
            err_console.print_exception()
        _print_error(exc)
        sys.exit(exc.exit_code)
