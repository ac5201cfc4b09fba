"""devicelab deploy through real adbutils against a fake adb server on loopback (the real wire protocol).

No phone exists here: the fake device's app runs jobs with the host runtimes and marks its results simulated.
What is tested is devicelab's side: discovery, matching, push / launch / wait / pull / cleanup, and every
failure a phone can produce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeAdbServer, FakeDevice, make_fake_apk

from devicelab import api
from devicelab.errors import DevicelabError
from devicelab.store import Store
from devicelab.targets import android
from devicelab.targets.android import AndroidTarget, match_device

pytestmark = pytest.mark.slow
APP_FILES = android.APP_FILES


@pytest.fixture
def phones(tmp_path: Path):
    # Fresh installs (app_folders=False): the host must let the app make its own files folder first.
    devices = [FakeDevice("R5CT100PIX", model="Pixel 7", root=tmp_path / "p1", app_installed=True, app_folders=False),
               FakeDevice("R5CT200SAM", model="SM-S911B", manufacturer="samsung", root=tmp_path / "p2",
                          app_installed=True, app_folders=False),
               FakeDevice("emulator-5554", model="sdk_gphone64_x86_64", root=tmp_path / "p3", app_installed=True,
                          app_folders=False)]
    with FakeAdbServer(devices) as server:
        yield server, {d.serial: d for d in devices}


def _server(server: FakeAdbServer) -> str:
    return f"127.0.0.1:{server.port}"


def _deploy(server, selector: str, store: Path, variants=("tflite-fp32",), delegates=None, progress=None,
            reference=True, **options):
    target = AndroidTarget(selector, server=_server(server), aliases={}, instrument=options.pop("instrument", False))
    opts = api.MeasureOptions(samples=options.pop("samples", 100), runs=options.pop("runs", 10), warmup_runs=1,
                              min_seconds=options.pop("min_seconds", 0), **options)
    try:
        return api.measure("lenet5", variants=list(variants), target=target, options=opts, store=store,
                           backends=delegates, progress=progress, reference=reference), target
    finally:
        target.close()


def test_devices_are_listed_with_their_properties(phones) -> None:
    server, _ = phones
    found = {d.serial: d for d in android.list_devices(_server(server))}
    assert found["R5CT100PIX"].model == "Pixel 7" and found["R5CT100PIX"].android == "14"
    assert found["R5CT200SAM"].manufacturer == "samsung" and found["R5CT200SAM"].abi == "arm64-v8a"
    assert all(d.state == "device" for d in found.values())


def test_device_matching() -> None:
    devices = [android.AndroidDevice("R5CT100PIX", "device", "Pixel 7", "Google", "14"),
               android.AndroidDevice("R5CT300PIX", "device", "Pixel 8 Pro", "Google", "15"),
               android.AndroidDevice("emulator-5554", "device", "sdk_gphone64_x86_64", "Google", "14"),
               android.AndroidDevice("ZX1", "unauthorized")]
    assert match_device("R5CT100PIX", devices).serial == "R5CT100PIX"
    assert match_device("pixel 8", devices).serial == "R5CT300PIX"
    assert match_device("PIXEL 7", devices).serial == "R5CT100PIX"
    assert match_device("emulator", devices).serial == "emulator-5554"
    assert match_device("lab-phone", devices, {"lab-phone": "R5CT300PIX"}).serial == "R5CT300PIX"
    with pytest.raises(android.DeviceNotFoundError, match=r"matches 2 devices.*R5CT100PIX.*R5CT300PIX"):
        match_device("pixel", devices)
    with pytest.raises(android.DeviceNotFoundError, match=r"no Android device matches 'iphone'.*R5CT100PIX"):
        match_device("iphone", devices)
    with pytest.raises(android.AndroidError, match="unauthorized") as info:
        match_device("ZX1", devices)
    assert "Allow USB debugging" in info.value.hint


def test_aliases_come_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[devices]\npixel = "R5CT100PIX"\n')
    monkeypatch.setenv("DEVICELAB_CONFIG", str(config))
    assert android.load_aliases() == {"pixel": "R5CT100PIX"}
    config.write_text("[devices\n")
    with pytest.raises(DevicelabError, match="not valid TOML"):
        android.load_aliases()


def test_deploy_end_to_end(phones, lenet5, session_cache, tmp_path) -> None:
    server, devices = phones
    store = tmp_path / "s.sqlite"
    measured, _ = _deploy(server, "pixel", store, variants=("tflite-fp32", "tflite-int8", "onnx-fp32"),
                          delegates=None, min_seconds=1.5)  # long enough for the host to sample PSS
    assert [m.variant for m in measured] == ["original", "tflite-fp32", "tflite-int8", "onnx-fp32"]
    assert all(m.ok for m in measured), [str(m.error) for m in measured]
    for m in measured[1:]:
        assert m.target == "android:R5CT100PIX" and m.result.simulated is True
        assert m.result.device["platform"] == "android" and m.result.device["serial"] == "R5CT100PIX"
        assert len(m.result.timings_ms.runs) >= 10
        assert any(s.method == android.PSS_METHOD and s.phase == "after_run" for s in m.result.memory)
    assert measured[1].summary["accuracy"]["agreement"] == 1.0
    assert measured[2].summary["accuracy"]["agreement"] >= 0.97
    phone = devices["R5CT100PIX"]
    assert phone.ran("am", "start", "-S", "-n", android.ACTIVITY, "--es", "job_id", measured[1].result.job_id)
    # Issue 12 #2: nothing asked the app for `dumpsys meminfo` while it timed (each call forces a GC there).
    assert phone.app.meminfo_during_jobs == 0
    assert not list((phone.root / "sdcard/Android/data/dev.devicelab.app/files/jobs").glob("*"))  # cleaned up
    assert not devices["R5CT200SAM"].commands or not any("am start" in c for c in devices["R5CT200SAM"].commands)
    with Store(store) as db:
        assert [r["simulated"] for r in db.rows()] == [0, 1, 1, 1]


def test_delegate_sweep_and_instrumentation(phones, lenet5, session_cache, tmp_path) -> None:
    server, devices = phones
    measured, _ = _deploy(server, "R5CT200SAM", tmp_path / "s.sqlite", delegates=["xnnpack", "gpu"],
                          instrument=True, threads=2)
    runs = [m for m in measured if m.variant == "tflite-fp32"]
    assert [m.result.extra.get("threads") for m in runs] == [2, 2]
    assert "gpu requested" in runs[1].result.runtime_used  # the fallback is named, not hidden
    assert any(c.startswith("am instrument -w") for c in devices["R5CT200SAM"].commands)


def test_shell_arguments_are_quoted(phones, lenet5, session_cache, tmp_path) -> None:
    server, devices = phones
    target = AndroidTarget("pixel", server=_server(server), aliases={})
    assert target._shell(["echo", "a b; rm -rf /sdcard"]) == "a b; rm -rf /sdcard"
    assert (devices["R5CT100PIX"].root / "sdcard").is_dir()


def test_app_not_installed_or_too_old(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    devices["R5CT100PIX"].app_installed = False
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite")
    assert measured[-1].error.kind == "android" and "not installed" in measured[-1].error.message
    assert "devicelab android install" in measured[-1].error.hint
    devices["R5CT100PIX"].app_installed = True
    devices["R5CT100PIX"].app_version_code = 0
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite")
    assert "too old" in measured[-1].error.message and "devicelab.job/1" in measured[-1].error.message


def test_install_pushes_and_installs_the_apk(phones, tmp_path) -> None:
    server, devices = phones
    devices["R5CT100PIX"].app_installed = False
    apk = make_fake_apk(tmp_path / "app-debug.apk", version_code=3)
    target = AndroidTarget("pixel", server=_server(server), aliases={})
    assert "Success" in target.install(apk)
    assert target.check_app() == 3
    with pytest.raises(android.AndroidError, match="no APK"):
        target.install(tmp_path / "missing.apk")


def test_model_the_app_cannot_run_names_both_versions(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    devices["R5CT100PIX"].model_error = ("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'; "
                                         "this app's TFLite is 2.14.0")
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite")
    failed = measured[-1]
    assert failed.result.error["kind"] == "model_run"
    assert "FULLY_CONNECTED" in failed.result.error["message"] and "2.14.0" in failed.result.error["message"]


def test_app_crash_is_detected(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    devices["R5CT100PIX"].crash_after = 0.5
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", runs=100000, timeout_seconds=60)
    failed = measured[-1]
    assert failed.result.error["kind"] == "crash" and "FATAL EXCEPTION in devicelab-measure: java.lang." \
        "RuntimeException: simulated crash" in failed.result.error["message"]
    assert not list((devices["R5CT100PIX"].root / "sdcard/Android/data/dev.devicelab.app/files/jobs").glob("*"))


def test_hung_app_times_out_and_is_stopped(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    devices["R5CT100PIX"].hang = True
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", timeout_seconds=5)
    assert measured[-1].result.error["kind"] == "timeout"
    assert devices["R5CT100PIX"].ran("am", "force-stop", android.PACKAGE)


def test_unplugged_mid_run_keeps_earlier_results(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    store = tmp_path / "s.sqlite"
    ok, _ = _deploy(server, "pixel", store)
    assert ok[-1].ok
    devices["R5CT100PIX"].unplug_after = 1.0
    measured, _ = _deploy(server, "pixel", store, variants=("tflite-int8",), runs=100000, timeout_seconds=60)
    failed = measured[-1]
    assert failed.result.error["kind"] == "device_lost" and "R5CT100PIX" in failed.result.error["message"]
    with Store(store) as db:
        statuses = [(r["variant"], r["status"]) for r in db.rows()]
    assert ("tflite-fp32", "ok") in statuses and ("tflite-int8", "error") in statuses


def test_storage_full(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    devices["R5CT100PIX"].storage_free_bytes = 10_000
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite")
    assert measured[-1].result.error["kind"] == "storage_full"
    assert "free some storage" in measured[-1].result.error["hint"]


def test_offline_and_unauthorized_devices(tmp_path) -> None:
    devices = [FakeDevice("OFF1", root=tmp_path / "a", state="offline"),
               FakeDevice("UNA1", root=tmp_path / "b", state="unauthorized")]
    with FakeAdbServer(devices) as server:
        states = {d.serial: d.state for d in android.list_devices(_server(server))}
        assert states == {"OFF1": "offline", "UNA1": "unauthorized"}
        with pytest.raises(android.AndroidError, match="offline"):
            AndroidTarget("OFF1", server=_server(server), aliases={})
        with pytest.raises(android.AndroidError, match="unauthorized"):
            AndroidTarget("UNA1", server=_server(server), aliases={})


def test_no_adb_server_is_a_clear_cli_error(tmp_path) -> None:
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "s.sqlite")}
    done = subprocess.run([sys.executable, "-m", "devicelab", "deploy", "lenet5", "--device", "pixel",
                           "--adb-server", "127.0.0.1:1"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0 and "no adb server answers at 127.0.0.1:1" in done.stderr
    assert "adb start-server" in done.stderr and "Traceback" not in done.stderr


def test_cli_deploy_and_devices(phones, lenet5, tmp_path) -> None:
    server, _ = phones
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "s.sqlite"), "DEVICELAB_ADB_SERVER": _server(server)}
    done = subprocess.run([sys.executable, "-m", "devicelab", "deploy", "lenet5", "--device", "samsung",
                           "--samples", "50", "--runs", "5", "--min-seconds", "0"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "android:R5CT200SAM" in done.stdout and "simulated" in done.stdout
    listed = subprocess.run([sys.executable, "-m", "devicelab", "devices"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert "R5CT100PIX" in listed.stdout and "SM-S911B" in listed.stdout
    ambiguous = subprocess.run([sys.executable, "-m", "devicelab", "deploy", "lenet5", "--device", "R5CT"],
                               capture_output=True, text=True, env=env, timeout=120)
    assert ambiguous.returncode != 0 and "matches 2 devices" in ambiguous.stderr
    exported = json.loads(subprocess.run([sys.executable, "-m", "devicelab", "export", "--format", "json"],
                                         capture_output=True, text=True, env=env, timeout=120).stdout)
    assert {r["target"] for r in exported["results"]} == {"host", "android:R5CT200SAM"}


def test_a_delegate_sweep_applies_each_delegate_only_where_the_runtime_has_it(phones, lenet5, session_cache,
                                                                               tmp_path) -> None:
    """Issue 12 #1: the emulator workflow swept xnnpack,cpu over onnx-fp32; the app's ONNX Runtime has no xnnpack."""
    server, _ = phones
    said: list[str] = []
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", variants=("tflite-fp32", "onnx-fp32"),
                          delegates=["xnnpack", "cpu"], samples=20, runs=3, reference=False,
                          progress=lambda task, done, total, detail: said.append(f"{task} | {detail}"))
    with Store(tmp_path / "s.sqlite") as db:
        ran = [(m.variant, db.get(m.row_id)["runtime"]) for m in measured]
    assert ran == [("tflite-fp32", "tflite/xnnpack"), ("tflite-fp32", "tflite/cpu"), ("onnx-fp32", "onnxruntime/cpu")]
    assert all(m.ok for m in measured), [str(m.error or m.result.error) for m in measured]
    assert any("onnx-fp32 on android:R5CT100PIX: delegate xnnpack skipped | onnxruntime has cpu, nnapi" in line
               for line in said), said


