"""The Android target: push a job to the bundled app over adb, run it, pull the result back.

Everything goes through adbutils, which speaks the adb server's wire protocol; shell commands are always
passed as argument lists so adbutils quotes them. A job lives on the device in the app's external files dir,
which the app reads without permissions and which is removed again after every job, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devicelab import protocol
from devicelab.errors import DevicelabError, UsageError, require
from devicelab.protocol import MemorySample, Result
from devicelab.targets.base import Progress, RuntimeTable, Target

PACKAGE = "dev.devicelab.app"
ACTIVITY = f"{PACKAGE}/.MeasureActivity"
INSTRUMENTATION = f"{PACKAGE}/.MeasureInstrumentation"
APP_FILES = f"/sdcard/Android/data/{PACKAGE}/files"
# The oldest app build (versionCode) that understands each job schema.
MIN_APP_VERSION = {protocol.JOB_SCHEMA: 1}
RUNTIMES = {"tflite": ("tflite", ("xnnpack", "cpu", "gpu", "nnapi")), "onnxruntime": ("onnx", ("cpu", "nnapi")),
            "executorch": ("executorch", ("xnnpack",))}
DEFAULT_APK = Path(__file__).resolve().parents[2] / "android_app/app/build/outputs/apk/debug/app-debug.apk"
_POLL_S = 0.5
_LAUNCH_GRACE_S = 3.0  # a process list without the app this soon after launch is not yet a crash
_FOLDERS_WAIT_S = 15.0  # how long a first launch may take to create the app's files folder
PSS_METHOD = "dumpsys meminfo TOTAL PSS, read by the host once the job is done"
# The provider whose share of ops and op time the profile reports: a silent fallback to the CPU shows.
ORT_REQUESTED = {"nnapi": "NnapiExecutionProvider", "cpu": "CPUExecutionProvider"}
# am start's answers when an instance of the activity exists (ActivityStarter results).
_TASK_TO_FRONT = "its current task has been brought to the front"
_DELIVERED_TO_TOP = "intent has been delivered to currently running top-most instance"


class AndroidError(DevicelabError):
    kind = "android"


class DeviceNotFoundError(AndroidError):
    kind = "device_not_found"


@dataclass
class AndroidDevice:
    serial: str
    state: str
    model: str = ""
    manufacturer: str = ""
    android: str = ""
    sdk: str = ""
    abi: str = ""
    server: str = ""

    @property
    def label(self) -> str:
        return f"{self.serial} ({self.manufacturer} {self.model}, Android {self.android})".replace("  ", " ")


def _parse_server(server: str | None) -> tuple[str, int]:
    server = server or os.environ.get("DEVICELAB_ADB_SERVER") or ""
    if not server:
        return (os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1"),
                int(os.environ.get("ANDROID_ADB_SERVER_PORT", "5037")))
    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"adb server '{server}' is not host:port", hint="for example 127.0.0.1:5037")
    return host, int(port)


def adbutils_module() -> Any:
    return require("adbutils", "android", "talking to Android devices")


def adb_client(server: str | None = None) -> Any:
    adbutils = adbutils_module()

    host, port = _parse_server(server)
    client = adbutils.AdbClient(host=host, port=port, socket_timeout=30)
    try:
        client.server_version()
    except (adbutils.AdbError, OSError) as exc:
        raise AndroidError(f"no adb server answers at {host}:{port} ({exc})",
                           hint="start one with `adb start-server`, or point --adb-server at a remote one") from None
    return client


def list_devices(server: str | None = None) -> list[AndroidDevice]:
    client = adb_client(server)
    host, port = _parse_server(server)
    found = []
    for info in client.list(extended=True) if _has_extended_list(client) else client.list():
        device = AndroidDevice(serial=info.serial, state=info.state, server=f"{host}:{port}")
        if info.state == "device":
            handle = client.device(info.serial)
            with contextlib.suppress(Exception):  # a device that answers badly is still listed with its state
                props = _props(handle)
                device.model, device.manufacturer = props["ro.product.model"], props["ro.product.manufacturer"]
                device.android, device.sdk = props["ro.build.version.release"], props["ro.build.version.sdk"]
                device.abi = props["ro.product.cpu.abi"]
        found.append(device)
    return found


def _has_extended_list(client: Any) -> bool:
    import inspect

    return "extended" in inspect.signature(client.list).parameters


def _props(handle: Any) -> dict[str, str]:
    keys = ("ro.product.model", "ro.product.manufacturer", "ro.build.version.release", "ro.build.version.sdk",
            "ro.product.cpu.abi")
    return {key: handle.getprop(key) for key in keys}


def load_aliases(path: Path | None = None) -> dict[str, str]:
    """Device aliases from the user's config file: [devices] pixel = "SERIAL"."""
    from platformdirs import user_config_dir

    path = path or Path(os.environ.get("DEVICELAB_CONFIG") or Path(user_config_dir("devicelab")) / "config.toml")
    if not path.exists():
        return {}
    try:
        return {str(k): str(v) for k, v in tomllib.loads(path.read_text()).get("devices", {}).items()}
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint="fix the [devices] table of your config") from None


