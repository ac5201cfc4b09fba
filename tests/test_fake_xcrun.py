"""The fake xcrun (tests/fakes/xcrun): simctl / devicectl output formats, errors, and the simulated iOS app.

Every test runs the fake as a subprocess named ``xcrun`` found on PATH, as devicelab's iOS target will.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes.xcrun import APP_BUNDLE, XcrunFake, make_fake_app

from devicelab import protocol

DEVICE_ID = "3D3E1C2A-6B1F-4E53-9D8B-0C5F2A9E7B11"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[XcrunFake]:
    fake = XcrunFake(tmp_path)
    yield fake
    fake.stop_all()


def xcrun(fake: XcrunFake, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["xcrun", *args], env={**fake.env(), **env}, capture_output=True, text=True,
                          timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def tiny_job(job_dir: Path, runtime: str = "coreml", job_id: str = "job-1") -> protocol.Job:
    """A job folder whose model never loads: enough for the app's error paths (no TensorFlow needed)."""
    (job_dir / "model" / "model.mlpackage").mkdir(parents=True)
    (job_dir / "model" / "model.mlpackage" / "Manifest.json").write_text("{}")
    spec = protocol.write_tensor(job_dir, "inputs/input_0.bin", "input", np.zeros((2, 4), np.float32))
    job = protocol.Job(id=job_id, model=protocol.ModelRef("coreml", "coreml-fp32", ["model/model.mlpackage"],
                                                          "0" * 64),
                       inputs=[spec], runtime=protocol.RuntimeSpec(name=runtime, compute_units="cpu-ane"))
    protocol.write_job(job_dir, job)
    return job


def read_done(result_dir: Path, timeout: float = 60.0) -> protocol.Result:
    wait_until(lambda: (result_dir / protocol.DONE_MARKER).is_file(), timeout)
    return protocol.read_result(result_dir)


# --- simctl ----------------------------------------------------------------------------------------------


def test_version_help_and_unknown_commands(fake: XcrunFake) -> None:
    assert xcrun(fake, "--version").stdout.strip() == "xcrun version 70."
    assert "Subcommands:" in xcrun(fake, "simctl", "help").stdout
    bad = xcrun(fake, "simctl", "frobnicate", check=False)
    assert bad.returncode == 64 and "usage: simctl" in bad.stderr
    bad = xcrun(fake, "devicectl", "frobnicate", check=False)
    assert bad.returncode == 64 and "USAGE: devicectl" in bad.stderr
    bad = xcrun(fake, "devicectl", "device", "frobnicate", "now", "--device", "x", check=False)
    assert bad.returncode == 64
    bad = xcrun(fake, "notatool", check=False)
    assert bad.returncode == 72 and 'unable to find utility "notatool"' in bad.stderr
    assert fake.calls()[0] == ["--version"]


def test_simctl_list_devices_json(fake: XcrunFake) -> None:
    booted = fake.add_simulator("iPhone 15", runtime="iOS 17.5", state="Booted")
    off = fake.add_simulator("iPad Air", runtime="iOS 18.0", state="Shutdown")
    for args in (["list", "devices", "--json"], ["list", "devices", "available", "--json"],
                 ["list", "--json", "devices"], ["list", "--json"]):
        doc = json.loads(xcrun(fake, "simctl", *args).stdout)
        sims = doc["devices"]["com.apple.CoreSimulator.SimRuntime.iOS-17-5"]
        assert [s["udid"] for s in sims] == [booted]
        sim = sims[0]
        assert sim["name"] == "iPhone 15" and sim["state"] == "Booted" and sim["isAvailable"] is True
        assert sim["deviceTypeIdentifier"] == "com.apple.CoreSimulator.SimDeviceType.iPhone-15"
        assert Path(sim["dataPath"]).name == "data" and sim["logPath"]
        assert doc["devices"]["com.apple.CoreSimulator.SimRuntime.iOS-18-0"][0]["state"] == "Shutdown"
    booted_only = json.loads(xcrun(fake, "simctl", "list", "devices", "booted", "--json").stdout)["devices"]
    assert off not in json.dumps(booted_only)
    assert f"iPhone 15 ({booted}) (Booted)" in xcrun(fake, "simctl", "list", "devices").stdout


