"""devicelab deploy to iOS through a fake `xcrun` (simctl + devicectl command lines and JSON) put first on PATH.

There is no Xcode here. The fake's simulated app cannot run Core ML on Linux, so for Core ML jobs the tests
place a TFLite "sidecar" of the same model in the job folder, which the simulated app runs instead; results
are marked simulated. What is tested is devicelab's side: discovery, matching, copies, launch, waiting,
crash / timeout / lock / pairing / install / compile failures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.xcrun import XcrunFake, make_fake_app

from devicelab import api
from devicelab.targets import ios
from devicelab.targets.ios import IOSTarget

pytestmark = pytest.mark.slow


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    xcrun = XcrunFake(tmp_path)
    for key, value in xcrun.env().items():
        monkeypatch.setenv(key, value)
    yield xcrun
    xcrun.stop_all()


@pytest.fixture(scope="module")
def sidecar(lenet5, session_cache) -> Path:
    """tflite-fp32 of the same LeNet-5: what the simulated app runs in place of the Core ML package."""
    return api.convert("lenet5", variants=["tflite-fp32"], cache=session_cache).conversions[0].artifact.model_path


class SidecarTarget(IOSTarget):
    """The real IOSTarget, plus the test-only sidecar model dropped into each job folder before it is copied."""

    sidecar: Path | None = None

    def run(self, job_dir, result_dir, progress=None):
        if self.sidecar:
            shutil.copy(self.sidecar, job_dir / "model" / "sidecar.tflite")
        return super().run(job_dir, result_dir, progress)


def _deploy(selector: str, store: Path, sidecar: Path | None, variants=("coreml-fp32",), units=None, **options):
    target = SidecarTarget(selector, aliases={})
    target.sidecar = sidecar
    opts = api.MeasureOptions(samples=options.pop("samples", 100), runs=options.pop("runs", 10), warmup_runs=1,
                              min_seconds=0, **options)
    return api.measure("lenet5", variants=list(variants), target=target, options=opts, store=store,
                       backends=units), target


def test_simulators_and_devices_are_listed(fake) -> None:
    sim = fake.add_simulator("iPhone 15", runtime="iOS 17.5", state="Booted")
    fake.add_simulator("iPad Air", runtime="iOS 17.5", state="Shutdown")
    phone = fake.add_device("Ada's iPhone", os="17.5", paired=True)
    found = {d.udid: d for d in ios.list_devices()}
    assert found[sim].kind == "simulator" and found[sim].os == "iOS 17.5" and found[sim].state == "Booted"
    devices = [d for d in found.values() if d.kind == "device"]
    assert len(devices) == 1 and devices[0].name == "Ada's iPhone" and devices[0].paired
    assert phone


def test_matching(fake) -> None:
    booted = fake.add_simulator("iPhone 15", state="Booted")
    fake.add_simulator("iPhone 15", state="Shutdown")
    fake.add_simulator("iPad Air", state="Shutdown")
    fake.add_device("Ada's iPhone", paired=False)
    devices = ios.list_devices()
    assert ios.match_device("iphone 15", devices).udid == booted  # the booted one of two
    assert ios.match_device(booted, devices).udid == booted
    with pytest.raises(ios.IOSError, match="is Shutdown") as info:
        ios.match_device("ipad", devices)
    assert "simctl boot" in info.value.hint
    with pytest.raises(ios.IOSError, match="not paired"):
        ios.match_device("ada", devices)
    with pytest.raises(ios.IOSError, match="matches 3 iOS targets"):
        ios.match_device("iphone", devices)
    with pytest.raises(ios.IOSError, match="no iOS simulator or device matches 'pixel'"):
        ios.match_device("pixel", devices)


def test_install_then_deploy_on_a_simulator(fake, sidecar, tmp_path) -> None:
    sim = fake.add_simulator("iPhone 15", state="Booted")
    target = IOSTarget("iPhone 15", aliases={})
    target.install(make_fake_app(tmp_path / "build"))
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", sidecar, units=["all", "cpu"])
    assert [m.variant for m in measured] == ["original", "coreml-fp32", "coreml-fp32"]
    assert all(m.ok for m in measured), [str(m.error) for m in measured]
    for m, units in zip(measured[1:], ("all", "cpu"), strict=True):
        assert m.target == "ios:iPhone 15" and m.result.simulated
        assert f"compute units {units} requested" in m.result.runtime_used
        assert m.result.device["platform"] == "ios" and m.result.device["udid"] == sim
        assert m.summary["accuracy"]["agreement"] == 1.0
        assert any(s.method.startswith("phys_footprint") for s in m.result.memory)
    launches = [c for c in fake.calls() if c[:2] == ["simctl", "launch"]]
    assert launches and "--terminate-running-process" in launches[0] and "--job-id" in launches[0]
    documents = fake.container(sim) / "Documents"
    assert not any((documents / "jobs").glob("*")) and not any((documents / "results").glob("*"))  # cleaned


def test_deploy_on_a_paired_device(fake, sidecar, tmp_path) -> None:
    phone = fake.add_device("Ada's iPhone", paired=True)
    target = IOSTarget("ada", aliases={})
    target.install(make_fake_app(tmp_path / "build"))
    measured, _ = _deploy("ada", tmp_path / "s.sqlite", sidecar)
    assert measured[-1].ok, measured[-1].error
    assert measured[-1].summary["accuracy"]["agreement"] == 1.0
    used = [c[:4] for c in fake.calls() if c[:2] == ["devicectl", "device"]]
    assert ["devicectl", "device", "copy", "to"] in used and ["devicectl", "device", "copy", "from"] in used
    assert ["devicectl", "device", "process", "launch"] in used and phone


def test_app_not_installed(fake, tmp_path) -> None:
    fake.add_simulator("iPhone 15", state="Booted")
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", None)
    assert not measured[-1].ok and "not installed" in measured[-1].error.message
    assert "devicelab ios install" in measured[-1].error.hint


def test_locked_device(fake, sidecar, tmp_path) -> None:
    fake.add_device("Ada's iPhone", paired=True, locked=True, app_installed=True)
    measured, _ = _deploy("ada", tmp_path / "s.sqlite", sidecar)
    assert measured[-1].result.error["kind"] == "device_locked" and "unlock" in measured[-1].result.error["hint"]


def test_compile_failure_on_the_device(fake, sidecar, tmp_path) -> None:
    fake.add_simulator("iPhone 15", state="Booted", app_installed=True,
                       compile_error="unsupported MIL op 'bessel_i1e'")
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", sidecar)
    error = measured[-1].result.error
    assert error["kind"] == "model_compile" and "bessel_i1e" in error["message"]


def test_app_crash_and_hang(fake, sidecar, tmp_path) -> None:
    sim = fake.add_simulator("iPhone 15", state="Booted", app_installed=True, crash_after=0.3)
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", sidecar, runs=100000, timeout_seconds=60)
    assert measured[-1].result.error["kind"] == "crash"
    fake.set(sim, crash_after=None, hang=True)
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", sidecar, timeout_seconds=5)
    assert measured[-1].result.error["kind"] == "timeout"
    assert any(c[:2] == ["simctl", "terminate"] for c in fake.calls())


def test_without_xcrun_every_ios_command_needs_macos(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(ios.IOSError, match="need macOS with Xcode"):
        ios.list_devices()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "DEVICELAB_STORE": str(tmp_path / "s.sqlite")}
    done = subprocess.run([sys.executable, "-m", "devicelab", "deploy", "lenet5", "--device", "iphone",
                           "--platform", "ios"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "need macOS with Xcode" in done.stderr and "Traceback" not in done.stderr


def test_cli_devices_and_deploy(fake, sidecar, lenet5, tmp_path) -> None:
    fake.add_simulator("iPhone 15", state="Booted", app_installed=True)
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "s.sqlite"), "DEVICELAB_ADB_SERVER": "127.0.0.1:1"}
    listed = subprocess.run([sys.executable, "-m", "devicelab", "devices"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert "iPhone 15" in listed.stdout and "Booted" in listed.stdout
    # Through the CLI there is no sidecar: the simulated app says it cannot run Core ML, and the CLI says so.
    done = subprocess.run([sys.executable, "-m", "devicelab", "deploy", "lenet5", "--device", "iphone 15",
                           "--samples", "20", "--runs", "5", "--min-seconds", "0"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 1 and "ios:iPhone 15" in done.stdout and "model_run" in done.stdout
    assert "provide a sidecar" in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


def test_building_the_app_needs_xcode_tools(fake, monkeypatch) -> None:
    monkeypatch.setenv("PATH", f"{Path(fake.env()['PATH'].split(':')[0])}:/usr/bin:/bin")  # xcrun, no xcodebuild
    with pytest.raises(ios.IOSError, match="needs xcodegen and xcodebuild") as info:
        ios.build_app(simulator=True)
    assert "brew install xcodegen" in info.value.hint


# --- issue 12, iOS defects 9-13 ---------------------------------------------------------------------------------


def test_a_phone_that_locks_mid_job_ends_each_job_with_a_result(fake, sidecar, tmp_path) -> None:
    # The phone locks 1 s after the launch: the DONE poll, the running check and the cleanup all hit the lock. Each
    # job ends as device_locked (no traceback), and the next job still gets its own result.
    fake.add_device("Ada's iPhone", paired=True, app_installed=True, hang=True, lock_after=1.0)
    measured, _ = _deploy("ada", tmp_path / "s.sqlite", sidecar, samples=20, runs=3, units=["all", "cpu"],
                          timeout_seconds=30)
    assert [m.variant for m in measured] == ["original", "coreml-fp32", "coreml-fp32"]
    for m in measured[1:]:
        assert m.result.error["kind"] == "device_locked", m.result.error
        assert "is locked" in m.result.error["message"] and "Auto-Lock" in m.result.error["hint"]


def test_a_failed_process_listing_is_not_a_crash(fake, sidecar, tmp_path) -> None:
    # `devicectl device info processes` fails twice (exit 1, JSON outcome "failed", no result) while the app is
    # still starting: devicelab asks again instead of reporting a crash.
    fake.add_device("Ada's iPhone", paired=True, app_installed=True, start_delay=4.5, processes_fail=2)
    measured, _ = _deploy("ada", tmp_path / "s.sqlite", sidecar, samples=20, runs=3)
    assert measured[-1].ok, measured[-1].result.error
    listings = [c for c in fake.calls() if c[:4] == ["devicectl", "device", "info", "processes"]]
    assert len(listings) >= 3  # the two failures, then an answer


def test_job_folders_are_removed_from_the_phone_after_each_job(fake, sidecar, tmp_path) -> None:
    phone = fake.add_device("Ada's iPhone", paired=True, app_installed=True)
    measured, _ = _deploy("ada", tmp_path / "s.sqlite", sidecar, samples=20, runs=3, units=["all", "cpu"])
    assert all(m.ok for m in measured), [m.result.error for m in measured[1:]]
    documents = fake.container(phone) / "Documents"
    assert not any((documents / "jobs").glob("*")) and not any((documents / "results").glob("*"))
    cleanups = [c for c in fake.calls() if c[:4] == ["devicectl", "device", "process", "launch"] and "--cleanup" in c]
    assert len(cleanups) == 2 and all("--terminate-existing" in c for c in cleanups)
    # a job that timed out is removed too (and its hung app stopped by the cleanup launch)
    fake.set(phone, hang=True)
    measured, _ = _deploy("ada", tmp_path / "s.sqlite", sidecar, samples=20, runs=3, timeout_seconds=4)
    assert measured[-1].result.error["kind"] == "timeout"
    assert not any((documents / "jobs").glob("*")) and not fake.running(phone)


def _build_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_pod: bool) -> tuple[Path, Path]:
    from fakes.xcrun import FAKE_DIR

    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("xcodegen", "xcodebuild", *(["pod"] if with_pod else [])):
        (tools / tool).symlink_to(FAKE_DIR / "build_tools" / tool)
    shutil.copy(FAKE_DIR / "build_tools" / "fake_build_tools.py", tools / "fake_build_tools.py")
    project = tmp_path / "ios_app"
    project.mkdir()
    for name in ("project.yml", "Podfile"):
        shutil.copy(Path(ios.PROJECT) / name, project / name)
    log = tmp_path / "build.jsonl"
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_BUILD_LOG", str(log))
    monkeypatch.setenv("DEVICELAB_FAKE_PYTHON", sys.executable)
    return project, log


def test_build_uses_the_cocoapods_workspace_so_the_app_has_tflite(tmp_path, monkeypatch) -> None:
    import json

    project, log = _build_tools(tmp_path, monkeypatch, with_pod=True)
    app, note = ios.build_app(simulator=True, project=project)
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    assert [s[:2] for s in steps] == [["xcodegen", "generate"], ["pod", "install"], ["xcodebuild", "-workspace"]]
    assert steps[2][2] == "DeviceLab.xcworkspace" and note is None
    assert app == project / "build/Build/Products/Debug-iphonesimulator/DeviceLab.app"
    assert (app / "Frameworks/TensorFlowLite.framework").is_dir()


def test_build_without_cocoapods_says_it_has_no_tflite(tmp_path, monkeypatch) -> None:
    import json

    project, log = _build_tools(tmp_path, monkeypatch, with_pod=False)
    app, note = ios.build_app(simulator=False, team="ABCDE12345", project=project)
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    assert [s[:3] for s in steps] == [["xcodegen", "generate"], ["xcodebuild", "-project", "DeviceLab.xcodeproj"]]
    assert "DEVELOPMENT_TEAM=ABCDE12345" in steps[1] and app.name == "DeviceLab.app" and "Debug-iphoneos" in str(app)
    assert note and "no TensorFlow Lite" in note and "runtime_unavailable" in note and "cocoapods" in note


def test_the_tflite_app_runtime_times_only_set_input_invoke_and_read_output() -> None:
    # The app's TFLite adapter cannot run here (the pod is Mac-only; `make ios-core` typechecks it). What its timed
    # `run` calls is checked in its source: the C API's set-input, invoke and read-output, and nothing of the Swift
    # Interpreter, whose copy(_:toInputAt:) returned a fresh copy of the input tensor on every timed run.
    import re

    source = (Path(ios.PROJECT) / "DeviceLab/Runtimes/TFLiteRuntime.swift").read_text()
    body = re.search(r"\n    func run\(_ feed: Any\) throws -> Any \{\n(.*?)\n    \}\n", source, re.S).group(1)
    calls = set(re.findall(r"\b(TfLite\w+|copy|input|output)\(", body))
    assert calls == {"TfLiteTensorCopyFromBuffer", "TfLiteInterpreterInvoke", "TfLiteTensorCopyToBuffer"}, calls


# --- issue 15: deploy --profile on iOS (Core ML's MLComputePlan) ------------------------------------------------

# What CoreMLRuntime.profile writes (ComputePlanTable.make in ios_app/DeviceLab/Core/ComputePlan.swift, whose XCTests
# check it) for a model where Core ML prefers the CPU for one op of three although the Neural Engine was asked for.
COMPUTE_PLAN = {
    "source": "Core ML MLComputePlan (estimated, not timed)", "requested_provider": "neural-engine", "runs": 0,
    "operators": [
        {"name": "conv1_weight", "op_type": "const", "provider": None, "supported": [], "cost_weight": None,
         "mean_ms": None},
        {"name": "conv1", "op_type": "conv", "provider": "neural-engine", "supported": ["cpu", "gpu", "neural-engine"],
         "cost_weight": 0.6, "mean_ms": None},
        {"name": "flatten", "op_type": "reshape", "provider": "cpu", "supported": ["cpu"], "cost_weight": 0.3,
         "mean_ms": None},
        {"name": "dense", "op_type": "linear", "provider": "neural-engine", "supported": ["cpu", "neural-engine"],
         "cost_weight": 0.1, "mean_ms": None}],
    "ops_planned": 3, "ops_without_device": 1, "ops_by_device": {"neural-engine": 2, "cpu": 1},
    "share_ops_on_requested": 0.6667, "share_cost_on_requested": 0.7, "share_time_on_requested": None}


def test_deploy_profile_asks_the_app_for_its_compute_plan_and_the_cli_shows_it(fake, sidecar, tmp_path) -> None:
    new = fake.add_simulator("iPhone 15", runtime="iOS 17.5", state="Booted", app_installed=True,
                             coreml_sidecar=str(sidecar), compute_plan=COMPUTE_PLAN)
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "s.sqlite"), "DEVICELAB_ADB_SERVER": "127.0.0.1:1"}
    base = ["deploy", "lenet5", "--compute-units", "cpu-ane", "--samples", "20", "--runs", "3", "--warmup", "1",
            "--min-seconds", "0", "--profile"]
    done = subprocess.run([sys.executable, "-m", "devicelab", *base, "--device", "iphone 15"], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    [job] = fake.received_jobs(new)
    assert job["runtime"]["profile"] is True and job["runtime"]["compute_units"] == "cpu-ane"
    said = " ".join(done.stdout.split())
    assert ("coreml-fp32: 3 ops planned, 67% of them and 70% of the estimated cost preferred on neural-engine "
            "(Core ML MLComputePlan (estimated, not timed)") in said, said
    assert "Traceback" not in done.stderr


def test_a_job_without_profile_does_not_ask_the_app_for_one_and_below_ios_17_4_there_is_none(fake, sidecar,
                                                                                            tmp_path) -> None:
    sim = fake.add_simulator("iPhone 15", state="Booted", app_installed=True, compute_plan=COMPUTE_PLAN)
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", sidecar, samples=20, runs=3)
    assert measured[-1].ok and "profile" not in measured[-1].result.extra
    assert [j["runtime"].get("profile") for j in fake.received_jobs(sim)] == [False]
    measured, _ = _deploy("iPhone 15", tmp_path / "s.sqlite", sidecar, samples=20, runs=3, profile=True)
    assert measured[-1].result.simulated and measured[-1].result.extra["profile"] == COMPUTE_PLAN
    # Below iOS 17.4 there is no MLComputePlan: the job still succeeds and its profile says why there is none.
    fake.add_simulator("iPhone 14", runtime="iOS 17.2", state="Booted", app_installed=True)
    measured, _ = _deploy("iPhone 14", tmp_path / "s.sqlite", sidecar, samples=20, runs=3, profile=True)
    assert measured[-1].ok and measured[-1].result.extra["profile"] == {
        "available": False, "reason": "Core ML's MLComputePlan (each op's preferred device and estimated cost) "
                                      "needs iOS 17.4 or newer; this device runs iOS 17.2"}


def test_a_cost_based_profile_shows_in_the_study_report_and_the_cli_line() -> None:
    from devicelab.cli.measure import _profile_line
    from devicelab.report.html import _profiles
    from devicelab.study.document import profile_table

    table = profile_table(COMPUTE_PLAN)
    assert table["estimated"] and table["share_cost"] == 0.7 and table["share_ops"] == 0.6667
    assert table["method"] == "Core ML MLComputePlan (estimated, not timed)" and table["ops_ms"] is None
    flatten = table["operators"][2]
    assert (flatten["provider"], flatten["cost"], flatten["ms"], flatten["supported"]) == ("cpu", 0.3, None, ["cpu"])
    html = _profiles({"profiles": [{"variant": "coreml-fp32", "target": "ios:iPhone 15", "runtime": "coreml",
                                    **table}]})
    assert "67% of ops, 70% of estimated cost" in html and "preferred device" in html
    assert "ms / inference" not in html and "<td class=\"l\">reshape</td>" in html and "30.0%" in html
    assert "estimated, not timed" in html
    # The ONNX Runtime table keeps its times; a table missing a share prints "?" instead of failing.
    ort = {"source": "onnxruntime session profiling", "requested_provider": "CPUExecutionProvider", "runs": 3,
           "operators": [{"name": "conv", "op_type": "Conv", "provider": "CPUExecutionProvider", "mean_ms": 0.1}],
           "share_ops_on_requested": 1.0, "share_time_on_requested": 1.0}
    assert "1 ops profiled, 100% of them and 100% of op time on CPUExecutionProvider" in _profile_line(ort)
    assert "ms / inference" in _profiles({"profiles": [{"variant": "onnx-fp32", "target": "host",
                                                        **profile_table(ort)}]})
    assert "and ? of the estimated cost" in _profile_line({**COMPUTE_PLAN, "share_cost_on_requested": None})
    assert _profile_line({"available": False, "reason": "needs iOS 17.4"}) == "no per-operator table: needs iOS 17.4"
    assert _profile_line({}) is None
