"""The fake adb server (tests/fakes) against the real adbutils client: wire protocol, shell, sync, the app.

What adbutils 2.12 raises, as checked here (the Android target must handle these):
- a FAIL reply to a host request (unknown / offline / unauthorized device): ``AdbError(<message>)``
- a FAIL reply to sync SEND (storage full, read-only path): ``AdbError("FAIL")``: adbutils drops the message
- a FAIL reply to sync RECV (missing file): ``AdbError(<message>, <path>)``
- unplug during ``shell()`` (v1): NO error, the output read so far is returned (often ""): look for the
  expected end marker (``INSTRUMENTATION_CODE``, an ``echo`` sentinel) instead of trusting the call
- unplug during ``shell2()`` over v1: ``AdbError("shell output invalid", ...)``; over v2: ``EOFError``
- unplug during ``sync.push``: ``BrokenPipeError`` / ``ConnectionResetError`` (OSError, not AdbError)
- unplug during ``sync.read_bytes`` / ``pull``: ``AdbError("read chunk missing")`` or ``AdbError("Invalid sync cmd")``
- any call after the unplug: ``AdbError("device 'SERIAL' not found")``
Never point adbutils at a stopped fake: on a refused connection it runs ``adb start-server`` from its wheel.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbutils
import numpy as np
import pytest
from adbutils.errors import AdbError, AdbInstallError
from fakes import FakeAdbServer, FakeDevice, job_dir_on_device, make_fake_apk, result_dir_on_device
from fakes.shell import BufferSink, Shell, ShellIO

from devicelab import protocol

APP = "dev.devicelab.app"
INSTRUMENTATION = f"{APP}/.MeasureInstrumentation"


@pytest.fixture
def phone(tmp_path: Path) -> FakeDevice:
    # app_folders: the app has run once since it was installed, so jobs pushed by adb land in its own folder.
    return FakeDevice("SIM001", root=tmp_path / "SIM001", app_installed=True, app_folders=True)


@pytest.fixture
def server(phone: FakeDevice) -> Iterator[FakeAdbServer]:
    with FakeAdbServer([phone]) as fake:
        yield fake


@pytest.fixture
def adb(server: FakeAdbServer) -> adbutils.AdbClient:
    return adbutils.AdbClient(host="127.0.0.1", port=server.port)


@pytest.fixture
def d(adb: adbutils.AdbClient) -> adbutils.AdbDevice:
    return adb.device("SIM001")


def _relu_job(folder: Path, delegate: str | None = None, samples: int = 5) -> tuple[protocol.Job, np.ndarray]:
    """A tiny ONNX job (one Relu) built with devicelab.api.build_job: runs in milliseconds, no TensorFlow."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from devicelab import api

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "relu",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model_path = folder / "relu.onnx"
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, model_path)
    x = np.random.default_rng(0).normal(size=(samples, 4)).astype(np.float32)
    options = api.MeasureOptions(warmup_runs=1, runs=3, min_seconds=0.0, max_seconds=1.0, delegate=delegate)
    job = api.build_job(folder / "job", model_path, "onnx", "onnx-fp32", "0" * 64, x, "onnxruntime", options)
    return job, x


def _push_job(d: adbutils.AdbDevice, job_dir: Path, job_id: str) -> str:
    remote = job_dir_on_device(job_id)
    for path in sorted(job_dir.rglob("*")):
        if path.is_file():
            d.sync.push(path, f"{remote}/{path.relative_to(job_dir).as_posix()}")
    return remote


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# --- host services -----------------------------------------------------------------------------------


