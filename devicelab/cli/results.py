"""`devicelab results`, `export` and `compare`: the stored results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from devicelab.cli.base import StoreOpt, _split, app, console, err_console

ModelFilter = Annotated[str | None, typer.Option("--model", help="Only this model.", show_default=False)]
VariantFilter = Annotated[str | None, typer.Option("--variant", help="Only this variant.", show_default=False)]
TargetFilter = Annotated[str | None, typer.Option("--target", help="Only this target (host, chrome, android:SERIAL, "
                                                  "ios:NAME).", show_default=False)]
StatusFilter = Annotated[str | None, typer.Option("--status", help="Only results with this status: ok, error, "
                                                  "retried.", show_default=False)]
RunFilter = Annotated[str | None, typer.Option("--run", help="Only this run: a run id, latest or previous.",
                                               show_default=False)]
LastFilter = Annotated[int | None, typer.Option("--last", help="Only the newest N of what the other filters "
                                                "select.", show_default=False)]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")]


def _filters(model: str | None, variant: str | None, target: str | None, status: str | None, run: str | None,
             last: int | None) -> dict[str, Any]:
    return {"model": model, "variant": variant, "target": target, "status": status, "run": run, "last": last}


@app.command()
def results(
    store: StoreOpt = None,
    model: ModelFilter = None,
    variant: VariantFilter = None,
    target: TargetFilter = None,
    status: StatusFilter = None,
    run: RunFilter = None,
    last: LastFilter = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows' summary columns as JSON, for "
                                          "programs.")] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Show more columns: runtime, max |Δ|, load, first "
                                       "inference, p90, size.")] = False,
    columns: Annotated[list[str] | None, typer.Option("--columns", help="Exactly these columns, comma separated "
                                                      "(see the README for the names; 'all' for every one).",
                                                      show_default=False)] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the selected results from the store (asks "
                                         "first).")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Also show the per-operator table of each selected "
                                          "result measured with --profile.")] = False,
    yes: YesOpt = False,
) -> None:
    """Show stored results: variant, target, accuracy, agreement, latency, memory (--wide or --columns for more)."""
    from devicelab import api
    from devicelab.report.terminal import WIDE_COLUMNS, check_columns, results_table

    chosen = check_columns(_split(columns)) if columns else WIDE_COLUMNS if wide else None
    rows = api.results(store=store, **_filters(model, variant, target, status, run, last))
    if delete:
        _delete(rows, store, yes)
    elif as_json:
        console.file.write(api.summary_json(rows))
    elif not rows:
        console.print("No results match." if any((model, variant, target, status, run, last))
                      else "No results yet: run `devicelab measure MODEL` first.")
    else:
        console.print(results_table(rows, columns=chosen, drop_shared=not columns))
        if profile:
            _show_profiles(rows)


def _show_profiles(rows: list[Any]) -> None:
    from rich.markup import escape

    from devicelab.explain.profile import normalized
    from devicelab.report.terminal import profile_view

    profiled = [r for r in rows if ((r.result or {}).get("extra") or {}).get("profile")]
    if not profiled:
        console.print("[dim]None of these results was measured with --profile.[/dim]")
    for row in profiled:
        where = f"{row['variant']} @ {row['target']} ({row['runtime']})"
        console.print(f"\n[bold]result {row['id']}[/bold]: {escape(where)}")
        for renderable in profile_view(normalized(row.result["extra"]["profile"])):
            console.print(renderable)


@app.command()
def prune(
    store: StoreOpt = None,
    model: ModelFilter = None,
    variant: VariantFilter = None,
    target: TargetFilter = None,
    status: StatusFilter = None,
    run: RunFilter = None,
    last: LastFilter = None,
    yes: YesOpt = False,
) -> None:
    """Delete the stored results the filters select (e.g. --status error), after showing them and asking."""
    from devicelab import api

    _delete(api.results(store=store, **_filters(model, variant, target, status, run, last)), store, yes)


def _delete(rows: list[Any], store: Path | None, yes: bool) -> None:
    from devicelab import api
    from devicelab.errors import UsageError
    from devicelab.report.terminal import results_table

    if not rows:
        console.print("No results match: nothing deleted.")
        return
    console.print(results_table(rows, title="To delete"))
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not deleting {len(rows)} result(s) without a confirmation",
                             hint="add --yes to delete without asking")
        if not typer.confirm(f"Delete these {len(rows)} result(s)?", default=False):
            err_console.print("Nothing deleted.")
            raise typer.Exit(1)
    removed = api.delete_results([row["id"] for row in rows], store=store)
    console.print(f"Deleted {removed} result(s).")


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="csv (summary columns), json (documents and raw "
                                        "timing samples) or parquet (one row per result, raw samples as list "
                                        "columns; needs -o).")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).",
                                                show_default=False)] = None,
    outputs: Annotated[bool, typer.Option("--outputs", help="Also write each result's output tensors (large: "
                                          "samples x classes numbers each; json and parquet only).")] = False,
    store: StoreOpt = None,
    model: ModelFilter = None,
    variant: VariantFilter = None,
    target: TargetFilter = None,
    status: StatusFilter = None,
    run: RunFilter = None,
    last: LastFilter = None,
) -> None:
    """Write stored results out as CSV, JSON or Parquet."""
    from devicelab import api

    data = api.export(format, output, store=store, outputs=outputs,
                      **_filters(model, variant, target, status, run, last))
    if output is None:
        console.file.write(data if isinstance(data, str) else data.decode())
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
        err_console.print(f"[bold red]gate failed:[/bold red] {escape(failure.describe())}")
    if failures:
        raise typer.Exit(1)
