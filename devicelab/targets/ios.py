"""The iOS target: simulators through `xcrun simctl`, devices through `xcrun devicectl`, the bundled app runs the job.

Jobs go into the app's data container (`Documents/jobs/<id>/`) and results come back from
`Documents/results/<id>/`, with plain file copies on a simulator (its container is a folder on this Mac) and
`devicectl device copy to / from` on a device. Every xcrun call has a timeout; without xcrun (off macOS, or no
Xcode) every command says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devicelab import protocol
from devicelab.errors import DevicelabError
from devicelab.protocol import Result
from devicelab.targets.base import Progress, RuntimeTable, Target

BUNDLE_ID = "dev.devicelab.DeviceLab"
DEFAULT_APP = Path(__file__).resolve().parents[2] / "ios_app/build/Build/Products/Debug-iphonesimulator/DeviceLab.app"
RUNTIMES = {"coreml": ("coreml", ("all", "cpu", "cpu-gpu", "cpu-ane")),
            "tflite": ("tflite", ("cpu", "xnnpack", "metal", "coreml"))}
_POLL_S = 0.5
_LAUNCH_GRACE_S = 3.0
_CLEANUP_WAIT_S = 10.0
# devicectl's words for a locked phone: launch ("... the device is locked", "BSErrorCodeDescription = Locked") and
# developer services / file transfer ("kAMDMobileImageMounterDeviceLocked: The device is locked.").
_LOCKED = re.compile(r"device is locked|DeviceLocked|BSErrorCodeDescription = Locked", re.IGNORECASE)


class IOSError(DevicelabError):
    kind = "ios"


@dataclass
class IOSDevice:
    udid: str  # the simulator's UDID, or devicectl's identifier for a device
    name: str
    os: str
    state: str  # Booted / Shutdown for simulators; connected / disconnected for devices
    kind: str  # "simulator" | "device"
    model: str = ""
    paired: bool = True

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind}, {self.os}, {self.udid})"


def xcrun(args: list[str], timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run xcrun with a timeout; a missing xcrun means this is not a Mac with Xcode."""
    executable = shutil.which("xcrun")
    if executable is None:
        raise IOSError("iOS targets need macOS with Xcode: xcrun is not on this machine",
                       hint="run devicelab on a Mac with Xcode (xcode-select --install), or use Android / browsers")
    try:
        done = subprocess.run([executable, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise IOSError(f"`xcrun {' '.join(args[:3])}` did not answer within {timeout:g} s",
                       hint="check the simulator or device is responsive (Xcode > Devices and Simulators)") from None
    if check and done.returncode != 0:
        raise IOSError(f"`xcrun {' '.join(args[:4])}` failed: {_last_line(done.stderr or done.stdout)}")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _runtime_name(key: str) -> str:
    """com.apple.CoreSimulator.SimRuntime.iOS-17-5 -> iOS 17.5"""
    found = re.search(r"SimRuntime\.(\w+)-([\d-]+)$", key)
    return f"{found.group(1)} {found.group(2).replace('-', '.')}" if found else key


def list_simulators() -> list[IOSDevice]:
    text = xcrun(["simctl", "list", "devices", "--json"]).stdout
    found = []
    for runtime, sims in json.loads(text).get("devices", {}).items():
        for sim in sims:
            if sim.get("isAvailable", True):
                found.append(IOSDevice(sim["udid"], sim["name"], _runtime_name(runtime), sim.get("state", "?"),
                                       "simulator", sim.get("deviceTypeIdentifier", "").rsplit(".", 1)[-1]))
    return found


def list_physical() -> list[IOSDevice]:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "devices.json"
        done = xcrun(["devicectl", "list", "devices", "--json-output", str(output)], check=False)
        if done.returncode != 0 or not output.exists():
            return []  # Xcode before 15 has no devicectl: simulators still work
        devices = json.loads(output.read_text()).get("result", {}).get("devices", [])
    found = []
    for device in devices:
        connection, props = device.get("connectionProperties", {}), device.get("deviceProperties", {})
        hardware = device.get("hardwareProperties", {})
        found.append(IOSDevice(device["identifier"], props.get("name", "?"), f"iOS {props.get('osVersionNumber', '?')}",
                               connection.get("tunnelState", "?"), "device",
                               hardware.get("marketingName") or hardware.get("productType", ""),
                               paired=connection.get("pairingState") == "paired"))
    return found


def list_devices() -> list[IOSDevice]:
    return list_simulators() + list_physical()


def match_device(selector: str, devices: list[IOSDevice], aliases: dict[str, str] | None = None) -> IOSDevice:
    """A UDID / identifier, an alias, or a case-insensitive piece of the device name; booted simulators first."""
    listing = "; ".join(d.label + f" [{d.state}]" for d in devices) or "none"
    wanted = (aliases or {}).get(selector, selector)
    exact = [d for d in devices if d.udid == wanted]
    needle = wanted.lower()
    matches = exact or [d for d in devices if needle in d.name.lower() or needle in d.model.lower()]
    usable = [d for d in matches if d.kind == "device" or d.state == "Booted"]
    if len(matches) > 1 and len(usable) == 1:
        matches = usable  # "iPhone 15" with one of several iPhone 15 simulators booted: that one
    if not matches:
        raise IOSError(f"no iOS simulator or device matches '{selector}'; here: {listing}",
                       hint="use a UDID, a piece of the device name, or an alias from your config")
    if len(matches) > 1:
        raise IOSError(f"'{selector}' matches {len(matches)} iOS targets: " + "; ".join(d.label for d in matches),
                       hint="use the UDID, or boot only the simulator you want")
    device = matches[0]
    if device.kind == "simulator" and device.state != "Booted":
        raise IOSError(f"simulator {device.name} is {device.state}", hint=f"boot it: xcrun simctl boot {device.udid}")
    if device.kind == "device" and not device.paired:
        raise IOSError(f"{device.name} is not paired with this Mac",
                       hint="connect it, unlock it and trust this computer (Xcode > Devices and Simulators)")
    return device


PROJECT = DEFAULT_APP.parents[4]  # ios_app/
NO_TFLITE_NOTE = ("this build has no TensorFlow Lite (CocoaPods' `pod` is not installed): tflite jobs will answer "
                  "runtime_unavailable; for TFLite install CocoaPods (brew install cocoapods) and build again")


def build_app(simulator: bool, team: str | None = None, project: Path = PROJECT) -> tuple[Path, str | None]:
    """Build ios_app as its README says: XcodeGen, then `pod install` and the CocoaPods workspace (TensorFlow
    Lite is a pod), or, without CocoaPods, the bare project (Core ML only). Returns the .app and a note that says
    what the build lacks (None when it has everything)."""
    missing = [tool for tool in ("xcodegen", "xcodebuild") if shutil.which(tool) is None]
    if missing:
        raise IOSError(f"building the iOS app needs {' and '.join(missing)}",
                       hint="on a Mac: brew install xcodegen, and Xcode for xcodebuild; or pass a built .app")
    with_pods = shutil.which("pod") is not None and (project / "Podfile").is_file()
    # `pod install` must follow every `xcodegen generate`: XcodeGen rewrites the project CocoaPods edits.
    steps = [["xcodegen", "generate"], *([["pod", "install"]] if with_pods else []),
             ["xcodebuild", *(["-workspace", "DeviceLab.xcworkspace"] if with_pods else
                              ["-project", "DeviceLab.xcodeproj"]),
              "-scheme", "DeviceLab", "-destination",
              "generic/platform=iOS Simulator" if simulator else "generic/platform=iOS", "-derivedDataPath", "build",
              *([] if simulator else ["-allowProvisioningUpdates", f"DEVELOPMENT_TEAM={team or ''}"]), "build"]]
    for step in steps:
        done = subprocess.run(step, cwd=project, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise IOSError(f"`{' '.join(step[:2])}` failed in {project}: {_last_line(done.stdout + done.stderr)}",
                           hint="see ios_app/README.md; devices need --team with your Apple development team")
    app = project / "build/Build/Products" / ("Debug-iphonesimulator" if simulator else "Debug-iphoneos") / \
        "DeviceLab.app"
    if not app.is_dir():
        raise IOSError(f"xcodebuild finished but {app} is missing")
    return app, None if with_pods else NO_TFLITE_NOTE


class IOSTarget(RuntimeTable, Target):
    runtimes = RUNTIMES
    where = "the iOS app"
    kind = "ios"
    sweep_field = "compute_units"

    def __init__(self, selector: str, *, aliases: dict[str, str] | None = None) -> None:
        from devicelab.targets.android import load_aliases

        self.device = match_device(selector, list_devices(), load_aliases() if aliases is None else aliases)
        self.simulator = self.device.kind == "simulator"
        self._app_checked = False

    @property
    def name(self) -> str:
        return f"ios:{self.device.name}"

    def check(self, runtime: str, fmt: str) -> None:
        self.check_runtime(runtime, fmt)
        if self.simulator and not self._app_checked:
            self._container()
            self._app_checked = True

    def install(self, app: Path) -> None:
        if not (app.is_dir() and (app / "Info.plist").exists()):
            raise IOSError(f"no app bundle at {app}", hint="build it (see ios_app/README.md) or pass the .app path")
        if self.simulator:
            xcrun(["simctl", "install", self.device.udid, str(app)], timeout=300)
        else:
            self._devicectl(["install", "app"], [str(app)], timeout=600)
        self._app_checked = False

    # -- run -----------------------------------------------------------------------------------------

    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> Result:
        job = protocol.read_job(job_dir)
        try:
            if self.simulator:
                return self._run_simulator(job, job_dir, result_dir, progress)
            return self._run_device(job, job_dir, result_dir, progress)
        except IOSError as exc:
            return self._fail(job.id, result_dir, exc.kind, exc.message, exc.hint)

    def _container(self) -> Path:
        done = xcrun(["simctl", "get_app_container", self.device.udid, BUNDLE_ID, "data"], check=False)
        if done.returncode != 0:
            raise IOSError(f"the devicelab app is not installed on {self.device.label}",
                           hint="install it with `devicelab ios install [APP]`")
        return Path(done.stdout.strip())

    def _run_simulator(self, job: protocol.Job, job_dir: Path, result_dir: Path,
                       progress: Progress | None) -> Result:
        documents = self._container() / "Documents"
        job_remote, result_remote = documents / "jobs" / job.id, documents / "results" / job.id
        shutil.rmtree(result_remote, ignore_errors=True)
        shutil.copytree(job_dir, job_remote, dirs_exist_ok=True)
        try:
            env_name = "SIMCTL_CHILD_DEVICELAB_JOB_ID"
            os.environ[env_name] = job.id
            try:
                xcrun(["simctl", "launch", "--terminate-running-process", self.device.udid, BUNDLE_ID,
                       "--job-id", job.id])
            finally:
                os.environ.pop(env_name, None)
            outcome = self._wait(job, lambda: (result_remote / protocol.DONE_MARKER).exists(),
                                 self._simulator_app_running, progress)
            if outcome is not None:
                xcrun(["simctl", "terminate", self.device.udid, BUNDLE_ID], check=False)
                return self._fail(job.id, result_dir, *outcome)
            shutil.copytree(result_remote, result_dir, dirs_exist_ok=True)
        finally:
            shutil.rmtree(job_remote, ignore_errors=True)
            shutil.rmtree(result_remote, ignore_errors=True)
        return self._finish(result_dir)

    def _simulator_app_running(self) -> bool:
        listing = xcrun(["simctl", "spawn", self.device.udid, "launchctl", "list"], check=False).stdout
        for line in listing.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[2].startswith(f"UIKitApplication:{BUNDLE_ID}") and parts[0].isdigit():
                return True
        return False

    def _devicectl(self, command: list[str], args: list[str], timeout: float = 120,
                   check: bool = True) -> subprocess.CompletedProcess:
        """`xcrun devicectl device <command> --device <id> <args>`; a locked device is its own error."""
        done = xcrun(["devicectl", "device", *command, "--device", self.device.udid, *args], timeout=timeout,
                     check=False)
        if done.returncode != 0 and _LOCKED.search(done.stderr + done.stdout):
            raise _Locked(self.device.name)
        if check and done.returncode != 0:
            raise IOSError(f"devicectl {' '.join(command)} failed on {self.device.name}: "
                           f"{_last_line(done.stderr or done.stdout)}", hint="check the device in Xcode > Devices")
        return done

    def _copy(self, direction: str, source: str, destination: str, check: bool = True) -> bool:
        done = self._devicectl(["copy", direction], ["--domain-type", "appDataContainer", "--domain-identifier",
                                                     BUNDLE_ID, "--source", source, "--destination", destination],
                               check=check)
        return done.returncode == 0

    def _run_device(self, job: protocol.Job, job_dir: Path, result_dir: Path, progress: Progress | None) -> Result:
        job_remote, result_remote = f"Documents/jobs/{job.id}", f"Documents/results/{job.id}"
        try:
            self._copy("to", str(job_dir), job_remote)
            self._devicectl(["process", "launch"], ["--terminate-existing", BUNDLE_ID, "--job-id", job.id])
            with tempfile.TemporaryDirectory() as folder:
                probe = Path(folder) / "DONE"
                outcome = self._wait(job, lambda: self._copy("from", f"{result_remote}/DONE", str(probe),
                                                             check=False),
                                     self._device_app_running, progress)
            if outcome is not None:
                return self._fail(job.id, result_dir, *outcome)
            result_dir.mkdir(parents=True, exist_ok=True)
            self._copy("from", result_remote, str(result_dir))
        finally:
            self._remove_from_device(job.id)
        return self._finish(result_dir)

    def _remove_from_device(self, job_id: str) -> None:
        """Remove the job's folders from the phone, as on Android. devicectl can copy files but not delete them,
        so the app does it: launched with `--cleanup <id>` it removes Documents/jobs/<id> and Documents/results/<id>
        and quits (which also stops an app that hung or timed out). Best effort: a phone that locked meanwhile
        keeps the folders until the next cleanup, and the job's own result already says why."""
        try:
            self._devicectl(["process", "launch"], ["--terminate-existing", BUNDLE_ID, "--cleanup", job_id])
            deadline = time.monotonic() + _CLEANUP_WAIT_S
            while time.monotonic() < deadline and self._device_app_running() is not False:
                time.sleep(_POLL_S)
        except IOSError:
            pass  # best effort: the result is already home, and a failed cleanup must not turn it into an error

    def _device_app_running(self) -> bool | None:
        """Whether the app runs on the phone; None when devicectl could not tell (a non-zero exit, or JSON whose
        `info.outcome` is not "success" and that has no `result`): a hiccup is not a crash."""
        with tempfile.TemporaryDirectory() as folder:
            output = Path(folder) / "processes.json"
            done = self._devicectl(["info", "processes"], ["--json-output", str(output)], check=False)
            try:
                doc = json.loads(output.read_text())
            except (OSError, ValueError):
                return None
        if done.returncode != 0 or doc.get("info", {}).get("outcome") != "success" or "result" not in doc:
            return None
        processes = doc["result"].get("runningProcesses", [])
        return any("/DeviceLab.app/" in p.get("executable", "") for p in processes)

    def _wait(self, job: protocol.Job, finished: Any, running: Any,
              progress: Progress | None) -> tuple[str, str, str | None] | None:
        launched = time.monotonic()
        deadline = launched + job.timeout_seconds
        while time.monotonic() < deadline:
            if finished():
                return None
            elapsed = time.monotonic() - launched
            if progress:
                progress("running on device", int(elapsed), int(job.timeout_seconds))
            if elapsed > _LAUNCH_GRACE_S and running() is False:  # None: could not tell, ask again
                if finished():
                    return None
                return ("crash", f"the devicelab app quit on {self.device.name} during job {job.id} without a "
                        "result", "see the crash log in Xcode > Devices and Simulators > View Device Logs")
            time.sleep(_POLL_S)
        return ("timeout", f"job {job.id} did not finish on {self.device.name} within {job.timeout_seconds:g} s",
                "raise --timeout, or run fewer samples")

    def _finish(self, result_dir: Path) -> Result:
        result = protocol.read_result(result_dir)
        result.device.update(udid=self.device.udid, target_kind=self.device.kind)
        protocol.write_result(result_dir, result)
        return result

    def _fail(self, job_id: str, result_dir: Path, kind: str, message: str, hint: str | None) -> Result:
        device = {"platform": "ios", "model": self.device.name, "os": self.device.os, "udid": self.device.udid}
        result = protocol.error_result(job_id, device, kind, message, hint)
        protocol.write_result(result_dir, result)
        return result


class _Locked(IOSError):
    """devicectl refused because the device is locked: an IOSError like any other, so every devicectl call
    (copy, launch, the DONE poll, the running check, the final copy) ends the job with a result, not a traceback."""

    kind = "device_locked"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is locked", hint="unlock it and keep it awake while devicelab runs (Settings > "
                         "Display & Brightness > Auto-Lock > Never)")