def match_device(selector: str, devices: list[AndroidDevice], aliases: dict[str, str] | None = None) -> AndroidDevice:
    """A serial (or its start: "emulator"), an alias, or a case-insensitive piece of the product model.

    An empty selector means "the only device". Ambiguity is an error that lists the candidates.
    """
    listing = "; ".join(d.label + ("" if d.state == "device" else f" [{d.state}]") for d in devices) or "none"
    wanted = (aliases or {}).get(selector, selector)
    exact = [d for d in devices if d.serial == wanted]
    needle = wanted.lower()
    matches = exact or [d for d in devices
                        if needle in f"{d.manufacturer} {d.model}".lower() or d.serial.lower().startswith(needle)]
    if not matches:
        raise DeviceNotFoundError(f"no Android device matches '{selector}'; devices here: {listing}",
                                  hint="use a serial, a piece of the model name, or an alias from your config")
    if len(matches) > 1:
        raise DeviceNotFoundError(f"'{selector}' matches {len(matches)} devices: "
                                  + "; ".join(d.label for d in matches),
                                  hint="use the serial, or a longer piece of the model name")
    device = matches[0]
    if device.state == "unauthorized":
        raise AndroidError(f"device {device.serial} is unauthorized",
                           hint="unlock the phone and accept the 'Allow USB debugging' prompt")
    if device.state != "device":
        raise AndroidError(f"device {device.serial} is {device.state}",
                           hint="reconnect the cable, or run `adb reconnect`")
    return device


