"""`devicelab schema`: the job and result documents, for app and target authors."""

from __future__ import annotations

from typing import Annotated

import typer

from devicelab.cli.base import app, console
from devicelab.errors import UsageError


@app.command()
def schema(kind: Annotated[str, typer.Argument(help="job or result")]) -> None:
    """Print the JSON Schema of the job or result document (for app and target authors)."""
    import json

    from devicelab import protocol

    if kind not in ("job", "result"):
        raise UsageError(f"unknown schema '{kind}'", "use job or result")
    console.file.write(json.dumps(protocol.schema(kind), indent=2) + "\n")
