"""`devicelab farm import`: the result folders a farm returned, into the store like any other result.

Result folders (``result.json`` + ``DONE`` + ``outputs/``) are found anywhere below the given folders and zips,
so the exact nesting of a farm's download does not matter (the layouts are documented in the bundle's README).
Each result.json is validated against the protocol's schema and matched to its job by job id; it then goes
through ``api.measure`` on a target that replays it, so accuracy and agreement with the PC reference are
computed exactly as for a local run, and the job key (with the bundle's tag) makes a second import a no-op.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelab import protocol
from devicelab.batch.expand import BatchJob
from devicelab.batch.farm_export import BUNDLE_SCHEMA, FARM_POOL
from devicelab.errors import DevicelabError, ProtocolError, UsageError
from devicelab.targets.android import RUNTIMES
from devicelab.targets.base import Progress, RuntimeTable, Target


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0  # in the store from an earlier import
    failed: int = 0  # results that say the job failed on the device (stored, with their error)
    problems: list[str] = field(default_factory=list)  # result folders that could not be imported, and why
    missing: list[str] = field(default_factory=list)  # job ids no device returned a result for
    row_ids: list[int] = field(default_factory=list)

    def summary(self) -> str:
        text = f"imported {self.added} result(s)"
        if self.failed:
            text += f" ({self.failed} of them errors reported by the device)"
        if self.already:
            text += f", {self.already} already in the store"
        if self.problems:
            text += f", {len(self.problems)} skipped"
        if self.missing:
            text += f"; no result for {len(self.missing)} job(s): {', '.join(self.missing[:5])}"
        return text


class FarmResultTarget(RuntimeTable, Target):
    """A target that 'runs' a job by handing back the result a farm device already produced for it."""

    runtimes = RUNTIMES
    kind = "android"
    sweep_field = "delegate"
    where = "the Android app"

    def __init__(self, name: str, result_dir: Path) -> None:
        self._name, self.result_dir = name, result_dir

    @property
    def name(self) -> str:
        return self._name

    def check(self, runtime: str, fmt: str) -> None:
        self.check_runtime(runtime, fmt)

    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> protocol.Result:
        result_dir.mkdir(parents=True, exist_ok=True)
        for item in self.result_dir.iterdir():
            if item.is_dir():
                shutil.copytree(item, result_dir / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, result_dir / item.name)
        return protocol.read_result(result_dir)


def import_results(bundle_dir: Path, paths: list[Path], *, store: Path | None = None, cache: Path | None = None,
                   say: Callable[[str], None] | None = None) -> ImportReport:
    from devicelab import api
    from devicelab.batch.plan import load_plan
    from devicelab.batch.prepare import prepare
    from devicelab.paths import cache_dir, default_store

    note = say or (lambda _: None)
    manifest = _manifest(bundle_dir)
    plan = load_plan(bundle_dir / "plan.toml")
    store, cache = Path(store or plan.store or default_store()), Path(cache or cache_dir())
    jobs = {j["job_id"]: j for j in manifest["jobs"]}
    report = ImportReport()
    with ExitStack() as stack:
        found = list(_result_folders(paths, stack))
        if not found:
            raise UsageError(f"no devicelab result folders (result.json + DONE) below {', '.join(map(str, paths))}",
                             hint="give the folder copied from the results bucket, or the Customer Artifacts zips")
        results = []
        for folder, farm in found:
            try:
                result = protocol.read_result(folder)  # validated against the result schema
            except ProtocolError as exc:
                report.problems.append(f"{folder}: {exc.message}")
                continue
            if result.job_id not in jobs:
                report.problems.append(f"{folder}: job {result.job_id} is not a job of bundle {manifest['bundle_id']}")
                continue
            results.append((folder, farm, result))
        batch_jobs = {job_id: _batch_job(j) for job_id, j in jobs.items()}
        wanted = [batch_jobs[r.job_id] for _, _, r in results]
        prepared = prepare(plan, wanted, store, cache, note) if wanted else {}
        options = api.MeasureOptions(**manifest["options"])
        for folder, farm, result in results:
            job, spec = batch_jobs[result.job_id], jobs[result.job_id]
            ready = prepared[job.model]
            if ready.dataset.sha256 != spec["dataset_sha256"]:
                report.problems.append(f"{folder}: the data of {job.model} is not what the bundle was made with "
                                       "(its sha256 changed); import where the bundle was exported")
                continue
            device = result.device or {}
            target = FarmResultTarget(f"{farm}:{device.get('model') or '?'} ({device.get('os') or '?'})", folder)
            try:
                measured = api.measure(job.model, variants=[job.variant], target=target, options=options,
                                       dataset=ready.dataset, store=store, cache=cache, reference=ready.reference_ok,
                                       backends=[job.setting] if job.setting else None, reuse=True,
                                       tag=f"farm:{manifest['bundle_id']}:{job.uid}")[-1]
            except DevicelabError as exc:
                report.problems.append(f"{folder}: {exc.message}")
                continue
            if measured.reused:
                report.already += 1
                continue
            report.added += 1
            report.failed += not measured.ok
            if measured.row_id:
                report.row_ids.append(measured.row_id)
    returned = {r.job_id for _, _, r in results}
    report.missing = [job_id for job_id in jobs if job_id not in returned]
    return report


def _manifest(bundle_dir: Path) -> dict[str, Any]:
    path = bundle_dir / "bundle.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{bundle_dir} is not a devicelab farm bundle ({path.name}: {exc})",
                         hint="give the folder `devicelab farm export` wrote") from None
    if manifest.get("schema") != BUNDLE_SCHEMA:
        raise UsageError(f"{path} is not a {BUNDLE_SCHEMA} document", hint="export the bundle again")
    if not (bundle_dir / "plan.toml").is_file():
        raise UsageError(f"{bundle_dir} has no plan.toml", hint="export the bundle from a plan file again")
    return manifest


def _batch_job(spec: dict[str, Any]) -> BatchJob:
    return BatchJob(spec["uid"], spec["model"], spec["variant"], spec["fmt"], FARM_POOL, spec["runtime"],
                    spec["setting"], spec["repeat"])


def _result_folders(paths: list[Path], stack: ExitStack) -> Iterator[tuple[Path, str]]:
    """(result folder, which farm by its layout) below every path; zips are read from a temporary copy."""
    for path in paths:
        if path.is_file() and zipfile.is_zipfile(path):
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="devicelab-import-")))
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():  # never write outside the temporary folder
                    target = (folder / member).resolve()
                    if target.is_relative_to(folder.resolve()):
                        archive.extract(member, folder)
            yield from ((f, "aws") for f, _ in _walk(folder))
        elif path.is_dir():
            yield from _walk(path)
        else:
            raise UsageError(f"{path} is neither a folder nor a zip file",
                             hint="give what the farm returned: a results folder or Customer Artifacts zips")


def _walk(root: Path) -> Iterator[tuple[Path, str]]:
    for done in sorted(root.rglob(protocol.DONE_MARKER)):
        folder = done.parent
        if (folder / protocol.RESULT_FILE).is_file():
            parts = set(folder.relative_to(root).parts)
            yield folder, "aws" if "Host_Machine_Files" in parts else "firebase" if "artifacts" in parts else "farm"