class AndroidTarget(RuntimeTable, Target):
    runtimes = RUNTIMES
    where = "the Android app"
    kind = "android"
    sweep_field = "delegate"

    def __init__(self, selector: str, *, server: str | None = None, instrument: bool = False,
                 aliases: dict[str, str] | None = None) -> None:
        self.client = adb_client(server)
        self.device = match_device(selector, list_devices(server),
                                   load_aliases() if aliases is None else aliases)
        self.handle = self.client.device(self.device.serial)
        self.instrument = instrument
        self._app_checked = False
        self._folders_checked = False

    @property
    def name(self) -> str:
        return f"android:{self.device.serial}"

    def check(self, runtime: str, fmt: str) -> None:
        self.check_runtime(runtime, fmt)
        if not self._app_checked:
            self.check_app()
            self._app_checked = True

    def check_app(self) -> int:
        """The installed app's versionCode, or an error saying how to install or update it."""
        path = self._shell(["pm", "path", PACKAGE])
        if "package:" not in path:
            raise AndroidError(f"the devicelab app is not installed on {self.device.label}",
                               hint="install it with `devicelab android install [APK]`")
        info = self._shell(["dumpsys", "package", PACKAGE])
        found = re.search(r"versionCode=(\d+)", info)
        version = int(found.group(1)) if found else 0
        needed = MIN_APP_VERSION[protocol.JOB_SCHEMA]
        if version < needed:
            raise AndroidError(f"the devicelab app on {self.device.serial} is too old (versionCode {version}) for "
                               f"{protocol.JOB_SCHEMA} jobs, which need versionCode {needed} or newer",
                               hint="update it with `devicelab android install [APK]`")
        return version

    def install(self, apk: Path) -> str:
        if not apk.is_file():
            raise AndroidError(f"no APK at {apk}",
                               hint="build it with `./gradlew assembleDebug` in android_app/, or pass its path")
        remote = "/data/local/tmp/devicelab-app.apk"
        self._push(apk, remote)
        output = self._shell(["pm", "install", "-r", "-t", remote])
        self._shell(["rm", "-f", remote])
        if "Success" not in output:
            raise AndroidError(f"installing {apk.name} on {self.device.serial} failed: {output.strip()[:300]}",
                               hint="uninstall an older build signed with another key: adb uninstall " + PACKAGE)
        self._app_checked = False
        self._folders_checked = False
        return output.strip()

    # -- run -----------------------------------------------------------------------------------------

    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> Result:
        job = protocol.read_job(job_dir)
        job_remote, result_remote = f"{APP_FILES}/jobs/{job.id}", f"{APP_FILES}/results/{job.id}"
        watch = _Watch()
        try:
            self.ensure_app_folders()  # before the first push: a folder adb makes first is not the app's
            self._shell(["rm", "-rf", job_remote, result_remote])
            self._shell(["mkdir", "-p", job_remote])
            files = sorted(p for p in job_dir.rglob("*") if p.is_file())
            for index, file in enumerate(files):
                if progress:
                    progress("push", index, len(files))
                self._push(file, f"{job_remote}/{file.relative_to(job_dir).as_posix()}")
            self._launch(job, watch)
            outcome = self._wait(job, result_remote, watch, progress)
            if outcome != "done":
                return self._fail(job.id, result_dir, *outcome)
            result_dir.mkdir(parents=True, exist_ok=True)
            self.handle.sync.pull_dir(result_remote, str(result_dir), exist_ok=True)
            result = protocol.read_result(result_dir)
            device_profile(result, result_dir, job)
        except _DeviceGone as exc:
            return self._fail(job.id, result_dir, "device_lost",
                              f"{self.device.serial} went away during job {job.id}: {exc}",
                              "reconnect the device and rerun; results measured before are stored")
        except _StorageFull as exc:
            return self._fail(job.id, result_dir, "storage_full", f"no space left on {self.device.serial}: {exc}",
                              "free some storage on the device")
        finally:
            with contextlib.suppress(_DeviceGone, Exception):  # cleaning a vanished device is not an error
                self._shell(["rm", "-rf", job_remote, result_remote])
        return self._augment(result, result_dir, watch)

    def ensure_app_folders(self) -> None:
        """Make sure the app created its own files folder (jobs/, results/) before anything is pushed there.

        The app creates it on every launch (getExternalFilesDir). On a fresh install it does not exist yet, and a
        folder that adb creates first belongs to the shell: on Android 11+ the app can then neither read the job
        nor write its result. So a fresh app is launched once, without a job, and given time to make it.
        """
        if self._folders_checked or self._exists(f"{APP_FILES}/jobs"):
            self._folders_checked = True
            return
        output = self._shell(["am", "start", "-S", "-n", ACTIVITY])
        if "Error" in output:
            raise AndroidError(f"could not start the app on {self.device.serial}: {output.strip()[:300]}",
                               hint="reinstall it with `devicelab android install`")
        deadline = time.monotonic() + _FOLDERS_WAIT_S
        while time.monotonic() < deadline:
            if self._exists(f"{APP_FILES}/jobs"):
                self._folders_checked = True
                return
            time.sleep(_POLL_S)
        raise AndroidError(f"the devicelab app on {self.device.serial} did not create its files folder {APP_FILES}",
                           hint=f"a folder made by adb before the app first ran is not the app's: remove it (adb "
                                f"shell rm -rf /sdcard/Android/data/{PACKAGE}) or reinstall the app, then retry")

    def _launch(self, job: protocol.Job, watch: _Watch) -> None:
        watch.since = self._device_time()
        if self.instrument:
            # `am instrument -w` blocks until the job ends: run it aside, keep what it prints, watch for DONE.
            # -r: every key of the app's bundles as INSTRUMENTATION_RESULT lines (without it only the stream text).
            command = ["am", "instrument", "-w", "-r", "-e", "job_id", job.id, INSTRUMENTATION]
            watch.start_instrument(lambda: self._shell(command, timeout=job.timeout_seconds + 30))
        else:
            # -S: stop whatever instance is left (an interrupted run) so that this intent starts this job.
            output = self._shell(["am", "start", "-S", "-n", ACTIVITY, "--es", "job_id", job.id])
            problem = am_start_problem(output)
            if problem:
                raise AndroidError(f"the app on {self.device.serial} did not take job {job.id}: {problem}",
                                   hint="update the app with `devicelab android install`, or stop it with "
                                        f"`adb shell am force-stop {PACKAGE}` and retry")
        watch.launched = time.monotonic()

    def _device_time(self) -> float | None:
        """The device clock (seconds since the epoch), to read only the log lines written after a launch."""
        with contextlib.suppress(DevicelabError, ValueError):
            return float(self._shell(["date", "+%s"]).strip())
        return None

    def _wait(self, job: protocol.Job, result_remote: str, watch: _Watch,
              progress: Progress | None) -> str | tuple[str, str, str | None]:
        deadline = watch.launched + job.timeout_seconds
        done = f"{result_remote}/{protocol.DONE_MARKER}"
        while time.monotonic() < deadline:
            if self._exists(done):
                return "done"
            elapsed = time.monotonic() - watch.launched
            if progress:
                progress("running on device", int(elapsed), int(job.timeout_seconds))
            if watch.instrument_finished():
                if self._exists(done):
                    return "done"
                failure = self._instrument_failure(job, watch)
                if failure is not None:
                    return failure
            pid = self._shell(["pidof", PACKAGE]).strip().split()
            if pid:
                watch.pid = int(pid[0])
            elif elapsed > _LAUNCH_GRACE_S:
                if self._exists(done):
                    return "done"
                return self._death(job, watch)
            time.sleep(_POLL_S)
        self._shell(["am", "force-stop", PACKAGE])
        return ("timeout", f"job {job.id} did not finish on {self.device.serial} within {job.timeout_seconds:g} s; "
                "the app was stopped", "raise --timeout, or run fewer samples")

    def _instrument_failure(self, job: protocol.Job, watch: _Watch) -> tuple[str, str, str | None] | None:
        """Why `am instrument -w` ended without a DONE, from what it printed; None when it tells nothing."""
        if watch.instrument_error is not None:
            if isinstance(watch.instrument_error, _DeviceGone):
                raise watch.instrument_error
            return None  # adb hiccup on that connection: DONE and the process list decide
        report = parse_instrument(watch.instrument_output or "")
        if report.failed:
            return ("instrumentation_failed", f"am instrument could not run {INSTRUMENTATION} on "
                    f"{self.device.serial}: {report.failed}",
                    "install the app (with its instrumentation) with `devicelab android install`")
        if report.crashed:
            return self._death(job, watch)
        if report.results.get("status") == "error":
            kind = report.results.get("error_kind") or "app_error"
            message = report.results.get("error_message") or report.stream or "no message"
            return (kind, f"the devicelab app on {self.device.serial} could not run job {job.id}: {message}",
                    "see `adb logcat -s devicelab`")
        return None

    def _death(self, job: protocol.Job, watch: _Watch) -> tuple[str, str, str | None]:
        """The app's process is gone without a DONE: say how it died, from this launch's log lines only."""
        lines = self._shell(["logcat", "-d", "-b", "crash,main,system", "-v", "epoch"]
                            + (["-t", f"{watch.since:.3f}"] if watch.since is not None else [])).splitlines()
        kind, detail = diagnose_death(lines, watch.pid, since=watch.since)
        where = f"on {self.device.serial} during job {job.id}"
        if kind == "native_crash":
            return (kind, f"the devicelab app crashed in native code {where}: {detail}",
                    "a runtime's native library or a delegate crashed; `adb logcat -b crash` shows the tombstone")
        if kind == "low_memory_kill":
            return (kind, f"Android killed the devicelab app for lack of memory {where}: {detail}",
                    "measure fewer samples or a smaller variant, or close other apps")
        return ("crash", f"the devicelab app died {where}" + (f": {detail}" if detail else " (no crash report "
                "since the launch)"), "see `adb logcat -b crash` for the full stack trace")

    def _augment(self, result: Result, result_dir: Path, watch: _Watch) -> Result:
        """Add what only the host sees: PSS between phases (after the job), am instrument's own answer, which
        device and server this was. Nothing is read from the host while the job is timed: `dumpsys meminfo`
        makes the app's process collect garbage and walk its heap."""
        if not self.instrument:  # an instrumented process is gone by now; an activity's stays cached
            with contextlib.suppress(DevicelabError, _DeviceGone):
                pss = _pss_kib(self._shell(["dumpsys", "meminfo", PACKAGE], timeout=10))
                if pss is not None:
                    result.memory.append(MemorySample("pss", pss / 1024, "MiB", PSS_METHOD, "after_run"))
        if watch.instrument_finished(wait=5):
            report = parse_instrument(watch.instrument_output or "")
            result.extra["instrumentation"] = {"code": report.code, "status": report.results.get("status"),
                                               "stream": report.stream}
        result.device.update(serial=self.device.serial, adb_server=self.device.server)
        protocol.write_result(result_dir, result)
        return result

    def _fail(self, job_id: str, result_dir: Path, kind: str, message: str, hint: str | None) -> Result:
        device = {"platform": "android", "model": f"{self.device.manufacturer} {self.device.model}".strip(),
                  "os": f"Android {self.device.android}", "abi": self.device.abi, "serial": self.device.serial}
        result = protocol.error_result(job_id, device, kind, message, hint)
        protocol.write_result(result_dir, result)
        return result

    # -- adb, with errors translated -------------------------------------------------------------------

    def _shell(self, command: list[str], timeout: float = 60) -> str:
        import adbutils

        try:
            return self.handle.shell(command, timeout=timeout)
        except (adbutils.AdbError, OSError) as exc:
            raise self._lost_or(exc) from None

    def _exists(self, path: str) -> bool:
        import adbutils

        try:
            return bool(self.handle.sync.exists(path))
        except (adbutils.AdbError, OSError) as exc:
            raise self._lost_or(exc) from None

    def _push(self, local: Path, remote: str) -> None:
        import adbutils

        try:
            self.handle.sync.push(str(local), remote)
        except (adbutils.AdbError, OSError) as exc:
            failure = self._lost_or(exc)
            # adbutils drops the device's reason for a failed SEND ("FAIL" only): ask the device for its space.
            free = self._free_bytes() if not isinstance(failure, _DeviceGone) else None
            if "space" in str(exc).lower() or (free is not None and free < local.stat().st_size):
                raise _StorageFull(f"{local.name} needs {local.stat().st_size} bytes, "
                                   f"{free if free is not None else 'too few'} bytes are free on /sdcard") from None
            raise failure from None

    def _free_bytes(self) -> int | None:
        """Free bytes on /sdcard from `df -k` (the Available column), or None when unreadable."""
        try:
            lines = self._shell(["df", "-k", "/sdcard"]).splitlines()
            return int(lines[-1].split()[3]) * 1024
        except (DevicelabError, _DeviceGone, IndexError, ValueError):
            return None

    def _lost_or(self, exc: Exception) -> Exception:
        """A failed adb call on a device that is no longer listed means the device went away."""
        try:
            present = any(d.serial == self.device.serial and d.state == "device" for d in self.client.list())
        except Exception:  # the server itself is gone: the device is gone for us too
            present = False
        if not present:
            return _DeviceGone(str(exc) or type(exc).__name__)
        return AndroidError(f"adb failed on {self.device.serial}: {exc}", hint="check the cable and `adb devices`")