def test_a_delegate_the_app_lacks_is_refused_as_the_app_refuses_it(phones, lenet5, session_cache, tmp_path) -> None:
    """Asked of a runtime that lacks it (and no other variant's runtime has it), a delegate is a usage error
    before anything is pushed or stored; in a sweep over several runtimes it is skipped where it does not apply
    (test above). The fake app refuses it as the real one does (test below), should a job still carry it."""
    from devicelab.errors import UsageError

    server, _ = phones
    with pytest.raises(UsageError, match="onnxruntime on android:R5CT100PIX has no 'xnnpack' setting"):
        _deploy(server, "pixel", tmp_path / "s.sqlite", variants=("onnx-fp32",), delegates=["xnnpack"],
                samples=5, runs=1, reference=False)
    assert not (tmp_path / "s.sqlite").exists()


def test_the_fake_app_accepts_the_delegates_the_real_app_accepts() -> None:
    """tests/fakes must not accept what android_app refuses (the fake once mapped ORT's xnnpack to cpu)."""
    import re

    from fakes.devicelab_app import APP_DELEGATES

    java = (Path(__file__).resolve().parent.parent
            / "android_app/app/src/main/java/dev/devicelab/app/Runtimes.java").read_text()
    arrays = {name: tuple(re.findall(r'"(\w+)"', body))
              for name, body in re.findall(r"static final String\[\] (\w+)_DELEGATES = \{([^}]*)\}", java)}
    assert arrays == {"TFLITE": APP_DELEGATES["tflite"], "ORT": APP_DELEGATES["onnxruntime"],
                      "EXECUTORCH": APP_DELEGATES["executorch"]}
    assert {name: delegates for name, (_, delegates) in android.RUNTIMES.items()} == APP_DELEGATES


