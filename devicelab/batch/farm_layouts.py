"""The files cloud device farms take, written from a bundle's jobs: Firebase Test Lab's gcloud commands, AWS Device
Farm's test spec (custom environment) and CLI commands, and the bundle's README with the result layouts that
`devicelab farm import` reads.

Both farms run the app's own instrumentation (``am instrument -w -e job_id ID
dev.devicelab.app/.MeasureInstrumentation``), which reads ``<external files>/jobs/ID/`` and writes
``<external files>/results/ID/`` (result.json, outputs/, DONE), where <external files> is
/sdcard/Android/data/dev.devicelab.app/files. References (checked 2026-11):

- gcloud firebase test android run: --type instrumentation, --app, --test, --test-runner-class,
  --environment-variables (mirrored to ``am instrument -e``), --other-files DEVICE_PATH=FILE_PATH (device paths
  under /sdcard or /data/local/tmp), --directories-to-pull, --results-bucket, --results-dir, --device, --timeout.
- AWS Device Farm custom environment test spec: version 0.1, android_test_host: amazon_linux_2, phases
  install / pre_test / test / post_test with commands, artifacts; $DEVICEFARM_DEVICE_UDID, $DEVICEFARM_APP_PATH,
  $DEVICEFARM_LOG_DIR (archived as the job's Customer Artifacts); schedule-run --configuration
  extraDataPackageArn (a zip extracted to the device's external storage).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from typing import Any

PACKAGE = "dev.devicelab.app"
RUNNER_CLASS = f"{PACKAGE}.MeasureInstrumentation"
INSTRUMENTATION = f"{PACKAGE}/.MeasureInstrumentation"
DEVICE_FILES = f"/sdcard/Android/data/{PACKAGE}/files"
EXTRA_DATA_DIR = "/sdcard/devicelab/jobs"  # where AWS extracts the extra data zip's devicelab/jobs/ folder
AWS_RESULTS = "devicelab-results"  # under $DEVICEFARM_LOG_DIR


def firebase_script(bundle_id: str, jobs: list[dict[str, Any]], devices: Iterable[str], bucket: str | None,
                    timeout: str) -> str:
    """firebase/run.sh: one test matrix per job (an instrumentation run measures one job), then the download."""
    device_flags = " ".join(f"--device {shlex.quote(d)}" for d in devices)
    lines = [
        "#!/usr/bin/env bash",
        f"# Runs the {len(jobs)} jobs of devicelab bundle {bundle_id} in Firebase Test Lab, one test matrix per job,",
        "# then copies the results bucket folder to results/. Needs gcloud (authenticated, project set) and gsutil.",
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        f'BUCKET="${{DEVICELAB_FTL_BUCKET:-{bucket or ""}}}"',
        f'RESULTS_DIR="${{DEVICELAB_FTL_RESULTS_DIR:-devicelab-{bundle_id}}}"',
        '[ -f app.apk ] || { echo "put the devicelab app at $PWD/app.apk first (see README.md)" >&2; exit 2; }',
        '[ -n "$BUCKET" ] || { echo "set DEVICELAB_FTL_BUCKET to your Cloud Storage results bucket" >&2; exit 2; }',
        "",
        "run_job() {  # JOB_ID OTHER_FILES",
        "  gcloud firebase test android run \\",
        "    --type instrumentation \\",
        "    --app app.apk --test app.apk \\",
        f"    --test-runner-class {RUNNER_CLASS} \\",
        '    --environment-variables "job_id=$1" \\',
        '    --other-files "$2" \\',
        f"    --directories-to-pull {DEVICE_FILES}/results \\",
        '    --results-bucket "$BUCKET" --results-dir "$RESULTS_DIR/$1" \\',
        f"    --timeout {shlex.quote(timeout)} --no-record-video --no-performance-metrics"
        + (f" \\\n    {device_flags}" if device_flags else "") + " \\",
        '    || echo "job $1: gcloud failed; see its test matrix in the Firebase console" >&2',
        "}",
        "",
    ]
    for job in jobs:
        pairs = ",".join(f"{DEVICE_FILES}/jobs/{job['job_id']}/{f}=jobs/{job['job_id']}/{f}" for f in job["files"])
        lines.append(f"run_job {job['job_id']} {shlex.quote(pairs)}")
    lines += ["", "mkdir -p results", 'gsutil -m cp -r "gs://$BUCKET/$RESULTS_DIR" results/',
              'echo "now run: devicelab farm import $PWD results/$RESULTS_DIR"', ""]
    return "\n".join(lines)


def aws_testspec(bundle_id: str, jobs: list[dict[str, Any]]) -> str:
    """aws/testspec.yml (custom environment): move each job from the extra data into the app's folder, run the
    instrumentation on it, pull its result into $DEVICEFARM_LOG_DIR. One failing job does not stop the others."""
    adb = 'adb -s "$DEVICEFARM_DEVICE_UDID"'
    results = f'"$DEVICEFARM_LOG_DIR/{AWS_RESULTS}"'
    test = [f"mkdir -p {results}"]
    for job in jobs:
        job_id = job["job_id"]
        test += [f"{adb} shell cp -r {EXTRA_DATA_DIR}/{job_id} {DEVICE_FILES}/jobs/ || true",
                 f"{adb} shell am instrument -w -e job_id {job_id} {INSTRUMENTATION} "
                 f'| tee -a "$DEVICEFARM_LOG_DIR/devicelab-instrument.txt" || true',
                 f"{adb} pull {DEVICE_FILES}/results/{job_id} {results}/ || true",
                 f"{adb} shell rm -rf {DEVICE_FILES}/jobs/{job_id} {DEVICE_FILES}/results/{job_id} || true"]
    pre = [f"{adb} shell mkdir -p {DEVICE_FILES}/jobs {DEVICE_FILES}/results",
           f'{adb} shell ls -R {EXTRA_DATA_DIR} > "$DEVICEFARM_LOG_DIR/devicelab-jobs-on-device.txt" 2>&1 || true']
    out = ["version: 0.1", "", "# devicelab bundle " + bundle_id + f": {len(jobs)} jobs in the app's instrumentation.",
           "android_test_host: amazon_linux_2", "", "phases:", "  install:", "    commands:",
           _yaml_item(f"echo devicelab bundle {bundle_id}: {len(jobs)} jobs"), "  pre_test:", "    commands:",
           *map(_yaml_item, pre), "  test:", "    commands:", *map(_yaml_item, test), "  post_test:",
           "    commands:", _yaml_item(f"ls -R {results} || true"), "", "artifacts:",
           _yaml_item("$DEVICEFARM_LOG_DIR", indent=2), ""]
    return "\n".join(out)


def _yaml_item(command: str, indent: int = 6) -> str:
    """A YAML list item holding a shell command, single-quoted so $, :, | and # stay literal."""
    return " " * indent + "- '" + command.replace("'", "''") + "'"