class _DeviceGone(Exception):
    """The device left the adb server's list while we talked to it (unplugged, rebooted, adb restarted)."""


class _StorageFull(Exception):
    """A push failed for lack of space on /sdcard."""


class _Watch:
    """One job's launch: when (device clock and host clock), the app's pid, and `am instrument -w` run aside."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.launched = time.monotonic()
        self.pid: int | None = None
        self.instrument_output: str | None = None
        self.instrument_error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start_instrument(self, call: Any) -> None:
        def run() -> None:
            try:
                self.instrument_output = call()
            except BaseException as exc:  # kept for the waiting thread: never an "Exception in thread" traceback
                self.instrument_error = exc

        self._thread = threading.Thread(target=run, name="am-instrument", daemon=True)
        self._thread.start()

    def instrument_finished(self, wait: float = 0) -> bool:
        if self._thread is None:
            return False
        self._thread.join(wait)
        return not self._thread.is_alive()


@dataclass
class InstrumentReport:
    """What `am instrument -w` printed, read back: the final bundle's keys, its code, or why it failed."""

    results: dict[str, str]
    code: int | None
    stream: str
    failed: str | None  # INSTRUMENTATION_FAILED: the instrumentation could not start
    crashed: bool  # the system's "Process crashed." bundle


def parse_instrument(text: str) -> InstrumentReport:
    """Reads `am instrument -w` output in raw (-r: INSTRUMENTATION_RESULT key=value lines, values may span
    lines, then INSTRUMENTATION_CODE) or default mode (only the final bundle's stream text is printed)."""
    results: dict[str, str] = {}
    code, key = None, None
    stream_lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("INSTRUMENTATION_RESULT: "):
            key, _, value = line[len("INSTRUMENTATION_RESULT: "):].partition("=")
            results[key] = value
        elif line.startswith("INSTRUMENTATION_CODE: "):
            key = None
            with contextlib.suppress(ValueError):
                code = int(line.split(":", 1)[1])
        elif line.startswith(("INSTRUMENTATION_STATUS", "INSTRUMENTATION_FAILED", "onError:")):
            key = None
        elif key is not None:
            results[key] += "\n" + line
        elif line.strip():
            stream_lines.append(line)
    stream = results.get("stream", "\n".join(stream_lines)).strip()
    if "status" not in results and (found := re.match(r"devicelab: (?:job (\S+) )?(ok|error)(?: (\w+): (.*))?",
                                                      stream, re.S)):
        results.update(status=found.group(2), **({"job_id": found.group(1)} if found.group(1) else {}),
                       **({"error_kind": found.group(3), "error_message": found.group(4).strip()}
                          if found.group(3) else {}))
    failed = re.search(r"INSTRUMENTATION_FAILED: \S+", text)
    status_error = re.search(r"INSTRUMENTATION_STATUS: Error=(.*)", text)
    failure = None
    if failed:
        failure = failed.group(0) + (f" ({status_error.group(1).strip()})" if status_error else "")
    return InstrumentReport(results, code, stream, failure, results.get("shortMsg") == "Process crashed.")