# --- issue 12: what a user with a phone would hit --------------------------------------------------------------


def test_a_fresh_install_makes_its_folders_before_the_first_push(phones, lenet5, session_cache, tmp_path) -> None:
    """#8: on a fresh install adb must not create the app's files folder first (the app could not use it)."""
    server, devices = phones
    phone = devices["R5CT100PIX"]
    assert not phone.app_made_its_folders
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", samples=5, runs=1, timeout_seconds=30,
                          reference=False)
    assert measured[-1].ok, measured[-1].result.error
    assert phone.app_made_its_folders
    first_launch = phone.commands.index(f"am start -S -n {android.ACTIVITY}")
    first_mkdir = next(i for i, c in enumerate(phone.commands) if c.startswith("mkdir -p"))
    assert first_launch < first_mkdir


def test_a_folder_adb_made_first_is_a_clear_error(phones, lenet5, tmp_path, monkeypatch) -> None:
    server, devices = phones
    monkeypatch.setattr(android, "_FOLDERS_WAIT_S", 2.0)
    phone = devices["R5CT100PIX"]
    (phone.root / "sdcard/Android/data/dev.devicelab.app").mkdir(parents=True)  # an older devicelab's mkdir -p
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", samples=5, runs=1, timeout_seconds=30,
                          reference=False)
    assert measured[-1].error.kind == "android" and "did not create its files folder" in measured[-1].error.message
    assert "rm -rf /sdcard/Android/data/dev.devicelab.app" in measured[-1].error.hint


