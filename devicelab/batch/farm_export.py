"""`devicelab farm export`: a plan's Android jobs as a bundle that Firebase Test Lab and AWS Device Farm can run.

    bundle = export_bundle(load_plan("plan.toml"), Path("farm"), farms=("firebase", "aws"))

The bundle holds the job folders (the shared protocol, exactly what `devicelab deploy` pushes), the app, the
commands for each farm and the AWS test spec; ``bundle.json`` records how each job was made so that
``farm_import`` can file the results the farms return. See farm_layouts for the farms' file layouts.
"""

from __future__ import annotations

import json
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devicelab.batch import farm_layouts
from devicelab.batch.expand import BatchJob, expand
from devicelab.batch.plan import Plan
from devicelab.batch.pools import Pool
from devicelab.batch.prepare import PreparedModel, prepare
from devicelab.errors import UsageError

BUNDLE_SCHEMA = "devicelab.farm-bundle/1"
FARM_POOL = "farm:android"


@dataclass
class Bundle:
    root: Path
    bundle_id: str
    jobs: list[dict[str, Any]]


def farm_pool(plan: Plan) -> Pool:
    """The phones of a farm, as one pool: what the Android app runs, with the plan's delegates."""
    from devicelab.targets.android import RUNTIMES

    return Pool.from_table(FARM_POOL, "android", "farm phones", [], RUNTIMES, sweep=plan.measure.delegates)


def export_bundle(plan: Plan, out: Path, *, farms: tuple[str, ...] = ("firebase", "aws"), apk: Path | None = None,
                  store: Path | None = None, cache: Path | None = None,
                  say: Callable[[str], None] | None = None) -> Bundle:
    from devicelab.paths import cache_dir, default_store
    from devicelab.targets.android import DEFAULT_APK

    note = say or (lambda _: None)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty", hint="choose another --out folder, or remove it")
    if apk is not None and not apk.is_file():
        raise UsageError(f"no APK at {apk}", hint="build it with ./gradlew :app:assembleDebug in android_app/")
    expansion = expand(plan, [farm_pool(plan)])
    if not expansion.jobs:
        raise UsageError("none of the plan's variants runs in the Android app",
                         hint="farm bundles carry tflite-* and onnx-* variants")
    store, cache = Path(store or plan.store or default_store()), Path(cache or cache_dir())
    prepared = prepare(plan, expansion.jobs, store, cache, note)
    bundle_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for job in expansion.jobs:
        if job.variant in prepared[job.model].failed:
            note(f"skipped {job.label}: {prepared[job.model].failed[job.variant].message}")
            continue
        jobs.append(_write_job(out, job, prepared[job.model], plan, cache))
    app = apk or DEFAULT_APK
    if app.is_file():
        shutil.copy2(app, out / "app.apk")
    if plan.path is not None:
        shutil.copy2(plan.path, out / "plan.toml")
    manifest = {"schema": BUNDLE_SCHEMA, "bundle_id": bundle_id,
                "created": datetime.now(UTC).isoformat(timespec="seconds"), "plan": plan.key,
                "options": asdict(plan.options()), "package": farm_layouts.PACKAGE,
                "instrumentation": farm_layouts.INSTRUMENTATION, "farms": list(farms), "jobs": jobs}
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2))
    _write_farms(out, bundle_id, jobs, farms, plan)
    (out / "README.md").write_text(farm_layouts.readme(bundle_id, jobs, farms, (out / "app.apk").exists()))
    return Bundle(out, bundle_id, jobs)


def _write_job(out: Path, job: BatchJob, prepared: PreparedModel, plan: Plan, cache: Path) -> dict[str, Any]:
    """jobs/ID/ exactly as the Android target pushes it (job.json, model/, inputs/), with a stable job id."""
    from devicelab import api, protocol

    artifact = api.convert(job.model, variants=[job.variant], calibration=plan.calibration, cache=cache,
                           source=prepared.source).conversions[0].artifact
    assert artifact is not None  # failed conversions were left out by the caller
    job_id = f"{job.variant}-{job.uid[:12]}"
    job_dir = out / "jobs" / job_id
    x = api.model_inputs(prepared.source, prepared.dataset)
    options = replace(plan.options(), delegate=job.setting)
    built = api.build_job(job_dir, artifact.model_path, job.fmt, job.variant, artifact.sha256, x, job.runtime,
                          options, input_names=[i.name for i in prepared.source.inputs])
    built.id = job_id
    protocol.write_job(job_dir, built)
    files = sorted(p.relative_to(job_dir).as_posix() for p in job_dir.rglob("*") if p.is_file())
    return {"job_id": job_id, "uid": job.uid, "model": job.model, "variant": job.variant, "fmt": job.fmt,
            "runtime": job.runtime, "setting": job.setting, "repeat": job.repeat,
            "model_sha256": prepared.source.sha256, "artifact_sha256": artifact.sha256,
            "dataset": prepared.dataset.name, "dataset_sha256": prepared.dataset.sha256,
            "samples": prepared.samples, "files": files}


def _write_farms(out: Path, bundle_id: str, jobs: list[dict[str, Any]], farms: tuple[str, ...], plan: Plan) -> None:
    farm = plan.farm
    if "firebase" in farms:
        _script(out / "firebase" / "run.sh", farm_layouts.firebase_script(
            bundle_id, jobs, farm.firebase_devices, farm.firebase_results_bucket, farm.firebase_timeout))
    if "aws" in farms:
        (out / "aws").mkdir(exist_ok=True)
        (out / "aws" / "testspec.yml").write_text(farm_layouts.aws_testspec(bundle_id, jobs))
        with zipfile.ZipFile(out / "aws" / "extra-data.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for job in jobs:
                for name in job["files"]:
                    archive.write(out / "jobs" / job["job_id"] / name, f"devicelab/jobs/{job['job_id']}/{name}")
        _script(out / "aws" / "run.sh", farm_layouts.aws_script(bundle_id, farm.aws_project_arn,
                                                               farm.aws_device_pool_arn))


def _script(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