def test_server_version_and_device_list(tmp_path: Path) -> None:
    devices = [FakeDevice("SIM001", root=tmp_path / "a"), FakeDevice("SIM002", state="offline", root=tmp_path / "b"),
               FakeDevice("SIM003", state="unauthorized", root=tmp_path / "c")]
    with FakeAdbServer(devices) as server:
        adb = adbutils.AdbClient(host="127.0.0.1", port=server.port)
        assert adb.server_version() == 41
        assert [(i.serial, i.state) for i in adb.list()] == [
            ("SIM001", "device"), ("SIM002", "offline"), ("SIM003", "unauthorized")]
        assert [d.serial for d in adb.device_list()] == ["SIM001"]  # adbutils keeps state "device" only
        tags = {i.serial: i.tags for i in adb.list(extended=True)}
        assert tags["SIM001"]["model"] == "Pixel_7" and tags["SIM001"]["transport_id"] == "1"
        assert "model" not in tags["SIM003"]
        assert adb.device("SIM002").get_state() == "offline"
        with pytest.raises(AdbError, match="device offline"):
            adb.device("SIM002").shell("echo hi")
        with pytest.raises(AdbError, match="device unauthorized"):
            adb.device("SIM003").shell("echo hi")
        with pytest.raises(AdbError, match="device 'NOPE' not found"):
            adb.device("NOPE").shell("echo hi")
        assert not any(r.startswith("shell") for r in server.requests)  # nothing reached a device


def test_tport_and_features(server: FakeAdbServer, d: adbutils.AdbDevice) -> None:
    assert d.get_state() == "device"
    assert "shell_v2" in d.get_features().split(",")
    d.shell("true")
    assert server.requests[-3:] == ["host:version", "host:tport:serial:SIM001", "shell:true"]


