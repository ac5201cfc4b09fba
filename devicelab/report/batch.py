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


def plan_summary(jobs: list[Any], skipped: list[Any], pools: list[Any]) -> list[Any]:
    """What `batch --dry-run` prints: job counts per model x variant and per target, then every skipped
    combination grouped by its reason. Twenty thousand jobs are a few dozen lines, not a table of each."""
    from collections import Counter

    labels = {p.key: f"{p.label} ({len(p.members)} worker{'s' if len(p.members) > 1 else ''})" for p in pools}
    per_model_variant = Counter((j.model, j.variant) for j in jobs)
    models = list(dict.fromkeys(j.model for j in jobs))
    variants = list(dict.fromkeys(j.variant for j in jobs))
    out: list[Any] = []
    by_model = Table(title=f"{len(jobs)} jobs", title_justify="left")
    by_model.add_column("variant")
    for model in models:
        by_model.add_column(escape(model), justify="right")
    for variant in variants:
        by_model.add_row(variant, *(str(per_model_variant[(m, variant)] or "-") for m in models))
    by_model.add_row("[bold]all[/bold]", *(f"[bold]{sum(1 for j in jobs if j.model == m)}[/bold]" for m in models))
    out.append(by_model)
    by_target = Table(title="Jobs per target", title_justify="left")
    for column in ("target", "jobs", "settings"):
        by_target.add_column(column, justify="right" if column == "jobs" else "left")
    per_pool = Counter(j.pool for j in jobs)
    for key, count in per_pool.items():
        settings = sorted({j.setting for j in jobs if j.pool == key and j.setting})
        by_target.add_row(escape(labels.get(key, key)), str(count), escape(", ".join(settings)) or "-")
    out.append(by_target)
    if skipped:
        grouped: dict[tuple[str, str], list[str]] = {}
        for skip in skipped:
            grouped.setdefault((skip.reason, skip.target), []).append(f"{skip.model} {skip.variant}")
        out.append(f"{len(skipped)} skipped:")
        for (reason, target), combos in grouped.items():
            where = f" on {target}" if target else ""
            out.append(f"  [dim]{escape(', '.join(combos))}{escape(where)}:[/dim] {escape(reason)}")
    return out


def jobs_lines(jobs: list[Any], pools: list[Any]) -> str:
    """Every job, one tab-separated line each (`batch --dry-run --list`): quick to print and to grep even for
    tens of thousands of jobs, where a drawn table took seconds."""
    labels = {p.key: p.label for p in pools}
    lines = ["model\tvariant\tsetting\trepeat\ttarget\truntime"]
    lines += [f"{j.model}\t{j.variant}\t{j.setting or '-'}\t{j.repeat + 1}\t{labels[j.pool]}\t{j.runtime}"
              for j in jobs]
    return "\n".join(lines) + "\n"
