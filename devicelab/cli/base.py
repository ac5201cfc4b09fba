"""The typer app, the consoles and what every command group shares (options, bars, error printing)."""

from __future__ import annotations

import atexit
import copy
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.traceback import Traceback

# Before TensorFlow is ever imported: its C++ logging would bury the tables.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

from devicelab import __version__

# Converters write to fds 1 and 2 from C++; devicelab silences them there. The console writes to its own
# duplicate of stdout, so bars and tables still reach the terminal while that happens.
try:
    _stdout = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    atexit.register(_stdout.close)  # else "ResourceWarning: unclosed file" where a library turned warnings on
except (AttributeError, OSError, ValueError):  # stdout is no file (captured by a test runner, embedded)
    _stdout = sys.stdout

def _width(stream: Any) -> int | None:
    """Terminals: their width. Logs and pipes: 200 columns rather than rows folded into 80 ($COLUMNS is not
    trusted there: test runners and shells leak a terminal's 80 into every child)."""
    return None if stream.isatty() else 200


console = Console(file=_stdout, highlight=False, width=_width(_stdout))
err_console = Console(stderr=True, highlight=False, width=_width(sys.stderr))

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

VERBOSE_HELP = "Show the full output behind errors (a converter's own messages) and their tracebacks."


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
        self.phases: dict[str, str] = {}

    def __call__(self, task: str, done: int, total: int, detail: str = "") -> None:
        if not console.is_terminal:  # a log or a pipe: one line per phase, as it starts (a bar shows only at the end)
            if self.phases.get(task) != detail:
                self.phases[task] = detail
                console.print(f"{escape(task)}: {escape(detail)}" + (f" ({done}/{total})" if total > 1 else ""),
                              highlight=False)
            return
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
) -> None:
    if verbose:
        os.environ["DEVICELAB_VERBOSE"] = "1"


def _cache(path: Path | None) -> Path | None:
    if path is not None:
        os.environ["DEVICELAB_CACHE"] = str(path)  # the host worker process inherits it
    return path


def verbose() -> bool:
    return bool(os.environ.get("DEVICELAB_VERBOSE"))


def _verbose_flag(ctx: Any, param: Any, value: bool) -> None:
    if value:
        os.environ["DEVICELAB_VERBOSE"] = "1"  # host workers inherit it


def finish(command: Any) -> Any:
    """Last touches on the built command tree, in one place instead of in every signature:

    - every command gets its own --verbose/-v (hints say "run with --verbose", and users put it last), the same
      switch as `devicelab --verbose COMMAND`: a copy of the root's flag that sets the switch itself instead of
      being passed to the command function;
    - on/off flags (and --help) show no `<bool>` type in help: they take no value.
    """
    root = next(p for p in command.params if "--verbose" in p.opts)
    flag = copy.copy(root)
    flag.expose_value, flag.is_eager, flag.callback = False, True, _verbose_flag
    _walk(command, flag, top=True)
    return command


def _walk(command: Any, flag: Any, top: bool = False) -> None:
    if not top and not any("--verbose" in p.opts for p in command.params):
        command.params.append(flag)
    help_option = command.get_help_option(command.context_class(command))
    for param in [*command.params, help_option]:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _walk(sub, flag)


def _print_error(error: BaseException | None) -> None:
    """One message and its hint; with --verbose first the error's details (a converter's output) and traceback."""
    if error is None:
        return
    if verbose():
        details = getattr(error, "details", None)
        if details:
            err_console.print("[dim]--- details ---[/dim]")
            err_console.print(escape(str(details).rstrip()), highlight=False)
        if error.__traceback__ is not None:
            err_console.print(Traceback.from_exception(type(error), error, error.__traceback__))
    message = getattr(error, "message", str(error))
    err_console.print(f"[bold red]Error:[/bold red] {escape(str(message))}")
    hint = getattr(error, "hint", None)
    if hint:
        err_console.print(f"[yellow]Hint:[/yellow] {escape(str(hint))}")