def am_start_problem(output: str) -> str | None:
    """Why `am start` did not deliver the job to the app, or None when it did."""
    if "Error" in output:
        return output.strip()[:300]
    if _TASK_TO_FRONT in output:
        return ("Android brought the app's existing task to the front and dropped the intent "
                f"(\"Warning: Activity not started, {_TASK_TO_FRONT}\")")
    return None  # started, or delivered to the running instance (onNewIntent)


_LOG_LINE = re.compile(r"^\s*(\d+\.\d+)\s+(\d+)\s+\d+\s+([VDIWEF])\s+(.*?)\s*: (.*)$")


def diagnose_death(lines: list[str], pid: int | None, since: float | None = None) -> tuple[str, str]:
    """(kind, detail) of the app's death from `logcat -v epoch` lines: a Java crash, a native crash (a tombstone
    from crash_dump, which logs under its own pid), or a kill by lmkd. Only lines after ``since`` that belong to
    the app's process (``pid`` when known) count: the crash buffer keeps other apps' and older crashes."""
    parsed = []
    for line in lines:
        found = _LOG_LINE.match(line)
        if found and (since is None or float(found.group(1)) >= since - 0.001):
            parsed.append((int(found.group(2)), found.group(4), found.group(5)))

    def ours(p: int | None) -> bool:
        return pid is None or p == pid

    for i, (p, tag, message) in enumerate(parsed):
        if tag == "AndroidRuntime" and message.startswith("FATAL EXCEPTION"):
            block = [m for q, t, m in parsed[i + 1:i + 8] if q == p and t == "AndroidRuntime"]
            process = next((m for m in block if m.startswith("Process: ")), "")
            found = re.match(r"Process: (\S+), PID: (\d+)", process)
            if not found or found.group(1) != PACKAGE or not ours(int(found.group(2))):
                continue
            cause = next((m for m in block if not m.startswith(("Process: ", "\tat ")) and
                          ("Exception" in m or "Error" in m)), "")
            thread = message.split("FATAL EXCEPTION", 1)[1].strip(": ")
            return "crash", f"FATAL EXCEPTION in {thread}: {cause.strip()}"[:300]
        if tag == "DEBUG" and f">>> {PACKAGE} <<<" in message:
            found = re.search(r"pid: (\d+)", message)
            if found and ours(int(found.group(1))):
                signal = next((m for q, t, m in parsed[i + 1:i + 6] if t == "DEBUG" and m.startswith("signal")), "")
                return "native_crash", f"{signal or 'a fatal signal'} (pid {found.group(1)})"[:300]
        if tag == "lowmemorykiller" and f"'{PACKAGE}'" in message:
            found = re.search(r"'\S+' \((\d+)\)", message)
            if found and ours(int(found.group(1))):
                return "low_memory_kill", message[:300]
    return "crash", ""