def aws_script(bundle_id: str, project_arn: str | None, pool_arn: str | None) -> str:
    """aws/run.sh: upload the app, test package, test spec and extra data, schedule the run, wait, download the
    Customer Artifacts of every job (one per device)."""
    return "\n".join([
        "#!/usr/bin/env bash",
        f"# Runs devicelab bundle {bundle_id} on AWS Device Farm (custom environment) and downloads each device's",
        "# Customer Artifacts zip into results/aws/. Needs the aws CLI (credentials set) and curl.",
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        f'PROJECT_ARN="${{DEVICELAB_AWS_PROJECT_ARN:-{project_arn or ""}}}"',
        f'POOL_ARN="${{DEVICELAB_AWS_DEVICE_POOL_ARN:-{pool_arn or ""}}}"',
        'export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-west-2}"  # where Device Farm runs',
        '[ -f app.apk ] || { echo "put the devicelab app at $PWD/app.apk first (see README.md)" >&2; exit 2; }',
        '[ -n "$PROJECT_ARN" ] && [ -n "$POOL_ARN" ] || { echo "set DEVICELAB_AWS_PROJECT_ARN and '
        'DEVICELAB_AWS_DEVICE_POOL_ARN" >&2; exit 2; }',
        "",
        "upload() {  # FILE TYPE -> the upload's ARN once Device Farm has processed it",
        "  local arn url status",
        '  read -r arn url < <(aws devicefarm create-upload --project-arn "$PROJECT_ARN" --name "$(basename "$1")" '
        "\\",
        "    --type \"$2\" --query 'upload.[arn,url]' --output text)",
        '  curl -sS --fail -T "$1" "$url"',
        '  while status=$(aws devicefarm get-upload --arn "$arn" --query upload.status --output text); do',
        '    case "$status" in SUCCEEDED) break ;; FAILED) echo "upload of $1 failed" >&2; exit 1 ;; esac; sleep 5',
        "  done",
        '  echo "$arn"',
        "}",
        "",
        "APP_ARN=$(upload app.apk ANDROID_APP)",
        "TEST_ARN=$(upload app.apk INSTRUMENTATION_TEST_PACKAGE)  # the app instruments itself",
        "SPEC_ARN=$(upload aws/testspec.yml INSTRUMENTATION_TEST_SPEC)",
        "DATA_ARN=$(upload aws/extra-data.zip EXTERNAL_DATA)",
        'RUN_ARN=$(aws devicefarm schedule-run --project-arn "$PROJECT_ARN" --app-arn "$APP_ARN" \\',
        f'  --device-pool-arn "$POOL_ARN" --name "devicelab {bundle_id}" \\',
        '  --test "type=INSTRUMENTATION,testPackageArn=$TEST_ARN,testSpecArn=$SPEC_ARN" \\',
        '  --configuration "extraDataPackageArn=$DATA_ARN" --query run.arn --output text)',
        'echo "scheduled $RUN_ARN"',
        'until [ "$(aws devicefarm get-run --arn "$RUN_ARN" --query run.status --output text)" = COMPLETED ]; do '
        "sleep 30; done",
        "mkdir -p results/aws",
        "for JOB_ARN in $(aws devicefarm list-jobs --arn \"$RUN_ARN\" --query 'jobs[].arn' --output text); do",
        '  URL=$(aws devicefarm list-artifacts --arn "$JOB_ARN" --type FILE \\',
        "    --query \"artifacts[?type=='CUSTOMER_ARTIFACT'].url | [0]\" --output text)",
        '  [ "$URL" != None ] && curl -sS --fail -o "results/aws/${JOB_ARN##*/}.zip" "$URL"',
        "done",
        'echo "now run: devicelab farm import $PWD results/aws/*.zip"',
        "",
    ])