def test_simctl_install_container_launch_terminate(fake: XcrunFake, tmp_path: Path) -> None:
    udid = fake.add_simulator(hang=True)  # the app keeps running until terminated
    app = make_fake_app(tmp_path / "build")
    missing = xcrun(fake, "simctl", "get_app_container", udid, APP_BUNDLE, "data", check=False)
    assert missing.returncode == 2 and "No such file or directory" in missing.stderr
    not_installed = xcrun(fake, "simctl", "launch", udid, APP_BUNDLE, check=False)
    assert not_installed.returncode != 0 and APP_BUNDLE in not_installed.stderr

    xcrun(fake, "simctl", "install", "booted", str(app))
    container = Path(xcrun(fake, "simctl", "get_app_container", udid, APP_BUNDLE, "data").stdout.strip())
    assert container == fake.container(udid) and (container / "Documents").is_dir()
    (container / "Documents" / "keep.txt").write_text("kept")

    launched = xcrun(fake, "simctl", "launch", udid, APP_BUNDLE, "--job-id", "j1",
                     SIMCTL_CHILD_DEVICELAB_JOB_ID="ignored")
    bundle, pid = launched.stdout.strip().split(": ")
    assert bundle == APP_BUNDLE and int(pid) == fake.running(udid)[APP_BUNDLE]
    listing = xcrun(fake, "simctl", "spawn", udid, "launchctl", "list").stdout.splitlines()
    assert listing[0] == "PID\tStatus\tLabel"
    line = next(x for x in listing if APP_BUNDLE in x)
    assert line.startswith(f"{pid}\t0\tUIKitApplication:{APP_BUNDLE}[") and line.endswith("][rb-legacy]")

    again = xcrun(fake, "simctl", "launch", udid, APP_BUNDLE)  # already running: same process, as on iOS
    assert again.stdout.strip() == f"{APP_BUNDLE}: {pid}"
    fresh = xcrun(fake, "simctl", "launch", "--terminate-running-process", udid, APP_BUNDLE, "--job-id", "j2")
    new_pid = fresh.stdout.strip().split(": ")[1]
    assert new_pid != pid

    xcrun(fake, "simctl", "terminate", udid, APP_BUNDLE)
    assert APP_BUNDLE not in xcrun(fake, "simctl", "spawn", udid, "launchctl", "list").stdout
    assert xcrun(fake, "simctl", "terminate", udid, APP_BUNDLE, check=False).returncode != 0

    xcrun(fake, "simctl", "install", udid, str(app))  # reinstall keeps the data container
    assert (fake.container(udid) / "Documents" / "keep.txt").read_text() == "kept"


def test_simctl_errors(fake: XcrunFake, tmp_path: Path) -> None:
    off = fake.add_simulator(state="Shutdown")
    app = make_fake_app(tmp_path / "build")
    res = xcrun(fake, "simctl", "install", off, str(app), check=False)
    assert res.returncode == 149 and "Unable to install" in res.stderr and "Invalid device state" in res.stderr
    res = xcrun(fake, "simctl", "install", "booted", str(app), check=False)
    assert res.returncode == 149 and "No devices are booted." in res.stderr
    res = xcrun(fake, "simctl", "install", "NOPE", str(app), check=False)
    assert res.returncode == 148 and "Invalid device: NOPE" in res.stderr
    xcrun(fake, "simctl", "boot", off)
    broken = tmp_path / "Broken.app"
    broken.mkdir()
    res = xcrun(fake, "simctl", "install", off, str(broken), check=False)
    assert res.returncode != 0 and "Info.plist" in res.stderr