def device_profile(result: Result, result_dir: Path, job: protocol.Job) -> None:
    """The raw profile the app shipped in its result folder (extra.profile.file) turned into the per-operator
    table the PC's ONNX Runtime gives, by the same function (summarize_ort). A file that is missing, outside the
    result folder or unreadable becomes {"available": false, "reason"}; the measurement stays either way."""
    from devicelab.explain.profile import summarize_ort

    raw = result.extra.get("profile")
    if job.runtime.profile and result.ok and raw is None:
        result.extra["profile"] = {"available": False, "reason": "the app on the device answered without a profile: "
                                   "it predates job.runtime.profile; update it with `devicelab android install`"}
        return
    if not isinstance(raw, dict) or "file" not in raw:
        return  # no profile asked, or the app said why there is none ({"available": false, "reason"})
    file = str(raw["file"])

    def unavailable(reason: str) -> dict[str, Any]:
        return {"available": False, "reason": reason[:500], "file": file}

    root = result_dir.resolve()
    path = (root / file).resolve()
    if job.runtime.name != "onnxruntime":
        result.extra["profile"] = unavailable(f"the host reads ONNX Runtime profiles only, not {job.runtime.name}'s")
        return
    if not path.is_relative_to(root) or not path.is_file():
        result.extra["profile"] = unavailable(f"the app named a profile file '{file}' that is not in its result "
                                              "folder")
        return
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        result.extra["profile"] = unavailable(f"ONNX Runtime's profile {file} from the app is not readable JSON: {exc}")
        return
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc  # both shapes of a Chrome trace
    if not isinstance(events, list):
        result.extra["profile"] = unavailable(f"{file} from the app is not an ONNX Runtime profile (no event array)")
        return
    requested = ORT_REQUESTED.get(job.runtime.delegate or "cpu", "CPUExecutionProvider")
    try:
        table = summarize_ort([e for e in events if isinstance(e, dict)], requested)
    except (TypeError, ValueError) as exc:  # an event with a non-numeric duration: the file is not ORT's
        result.extra["profile"] = unavailable(f"{file} from the app has malformed events: {exc}")
        return
    if not table["operators"]:
        result.extra["profile"] = unavailable(f"ONNX Runtime's profile {file} from the app holds no operator event")
        return
    result.extra["profile"] = {"method": raw.get("method") or "onnxruntime session profiling on the device",
                               "runs": table["runs"], "unit": "ms", **table, "file": file}


def _pss_kib(text: str) -> int | None:
    """TOTAL PSS (KiB) from `dumpsys meminfo <package>`, or None ("No process found")."""
    found = re.search(r"TOTAL PSS:\s*(\d+)", text) or re.search(r"^\s*TOTAL\s+(\d+)", text, re.M)
    return int(found.group(1)) if found else None