def test_raw_wire_format(server: FakeAdbServer) -> None:
    """Bytes as SERVICES.TXT and the adbutils capture show them: OKAY0004 0029, FAIL + hex length."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"000chost:version")
        assert sock.recv(64) == b"OKAY00040029"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"0014host:tport:serial:XY")
        assert sock.recv(64) == b"FAIL0015device 'XY' not found"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"0018host:tport:serial:SIM001")
        assert sock.recv(12) == b"OKAY" + (1).to_bytes(8, "little")


def test_track_devices(server: FakeAdbServer, tmp_path: Path, adb: adbutils.AdbClient) -> None:
    events = adb.track_devices()
    assert next(events) == adbutils.DeviceEvent(True, "SIM001", "device")
    server.add_device(FakeDevice("SIM009", root=tmp_path / "nine"))
    assert next(events) == adbutils.DeviceEvent(True, "SIM009", "device")
    server.remove_device("SIM009")
    assert next(events) == adbutils.DeviceEvent(False, "SIM009", "absent")
    events.close()


def test_server_kill_stops_the_server(server: FakeAdbServer, adb: adbutils.AdbClient) -> None:
    adb.server_kill()
    _wait_until(lambda: server._listener is None)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


# --- shell -------------------------------------------------------------------------------------------


def test_properties(d: adbutils.AdbDevice) -> None:
    assert d.prop.model == "Pixel 7"
    assert d.getprop("ro.build.version.release") == "14"
    assert d.getprop("ro.build.version.sdk") == "34"
    assert d.getprop("ro.product.cpu.abi") == "arm64-v8a"
    assert d.getprop("ro.product.manufacturer") == "Google"
    assert d.getprop("ro.serialno") == "SIM001"
    assert d.getprop("no.such.key") == ""
    assert "[ro.product.model]: [Pixel 7]" in d.shell("getprop").splitlines()


def test_list_arguments_are_quoted_and_quoting_holds(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    keep = phone.root / "sdcard/keep.txt"
    keep.write_text("still here")
    assert d.shell(["echo", "a b; rm -rf /"]) == "a b; rm -rf /"
    assert phone.commands[-1] == "echo 'a b; rm -rf /'"  # adbutils joins list arguments with shlex.quote
    assert phone.executed[-1] == ["echo", "a b; rm -rf /"]
    assert d.shell(["echo", "$HOME", "`id`", "it's"]) == "$HOME `id` it's"
    assert d.shell('echo "$HOME" $NOPE end') == "/ end"
    assert keep.read_text() == "still here"
    assert not phone.ran("rm")


def test_exit_codes_and_chaining(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    (phone.root / "sdcard/f.txt").write_text("x")
    assert d.shell("test -f /sdcard/f.txt && echo 1 || echo 0") == "1"
    assert d.shell("test -d /sdcard/f.txt && echo 1 || echo 0") == "0"
    assert d.shell("test -e /sdcard/none; echo $?") == "1"
    assert d.shell("[ -d /sdcard ] && echo dir") == "dir"
    assert d.shell2(["test", "-f", "/sdcard/f.txt"]).returncode == 0  # v1: adbutils appends "; echo X4EXIT:$?"
    assert d.shell2("test -f /sdcard/none").returncode == 1
    result = d.shell2("echo out; echo err >&2; exit 3", v2=True)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    unknown = d.shell2("run-as dev.devicelab.app ls", v2=True)
    assert unknown.returncode == 127 and unknown.stderr == "/system/bin/sh: run-as: not found\n"
    assert d.shell2("echo 'unterminated", v2=True).returncode == 2


def test_file_commands(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    base = "/sdcard/Android/data/dev.devicelab.app/files"
    assert d.shell(["mkdir", "-p", f"{base}/jobs/a b"]) == ""
    assert (phone.root / "sdcard/Android/data/dev.devicelab.app/files/jobs/a b").is_dir()
    d.shell(f"echo hello > {base}/jobs/x.txt; echo more >> {base}/jobs/x.txt")
    assert d.shell(["cat", f"{base}/jobs/x.txt"]) == "hello\nmore"
    assert d.shell(f"ls {base}/jobs").splitlines() == ["a b", "x.txt"]
    assert d.shell(f"ls {base}/jobs/*.txt") == f"{base}/jobs/x.txt"  # globbing
    assert d.shell(["ls", f"{base}/jobs/*.txt"]).endswith("No such file or directory")  # quoted: no glob
    assert d.shell("ls /sdcard/nothing").endswith("ls: /sdcard/nothing: No such file or directory")
    assert d.shell("mkdir /sdcard/a/b/c").endswith("No such file or directory")
    assert d.shell("rm /sdcard/none") == "rm: /sdcard/none: No such file or directory"
    assert d.shell("rm -f /sdcard/none; echo $?") == "0"
    assert d.shell(f"rm {base}/jobs").endswith("Is a directory")
    d.shell(["rm", "-rf", f"{base}/jobs"])
    assert phone.ran("rm", "-rf", f"{base}/jobs") and not (phone.root / base.lstrip("/") / "jobs").exists()
    assert "Permission denied" in d.shell("mkdir -p /system/x; rm -rf /data/app")
    assert "Read-only file system" in d.shell("rm -rf /")
    assert (phone.root / "data/app").is_dir()
    assert d.shell("pm list packages | grep -c devicelab") == "1"


def test_df_reports_free_space(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    phone.storage_free_bytes = 3 * 2**30
    header, row = d.shell("df /sdcard").splitlines()
    assert header.split()[:4] == ["Filesystem", "1K-blocks", "Used", "Available"]
    assert row.split()[3] == str(3 * 2**20) and row.endswith("/storage/emulated")
    assert d.shell("df -h /data").splitlines()[1].split()[3] == "3.0G"


def test_shell_parser_directly(tmp_path: Path) -> None:
    phone = FakeDevice("P", root=tmp_path)
    out, err = BufferSink(), BufferSink()
    shell = Shell(phone, ShellIO(out, err))
    assert shell.run("false || (echo no)") == 2  # subshells are not supported: a syntax error, exit 2
    assert shell.run(r"echo a\ b 'c  d' \"e\" 2>/dev/null | cat; echo $? ;echo x#y # comment") == 0
    assert out.value().decode().splitlines()[-3:] == ['a b c  d "e"', "0", "x#y"]
    assert shell.run("echo $(id)") == 2 and b"command substitution" in err.value()


# --- sync --------------------------------------------------------------------------------------------


def test_sync_push_read_stat_list(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    payload = os.urandom(200_000)  # several DATA chunks each way
    assert d.sync.push(payload, "/sdcard/x.bin") == len(payload)
    assert (phone.root / "sdcard/x.bin").read_bytes() == payload
    assert d.sync.read_bytes("/sdcard/x.bin") == payload
    assert d.sync.exists("/sdcard/x.bin") and not d.sync.exists("/sdcard/none.bin")
    info = d.sync.stat("/sdcard/x.bin")
    assert stat.S_ISREG(info.mode) and info.size == len(payload)
    assert stat.S_ISDIR(d.sync.stat("/storage/emulated/0").mode)  # the /sdcard alias
    local = tmp_path / "local.txt"
    local.write_text("text")
    d.sync.push(local, "/sdcard/Download")  # a folder as destination: adbutils appends the file name
    assert d.sync.read_text("/sdcard/Download/local.txt") == "text"
    names = [f.path for f in d.sync.list("/sdcard")]
    assert names[:2] == [".", ".."] and "x.bin" in names
    assert ("SEND", "/sdcard/x.bin,33261") in phone.sync_log  # path,mode (S_IFREG | 0o755)
    with pytest.raises(AdbError, match="No such file or directory"):
        d.sync.read_bytes("/sdcard/none.bin")


def test_sync_pull_dir(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    remote = "/sdcard/Android/data/dev.devicelab.app/files/results/r1"
    d.sync.push(b"{}", f"{remote}/result.json")  # fixed_push_mkdir: parents are created
    d.sync.push(b"\x00" * 40, f"{remote}/outputs/output_0.bin")
    d.sync.push(b"ok\n", f"{remote}/DONE")
    assert d.sync.pull_dir(remote, tmp_path / "pulled") == 45
    assert sorted(p.relative_to(tmp_path / "pulled").as_posix() for p in (tmp_path / "pulled").rglob("*")) == [
        "DONE", "outputs", "outputs/output_0.bin", "result.json"]


def test_paths_never_escape_the_device_root(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    os.symlink(secret, phone.root / "sdcard/link")
    with pytest.raises(AdbError):
        d.sync.read_bytes("/sdcard/link")  # resolves outside the root
    assert d.shell("cat /sdcard/link") == "cat: /sdcard/link: Permission denied"
    assert d.shell("cat /../../../../etc/hostname").startswith("cat: ")  # .. stops at the device root
    with pytest.raises(AdbError, match="FAIL"):
        d.sync.push(b"x", "/system/bin/evil")
    assert not (phone.root / "system/bin/evil").exists()
    assert secret.read_text() == "host only"


def test_storage_full_push_fails(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    phone.storage_free_bytes = 10_000
    with pytest.raises(AdbError) as failure:
        d.sync.push(os.urandom(50_000), "/sdcard/big.bin")
    assert failure.type is AdbError and str(failure.value) == "FAIL"  # adbutils drops "No space left on device"
    assert not d.sync.exists("/sdcard/big.bin")  # adbd removes the partial file
    assert phone.storage_free_bytes == 10_000
    d.sync.push(b"x" * 4000, "/sdcard/small.bin")
    assert phone.storage_free_bytes == 6000
    assert "No space left on device" in d.shell("cp /sdcard/small.bin /sdcard/copy1; cp /sdcard/small.bin /sdcard/c2")
    d.shell("rm /sdcard/small.bin /sdcard/copy1")
    assert phone.storage_free_bytes == 10_000


# --- packages ----------------------------------------------------------------------------------------


def test_install_through_adbutils(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    phone.app_installed = False
    assert d.app_info(APP) is None
    assert d.shell2(["pm", "path", APP]).returncode == 1
    d.install(make_fake_apk(tmp_path / "app.apk", version_code=7, version_name="0.7.0"), silent=True)
    info = d.app_info(APP)
    assert (info.version_code, info.version_name) == (7, "0.7.0") and phone.app_version_code == 7
    assert d.shell(["pm", "path", APP]).startswith("package:/data/app/")
    # without apkutils adbutils pushes to /data/local/tmp/unknown.apk, runs pm install -r -t, then removes it
    assert phone.ran("pm", "install", "-r", "-t", "/data/local/tmp/unknown.apk")
    assert phone.ran("rm", "/data/local/tmp/unknown.apk")
    with pytest.raises(AdbInstallError) as downgrade:
        d.install(make_fake_apk(tmp_path / "old.apk", version_code=3), silent=True)
    assert downgrade.value.reason == "INSTALL_FAILED_VERSION_DOWNGRADE"
    assert d.shell(["pm", "uninstall", APP]) == "Success"
    assert APP not in d.list_packages()


def test_pm_install_rules(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    d.sync.push(b"not a zip", "/data/local/tmp/plain.apk")
    assert d.shell("pm install -r /data/local/tmp/plain.apk") == "Success"  # any file: versionCode 1
    assert phone.app_version_code == 1
    d.sync.push(make_fake_apk(tmp_path / "new.apk", min_sdk=35), "/data/local/tmp/new.apk")
    assert "INSTALL_FAILED_OLDER_SDK" in d.shell("pm install -r -t -g /data/local/tmp/new.apk")
    assert d.shell("pm install /sdcard/none.apk") == "Error: Can't open file: /sdcard/none.apk"
    out = d.shell(["dumpsys", "package", APP])
    assert "    versionCode=1 minSdk=24 targetSdk=34" in out.splitlines()
    assert "    versionName=0.1.0" in out.splitlines()


# --- the simulated app -------------------------------------------------------------------------------


def test_am_instrument_blocks_until_the_job_is_done(phone: FakeDevice, d: adbutils.AdbDevice,
                                                    tmp_path: Path) -> None:
    job, x = _relu_job(tmp_path / "local", delegate="nnapi")
    _push_job(d, tmp_path / "local/job", job.id)
    out = d.shell(["am", "instrument", "-w", "-e", "job_id", job.id, INSTRUMENTATION])
    remote = result_dir_on_device(job.id)
    # Without -r only the final bundle's stream text is printed (AOSP Instrument.TextStatusReporter).
    assert out.startswith(f"devicelab: job {job.id} ok (onnxruntime-CPUExecutionProvider (simulated; nnapi "
                          "requested)), result in /storage/emulated/0/Android/data/")
    assert "INSTRUMENTATION_RESULT" not in out and "INSTRUMENTATION_CODE" not in out
    assert d.sync.exists(f"{remote}/DONE")  # already there when am instrument -w returns
    d.sync.pull_dir(remote, tmp_path / "result")
    result = protocol.read_result(tmp_path / "result")
    assert result.ok and result.simulated and result.job_id == job.id
    assert result.device["platform"] == "android" and result.device["model"] == "Google Pixel 7"
    assert result.device["os"] == "Android 14 (API 34)" and result.device["abi"] == "arm64-v8a"
    assert result.device["runtime"]["name"] == "onnxruntime"
    assert result.runtime_used == "onnxruntime-CPUExecutionProvider (simulated; nnapi requested)"
    assert all(m.method.startswith("simulated: ") for m in result.memory)
    np.testing.assert_allclose(protocol.read_tensor(tmp_path / "result", result.outputs[0]), np.maximum(x, 0))
    assert len(result.timings_ms.runs) >= 3
    assert d.shell2(["pidof", APP]).returncode == 1  # the app exits after its job
    assert f"job {job.id}: finished status=ok" in d.shell("logcat -d -s devicelab")


def test_am_start_then_poll_done(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    job, _ = _relu_job(tmp_path / "local")
    _push_job(d, tmp_path / "local/job", job.id)
    out = d.shell(["am", "start", "-W", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", job.id])
    assert out.splitlines()[0] == f"Starting: Intent {{ cmp={APP}/.MeasureActivity (has extras) }}"
    assert "Status: ok" in out and "LaunchState: COLD" in out
    done = f"{result_dir_on_device(job.id)}/DONE"
    _wait_until(lambda: d.shell(f"test -f {done} && echo 1 || echo 0") == "1")
    assert d.sync.read_text(done).strip() == "ok"
    d.shell(["rm", "-rf", job_dir_on_device(job.id)])
    assert phone.ran("rm", "-rf", job_dir_on_device(job.id)) and not d.sync.exists(job_dir_on_device(job.id))


def test_am_instrument_raw_prints_every_key_and_the_code(phone: FakeDevice, d: adbutils.AdbDevice,
                                                         tmp_path: Path) -> None:
    job, _ = _relu_job(tmp_path / "local")
    _push_job(d, tmp_path / "local/job", job.id)
    lines = d.shell(["am", "instrument", "-w", "-r", "-e", "job_id", job.id, INSTRUMENTATION]).splitlines()
    keys = [line.split("=", 1)[0] for line in lines if line.startswith("INSTRUMENTATION_RESULT: ")]
    assert keys == sorted(keys) and "INSTRUMENTATION_RESULT: status=ok" in lines
    assert f"INSTRUMENTATION_RESULT: job_id={job.id}" in lines and lines[-1] == "INSTRUMENTATION_CODE: -1"


def test_missing_job_folder_gives_an_error_result(d: adbutils.AdbDevice, tmp_path: Path) -> None:
    out = d.shell(["am", "instrument", "-w", "-r", "-e", "job_id", "nope-1", INSTRUMENTATION])
    assert "status=error" in out and "error_kind=protocol" in out and out.endswith("INSTRUMENTATION_CODE: 0")
    d.sync.pull_dir(result_dir_on_device("nope-1"), tmp_path / "r")
    result = protocol.read_result(tmp_path / "r")
    assert result.error["kind"] == "protocol" and result.simulated


def test_app_not_installed(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    phone.app_installed = False
    out = d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "j"])
    assert "Error type 3" in out and "does not exist." in out
    out = d.shell2(["am", "instrument", "-w", "-e", "job_id", "j", INSTRUMENTATION])
    assert out.returncode == 1 and "INSTRUMENTATION_FAILED" in out.output


def test_model_error(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    message = "Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'; this app's TFLite is 2.14.0"
    phone.model_error = message
    job, _ = _relu_job(tmp_path / "local")
    _push_job(d, tmp_path / "local/job", job.id)
    out = d.shell(["am", "instrument", "-w", "-e", "job_id", job.id, INSTRUMENTATION])
    assert out.startswith(f"devicelab: job {job.id} error model_run: Didn't find op")
    d.sync.pull_dir(result_dir_on_device(job.id), tmp_path / "r")
    result = protocol.read_result(tmp_path / "r")
    assert result.error["kind"] == "model_run" and result.error["message"] == message and result.simulated


def test_crash(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    phone.crash_after = 0.2
    job, _ = _relu_job(tmp_path / "local")
    _push_job(d, tmp_path / "local/job", job.id)
    d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", job.id])
    assert d.shell2(["pidof", APP]).output.strip().isdigit()
    _wait_until(lambda: d.shell2(["pidof", APP]).returncode == 1)
    assert not d.sync.exists(f"{result_dir_on_device(job.id)}/DONE")
    crash = d.shell("logcat -d -b crash")
    assert "E AndroidRuntime: FATAL EXCEPTION: devicelab-measure" in crash and f"Process: {APP}" in crash
    out = d.shell(["am", "instrument", "-w", "-e", "job_id", job.id, INSTRUMENTATION])
    assert "shortMsg=Process crashed." in out and "INSTRUMENTATION_CODE: 0" in out


def test_hang_force_stop_and_meminfo(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path) -> None:
    phone.hang, phone.app_memory_kb = True, 123_456
    d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "j1"])
    time.sleep(0.3)
    pid = d.shell(["pidof", APP])
    assert pid.isdigit() and not d.sync.exists(f"{result_dir_on_device('j1')}/DONE")
    meminfo = d.shell(["dumpsys", "meminfo", APP])
    assert f"** MEMINFO in pid {pid} [{APP}] **" in meminfo
    assert [line.split()[2] for line in meminfo.splitlines() if "TOTAL PSS:" in line] == ["123456"]
    total_rows = [line.split() for line in meminfo.splitlines() if line.split()[:1] == ["TOTAL"]]
    assert [row[1] for row in total_rows if row[1].isdigit()] == ["123456"]  # the TOTAL row's Pss Total
    thread, outcome = _in_thread(lambda: d.shell(["am", "instrument", "-w", "-e", "job_id", "j2", INSTRUMENTATION]))
    time.sleep(0.3)
    assert thread.is_alive()  # blocked, as a real am instrument -w on a hung app
    d.shell(["am", "force-stop", APP])
    thread.join(5)
    assert "shortMsg=Process crashed." in outcome["value"]
    assert d.shell2(["pidof", APP]).returncode == 1
    assert d.shell(["dumpsys", "meminfo", APP]) == f"No process found for: {APP}"


def test_unplug_mid_connection(server: FakeAdbServer, phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    phone.hang = True
    v1, v1_out = _in_thread(lambda: d.shell(["am", "instrument", "-w", "-e", "job_id", "j", INSTRUMENTATION]))
    v2, v2_out = _in_thread(lambda: d.shell2("echo partial; sleep 30", v2=True))
    _wait_until(lambda: len(phone.commands) == 2)
    time.sleep(0.2)
    server.remove_device("SIM001")
    v1.join(5)
    v2.join(5)
    assert v1_out == {"value": ""}  # shell v1: the connection just ends, adbutils returns what it read
    assert isinstance(v2_out["error"], EOFError)  # shell v2: adbutils' read_exact raises EOFError
    assert adbutils.AdbClient(host="127.0.0.1", port=server.port).device_list() == []
    with pytest.raises(AdbError, match="device 'SIM001' not found"):
        d.shell("echo hi")
    server.add_device(phone)  # replugged: the app kept running on the phone
    assert d.shell(["pidof", APP]).isdigit()


def test_unplug_during_push(server: FakeAdbServer, phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    payload = bytes(128 * 2**20)
    thread, outcome = _in_thread(lambda: d.sync.push(payload, "/sdcard/big.bin"))
    _wait_until(lambda: ("SEND", "/sdcard/big.bin,33261") in phone.sync_log)
    server.remove_device("SIM001")
    thread.join(10)
    assert isinstance(outcome.get("error"), (BrokenPipeError, ConnectionResetError))  # not an AdbError
    assert not (phone.root / "sdcard/big.bin").exists()


def test_unplug_after_launch(server: FakeAdbServer, phone: FakeDevice, d: adbutils.AdbDevice,
                             tmp_path: Path) -> None:
    phone.unplug_after, phone.hang = 0.3, True
    out = d.shell(["am", "instrument", "-w", "-e", "job_id", "j", INSTRUMENTATION])
    assert out == ""  # cut off: no INSTRUMENTATION_CODE line
    assert not phone.connected
    with pytest.raises(AdbError, match="not found"):
        d.get_state()


# --- end to end with a real model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def lenet5_tflite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, np.ndarray, np.ndarray]:
    from devicelab import api
    from devicelab.data import fit_to_shape, load_dataset

    env = os.environ.get("DEVICELAB_CACHE")  # DEVICELAB_CACHE=/tmp/dlc reuses a trained LeNet-5
    cache = Path(env) if env else tmp_path_factory.mktemp("cache")
    report = api.convert("lenet5", variants=["tflite-fp32"], cache=cache)
    artifact = report.conversions[0].artifact
    assert artifact is not None, report.conversions[0].error
    dataset = load_dataset("mnist-sample", limit=50)
    x = fit_to_shape(dataset.x, tuple(report.source.inputs[0].shape))
    return artifact, x.astype(np.float32), dataset.y


@pytest.mark.slow
def test_lenet5_tflite_end_to_end(phone: FakeDevice, d: adbutils.AdbDevice, tmp_path: Path,
                                  lenet5_tflite: tuple[Any, np.ndarray, np.ndarray]) -> None:
    from devicelab import api

    artifact, x, labels = lenet5_tflite
    options = api.MeasureOptions(warmup_runs=2, runs=10, min_seconds=0.0, max_seconds=5.0, delegate="gpu")
    job = api.build_job(tmp_path / "job", artifact.model_path, "tflite", "tflite-fp32", artifact.sha256, x,
                        "tflite", options)
    _push_job(d, tmp_path / "job", job.id)
    d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", job.id])
    done = f"{result_dir_on_device(job.id)}/DONE"
    _wait_until(lambda: d.shell(f"test -f {done} && echo 1 || echo 0") == "1", timeout=120)
    d.sync.pull_dir(result_dir_on_device(job.id), tmp_path / "result")
    result = protocol.read_result(tmp_path / "result")
    assert result.ok and result.simulated, result.error
    assert result.runtime_used == "tflite-xnnpack (simulated; gpu requested)"
    outputs = protocol.read_tensor(tmp_path / "result", result.outputs[0])
    assert outputs.shape == (50, 10) and np.isfinite(outputs).all()
    assert (outputs.argmax(axis=1) == labels).mean() > 0.8  # the trained LeNet-5 really ran
    assert len(result.timings_ms.runs) >= 10 and result.timings_ms.load > 0
    assert json.loads((tmp_path / "result/result.json").read_text())["simulated"] is True


# --- what a phone does that the host must cope with (issue 12) ------------------------------------------------


def test_a_fresh_app_cannot_use_a_folder_adb_made_first(tmp_path: Path) -> None:
    """Android 11+: /sdcard/Android/data/<pkg> made by the shell before the app ran is not the app's."""
    fresh = FakeDevice("FRESH1", root=tmp_path / "fresh", app_installed=True, app_folders=False)
    with FakeAdbServer([fresh]) as fake:
        d = adbutils.AdbClient(host="127.0.0.1", port=fake.port).device("FRESH1")
        d.shell(["mkdir", "-p", job_dir_on_device("j1")])
        out = d.shell(["am", "instrument", "-w", "-r", "-e", "job_id", "j1", INSTRUMENTATION])
        assert "error_kind=result_unwritable" in out and not d.sync.exists(f"{result_dir_on_device('j1')}/DONE")
        assert "Failed to ensure" in d.shell("logcat -d -s ContextImpl")
    other = FakeDevice("FRESH2", root=tmp_path / "fresh2", app_installed=True, app_folders=False)
    with FakeAdbServer([other]) as fake:
        d = adbutils.AdbClient(host="127.0.0.1", port=fake.port).device("FRESH2")
        d.shell(["am", "start", "-W", "-n", f"{APP}/.MeasureActivity"])  # no job: the app makes its folders
        _wait_until(lambda: d.sync.exists("/sdcard/Android/data/dev.devicelab.app/files/jobs"))


