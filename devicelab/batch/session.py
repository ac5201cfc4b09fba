"""One batch run from plan to report: find the pools, expand the jobs, prepare the models, skip what the store
already holds, run the rest on the workers, and say what happened to every job.

    from devicelab.batch import load_plan, run_batch
    report = run_batch(load_plan("plan.toml"))
    print(report.counts, report.ok)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devicelab.batch import ledger
from devicelab.batch.expand import BatchJob, Skip, expand
from devicelab.batch.plan import Plan, load_plan
from devicelab.batch.pools import Pool, discover
from devicelab.batch.prepare import PreparedModel, prepare
from devicelab.batch.runner import Context, Event, EventFn, Outcome, run_pools, store_failure
from devicelab.errors import DevicelabError, UsageError
from devicelab.store import Store


@dataclass
class BatchReport:
    batch_id: str
    resumed: bool
    plan: Plan
    store: Path
    jobs: list[BatchJob]
    outcomes: dict[str, Outcome]
    pools: list[Pool]
    skipped: list[Skip] = field(default_factory=list)  # combinations no target of the plan can run
    warnings: list[str] = field(default_factory=list)  # targets found nowhere, a reference that failed...
    retries: int = 0
    interrupted: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds: prepare, measure

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())

    @property
    def counts(self) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0, "not_run": 0, "earlier": 0}
        for outcome in self.outcomes.values():
            counts[outcome.status] += 1
            counts["earlier"] += outcome.earlier
        return counts

    @property
    def ok(self) -> bool:
        """Every job has a successful result (now or from an earlier run of the batch)."""
        return all(o.status == "ok" for o in self.outcomes.values()) and len(self.outcomes) == len(self.jobs)

    def row_ids(self) -> list[int]:
        return [o.row_id for o in (self.outcomes.get(j.uid) for j in self.jobs) if o and o.row_id]


def run_batch(plan: Plan | str | Path, *, store: Path | None = None, cache: Path | None = None,
              mode: str = "auto", retry_failed: bool = False, pools: list[Pool] | None = None,
              events: EventFn | None = None, say: Callable[[str], None] | None = None) -> BatchReport:
    """Run a plan's jobs on every pool in parallel, storing each result as it arrives.

    ``mode``: "auto" continues this plan's unfinished batch if there is one (after a crash, Ctrl-C or a kill)
    and starts a new batch otherwise; "resume" continues the latest batch even if it finished (new jobs of an
    edited plan run, finished ones do not); "new" starts over. Jobs that failed after their retries count as
    finished unless ``retry_failed``. ``pools`` replaces the pools found from the plan's targets (tests,
    benchmarks, custom targets). ``events`` receives progress; ``say`` one-line notes.
    """
    from devicelab.paths import cache_dir, default_store

    started = time.monotonic()
    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    store = Path(store or plan.store or default_store())
    cache = Path(cache or cache_dir())
    Store.check_writable(store)  # before any work: a store that fails on the first result would lose them all
    note = say or (lambda _: None)
    warnings: list[str] = []
    if pools is None:
        found = discover(plan)
        pools, warnings = found.pools, found.warnings
    for warning in warnings:
        note(f"warning: {warning}")
    expansion = expand(plan, pools)
    if not expansion.jobs:
        why = "; ".join([*warnings, *map(str, expansion.skipped)]) or "the plan names no runnable combination"
        raise UsageError(f"nothing to run: {why}",
                         hint="check the targets are connected (`devicelab devices`) and the variants fit them")
    broken: dict[str, DevicelabError] = {}
    prepared = prepare(plan, expansion.jobs, store, cache, note, broken=broken)
    phases = {"prepare": time.monotonic() - started}
    run = ledger.open_batch(store, plan.key, str(plan.path or ""), len(expansion.jobs), mode)
    note(("resuming" if run.resumed else "starting") + f" batch {run.id}: {len(expansion.jobs)} jobs on "
         f"{sum(len(p.members) for p in pools)} workers")
    ctx = Context(plan, prepared, store, cache, run.id, plan.options(), events or (lambda _: None))
    for model in prepared.values():
        if model.reference_error is not None:
            warnings.append(f"{model.spec}: the original failed on this PC ({model.reference_error.message}); "
                            "agreement is not computed")
    runnable = _not_prepared(expansion.jobs, broken, ctx)
    todo = _skip_finished(runnable, pools, prepared, ctx, retry_failed)
    todo = _fail_unconverted(todo, pools, prepared, ctx)
    ctx.events(Event("planned", done=len(expansion.jobs) - len(todo), total=len(expansion.jobs),
                     detail=_planned_detail(ctx)))
    by_pool: dict[str, list[BatchJob]] = {}
    for job in todo:
        by_pool.setdefault(job.pool, []).append(job)
    measuring = time.monotonic()
    interrupted = run_pools(pools, by_pool, ctx)
    phases["measure"] = time.monotonic() - measuring
    report = BatchReport(run.id, run.resumed, plan, store, expansion.jobs, ctx.outcomes, pools, expansion.skipped,
                         warnings, ctx.retries, interrupted, phases)
    if not interrupted and all(o.status != "not_run" for o in ctx.outcomes.values()):
        ledger.finish_batch(store, run.id)
    return report


def _skip_finished(jobs: list[BatchJob], pools: list[Pool], prepared: dict[str, PreparedModel], ctx: Context,
                   retry_failed: bool) -> list[BatchJob]:
    """Jobs of this batch without their one final result in the store; the others are outcomes already."""
    done, stored_targets = ledger.finished(ctx.store)
    pool_of = {p.key: p for p in pools}
    todo = []
    for job in jobs:
        pool = pool_of[job.pool]
        names = {m.name for m in pool.members} | stored_targets
        found = None
        for name in sorted(names):
            key = ledger.job_key(job, prepared[job.model], name, ctx.options, pool.sweep_field, ctx.batch_id)
            if key in done and (found is None or done[key][0] > found[1][0]):
                found = (name, done[key])
        if found is None:
            todo.append(job)
            continue
        name, (row_id, status) = found
        if status == "error" and retry_failed:
            ctx.earlier_failures.setdefault(job.uid, []).append(row_id)
            todo.append(job)
            continue
        ctx.outcomes[job.uid] = Outcome(job, "ok" if status == "ok" else "failed", name, row_id,
                                        error=None if status == "ok" else "failed in an earlier run of this batch",
                                        earlier=True)
    return todo


def _planned_detail(ctx: Context) -> str:
    """What the jobs settled before any worker starts are: done earlier, failed to convert, or not runnable."""
    outcomes = list(ctx.outcomes.values())
    parts = [(sum(o.earlier for o in outcomes), "done in an earlier run"),
             (sum(o.status == "failed" and not o.earlier for o in outcomes), "did not convert"),
             (sum(o.status == "not_run" for o in outcomes), "cannot run (see the end)")]
    return ", ".join(f"{n} {what}" for n, what in parts if n)


def _not_prepared(jobs: list[BatchJob], broken: dict[str, DevicelabError], ctx: Context) -> list[BatchJob]:
    """Jobs of a model that could not be prepared are not run, each saying why; the other models' jobs run."""
    todo = []
    for job in jobs:
        error = broken.get(job.model)
        if error is None:
            todo.append(job)
        else:
            ctx.record(Outcome(job, "not_run", error=error.message, hint=error.hint))
    return todo