def test_an_interrupted_run_does_not_swallow_the_next_job(phones, lenet5, session_cache, tmp_path) -> None:
    """#3: an activity left running (an interrupted run) must not make `am start` drop the next job's intent."""
    server, devices = phones
    phone = devices["R5CT100PIX"]
    phone.app.ensure_folders()
    phone.hang = True
    phone.app.launch("interrupted-run", via="activity")  # still measuring when the next deploy starts
    phone.hang = False
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", samples=5, runs=1, timeout_seconds=30,
                          reference=False)
    assert measured[-1].ok, measured[-1].result.error
    assert phone.app.launches[0].outcome == "killed"


def test_am_start_answers_are_checked() -> None:
    assert android.am_start_problem("Starting: Intent { cmp=dev.devicelab.app/.MeasureActivity (has extras) }") \
        is None
    dropped = android.am_start_problem("Starting: Intent { cmp=dev.devicelab.app/.MeasureActivity (has extras) }\n"
                                       "Warning: Activity not started, its current task has been brought to the front")
    assert dropped and "dropped the intent" in dropped
    assert android.am_start_problem("Warning: Activity not started, intent has been delivered to currently running "
                                    "top-most instance.") is None
    manifest = (Path(__file__).resolve().parent.parent / "android_app/app/src/main/AndroidManifest.xml").read_text()
    assert 'android:launchMode="singleTop"' in manifest  # so onNewIntent really receives a second job