def test_an_activity_process_stays_cached_after_its_job(phone: FakeDevice, d: adbutils.AdbDevice,
                                                        tmp_path: Path) -> None:
    job, _ = _relu_job(tmp_path / "local")
    _push_job(d, tmp_path / "local/job", job.id)
    d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", job.id])
    _wait_until(lambda: d.sync.exists(f"{result_dir_on_device(job.id)}/DONE"))
    _wait_until(lambda: not phone.app.activity_open())
    assert d.shell(["pidof", APP]).isdigit()  # Activity.finish() does not end the process
    assert "TOTAL PSS:" in d.shell(["dumpsys", "meminfo", APP])


def test_am_start_while_the_activity_runs_follows_the_manifest(phone: FakeDevice, d: adbutils.AdbDevice,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from fakes import android_commands

    phone.hang = True
    d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "old"])
    _wait_until(phone.app.activity_open)
    monkeypatch.setattr(android_commands, "activity_launch_mode", lambda: "standard")
    out = d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "new"])
    assert "Warning: Activity not started, its current task has been brought to the front" in out
    assert [launch.job_id for launch in phone.app.launches] == ["old"]  # the intent was dropped
    monkeypatch.setattr(android_commands, "activity_launch_mode", lambda: "singleTop")
    out = d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "new"])
    assert "intent has been delivered to currently running top-most instance" in out
    assert [launch.job_id for launch in phone.app.launches] == ["old", "new"]
    d.shell(["am", "start", "-S", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "third"])
    assert phone.app.launches[1].done.wait(5) and phone.app.launches[1].outcome == "killed"


def test_crash_kinds_and_logcat_since(phone: FakeDevice, d: adbutils.AdbDevice) -> None:
    phone.crash_after, phone.crash_kind = 0.1, "native"
    since = float(d.shell(["date", "+%s"]))
    d.shell(["am", "start", "-n", f"{APP}/.MeasureActivity", "--es", "job_id", "j"])
    _wait_until(lambda: d.shell2(["pidof", APP]).returncode == 1)
    phone.log("E", "AndroidRuntime", "FATAL EXCEPTION: main", pid=4242, buffer="crash", at=since - 100)
    out = d.shell(["logcat", "-d", "-b", "crash", "-v", "epoch", "-t", f"{since:.3f}"])
    assert ">>> dev.devicelab.app <<<" in out and "signal 11 (SIGSEGV)" in out and "FATAL" not in out
    assert out.split()[0].replace(".", "").isdigit()  # -v epoch: seconds since the epoch first
