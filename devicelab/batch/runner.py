"""The worker pool: one thread per pool member (a phone, a browser slot, this PC), each taking its pool's jobs.

Every job goes through ``api.measure``, which stores its result the moment it arrives. Around that:

- a transient failure (app crash, timeout, adb hiccup, browser crash) is retried after ``backoff * 2**n``
  seconds, on whichever member of the pool is free; the failed attempt stays in the store as ``retried``;
- a permanent failure (a model the runtime cannot run, a conversion error), or one that is still failing after
  the plan's retries, is the job's result: recorded as an error with its message;
- a member whose device went away (unplugged, adb server gone) stops; its job goes back to its pool, where an
  equivalent device takes it, or, if none is left, the pool's remaining jobs are reported as not run (a resume
  runs them when the device is back);
- Ctrl-C (or SIGTERM) stops taking jobs and waits for the ones running; a second one abandons them.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelab.batch import ledger
from devicelab.batch.expand import BatchJob
from devicelab.batch.plan import Plan
from devicelab.batch.pools import Member, Pool
from devicelab.batch.prepare import PreparedModel
from devicelab.errors import DevicelabError

# Error kinds worth another attempt: the device, app or browser had a bad moment, not the model.
TRANSIENT = frozenset({"crash", "timeout", "android", "ios", "browser_crash", "browser_unavailable", "internal"})
VANISHED = "device_lost"
_JOIN_S = 0.2


@dataclass
class Outcome:
    job: BatchJob
    status: str  # "ok" | "failed" | "not_run"
    target: str | None = None
    row_id: int | None = None
    attempts: int = 0
    kind: str | None = None
    error: str | None = None
    hint: str | None = None
    earlier: bool = False  # finished in an earlier run of this batch (resume), not measured now


@dataclass
class Event:
    """What the CLI draws: kind is started | progress | finished | retry | vanished | member_failed |
    member_done | not_run | stopping."""

    kind: str
    member: str = ""
    job: BatchJob | None = None
    detail: str = ""
    done: int = 0
    total: int = 0
    outcome: Outcome | None = None


EventFn = Callable[[Event], None]


@dataclass
class Context:
    plan: Plan
    prepared: dict[str, PreparedModel]
    store: Path
    cache: Path
    batch_id: str
    options: Any  # api.MeasureOptions shared by every job
    events: EventFn
    earlier_failures: dict[str, list[int]] = field(default_factory=dict)  # uid -> rows a rerun replaces
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    retries: int = 0
    closed: bool = False  # set when running jobs are abandoned: their late outcomes are ignored
    workers: int = 0  # worker threads still running
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, outcome: Outcome, member: str = "") -> None:
        with self.lock:
            if self.closed:
                return
            self.outcomes[outcome.job.uid] = outcome
        self.events(Event("finished" if outcome.status != "not_run" else "not_run", member, outcome.job,
                          outcome.error or "", outcome=outcome))


class PoolQueue:
    """A pool's jobs: ready ones first, retries when their backoff is over; knows how many workers are left."""

    def __init__(self, pool: Pool, jobs: list[BatchJob]) -> None:
        self.pool = pool
        self.cond = threading.Condition()
        self._heap: list[tuple[float, int, BatchJob, int]] = []
        self._seq = itertools.count()
        for job in jobs:
            heapq.heappush(self._heap, (0.0, next(self._seq), job, 1))
        self.running: dict[str, BatchJob] = {}  # uid -> job, taken and not yet done
        self.workers = len(pool.members)
        self.gone: list[str] = []  # why members stopped early

    def take(self, stop: threading.Event) -> tuple[BatchJob, int] | None:
        """The next job and its attempt number, waiting for backoffs; None when nothing is left (or stopping)."""
        with self.cond:
            while not stop.is_set():
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    _, _, job, attempt = heapq.heappop(self._heap)
                    self.running[job.uid] = job
                    return job, attempt
                if not self._heap and not self.running:
                    return None
                self.cond.wait(min(self._heap[0][0] - now, 0.5) if self._heap else 0.5)
            return None

    def done(self, job: BatchJob) -> None:
        with self.cond:
            self.running.pop(job.uid, None)
            self.cond.notify_all()

    def again(self, job: BatchJob, attempt: int, delay: float) -> None:
        with self.cond:
            self.running.pop(job.uid, None)
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), job, attempt))
            self.cond.notify_all()

    def member_gone(self, why: str) -> list[BatchJob]:
        """A worker stopped for good; if it was the last, the jobs still queued are returned (not run)."""
        with self.cond:
            self.workers -= 1
            self.gone.append(why)
            left: list[BatchJob] = []
            if self.workers == 0:
                left = [job for _, _, job, _ in sorted(self._heap)]
                self._heap.clear()
            self.cond.notify_all()
            return left

    def drain(self) -> list[BatchJob]:
        """Every job without an outcome: still queued, or (when abandoned) still running."""
        with self.cond:
            left = [job for _, _, job, _ in sorted(self._heap)] + list(self.running.values())
            self._heap.clear()
            self.running.clear()
            return left


