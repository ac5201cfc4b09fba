"""`devicelab results`, `export` and `compare`: the stored results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devicelab.cli.app import StoreOpt, _split, app, console, err_console


@app.command()
def results(
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    variant: Annotated[str | None, typer.Option(help="Only this variant.")] = None,
    last: Annotated[int | None, typer.Option(help="Only the last N results.")] = None,
) -> None:
    """Show stored results: variant, target, accuracy, agreement, latency, memory, size."""
    from devicelab import api
    from devicelab.report.terminal import results_table

    rows = api.results(store=store, model=model, variant=variant, last=last)
    if not rows:
        console.print("No results yet: run `devicelab measure MODEL` first.")
        return
    console.print(results_table(rows))


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="csv (summary columns) or json (everything, "
                                        "raw samples included).")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
) -> None:
    """Write stored results out as CSV or JSON."""
    from devicelab import api

    text = api.export(format, output, store=store, model=model)
    if output is None:
        console.file.write(text)
    else:
        err_console.print(f"wrote {output}")


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="Before: a store file (.sqlite), a JSON export, run:RUN_ID (default "
                                     "store; also run:latest, run:previous) or STORE:RUN_ID.")],
    b: Annotated[str, typer.Argument(help="After, given the same way.")],
    fail_if: Annotated[list[str] | None, typer.Option("--fail-if", help="Gate, repeatable: latency>+10%, "
                                                      "accuracy<-0.5pt, agreement<-1pt, memory>+20%, size>+5%. "
                                                      "Latency, accuracy and agreement gates need a significant "
                                                      "change.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the pull request comment (markdown) "
                                                  "here instead of stdout.")] = None,
    store: StoreOpt = None,
) -> None:
    """Compare two runs per (model, variant, target, runtime): which differences are significant; gate CI.

    Exits 1 when a --fail-if gate fails. Latency: median ratio B/A, bootstrap 95% interval, Mann-Whitney p.
    Accuracy/agreement: points, Newcombe 95% interval, two-proportion z-test. Memory and size: plain ratios.
    """
    from rich.markup import escape
    from rich.table import Table

    from devicelab import api
    from devicelab.metrics import compare as cmp

    comparison, failures = api.compare(a, b, _split(fail_if), store=store)
    table = Table(title=f"{a} → {b}", title_justify="left")
    for column in cmp.HEADER:
        table.add_column(column, justify="left" if column in ("key", "metric") else "right")
    for row in cmp.rows(comparison):
        table.add_row(*map(escape, row[:-1]), "[bold]yes[/bold]" if row[-1] == "yes" else row[-1])
    console.print(table)
    for title, keys in (("only in B", comparison.added), ("only in A", comparison.removed)):
        if keys:
            console.print(f"{title}: " + ", ".join(" / ".join(k) for k in keys))
    text = cmp.markdown(comparison, failures, [cmp.parse_gate(g) for g in _split(fail_if) or []])
    if markdown is None:
        console.print()
        console.file.write(text)
    else:
        markdown.write_text(text)
        err_console.print(f"wrote {markdown}")
    for failure in failures:
        err_console.print(f"[bold red]gate failed:[/bold red] {failure.gate.text}: {' / '.join(failure.key)} "
                          f"{cmp.format_change(failure.diff)} ({cmp.format_interval(failure.diff)})")
    if failures:
        raise typer.Exit(1)
