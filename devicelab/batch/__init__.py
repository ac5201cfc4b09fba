"""Batch runs over device farms: a plan file expands models x variants x targets into jobs that run in
parallel, one worker per phone and N per browser or Grid, each result stored the moment it arrives, and a
rerun resumes where the last one stopped.

    from devicelab.batch import load_plan, run_batch
    report = run_batch(load_plan("plan.toml"))

Modules: plan (parse + validate, with line numbers), pools (devices and slots a plan's targets give), expand
(the jobs), prepare (models, conversions, reference), ledger (batch identity and resume), runner (workers,
retries, vanishing devices), session (one run end to end), report (the batch's report.html), farm_export /
farm_import / farm_layouts (Firebase Test Lab and AWS Device Farm).
"""

from devicelab.batch.expand import BatchJob, expand
from devicelab.batch.plan import Plan, PlanError, load_plan, parse_plan
from devicelab.batch.pools import Member, Pool, discover
from devicelab.batch.runner import Event, Outcome
from devicelab.batch.session import BatchReport, describe_jobs, run_batch

__all__ = ["BatchJob", "BatchReport", "Event", "Member", "Outcome", "Plan", "PlanError", "Pool", "describe_jobs",
           "discover", "expand", "load_plan", "parse_plan", "run_batch"]
