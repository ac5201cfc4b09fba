"""Which batch this run belongs to, and which of its jobs already have their one result in the store.

Resume needs no state file: a batch is a row of the ``batches`` table in the results store, and a job is done
when the store holds a result with the job's key (``api.job_key``: model, artifact, target, runtime setting,
options, data, samples and the job's tag, which carries the batch id and the job's uid). Results are written
by ``api.measure`` in their own transactions; this module only reads them, and re-files failed attempts that a
retry replaced as ``retried``.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devicelab.batch.expand import BatchJob
from devicelab.batch.prepare import PreparedModel
from devicelab.errors import StoreError

FINAL = ("ok", "error")  # a job with a result in one of these is done; "retried" attempts do not count
_DDL = """
CREATE TABLE IF NOT EXISTS batches (
  id TEXT PRIMARY KEY, plan TEXT, plan_file TEXT, created_at TEXT, finished_at TEXT, jobs INTEGER
);
"""


@dataclass(frozen=True)
class BatchRun:
    id: str
    resumed: bool  # an earlier, unfinished (or explicitly resumed) batch of the same plan


def open_batch(store: Path, plan_key: str, plan_file: str, jobs: int, mode: str = "auto") -> BatchRun:
    """The batch to run: ``mode`` "new" starts one, "resume" continues the plan's latest batch, "auto" continues
    it only if it did not finish (a crash, Ctrl-C or a killed process) and starts a new one otherwise."""
    with _connect(store) as db:
        latest = db.execute("SELECT id, finished_at FROM batches WHERE plan = ? ORDER BY created_at DESC, rowid DESC "
                            "LIMIT 1", (plan_key,)).fetchone()
        if latest is not None and (mode == "resume" or (mode == "auto" and latest[1] is None)):
            db.execute("UPDATE batches SET finished_at = NULL, jobs = ? WHERE id = ?", (jobs, latest[0]))
            return BatchRun(latest[0], True)
        batch_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        db.execute("INSERT INTO batches VALUES (?, ?, ?, ?, NULL, ?)",
                   (batch_id, plan_key, plan_file, _now(), jobs))
        return BatchRun(batch_id, False)


def finish_batch(store: Path, batch_id: str) -> None:
    with _connect(store) as db:
        db.execute("UPDATE batches SET finished_at = ? WHERE id = ?", (_now(), batch_id))


def tag(batch_id: str, job: BatchJob) -> str:
    return f"batch:{batch_id}:{job.uid}"


def job_key(job: BatchJob, prepared: PreparedModel, target: str, options: Any, sweep_field: str,
            batch_id: str) -> str:
    """The key api.measure files this job's result under when it runs on ``target`` (see api._measure_one)."""
    from devicelab import api

    runtime = f"{job.runtime}/{job.setting}" if job.setting else job.runtime
    return api.job_key(model_sha256=prepared.source.sha256, variant=job.variant,
                       artifact_sha256=prepared.artifacts.get(job.variant, ""), target=target, runtime=runtime,
                       options=replace(options, **{sweep_field: job.setting}),
                       dataset_sha256=prepared.dataset.sha256, samples=prepared.samples, tag=tag(batch_id, job))


def finished(store: Path, statuses: tuple[str, ...] = FINAL) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """({job_key: (row id, status)}, every target name) of the store: what the resume lookup needs."""
    from devicelab.store import Store

    with Store(store) as db:
        return db.finished_jobs(statuses), db.targets()


@contextmanager
def _connect(store: Path) -> Iterator[sqlite3.Connection]:
    """The store's own connection for the batches table: one transaction, committed, then closed."""
    from devicelab.store import Store

    Store(store).close()  # creates (or migrates) the results tables first
    try:
        db = sqlite3.connect(store, timeout=30)
        db.executescript(_DDL)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open results store {store}: {exc}",
                         hint="choose another file with --store, or move the broken one aside") from None
    try:
        with db:
            yield db
    finally:
        db.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
