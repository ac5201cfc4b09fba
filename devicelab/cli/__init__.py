"""The devicelab command line: parse, call the API, render. No logic lives here.

`base.py` holds the typer app and what the command groups share; each other module is one command group and
registers its commands on the app when imported here (they import base.py, never this package's __init__).
"""

from __future__ import annotations

import importlib
import signal
import sys
from typing import Any

import typer

from devicelab.cli.base import _print_error, app, finish
from devicelab.errors import DevicelabError

# Importing a group registers its commands; this order is the order of `devicelab --help`.
GROUPS = ("convert", "measure", "explain", "results", "zoo", "devices", "schema", "batch", "study")
for _group in GROUPS:
    importlib.import_module(f"devicelab.cli.{_group}")


def command() -> Any:
    """The whole command line as one click command (see base.finish); tests invoke it."""
    return finish(typer.main.get_command(app))


def _terminated(signum: int, frame: object) -> None:
    # `kill`, a CI timeout: the same way out as Ctrl-C, so the host worker is stopped and its job folder removed
    # (the default SIGTERM ends Python without running any cleanup and orphans the worker).
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors end in one message and a hint, never a traceback (unless --verbose)."""
    signal.signal(signal.SIGTERM, _terminated)
    try:
        command()(args=argv, prog_name="devicelab")
    except DevicelabError as exc:
        _print_error(exc)
        sys.exit(exc.exit_code)