def test_simctl_child_env_carries_the_job_id(fake: XcrunFake) -> None:
    udid = fake.add_simulator(app_installed=True, compile_error="unsupported op 'Erf'")
    container = fake.container(udid)
    tiny_job(container / "Documents" / "jobs" / "env-job", job_id="env-job")
    xcrun(fake, "simctl", "launch", udid, APP_BUNDLE, SIMCTL_CHILD_DEVICELAB_JOB_ID="env-job")
    result = read_done(container / "Documents" / "results" / "env-job")
    assert result.status == "error" and result.simulated
    assert result.error["kind"] == "model_compile"
    assert result.error["message"] == "Core ML could not compile the model: unsupported op 'Erf'"
    assert result.device["platform"] == "ios" and result.device["os"] == "iOS 17.5"
    wait_until(lambda: not fake.running(udid))


def test_coreml_without_sidecar_is_an_honest_error(fake: XcrunFake) -> None:
    udid = fake.add_simulator(app_installed=True)
    container = fake.container(udid)
    tiny_job(container / "Documents" / "jobs" / "job-1")
    xcrun(fake, "simctl", "launch", udid, APP_BUNDLE, "--job-id", "job-1")
    result = read_done(container / "Documents" / "results" / "job-1")
    assert result.status == "error" and result.error["kind"] == "model_run"
    assert "cannot run Core ML; provide a sidecar" in result.error["message"]


def test_crash_after_leaves_no_result(fake: XcrunFake) -> None:
    udid = fake.add_simulator(app_installed=True, crash_after=0.2)
    container = fake.container(udid)
    tiny_job(container / "Documents" / "jobs" / "job-1")
    xcrun(fake, "simctl", "launch", udid, APP_BUNDLE, "--job-id", "job-1")
    wait_until(lambda: bool(fake.crashes(udid)))
    wait_until(lambda: APP_BUNDLE not in xcrun(fake, "simctl", "spawn", udid, "launchctl", "list").stdout)
    assert not (container / "Documents" / "results" / "job-1").exists()
    assert "crashed" in xcrun(fake, "simctl", "spawn", udid, "log", "show").stdout


# --- devicectl -------------------------------------------------------------------------------------------


def ctl_json(fake: XcrunFake, tmp_path: Path, *args: str, check: bool = True) -> tuple[dict, str, int]:
    out = tmp_path / f"out-{time.monotonic_ns()}.json"
    words = 2 if args[0] == "list" else 3  # options before positionals: launch passes what follows to the app
    proc = xcrun(fake, "devicectl", *args[:words], "--json-output", str(out), *args[words:], check=check)
    return json.loads(out.read_text()), proc.stdout + proc.stderr, proc.returncode


def test_devicectl_list_devices(fake: XcrunFake, tmp_path: Path) -> None:
    udid = fake.add_device("Ada's iPhone", identifier=DEVICE_ID, os="17.5", model="iPhone16,1")
    fake.add_device("Old iPad", paired=False)
    doc, stdout, _ = ctl_json(fake, tmp_path, "list", "devices")
    assert doc["info"]["outcome"] == "success"
    ada, ipad = doc["result"]["devices"]
    assert ada["identifier"] == DEVICE_ID
    assert ada["connectionProperties"]["pairingState"] == "paired"
    assert ada["connectionProperties"]["tunnelState"] == "connected"
    assert ada["connectionProperties"]["transportType"] == "wired"
    assert ada["deviceProperties"] == {**ada["deviceProperties"], "name": "Ada's iPhone", "osVersionNumber": "17.5",
                                       "bootState": "booted"}
    hw = ada["hardwareProperties"]
    assert (hw["marketingName"], hw["productType"], hw["udid"], hw["platform"]) == \
        ("iPhone 15 Pro", "iPhone16,1", udid, "iOS")
    assert ipad["connectionProperties"]["pairingState"] == "unpaired"
    assert "Ada's iPhone" in stdout and DEVICE_ID in stdout and "available (paired)" in stdout