def run_pools(pools: list[Pool], jobs: dict[str, list[BatchJob]], ctx: Context) -> bool:
    """Run every pool's jobs on its members in parallel; True if stopped early (Ctrl-C / SIGTERM)."""
    queues = [PoolQueue(pool, jobs[pool.key]) for pool in pools if jobs.get(pool.key)]
    threads = [threading.Thread(target=_work, args=(member, queue, ctx), daemon=True,
                                name=f"devicelab-batch-{member.label}")
               for queue in queues for member in queue.pool.members]
    ctx.workers = len(threads)
    with _sigterm_as_interrupt():
        for thread in threads:
            thread.start()
        interrupted = _wait(ctx)
    left = [job for queue in queues for job in queue.drain()]  # only when stopped early
    for job in left:
        ctx.record(Outcome(job, "not_run", error="the batch was stopped before it finished"))
    with ctx.lock:
        ctx.closed = True
    return interrupted


def _wait(ctx: Context) -> bool:
    """Until every worker is done; the first Ctrl-C stops taking jobs, a second abandons the running ones.

    The main thread sleeps rather than joining threads: a KeyboardInterrupt that lands inside Thread.join can
    leave the thread looking finished while it still runs (CPython), and the batch would stop without its jobs.
    """
    try:
        _sleep_until_done(ctx)
        return False
    except KeyboardInterrupt:
        ctx.stop.set()
        ctx.events(Event("stopping", detail="waiting for the jobs that are running; Ctrl-C again abandons them"))
    try:
        _sleep_until_done(ctx)
    except KeyboardInterrupt:
        _abandon(ctx)
    return True


def _sleep_until_done(ctx: Context) -> None:
    while ctx.workers > 0:
        time.sleep(_JOIN_S)


def _abandon(ctx: Context) -> None:
    """Second Ctrl-C: leave the running jobs (their results are lost; a resume runs them again)."""
    ctx.events(Event("stopping", detail="abandoning the running jobs"))
    _stop_host_workers()


def _stop_host_workers() -> None:
    """The host target's worker processes started by this process, which would otherwise outlive it."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "devicelab.targets.host_worker" in " ".join(child.cmdline()):
                child.kill()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the batch like Ctrl-C (only the main thread may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- one worker ------------------------------------------------------------------------------------------------


def _work(member: Member, queue: PoolQueue, ctx: Context) -> None:
    try:
        _serve(member, queue, ctx)
    finally:
        with ctx.lock:
            ctx.workers -= 1


def _serve(member: Member, queue: PoolQueue, ctx: Context) -> None:
    try:
        target = member.build()
    except Exception as exc:  # no device any more, app not installed, browser not there
        why = _describe(exc)
        ctx.events(Event("member_failed", member.label, detail=why))
        _not_run(queue.member_gone(f"{member.label}: {why}"), queue, ctx)
        return
    try:
        while (item := queue.take(ctx.stop)) is not None:
            job, attempt = item
            try:
                ctx.events(Event("started", member.label, job, detail=target.name, done=attempt))
                present = _attempt(target, member, job, attempt, queue, ctx)
            except Exception as exc:  # the store or a callback failed around the job: record it, strand nothing
                queue.done(job)  # first: other workers wait on running jobs
                ctx.record(Outcome(job, "failed", target.name, None, attempt, "internal", _describe(exc),
                                   "run the batch again: finished jobs are kept, this one runs again"), member.label)
                continue
            if not present:
                why = f"{member.label} went away"
                ctx.events(Event("vanished", member.label, job, detail=why))
                _not_run(queue.member_gone(why), queue, ctx)
                return
    except Exception as exc:  # never leave the pool waiting on a worker that died
        _not_run(queue.member_gone(f"{member.label}: {_describe(exc)}"), queue, ctx)
    finally:
        with contextlib.suppress(Exception):  # a vanished device or dead browser has nothing left to close
            target.close()
        ctx.events(Event("member_done", member.label))


def _not_run(jobs: list[BatchJob], queue: PoolQueue, ctx: Context) -> None:
    why = "; ".join(queue.gone)
    for job in jobs:
        ctx.record(Outcome(job, "not_run", error=f"no {queue.pool.label} left to run it ({why})",
                           hint="fix what stopped it (reconnect the device, install the app...) and run the batch "
                                "again: finished jobs are kept, only these run"))


@dataclass
class _Failure:
    kind: str
    message: str
    hint: str | None
    row_id: int | None


def _attempt(target: Any, member: Member, job: BatchJob, attempt: int, queue: PoolQueue, ctx: Context) -> bool:
    """One attempt at a job; False when the member's device went away (the job is back in its queue)."""
    try:
        measured = _measure(target, member, job, ctx)
    except Exception as exc:  # a device gone between jobs, an adb error outside a run, a bug
        if not member.present():
            queue.again(job, attempt, 0.0)
            return False
        if os.environ.get("DEVICELAB_VERBOSE"):  # what the hint promises --verbose shows
            traceback.print_exception(exc, file=sys.stderr)
        failure = _Failure("internal", _describe(exc), "rerun with --verbose to see its traceback; report it if it "
                           "repeats", None)
    else:
        if measured.ok:
            _supersede(ctx, ctx.earlier_failures.pop(job.uid, []))
            ctx.record(Outcome(job, "ok", target.name, measured.row_id, attempt), member.label)
            queue.done(job)
            return True
        error = measured.error or DevicelabError("failed")
        failure = _Failure(getattr(error, "kind", "error"), error.message, error.hint, measured.row_id)
        if failure.kind == VANISHED or (failure.kind in TRANSIENT and not member.present()):
            _supersede(ctx, [failure.row_id])
            queue.again(job, attempt, 0.0)
            return False
    if ctx.stop.is_set():  # stopping: an attempt cut short is not the job's result
        _supersede(ctx, [failure.row_id])
        ctx.record(Outcome(job, "not_run", target.name, attempts=attempt, error="stopped while running"),
                   member.label)
        queue.done(job)
        return True
    if failure.kind in TRANSIENT and attempt <= ctx.plan.retries:
        _supersede(ctx, [failure.row_id])
        delay = ctx.plan.backoff_seconds * 2 ** (attempt - 1)
        with ctx.lock:
            ctx.retries += 1
        ctx.events(Event("retry", member.label, job, detail=f"{failure.kind}: {failure.message} (attempt "
                         f"{attempt + 1} of {ctx.plan.retries + 1} in {delay:g} s)"))
        queue.again(job, attempt + 1, delay)
        return True
    row_id = failure.row_id or _store_failure(target.name, job, failure, ctx, queue.pool)
    _supersede(ctx, ctx.earlier_failures.pop(job.uid, []))
    ctx.record(Outcome(job, "failed", target.name, row_id, attempt, failure.kind, failure.message, failure.hint),
               member.label)
    queue.done(job)
    return True