def readme(bundle_id: str, jobs: list[dict[str, Any]], farms: tuple[str, ...], has_apk: bool) -> str:
    apk = ("`app.apk` is the devicelab app this bundle was made with." if has_apk else
           "**Put the devicelab app here as `app.apk` first**: build it with `./gradlew :app:assembleDebug` in "
           "android_app/ (it lands in app/build/outputs/apk/debug/app-debug.apk).")
    table = "\n".join(f"| `{j['job_id']}` | {j['model']} | {j['variant']} | {j['setting'] or 'default'} | "
                      f"{j['runtime']} |" for j in jobs)
    parts = [f"# devicelab farm bundle {bundle_id}", "",
             f"{len(jobs)} jobs of the shared job protocol, for the devicelab Android app's instrumentation "
             f"(`am instrument -w -e job_id ID {INSTRUMENTATION}`), which reads `{DEVICE_FILES}/jobs/ID/` and "
             f"writes `{DEVICE_FILES}/results/ID/` (result.json, outputs/, DONE last).", "", apk, "",
             "| job id | model | variant | setting | runtime |", "| --- | --- | --- | --- | --- |", table, "",
             "Layout: `bundle.json` (the jobs and how they were made), `plan.toml` (the plan), `jobs/ID/` (job.json, "
             "model/, inputs/), `app.apk`, `firebase/run.sh`, `aws/testspec.yml`, `aws/extra-data.zip`, "
             "`aws/run.sh`.", ""]
    if "firebase" in farms:
        parts += ["## Firebase Test Lab", "",
                  "```bash", "export DEVICELAB_FTL_BUCKET=my-results-bucket   # a Cloud Storage bucket you own",
                  "bash firebase/run.sh", "devicelab farm import . results/devicelab-" + bundle_id, "```", "",
                  "Each job is one test matrix: `--other-files` puts the job's files at "
                  f"`{DEVICE_FILES}/jobs/ID/`, `--environment-variables job_id=ID` reaches the instrumentation as "
                  f"`-e job_id ID`, and `--directories-to-pull {DEVICE_FILES}/results` brings the result back to "
                  "the bucket. Test Lab needs a test APK: the devicelab app instruments itself, so it is given as "
                  "both `--app` and `--test`.", "",
                  "Result layout read by `devicelab farm import` (the bucket folder copied with `gsutil cp -r`):",
                  "", "```", f"devicelab-{bundle_id}/ID/<device>-<version>-<locale>-<orientation>/artifacts/"
                  f"sdcard/Android/data/{PACKAGE}/files/results/ID/{{result.json,DONE,outputs/output_0.bin}}", "```",
                  ""]
    if "aws" in farms:
        parts += ["## AWS Device Farm", "",
                  "```bash", "export DEVICELAB_AWS_PROJECT_ARN=arn:aws:devicefarm:us-west-2:...:project:...",
                  "export DEVICELAB_AWS_DEVICE_POOL_ARN=arn:aws:devicefarm:us-west-2:...:devicepool:...",
                  "bash aws/run.sh", "devicelab farm import . results/aws/*.zip", "```", "",
                  "The run is an INSTRUMENTATION test in a custom environment: `aws/testspec.yml` copies each job "
                  f"from the extra data (`aws/extra-data.zip`, extracted on the device as `{EXTRA_DATA_DIR}/ID/`) "
                  "into the app's folder, runs the instrumentation on it and pulls the result into "
                  f"`$DEVICEFARM_LOG_DIR/{AWS_RESULTS}/`, which Device Farm returns as each device's Customer "
                  "Artifacts zip.", "",
                  "Result layout read by `devicelab farm import` (the zip, or its unzipped folder):", "", "```",
                  f"Host_Machine_Files/$DEVICEFARM_LOG_DIR/{AWS_RESULTS}/ID/{{result.json,DONE,outputs/output_0.bin}}",
                  "```", ""]
    parts += ["`devicelab farm import` looks for result folders (result.json + DONE) anywhere below what it is "
              "given, validates each result.json against the devicelab result schema, matches it to its job by "
              "job id, and stores it filed under the device that ran it (`firebase:<model> (<os>)` or "
              "`aws:<model> (<os>)`). Importing the same results again adds nothing.", ""]
    return "\n".join(parts)