def test_instrumentation_errors_are_read_not_reported_as_crashes(phones, lenet5, tmp_path) -> None:
    """#4: the app's own answer (here: it cannot write its result folder) reaches the user, without a timeout."""
    server, devices = phones
    phone = devices["R5CT100PIX"]
    (phone.root / "sdcard/Android/data/dev.devicelab.app/files/jobs").mkdir(parents=True)  # made by adb, not the app
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", samples=5, runs=1, timeout_seconds=60,
                          instrument=True, reference=False)
    error = measured[-1].result.error
    assert error["kind"] == "result_unwritable" and "external storage is not available" in error["message"]


def test_a_missing_instrumentation_is_named(phones, lenet5, tmp_path, monkeypatch) -> None:
    server, _ = phones
    monkeypatch.setattr(android, "INSTRUMENTATION", "dev.devicelab.app/.NoSuchInstrumentation")
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", samples=5, runs=1, timeout_seconds=60,
                          instrument=True, reference=False)
    error = measured[-1].result.error
    assert error["kind"] == "instrumentation_failed"
    assert "INSTRUMENTATION_FAILED: dev.devicelab.app/dev.devicelab.app.NoSuchInstrumentation" in error["message"]


def test_instrument_output_is_parsed_in_both_modes() -> None:
    raw = android.parse_instrument("INSTRUMENTATION_STATUS: done=3\nINSTRUMENTATION_STATUS_CODE: 2\n"
                                   "INSTRUMENTATION_RESULT: error_kind=model_run\n"
                                   "INSTRUMENTATION_RESULT: error_message=cannot run op X\nsecond line\n"
                                   "INSTRUMENTATION_RESULT: status=error\nINSTRUMENTATION_CODE: 0\n")
    assert raw.code == 0 and raw.results["status"] == "error"
    assert raw.results["error_message"] == "cannot run op X\nsecond line"
    plain = android.parse_instrument("devicelab: job j1 error model_run: cannot run op X\n\n")
    assert plain.code is None and plain.results == {"status": "error", "job_id": "j1", "error_kind": "model_run",
                                                    "error_message": "cannot run op X"}
    crashed = android.parse_instrument("INSTRUMENTATION_RESULT: shortMsg=Process crashed.\nINSTRUMENTATION_CODE: 0")
    assert crashed.crashed and not crashed.failed
    failed = android.parse_instrument(
        "INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{a/.B}\n"
        "INSTRUMENTATION_STATUS_CODE: -1\nandroid.util.AndroidException: INSTRUMENTATION_FAILED: a/.B\n")
    assert failed.failed == ("INSTRUMENTATION_FAILED: a/.B (Unable to find instrumentation info for: "
                             "ComponentInfo{a/.B})")


