"""The typer app, the consoles and what every command group shares (options, bars, error printing)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Before TensorFlow is ever imported: its C++ logging would bury the tables.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

from devicelab import __version__

# Converters write to fds 1 and 2 from C++; devicelab silences them there. The console writes to its own
# duplicate of stdout, so bars and tables still reach the terminal while that happens.
_stdout = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
# Logs and pipes get wide tables rather than rows folded into 80 columns.
console = Console(file=_stdout, highlight=False, width=None if _stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    name="devicelab",
    help="What happens to your model when it leaves your PC: convert and quantize it (TFLite, Core ML, TF.js, "
         "ONNX), run every variant on the PC, phones and browsers, and compare accuracy, speed and memory "
         "with the original.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
AdbServerOpt = Annotated[str | None, typer.Option("--adb-server", help="host:port of the adb server (default: "
                                                  "$DEVICELAB_ADB_SERVER or the local one on 5037).")]

TaskOpt = Annotated[str | None, typer.Option(
    "--task", help="How outputs are compared: classification (accuracy, top-1 agreement), regression (MAE, "
    "RMSE) or embedding (cosine, SNR). Default: guessed from the labels and the outputs.")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="Results store (SQLite). Default: the user's data "
                                               "dir, or $DEVICELAB_STORE.", show_default=False)]
CacheOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Artifact cache. Default: the user's cache dir, "
                                               "or $DEVICELAB_CACHE.", show_default=False)]


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both `--x a,b` and `--x a --x b`."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class _Bars:
    """Turns the API's (task, done, total, detail) callbacks into one rich bar per task."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("[dim]{task.fields[detail]}"), TimeElapsedColumn(), console=console,
                                 transient=False)
        self.tasks: dict[str, Any] = {}

    def __call__(self, task: str, done: int, total: int, detail: str = "") -> None:
        if not self.tasks:  # start drawing only once there is something to draw
            self.progress.start()
        if task not in self.tasks:
            self.tasks[task] = self.progress.add_task(task, total=total, detail=detail)
        self.progress.update(self.tasks[task], completed=done, total=total, detail=detail)

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tasks:
            self.progress.stop()


def _version(value: bool) -> None:
    if value:
        console.print(f"devicelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show full tracebacks of errors.")] = False,
) -> None:
    if verbose:
        os.environ["DEVICELAB_VERBOSE"] = "1"


def _cache(path: Path | None) -> Path | None:
    if path is not None:
        os.environ["DEVICELAB_CACHE"] = str(path)  # the host worker process inherits it
    return path


def _print_error(error: BaseException | None) -> None:
    if error is None:
        return
    message = getattr(error, "message", str(error))
    err_console.print(f"[bold red]Error:[/bold red] {message}")
    hint = getattr(error, "hint", None)
    if hint:
        err_console.print(f"[yellow]Hint:[/yellow] {hint}")
