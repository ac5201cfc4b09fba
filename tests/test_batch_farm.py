"""Cloud farms: `farm export` writes the bundle Firebase Test Lab and AWS Device Farm run, `farm import` reads
the result folders they return, in the layouts the bundle's README documents.

The farms' side is played by fake phones: each job's files are put where the farm puts them (FTL
--other-files; the AWS test spec's copy from the extra data), the app's instrumentation runs the job
(`am instrument -w`), and the result folder is laid out as each farm returns it (FTL: the results bucket
folder; AWS: the Customer Artifacts zip).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from fakes import FakeAdbServer, FakeDevice, make_fake_apk

from devicelab import protocol
from devicelab.batch import load_plan
from devicelab.batch.farm_export import export_bundle
from devicelab.batch.farm_import import import_results
from devicelab.batch.farm_layouts import DEVICE_FILES, INSTRUMENTATION
from devicelab.store import Store

pytestmark = pytest.mark.slow
PLAN = """models = ["lenet5"]
variants = ["tflite-fp32", "onnx-fp32", "tfjs-fp32"]
samples = 50

[measure]
runs = 10
min_seconds = 0
delegates = ["xnnpack"]

[targets]
android = ["all"]

[farm.firebase]
devices = ["model=redfin,version=30"]
results_bucket = "my-results"
"""


@pytest.fixture(scope="module")
def exported(lenet5, session_cache, tmp_path_factory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("farm")
    (root / "plan.toml").write_text(PLAN)
    apk = make_fake_apk(root / "app-debug.apk", version_code=2)
    store = root / "s.sqlite"
    export_bundle(load_plan(root / "plan.toml"), root / "bundle", apk=apk, store=store, cache=session_cache)
    return root / "bundle", json.loads((root / "bundle" / "bundle.json").read_text()), store


def test_the_bundle_holds_jobs_app_commands_and_test_spec(exported) -> None:
    bundle, manifest, _ = exported
    jobs = manifest["jobs"]
    assert manifest["schema"] == "devicelab.farm-bundle/1"
    assert [(j["variant"], j["setting"], j["runtime"]) for j in jobs] == [("tflite-fp32", "xnnpack", "tflite"),
                                                                          ("onnx-fp32", None, "onnxruntime")]
    for job in jobs:  # tfjs is not for phones; every job folder is a valid protocol job under its stable id
        parsed = protocol.read_job(bundle / "jobs" / job["job_id"])
        assert parsed.id == job["job_id"] and parsed.runtime.delegate == job["setting"]
        # TFLite jobs carry the artifact's manifest.json beside the model (int8 I/O quantization parameters).
        assert set(job["files"]) == {"job.json", "inputs/input_0.bin", *parsed.model.files}
        assert parsed.model.files[1:] == (["model/manifest.json"] if job["variant"].startswith("tflite") else [])
    assert (bundle / "app.apk").is_file() and (bundle / "plan.toml").is_file()

    firebase = (bundle / "firebase" / "run.sh").read_text()
    for flag in ("gcloud firebase test android run", "--type instrumentation", "--app app.apk --test app.apk",
                 "--test-runner-class dev.devicelab.app.MeasureInstrumentation", '--environment-variables "job_id=$1"',
                 f"--directories-to-pull {DEVICE_FILES}/results", '--results-bucket "$BUCKET"',
                 "--device model=redfin,version=30", 'BUCKET="${DEVICELAB_FTL_BUCKET:-my-results}"'):
        assert flag in firebase, flag
    for job in jobs:
        pairs = ",".join(f"{DEVICE_FILES}/jobs/{job['job_id']}/{f}=jobs/{job['job_id']}/{f}" for f in job["files"])
        assert f"run_job {job['job_id']} {pairs}" in firebase
    spec = yaml.safe_load((bundle / "aws" / "testspec.yml").read_text())
    assert spec["version"] == 0.1 and spec["android_test_host"] == "amazon_linux_2"
    assert spec["artifacts"] == ["$DEVICEFARM_LOG_DIR"]
    test = spec["phases"]["test"]["commands"]
    for job in jobs:
        assert any(f"am instrument -w -e job_id {job['job_id']} {INSTRUMENTATION}" in c for c in test)
        assert any(f"pull {DEVICE_FILES}/results/{job['job_id']}" in c and "$DEVICEFARM_LOG_DIR" in c for c in test)
    with zipfile.ZipFile(bundle / "aws" / "extra-data.zip") as archive:
        assert set(archive.namelist()) == {f"devicelab/jobs/{j['job_id']}/{f}" for j in jobs for f in j["files"]}
    for script in ("firebase/run.sh", "aws/run.sh"):
        assert subprocess.run(["bash", "-n", str(bundle / script)]).returncode == 0, script
        assert os.access(bundle / script, os.X_OK)
    aws = (bundle / "aws" / "run.sh").read_text()
    for piece in ("upload app.apk ANDROID_APP", "upload app.apk INSTRUMENTATION_TEST_PACKAGE",
                  "upload aws/testspec.yml INSTRUMENTATION_TEST_SPEC", "upload aws/extra-data.zip EXTERNAL_DATA",
                  "extraDataPackageArn=$DATA_ARN", "type=INSTRUMENTATION,testPackageArn=$TEST_ARN,"
                  "testSpecArn=$SPEC_ARN", "CUSTOMER_ARTIFACT"):
        assert piece in aws, piece
    readme = (bundle / "README.md").read_text()
    assert "Host_Machine_Files/$DEVICEFARM_LOG_DIR/devicelab-results/ID/" in readme
    assert "artifacts/sdcard/Android/data/dev.devicelab.app/files/results/ID/" in readme


def _run_on_phone(device: FakeDevice, server: FakeAdbServer, bundle: Path, jobs: list[dict], out: Path) -> None:
    """What a farm does with the bundle on one phone; each result folder lands in ``out``/<job id>/."""
    handle = server.client().device(device.serial)
    for job in jobs:
        job_id = job["job_id"]
        for name in job["files"]:
            handle.sync.push(str(bundle / "jobs" / job_id / name), f"{DEVICE_FILES}/jobs/{job_id}/{name}")
        output = handle.shell(["am", "instrument", "-w", "-e", "job_id", job_id, INSTRUMENTATION], timeout=120)
        assert f"devicelab: job {job_id} " in output or output == "", output  # without -r: the stream text only
        (out / job_id).mkdir(parents=True)
        handle.sync.pull_dir(f"{DEVICE_FILES}/results/{job_id}", str(out / job_id), exist_ok=True)


def test_results_in_both_farm_layouts_are_imported_once(exported, session_cache, tmp_path) -> None:
    bundle, manifest, store = exported
    jobs, bundle_id = manifest["jobs"], manifest["bundle_id"]
    redfin = FakeDevice("FTL1", model="Pixel 5", android="11", sdk=30, root=tmp_path / "r", app_installed=True)
    galaxy = FakeDevice("AWS1", model="SM-G991B", manufacturer="samsung", root=tmp_path / "g", app_installed=True)
    ftl = tmp_path / "ftl" / f"devicelab-{bundle_id}"
    aws = tmp_path / "aws" / "Host_Machine_Files" / "$DEVICEFARM_LOG_DIR" / "devicelab-results"
    with FakeAdbServer([redfin, galaxy]) as server:
        staging = tmp_path / "staging"
        _run_on_phone(redfin, server, bundle, jobs, staging)
        for job in jobs:  # gs://BUCKET/RESULTS_DIR/ID/<device dimensions>/artifacts/<device path>/
            target = ftl / job["job_id"] / "redfin-30-en_US-portrait" / "artifacts" / DEVICE_FILES.lstrip("/") / \
                "results" / job["job_id"]
            shutil.copytree(staging / job["job_id"], target)
        _run_on_phone(galaxy, server, bundle, jobs, aws)
    # A device's garbage next to the good results: a result.json that breaks the schema, and a stranger's job.
    broken = aws / "broken-job"
    shutil.copytree(aws / jobs[0]["job_id"], broken)
    doc = json.loads((broken / "result.json").read_text())
    doc["timings_ms"]["runs"] = "fast"
    (broken / "result.json").write_text(json.dumps(doc))
    stranger = aws / "stranger"
    shutil.copytree(aws / jobs[1]["job_id"], stranger)
    doc = json.loads((stranger / "result.json").read_text())
    doc["job_id"] = "tflite-fp32-000000000000"
    (stranger / "result.json").write_text(json.dumps(doc))
    customer_artifacts = tmp_path / "customer_artifacts.zip"
    shutil.make_archive(str(customer_artifacts.with_suffix("")), "zip", tmp_path / "aws")

    first = import_results(bundle, [tmp_path / "ftl"], store=store, cache=session_cache)
    assert (first.added, first.already, first.problems, first.missing) == (2, 0, [], [])
    again = import_results(bundle, [tmp_path / "ftl"], store=store, cache=session_cache)
    assert (again.added, again.already) == (0, 2)  # importing twice adds nothing
    zipped = import_results(bundle, [customer_artifacts], store=store, cache=session_cache)
    assert zipped.added == 2 and len(zipped.problems) == 2
    assert any("runs" in p and "schema" in p for p in zipped.problems)
    assert any("tflite-fp32-000000000000 is not a job of bundle" in p for p in zipped.problems)

    with Store(store) as db:
        imported = [r for r in db.rows() if r["variant"] != "original"]
    assert sorted(r["target"] for r in imported) == sorted(
        ["firebase:Google Pixel 5 (Android 11 (API 30))"] * 2 + ["aws:samsung SM-G991B (Android 14 (API 34))"] * 2)
    assert all(r["status"] == "ok" and r["simulated"] == 1 for r in imported)
    fp32 = [r for r in imported if r["variant"] == "tflite-fp32"]
    assert all(r["agreement"] == 1.0 and r["runtime"] == "tflite/xnnpack" for r in fp32)  # vs the PC reference


def test_cli_errors_are_one_line(exported, tmp_path) -> None:
    bundle, _, _ = exported
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN)
    env = {**os.environ}
    taken = subprocess.run([sys.executable, "-m", "devicelab", "farm", "export", str(plan), "--out", str(bundle)],
                           capture_output=True, text=True, env=env, timeout=120)
    assert taken.returncode == 2 and "exists and is not empty" in taken.stderr and "Traceback" not in taken.stderr
    nothing = subprocess.run([sys.executable, "-m", "devicelab", "farm", "import", str(tmp_path), str(tmp_path)],
                             capture_output=True, text=True, env=env, timeout=120)
    assert nothing.returncode == 2 and "not a devicelab farm bundle" in nothing.stderr
    assert "Hint:" in nothing.stderr and "Traceback" not in nothing.stderr
