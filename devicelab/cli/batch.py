"""`devicelab batch` (a plan over every phone, browser slot and this PC, in parallel, resumable) and
`devicelab farm export|import` (Firebase Test Lab, AWS Device Farm). Parse, call devicelab.batch, render."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from devicelab.cli.base import CacheOpt, StoreOpt, _cache, app, console, err_console

farm_app = typer.Typer(help="Cloud device farms: export a plan's Android jobs for Firebase Test Lab or AWS Device "
                            "Farm, and import the results they return.", no_args_is_help=True)
app.add_typer(farm_app, name="farm")

PlanArg = Annotated[Path, typer.Argument(help="The plan file (TOML): models, variants, targets; see README "
                                              "'Batch runs over device farms'.")]
INTERRUPTED = 130


class _BatchBars:
    """An overall bar, and one bar per worker (phone, browser slot, this PC) showing its job and phase."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("[dim]{task.fields[detail]}"), TimeElapsedColumn(), console=console)
        self.overall: Any = None
        self.workers: dict[str, Any] = {}
        self.finished: dict[str, int] = {}
        self.lock = threading.Lock()

    def note(self, text: str) -> None:
        (self.progress.console if self.overall is not None else console).print(text)

    def __call__(self, event: Any) -> None:
        with self.lock:
            self._event(event)

    def _event(self, e: Any) -> None:
        p = self.progress
        if e.kind == "planned":
            p.start()
            self.overall = p.add_task("[bold]all jobs", total=e.total, completed=e.done, detail=escape(e.detail))
        elif e.kind in ("started", "progress") and e.member:
            task = self.workers.get(e.member)
            if task is None:
                task = self.workers[e.member] = p.add_task(f"  {escape(e.member)}", total=1, detail="")
            detail = e.job.label + (f": {e.detail}" if e.kind == "progress" and e.detail else "")
            p.update(task, completed=e.done if e.kind == "progress" else 0,
                     total=max(e.total, 1) if e.kind == "progress" else 1, detail=escape(detail))
        elif e.kind in ("finished", "not_run") and self.overall is not None:
            p.advance(self.overall)
            if e.member:
                self.finished[e.member] = self.finished.get(e.member, 0) + 1
        elif e.kind == "retry":
            self.note(f"[yellow]retry[/yellow] {escape(e.member)}: {escape(e.job.label)}: {escape(e.detail)}")
        elif e.kind == "vanished":
            self.note(f"[red]gone[/red] {escape(e.member)} during {escape(e.job.label)}: its jobs go to an "
                      "equivalent device, if any")
        elif e.kind == "member_failed":
            self.note(f"[red]not started[/red] {escape(e.member)}: {escape(e.detail)}")
        elif e.kind == "stopping":
            self.note(f"[yellow]stopping[/yellow]: {escape(e.detail)}")
        elif e.kind == "member_done" and e.member in self.workers:
            p.update(self.workers[e.member], completed=1, total=1,
                     detail=f"done ({self.finished.get(e.member, 0)} jobs)")

    def __enter__(self) -> _BatchBars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.overall is not None:
            self.progress.stop()