def test_devicectl_install_copy_launch_processes(fake: XcrunFake, tmp_path: Path) -> None:
    fake.add_device(identifier=DEVICE_ID, hang=True)
    app = make_fake_app(tmp_path / "build")
    doc, stdout, _ = ctl_json(fake, tmp_path, "device", "install", "app", "--device", DEVICE_ID, str(app))
    installed = doc["result"]["installedApplications"][0]
    assert installed["bundleID"] == APP_BUNDLE and installed["installationURL"].endswith("/DeviceLab.app/")
    assert "App installed:" in stdout and f"bundleID: {APP_BUNDLE}" in stdout

    local = tmp_path / "job"
    (local / "inputs").mkdir(parents=True)
    (local / "job.json").write_text("{}")
    (local / "inputs" / "x.bin").write_bytes(b"\0" * 8)
    domain = ["--domain-type", "appDataContainer", "--domain-identifier", APP_BUNDLE]
    xcrun(fake, "devicectl", "device", "copy", "to", "--device", DEVICE_ID, *domain, "--source", str(local),
          "--destination", "Documents/jobs/j1")
    container = fake.container(DEVICE_ID)
    assert (container / "Documents/jobs/j1/inputs/x.bin").read_bytes() == b"\0" * 8
    xcrun(fake, "devicectl", "device", "copy", "to", "--device", DEVICE_ID, *domain, "--source",
          str(local / "job.json"), "--destination", "Documents/single.json")
    assert (container / "Documents/single.json").read_text() == "{}"

    xcrun(fake, "devicectl", "device", "copy", "from", "--device", DEVICE_ID, *domain, "--source",
          "Documents/jobs/j1", "--destination", str(tmp_path / "back"))
    assert (tmp_path / "back" / "inputs" / "x.bin").is_file()
    missing = xcrun(fake, "devicectl", "device", "copy", "from", "--device", DEVICE_ID, *domain, "--source",
                    "Documents/results/nope", "--destination", str(tmp_path / "none"), check=False)
    assert missing.returncode == 1 and "no such file" in missing.stderr
    escape = xcrun(fake, "devicectl", "device", "copy", "from", "--device", DEVICE_ID, *domain, "--source",
                   "../../..", "--destination", str(tmp_path / "none"), check=False)
    assert escape.returncode != 0

    doc, stdout, _ = ctl_json(fake, tmp_path, "device", "process", "launch", "--device", DEVICE_ID,
                              "--terminate-existing", APP_BUNDLE, "--job-id", "j1")
    assert f"Launched application with {APP_BUNDLE} bundle identifier." in stdout
    pid = doc["result"]["process"]["processIdentifier"]
    doc, _, _ = ctl_json(fake, tmp_path, "device", "info", "processes", "--device", DEVICE_ID)
    ours = [p for p in doc["result"]["runningProcesses"] if p["executable"].endswith("/DeviceLab.app/DeviceLab")]
    assert ours == [{"executable": ours[0]["executable"], "processIdentifier": pid}]
    assert ours[0]["executable"].startswith("file:///private/var/containers/Bundle/Application/")

    xcrun(fake, "devicectl", "device", "process", "terminate", "--device", DEVICE_ID, "--pid", str(pid))
    doc, _, _ = ctl_json(fake, tmp_path, "device", "info", "processes", "--device", DEVICE_ID)
    assert all(p["processIdentifier"] != pid for p in doc["result"]["runningProcesses"])
    doc, _, _ = ctl_json(fake, tmp_path, "device", "info", "apps", "--device", DEVICE_ID, "--bundle-id", APP_BUNDLE)
    assert doc["result"]["apps"][0]["bundleIdentifier"] == APP_BUNDLE