def test_an_adb_timeout_in_the_instrument_thread_is_no_traceback(monkeypatch) -> None:
    import threading

    import adbutils

    seen: list[object] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args))
    watch = android._Watch()

    def times_out() -> str:
        raise adbutils.AdbTimeout("socket timed out")

    watch.start_instrument(times_out)
    assert watch.instrument_finished(wait=5)
    assert isinstance(watch.instrument_error, adbutils.AdbTimeout) and seen == []


def test_crash_detection_keeps_to_the_app_and_this_launch() -> None:
    """#5: the crash buffer holds other apps' crashes and the app's older ones; only this launch's count."""
    def line(t: float, pid: int, level: str, tag: str, message: str) -> str:
        return f"{t:14.3f} {pid:5d} {pid:5d} {level} {tag}: {message}"

    old = [line(900.0, 1234, "E", "AndroidRuntime", "FATAL EXCEPTION: main"),
           line(900.0, 1234, "E", "AndroidRuntime", "Process: dev.devicelab.app, PID: 1234"),
           line(900.0, 1234, "E", "AndroidRuntime", "java.lang.OutOfMemoryError: old")]
    other = [line(1001.0, 777, "E", "AndroidRuntime", "FATAL EXCEPTION: main"),
             line(1001.0, 777, "E", "AndroidRuntime", "Process: com.example.other, PID: 777"),
             line(1001.0, 777, "E", "AndroidRuntime", "java.lang.IllegalStateException: not ours")]
    assert android.diagnose_death(old + other, pid=5555, since=1000.0) == ("crash", "")
    native = [line(1002.0, 901, "F", "DEBUG", "pid: 5555, tid: 5570, name: devicelab-measu  >>> dev.devicelab.app <<<"),
              line(1002.0, 901, "F", "DEBUG", "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x18")]
    assert android.diagnose_death(old + other + native, pid=5555, since=1000.0) == \
        ("native_crash", "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x18 (pid 5555)")
    lmk = [line(1003.0, 610, "I", "lowmemorykiller", "Kill 'dev.devicelab.app' (5555), uid 10234, oom_score_adj 0")]
    assert android.diagnose_death(other + lmk, pid=5555, since=1000.0)[0] == "low_memory_kill"
    assert android.diagnose_death(other + lmk, pid=6666, since=1000.0) == ("crash", "")


def test_a_native_crash_is_reported_as_one(phones, lenet5, tmp_path) -> None:
    server, devices = phones
    phone = devices["R5CT100PIX"]
    phone.crash_after, phone.crash_kind = 0.5, "native"
    phone.log("E", "AndroidRuntime", "FATAL EXCEPTION: main", pid=31337, buffer="crash")  # another app, just now
    phone.log("E", "AndroidRuntime", "Process: com.example.other, PID: 31337", pid=31337, buffer="crash")
    measured, _ = _deploy(server, "pixel", tmp_path / "s.sqlite", samples=5, runs=1, timeout_seconds=60,
                          reference=False)
    error = measured[-1].result.error
    assert error["kind"] == "native_crash" and "signal 11 (SIGSEGV)" in error["message"]
