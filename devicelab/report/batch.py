"""Terminal tables for a batch: one line per pool (what happened to its jobs), and the jobs without a result."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table


def pools_table(report: Any) -> Table:
    """Per pool (phones of one model, a browser's slots, this PC): its workers and its jobs' outcomes."""
    table = Table(title=f"Batch {report.batch_id}", title_justify="left")
    for column in ("target", "workers", "jobs", "ok", "failed", "not run", "earlier run"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for pool in report.pools:
        outcomes = [o for o in report.outcomes.values() if o.job.pool == pool.key]
        if not outcomes:
            continue
        count = {s: sum(1 for o in outcomes if o.status == s) for s in ("ok", "failed", "not_run")}
        table.add_row(escape(pool.label), str(len(pool.members)), str(len(outcomes)), str(count["ok"]),
                      f"[red]{count['failed']}[/red]" if count["failed"] else "0",
                      f"[yellow]{count['not_run']}[/yellow]" if count["not_run"] else "0",
                      str(sum(o.earlier for o in outcomes)))
    return table


def not_run_table(report: Any) -> Table | None:
    """Jobs that have no result (their device went away, the batch was stopped): a rerun runs them."""
    missing = [o for o in report.outcomes.values() if o.status == "not_run"]
    if not missing:
        return None
    table = Table(title="Not run (a rerun of the batch runs them)", title_justify="left")
    for column in ("job", "target", "why"):
        table.add_column(column)
    labels = {p.key: p.label for p in report.pools}
    for outcome in missing:
        table.add_row(escape(outcome.job.label), escape(labels.get(outcome.job.pool, outcome.job.pool)),
                      escape(outcome.error or ""))
    return table


def counts_line(report: Any) -> str:
    c = report.counts
    parts = [f"{len(report.jobs)} jobs: {c['ok']} ok" + (f" ({c['earlier']} from an earlier run)" if c["earlier"]
                                                          else "")]
    if c["failed"]:
        parts.append(f"[red]{c['failed']} failed[/red]")
    if c["not_run"]:
        parts.append(f"[yellow]{c['not_run']} not run[/yellow]")
    if report.retries:
        parts.append(f"{report.retries} retried attempt(s)")
    timing = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.phases.items())
    return ", ".join(parts) + f" ({timing})"