def _fail_unconverted(jobs: list[BatchJob], pools: list[Pool], prepared: dict[str, PreparedModel],
                      ctx: Context) -> list[BatchJob]:
    """Jobs of a variant that did not convert fail now, each with the converter's error, without a worker."""
    pool_of = {p.key: p for p in pools}
    todo = []
    for job in jobs:
        error = prepared[job.model].failed.get(job.variant)
        if error is None:
            todo.append(job)
            continue
        pool = pool_of[job.pool]
        target = pool.members[0].name
        row_id = store_failure(ctx.store, ctx.batch_id, job, prepared[job.model], target, pool.sweep_field,
                               ctx.options, error.kind, error.message, error.hint)
        ctx.record(Outcome(job, "failed", target, row_id, 0, error.kind, error.message, error.hint))
    return todo


def describe_jobs(plan: Plan | str | Path,
                  pools: list[Pool] | None = None) -> tuple[list[BatchJob], list[Skip], list[str], list[Pool]]:
    """The jobs a plan gives here, without measuring anything: (jobs, skipped, warnings, pools)."""
    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    warnings: list[str] = []
    if pools is None:
        found = discover(plan)
        pools, warnings = found.pools, found.warnings
    expansion = expand(plan, pools)
    return expansion.jobs, expansion.skipped, warnings, pools