@app.command()
def batch(
    plan: PlanArg,
    resume: Annotated[bool, typer.Option("--resume", help="Continue this plan's latest batch even if it finished "
                                         "(jobs added to the plan run; finished ones do not). A rerun after a "
                                         "crash, Ctrl-C or kill resumes without it.")] = False,
    new: Annotated[bool, typer.Option("--new", help="Start a new batch even if the last one did not finish.")]
    = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also rerun jobs that failed after their "
                                               "retries.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the plan, find the devices and count the jobs "
                                          "per model, variant and target, and the skipped combinations, without "
                                          "running anything.")] = False,
    list_jobs: Annotated[bool, typer.Option("--list", help="With --dry-run: also list every job.")] = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the batch's report.html.")]
    = Path("devicelab-batch"),
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Run a plan's models x variants x targets on every phone, browser slot (or Grid) and this PC in parallel,
    storing each result the moment it arrives; a rerun resumes, so nothing is measured twice or lost."""
    from devicelab.batch import describe_jobs, load_plan, run_batch
    from devicelab.batch.report import write_report
    from devicelab.errors import UsageError

    if resume and new:
        raise UsageError("--resume and --new contradict each other", hint="use one of them")
    parsed = load_plan(plan)
    if list_jobs and not dry_run:
        raise UsageError("--list goes with --dry-run", hint="devicelab batch PLAN --dry-run --list")
    if dry_run:
        _show_plan(*describe_jobs(parsed), full=list_jobs)
        return
    try:
        with _BatchBars() as bars:
            report = run_batch(parsed, store=store, cache=_cache(cache_dir), mode="resume" if resume else
                               "new" if new else "auto", retry_failed=retry_failed, events=bars, say=bars.note)
    except KeyboardInterrupt:  # while preparing, before any job ran: nothing to lose
        err_console.print(f"[yellow]Stopped[/yellow] before any job ran. Run again with: devicelab batch {plan}")
        raise typer.Exit(INTERRUPTED) from None
    _show_report(report)
    if report.jobs:
        console.print(f"Report: [bold]{write_report(report, out)}[/bold]")
    if report.interrupted:
        console.print(f"[yellow]Stopped.[/yellow] Resume with: devicelab batch {plan} --resume")
        raise typer.Exit(INTERRUPTED)
    if not report.ok:
        raise typer.Exit(1)


def _show_plan(jobs: list[Any], skipped: list[Any], warnings: list[str], pools: list[Any], full: bool) -> None:
    from devicelab.report.batch import jobs_lines, plan_summary

    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for renderable in plan_summary(jobs, skipped, pools):
        console.print(renderable)
    if full:
        console.file.write(jobs_lines(jobs, pools))
    else:
        console.print("[dim]every job, one per line: add --list[/dim]")


def _show_report(report: Any) -> None:
    from devicelab.report.batch import counts_line, not_run_table, pools_table
    from devicelab.report.terminal import MEASURED_COLUMNS, results_table
    from devicelab.store import Store

    with Store(report.store) as db:
        rows = [row for i in report.row_ids() if (row := db.get(i)) is not None]
    if rows:
        console.print(results_table(rows, title="Results", columns=MEASURED_COLUMNS, drop_shared=True))
    console.print(pools_table(report))
    missing = not_run_table(report)
    if missing is not None:
        console.print(missing)
    for skip in report.skipped:
        console.print(f"[dim]skipped: {escape(str(skip))}[/dim]")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for outcome in report.outcomes.values():
        if outcome.status == "failed" and not outcome.earlier:
            where = escape(outcome.target or "?")
            err_console.print(f"[bold red]Error:[/bold red] {escape(outcome.job.label)} on {where}: "
                              f"{escape(outcome.error or 'failed')}")
            if outcome.hint:
                err_console.print(f"[yellow]Hint:[/yellow] {escape(outcome.hint)}")
    console.print(counts_line(report))


@farm_app.command("export")
def farm_export(
    plan: PlanArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the bundle to (job folders, the "
                                      "commands, the AWS test spec).")] = Path("devicelab-farm"),
    farm: Annotated[str, typer.Option("--farm", help="firebase, aws or both.")] = "both",
    apk: Annotated[Path | None, typer.Option("--apk", help="The devicelab app to run (default: android_app's "
                                             "debug build, when built).")] = None,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Write what Firebase Test Lab and AWS Device Farm need to run the plan's Android jobs in the devicelab
    app's instrumentation: the job folders, the app, the exact commands, and (AWS) the test spec."""
    from devicelab.batch import load_plan
    from devicelab.batch.farm_export import export_bundle

    bundle = export_bundle(load_plan(plan), out, farms=_farms(farm), apk=apk, store=store, cache=_cache(cache_dir),
                           say=lambda text: console.print(escape(text)))
    console.print(f"{len(bundle.jobs)} jobs written to [bold]{bundle.root}[/bold]; next steps: "
                  f"{bundle.root / 'README.md'}")


@farm_app.command("import")
def farm_import(
    bundle: Annotated[Path, typer.Argument(help="The folder `devicelab farm export` wrote.")],
    results: Annotated[list[Path], typer.Argument(help="What the farm returned: the folder copied from the "
                                                  "Firebase results bucket, or AWS 'Customer Artifacts' zips "
                                                  "(or their unzipped folders).")],
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Read the result folders a farm returned into the store, each validated against the result schema and
    compared with the PC reference like any other result; importing twice adds nothing."""
    from devicelab.batch.farm_import import import_results

    imported = import_results(bundle, results, store=store, cache=_cache(cache_dir),
                              say=lambda text: console.print(escape(text)))
    console.print(imported.summary())
    for problem in imported.problems:
        err_console.print(f"[yellow]skipped:[/yellow] {escape(problem)}")
    if imported.failed or (not imported.added and not imported.already):
        raise typer.Exit(1)


def _farms(value: str) -> tuple[str, ...]:
    from devicelab.errors import UsageError

    farms = ("firebase", "aws") if value == "both" else (value,)
    if any(f not in ("firebase", "aws") for f in farms):
        raise UsageError(f"unknown farm '{value}'", hint="use firebase, aws or both")
    return farms