def test_devicectl_errors(fake: XcrunFake, tmp_path: Path) -> None:
    locked = fake.add_device("Locked", locked=True, app_installed=True)
    unpaired = fake.add_device("Stranger", paired=False, app_installed=True)
    fake.add_device("Empty")
    doc, out, code = ctl_json(fake, tmp_path, "device", "process", "launch", "--device", locked, APP_BUNDLE,
                              check=False)
    assert code == 1 and "device is locked" in out and doc["info"]["outcome"] == "failed"
    for args in (["device", "info", "processes"], ["device", "process", "launch"],
                 ["device", "copy", "from", "--source", "Documents", "--destination", str(tmp_path / "x")]):
        res = xcrun(fake, "devicectl", *args, "--device", unpaired, *([APP_BUNDLE] if "launch" in args else []),
                    check=False)
        assert res.returncode == 1 and "not paired" in res.stderr
    res = xcrun(fake, "devicectl", "device", "info", "processes", "--device", "NO-SUCH-DEVICE", check=False)
    assert res.returncode == 1 and "NO-SUCH-DEVICE" in res.stderr
    res = xcrun(fake, "devicectl", "device", "process", "launch", "--device", "Empty", APP_BUNDLE, check=False)
    assert res.returncode == 1 and "not installed" in res.stderr


def test_devicectl_failures_have_the_real_json_shape(fake: XcrunFake, tmp_path: Path) -> None:
    # devicectl 355+ with --json-output: a failure is `info.outcome: "failed"` with an NSError under "error" and no
    # "result" at all, next to exit code 1 and ERROR: lines on stderr.
    phone = fake.add_device("Ada's iPhone", app_installed=True, processes_fail=1)
    doc, _, code = ctl_json(fake, tmp_path, "device", "info", "processes", "--device", phone, check=False)
    assert code == 1 and doc["info"]["outcome"] == "failed" and "result" not in doc
    assert doc["error"]["domain"] == "com.apple.CoreDevice.ControlChannelConnectionError"
    assert doc["error"]["userInfo"]["NSLocalizedDescription"]["string"] == \
        "Internal logic error: Connection was invalidated"
    doc, _, code = ctl_json(fake, tmp_path, "device", "info", "processes", "--device", phone)  # the next one works
    assert code == 0 and doc["info"]["outcome"] == "success" and "runningProcesses" in doc["result"]
    # a phone that locks after a launch: file transfer and process listing fail as on a locked phone
    fake.set(phone, lock_after=0.0)
    ctl_json(fake, tmp_path, "device", "process", "launch", "--device", phone, APP_BUNDLE)
    for args in (["info", "processes"], ["copy", "from", "--domain-type", "appDataContainer", "--domain-identifier",
                                         APP_BUNDLE, "--source", "Documents", "--destination", str(tmp_path / "x")]):
        doc, out, code = ctl_json(fake, tmp_path, "device", *args, "--device", phone, check=False)
        assert code == 1 and "The device is locked." in out and doc["error"]["code"] == 12040
        assert doc["error"]["userInfo"]["NSUnderlyingError"]["error"]["userInfo"]["NSLocalizedDescription"] == \
            {"string": "The device is locked."}


def test_the_app_removes_a_job_when_launched_with_cleanup(fake: XcrunFake, tmp_path: Path) -> None:
    phone = fake.add_device("Ada's iPhone", app_installed=True)
    documents = fake.container(phone) / "Documents"
    for sub in ("jobs/job-1/model", "results/job-1/outputs", "jobs/job-2"):
        (documents / sub).mkdir(parents=True)
    xcrun(fake, "devicectl", "device", "process", "launch", "--device", phone, "--terminate-existing", APP_BUNDLE,
          "--cleanup", "job-1")
    wait_until(lambda: not fake.running(phone))
    assert not (documents / "jobs/job-1").exists() and not (documents / "results/job-1").exists()
    assert (documents / "jobs/job-2").is_dir()


# --- end to end with a real model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lenet_tflite() -> Path:
    pytest.importorskip("ai_edge_litert")
    from devicelab import api

    cache = Path(os.environ.get("DEVICELAB_CACHE", "/tmp/dlc"))
    conversion = api.convert("lenet5", variants=["tflite-fp32"], cache=cache).conversions[0]
    assert conversion.error is None, conversion.error
    return conversion.artifact.model_path