def _measure(target: Any, member: Member, job: BatchJob, ctx: Context) -> Any:
    from devicelab import api

    prepared = ctx.prepared[job.model]

    def forward(task: str, done: int, total: int, detail: str = "") -> None:
        ctx.events(Event("progress", member.label, job, detail or task, done, total))

    measured = api.measure(job.model, variants=[job.variant], target=target, options=ctx.options,
                           dataset=prepared.dataset, store=ctx.store, cache=ctx.cache,
                           calibration=ctx.plan.calibration, reference=ctx.plan.reference and prepared.reference_ok,
                           backends=[job.setting] if job.setting else None, reuse=True,
                           tag=ledger.tag(ctx.batch_id, job), progress=forward)
    return measured[-1]


def _supersede(ctx: Context, row_ids: list[int | None]) -> None:
    from devicelab.store import Store

    ids = [i for i in row_ids if i]
    if ids:
        with Store(ctx.store) as db:
            db.set_status(ids, "retried")


def _store_failure(target: str, job: BatchJob, failure: _Failure, ctx: Context, pool: Pool) -> int:
    """A job that failed without a stored result (an exception outside the target): record it, so the failure
    and its message are in the store like any other and a resume does not run it again."""
    return store_failure(ctx.store, ctx.batch_id, job, ctx.prepared[job.model], target, pool.sweep_field,
                         ctx.options, failure.kind, failure.message, failure.hint)


def store_failure(store: Path, batch_id: str, job: BatchJob, prepared: PreparedModel, target: str,
                  sweep_field: str, options: Any, kind: str, message: str, hint: str | None) -> int:
    from devicelab.store import Store, new_run_id

    runtime = f"{job.runtime}/{job.setting}" if job.setting else job.runtime
    fields = {"run_id": new_run_id(), "model": prepared.source.name, "model_sha256": prepared.source.sha256,
              "variant": job.variant, "format": job.fmt, "target": target, "runtime": runtime,
              "artifact_sha256": prepared.artifacts.get(job.variant) or None, "dataset": prepared.dataset.name,
              "dataset_sha256": prepared.dataset.sha256, "samples": prepared.samples, "status": "error",
              "error_kind": kind, "error_message": message, "simulated": 0,
              "job_key": ledger.job_key(job, prepared, target, options, sweep_field, batch_id)}
    with Store(store) as db:
        return db.add(fields, metrics={"hint": hint})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DevicelabError):
        return exc.message + (f" ({exc.hint})" if exc.hint else "")
    return f"{type(exc).__name__}: {exc}"[:300]
