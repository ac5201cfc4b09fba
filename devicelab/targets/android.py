"""The Android target: push a job to the bundled app over adb, run it, pull the result back.

Everything goes through adbutils, which speaks the adb server's wire protocol; shell commands are always
passed as argument lists so adbutils quotes them. A job lives on the device in the app's external files dir,
which the app reads without permissions and which is removed again after every job, whatever happened.
"""

from __future__ import annotations

import contextlib
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
from devicelab.targets.sampling import PeakSampler

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
_PSS_EVERY_S = 1.0
_LAUNCH_GRACE_S = 3.0  # a process list without the app this soon after launch is not yet a crash


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
        return output.strip()

    # -- run -----------------------------------------------------------------------------------------

    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> Result:
        job = protocol.read_job(job_dir)
        job_remote, result_remote = f"{APP_FILES}/jobs/{job.id}", f"{APP_FILES}/results/{job.id}"
        pss = _PssSampler(self)
        try:
            self._shell(["rm", "-rf", job_remote, result_remote])
            self._shell(["mkdir", "-p", job_remote])
            files = sorted(p for p in job_dir.rglob("*") if p.is_file())
            for index, file in enumerate(files):
                if progress:
                    progress("push", index, len(files))
                self._push(file, f"{job_remote}/{file.relative_to(job_dir).as_posix()}")
            launched = self._launch(job)
            pss.start()
            outcome = self._wait(job, result_remote, launched, progress)
            pss.stop()
            if outcome != "done":
                return self._fail(job.id, result_dir, *outcome)
            result_dir.mkdir(parents=True, exist_ok=True)
            self.handle.sync.pull_dir(result_remote, str(result_dir), exist_ok=True)
            result = protocol.read_result(result_dir)
        except _DeviceGone as exc:
            return self._fail(job.id, result_dir, "device_lost",
                              f"{self.device.serial} went away during job {job.id}: {exc}",
                              "reconnect the device and rerun; results measured before are stored")
        except _StorageFull as exc:
            return self._fail(job.id, result_dir, "storage_full", f"no space left on {self.device.serial}: {exc}",
                              "free some storage on the device")
        finally:
            pss.stop()
            with contextlib.suppress(_DeviceGone, Exception):  # cleaning a vanished device is not an error
                self._shell(["rm", "-rf", job_remote, result_remote])
        return self._augment(result, result_dir, pss)

    def _launch(self, job: protocol.Job) -> float:
        if self.instrument:
            # `am instrument -w` blocks until the job ends: run it aside and watch for DONE as with the Activity.
            command = ["am", "instrument", "-w", "-e", "job_id", job.id, INSTRUMENTATION]
            threading.Thread(target=lambda: self._shell(command, timeout=job.timeout_seconds + 30),
                             daemon=True).start()
        else:
            output = self._shell(["am", "start", "-n", ACTIVITY, "--es", "job_id", job.id])
            if "Error" in output:
                raise AndroidError(f"could not start the app on {self.device.serial}: {output.strip()[:300]}",
                                   hint="reinstall it with `devicelab android install`")
        return time.monotonic()

    def _wait(self, job: protocol.Job, result_remote: str, launched: float,
              progress: Progress | None) -> str | tuple[str, str, str | None]:
        deadline = launched + job.timeout_seconds
        while time.monotonic() < deadline:
            if self._exists(f"{result_remote}/{protocol.DONE_MARKER}"):
                return "done"
            elapsed = time.monotonic() - launched
            if progress:
                progress("running on device", int(elapsed), int(job.timeout_seconds))
            if elapsed > _LAUNCH_GRACE_S and not self._shell(["pidof", PACKAGE]).strip():
                if self._exists(f"{result_remote}/{protocol.DONE_MARKER}"):
                    return "done"
                crash = self._crash_line()
                return ("crash", f"the devicelab app died on {self.device.serial} during job {job.id}"
                        + (f": {crash}" if crash else ""), "see `adb logcat -b crash` for the full stack trace")
            time.sleep(_POLL_S)
        self._shell(["am", "force-stop", PACKAGE])
        return ("timeout", f"job {job.id} did not finish on {self.device.serial} within {job.timeout_seconds:g} s; "
                "the app was stopped", "raise --timeout, or run fewer samples")

    def _crash_line(self) -> str:
        """'FATAL EXCEPTION: <thread>: <exception line>' from the crash log, as far as it is there."""
        lines = self._shell(["logcat", "-d", "-b", "crash"]).splitlines()
        fatal = max((i for i, line in enumerate(lines) if "FATAL EXCEPTION" in line), default=None)
        if fatal is None:
            return ""
        head = lines[fatal].split("FATAL EXCEPTION", 1)[1].strip(": ")
        cause = next((line.split(": ", 1)[-1].split("AndroidRuntime: ", 1)[-1] for line in lines[fatal + 1:]
                      if "Exception" in line or "Error" in line), "")
        return f"FATAL EXCEPTION in {head}: {cause.strip()}"[:300]

    def _augment(self, result: Result, result_dir: Path, pss: _PssSampler) -> Result:
        """Add what only the host sees: PSS from dumpsys meminfo, and which device and server this was."""
        if pss.peak:
            result.memory.append(MemorySample("pss_peak", pss.peak / 1024, "MiB", pss.METHOD, "run"))
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


class _PssSampler(PeakSampler):
    """Peak PSS (KiB) of the app from `dumpsys meminfo`, sampled by the host while the job runs."""

    period = _PSS_EVERY_S
    METHOD = "dumpsys meminfo TOTAL PSS, sampled by the host every 1 s"

    def __init__(self, target: AndroidTarget) -> None:
        super().__init__("pss")
        self.target = target

    def sample(self) -> int | None:
        try:
            text = self.target.handle.shell(["dumpsys", "meminfo", PACKAGE], timeout=10)
        except Exception:  # a busy or vanished device: no reading this time
            return None
        found = re.search(r"TOTAL PSS:\s*(\d+)", text) or re.search(r"^\s*TOTAL\s+(\d+)", text, re.M)
        return int(found.group(1)) if found else None