def _lenet_job(folder: Path, model: Path, fmt: str, runtime: str) -> protocol.Job:
    from devicelab import api

    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    options = api.MeasureOptions(warmup_runs=1, runs=3, min_seconds=0.0, max_seconds=2.0)
    job = api.build_job(folder, model, fmt, f"{fmt}-fp32", "0" * 64, x, runtime, options)
    if fmt == "coreml":  # build_job does not carry compute_units (yet): set it as the iOS target would
        job.runtime.compute_units = "cpu-ane"
        protocol.write_job(folder, job)
    return job


@pytest.mark.slow
def test_simulator_runs_a_tflite_job_end_to_end(fake: XcrunFake, tmp_path: Path, lenet_tflite: Path) -> None:
    udid = fake.add_simulator("iPhone 15", state="Booted")
    xcrun(fake, "simctl", "install", udid, str(make_fake_app(tmp_path / "build")))
    container = Path(xcrun(fake, "simctl", "get_app_container", udid, APP_BUNDLE, "data").stdout.strip())
    job = _lenet_job(tmp_path / "job", lenet_tflite, "tflite", "tflite")
    shutil.copytree(tmp_path / "job", container / "Documents" / "jobs" / job.id)
    xcrun(fake, "simctl", "launch", "--terminate-running-process", udid, APP_BUNDLE, "--job-id", job.id)
    result = read_done(container / "Documents" / "results" / job.id, timeout=120)
    assert result.ok, result.error
    assert result.simulated and result.job_id == job.id
    assert result.device["platform"] == "ios" and result.device["model"].startswith("iPhone 15")
    assert result.runtime_used.endswith("(simulated)") and len(result.timings_ms.runs) >= 3
    assert any(m.method == "phys_footprint (simulated: VmHWM of the simulating process)" for m in result.memory)
    out = protocol.read_tensor(container / "Documents" / "results" / job.id, result.outputs[0])
    assert out.shape == (4, 10)


@pytest.mark.slow
def test_device_runs_a_coreml_job_with_a_sidecar(fake: XcrunFake, tmp_path: Path, lenet_tflite: Path) -> None:
    fake.add_device(identifier=DEVICE_ID, model="iPhone16,1")
    xcrun(fake, "devicectl", "device", "install", "app", "--device", DEVICE_ID,
          str(make_fake_app(tmp_path / "build")))
    package = tmp_path / "model.mlpackage"  # stands in for the Core ML package, which cannot run on Linux
    package.mkdir()
    (package / "Manifest.json").write_text("{}")
    job = _lenet_job(tmp_path / "job", package, "coreml", "coreml")
    shutil.copy(lenet_tflite, tmp_path / "job" / "model" / "sidecar.tflite")  # the test's hook
    domain = ["--device", DEVICE_ID, "--domain-type", "appDataContainer", "--domain-identifier", APP_BUNDLE]
    xcrun(fake, "devicectl", "device", "copy", "to", *domain, "--source", str(tmp_path / "job"),
          "--destination", f"Documents/jobs/{job.id}")
    xcrun(fake, "devicectl", "device", "process", "launch", "--device", DEVICE_ID, "--terminate-existing",
          "--environment-variables", json.dumps({"DEVICELAB_JOB_ID": job.id}), APP_BUNDLE)

    local = tmp_path / "result"

    def fetched() -> bool:
        return xcrun(fake, "devicectl", "device", "copy", "from", *domain, "--source",
                     f"Documents/results/{job.id}/DONE", "--destination", str(tmp_path / "DONE"),
                     check=False).returncode == 0

    wait_until(fetched, timeout=120)
    xcrun(fake, "devicectl", "device", "copy", "from", *domain, "--source", f"Documents/results/{job.id}",
          "--destination", str(local))
    result = protocol.read_result(local)
    assert result.ok, result.error
    assert result.simulated
    assert result.runtime_used == "coreml (simulated with TFLite sidecar; compute units cpu-ane requested)"
    assert result.device["runtime"] == {"name": "coreml", "version": "simulated"}
    assert result.device["os"] == "iOS 17.5" and "iPhone16,1" in result.device["model"]
    assert protocol.read_tensor(local, result.outputs[0]).shape == (4, 10)
