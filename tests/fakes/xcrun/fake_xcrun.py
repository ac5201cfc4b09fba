"""A fake ``xcrun`` for Linux test machines: ``simctl`` and ``devicectl`` with Xcode's output formats.

Run through the ``xcrun`` shell script next to this file (tests put its folder first on PATH). State lives in
the folder named by ``FAKE_XCRUN_STATE``: ``state.json`` (simulators, devices, behaviours, installed apps,
running app processes), ``calls.jsonl`` (one argv per invocation) and one folder per device holding the data
containers of installed apps. ``tests/fakes/xcrun/__init__.py`` (``XcrunFake``) writes that state for tests.

The simulated devicelab app (``dev.devicelab.DeviceLab``) runs in a detached background process
(``fake_xcrun.py __run_app UDID BUNDLE JOB_ID``), so ``launch`` returns at once as the real one does. It runs
``<container>/Documents/jobs/<id>/`` with ``devicelab.runner.run_job`` and a host runtime and publishes
``<container>/Documents/results/<id>/`` (``result.json`` then ``DONE``) with ``simulated: true``. Nothing here
touches Xcode: every result it writes is a simulation.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

APP_BUNDLE = "dev.devicelab.DeviceLab"
XCRUN_VERSION = "xcrun version 70."
DEVICECTL_VERSION = "397.24"
_SAFE_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# product type -> marketing name (devicectl hardwareProperties), simulator device type -> product type
PRODUCTS = {"iPhone14,5": "iPhone 13", "iPhone14,7": "iPhone 14", "iPhone15,2": "iPhone 14 Pro",
            "iPhone15,3": "iPhone 14 Pro Max", "iPhone15,4": "iPhone 15", "iPhone16,1": "iPhone 15 Pro",
            "iPhone16,2": "iPhone 15 Pro Max", "iPhone17,1": "iPhone 16 Pro", "iPhone17,3": "iPhone 16"}
SIM_PRODUCTS = {name: product for product, name in PRODUCTS.items()}

DEFAULT_BEHAVIOUR: dict[str, Any] = {"app_installed": False, "crash_after": None, "hang": False,
                                     "compile_error": None, "locked": False, "paired": True,
                                     "coreml_backend": "tflite-sidecar",
                                     # a TFLite twin used for Core ML jobs whose folder has no model/sidecar.tflite
                                     # (so the CLI, which adds none, can run them)
                                     "coreml_sidecar": None,
                                     # what the app's MLComputePlan walk writes into extra.profile on iOS 17.4+
                                     # (the test gives the table: no Core ML here to plan a model)
                                     "compute_plan": None,
                                     # devices: lock this many seconds after an app launch (as a phone left alone)
                                     "lock_after": None,
                                     # devices: the next N `info processes` calls fail (a dropped tunnel)
                                     "processes_fail": 0,
                                     # the simulated app waits this long before it starts the job
                                     "start_delay": 0.0}


class XcrunError(Exception):
    """A failed command: text for stderr, exit code, and the NSError devicectl puts in its JSON output."""

    def __init__(self, message: str, code: int = 1, domain: str = "com.apple.dt.CoreDeviceError",
                 ns_code: int = 1, underlying: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code = message, code
        self.domain, self.ns_code, self.underlying = domain, ns_code, underlying


# --- state -------------------------------------------------------------------------------------------


def state_dir() -> Path:
    root = os.environ.get("FAKE_XCRUN_STATE")
    if not root:
        raise XcrunError("fake xcrun: FAKE_XCRUN_STATE is not set (tests set it with XcrunFake.env())", 72)
    return Path(root)


def empty_state() -> dict[str, Any]:
    return {"devices": {}, "pid_counter": 0}


@contextlib.contextmanager
def locked_state(root: Path | None = None, write: bool = True) -> Iterator[dict[str, Any]]:
    """The state under an exclusive lock; written back when the block ends (if ``write``)."""
    root = root or state_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "state.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = root / "state.json"
        state = json.loads(path.read_text()) if path.is_file() else empty_state()
        yield state
        if write:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2))
            tmp.replace(path)


def behaviour(dev: dict[str, Any], key: str) -> Any:
    return dev.get("behaviour", {}).get(key, DEFAULT_BEHAVIOUR.get(key))


def ensure_app(root: Path, dev: dict[str, Any], bundle_id: str, executable: str = "DeviceLab",
               name: str = "DeviceLab") -> dict[str, Any]:
    """Install ``bundle_id`` on ``dev`` (state only); the data container survives reinstalls, as on iOS."""
    apps = dev.setdefault("apps", {})
    app = apps.get(bundle_id)
    if app is None:
        kept = dev.setdefault("containers", {}).get(bundle_id)
        container_id = kept or str(uuid.uuid4()).upper()
        dev["containers"][bundle_id] = container_id
        if dev["kind"] == "simulator":
            container = root / dev["udid"] / "data/Containers/Data/Application" / container_id
        else:
            container = root / dev["udid"] / "containers/Data/Application" / container_id
        app = {"bundle_id": bundle_id, "executable": executable, "name": name, "container": str(container),
               "bundle_uuid": str(uuid.uuid4()).upper(), "version": "1.0", "build": "1"}
        apps[bundle_id] = app
    for sub in ("Documents", "Library/Caches", "tmp"):
        (Path(app["container"]) / sub).mkdir(parents=True, exist_ok=True)
    return app


def bundle_url(dev: dict[str, Any], app: dict[str, Any]) -> str:
    if dev["kind"] == "simulator":
        return (f"file://{state_dir() / dev['udid']}/data/Containers/Bundle/Application/{app['bundle_uuid']}/"
                f"{app['name']}.app/")
    return f"file:///private/var/containers/Bundle/Application/{app['bundle_uuid']}/{app['name']}.app/"


# --- app processes -----------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def alive(rec: dict[str, Any] | None) -> bool:
    if not rec:
        return False
    pid = rec["pid"]
    if Path("/proc").is_dir():
        fields = _proc_stat(pid)
        return bool(fields) and fields[0] not in ("Z", "X") and fields[19] == rec.get("start", fields[19])
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def running(dev: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The app processes of ``dev`` still alive (stale records are dropped)."""
    procs = {b: r for b, r in dev.get("processes", {}).items() if alive(r)}
    dev["processes"] = procs
    return procs


def kill_app(dev: dict[str, Any], bundle_id: str) -> bool:
    rec = running(dev).get(bundle_id)
    if rec is None:
        return False
    with contextlib.suppress(OSError):
        os.killpg(rec["pid"], signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(rec["pid"], signal.SIGKILL)
    for _ in range(100):
        if not alive(rec):
            break
        time.sleep(0.01)
    dev["processes"].pop(bundle_id, None)
    return True


def start_app(root: Path, dev: dict[str, Any], bundle_id: str, args: list[str], env: dict[str, str],
              stdout: str | None = None, stderr: str | None = None) -> tuple[int, subprocess.Popen[bytes]]:
    """Start the app's process in the background; the caller holds the state lock and saves the record."""
    job_id = env.get("DEVICELAB_JOB_ID") or ""
    if "--job-id" in args and args.index("--job-id") + 1 < len(args):
        job_id = args[args.index("--job-id") + 1]
    logs = root / dev["udid"] / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(stdout or logs / "app.log", "ab")  # noqa: SIM115 - handed to the child
    err = open(stderr, "ab") if stderr else out  # noqa: SIM115
    child_env = {**os.environ, **{f"DEVICELAB_APP_{k}": v for k, v in env.items()}}
    if args[:1] == ["--cleanup"] and len(args) > 1:
        child_env["DEVICELAB_FAKE_APP_ARGS"] = f"--cleanup {args[1]}"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "__run_app", dev["udid"], bundle_id,
                             job_id], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env,
                            start_new_session=True, close_fds=True)
    out.close()
    if err is not out:
        err.close()
    start = None
    for _ in range(50):
        start = _start_time(proc.pid)
        if start or not Path("/proc").is_dir():
            break
        time.sleep(0.002)
    rec = {"pid": proc.pid, "job_id": job_id or None, "launched_at": time.time()}
    if start:
        rec["start"] = start
    dev.setdefault("processes", {})[bundle_id] = rec
    return proc.pid, proc


# --- command plumbing ----------------------------------------------------------------------------------


def out(text: str = "") -> None:
    sys.stdout.write(text + ("\n" if text and not text.endswith("\n") else ""))


def find_device(state: dict[str, Any], ref: str, kind: str | None = None) -> dict[str, Any] | None:
    for dev in state["devices"].values():
        if kind and dev["kind"] != kind:
            continue
        if ref in (dev["udid"], dev.get("identifier"), dev["name"]):
            return dev
    return None


def main(argv: list[str]) -> int:
    if argv[:1] == ["__run_app"]:
        return run_app(*argv[1:4])
    try:
        root = state_dir()
        with open(root / "calls.jsonl", "a") as log:
            log.write(json.dumps(argv) + "\n")
        return dispatch(argv)
    except XcrunError as exc:
        sys.stderr.write(exc.message.rstrip("\n") + "\n")
        return exc.code


def dispatch(argv: list[str]) -> int:
    while argv and argv[0] in ("--sdk", "--toolchain", "-sdk", "-toolchain", "--log", "-l", "--verbose", "-v",
                               "--no-cache", "-n", "--run", "-r"):
        argv = argv[2:] if argv[0] in ("--sdk", "--toolchain", "-sdk", "-toolchain") else argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        out("Usage: xcrun [options] <tool name> ... arguments ...\n\nFind and execute the named command line "
            "tool from the active developer directory.")
        return 0 if argv else 1
    if argv[0] in ("--version", "-version"):
        out(XCRUN_VERSION)
        return 0
    if argv[0] == "simctl":
        return simctl(argv[1:])
    if argv[0] == "devicectl":
        return devicectl(argv[1:])
    raise XcrunError(f'xcrun: error: unable to find utility "{argv[0]}", not a developer tool or in PATH', 72)


# --- simctl --------------------------------------------------------------------------------------------

SIMCTL_USAGE = """usage: simctl [--set <path>] [--profiles <path>] <subcommand> ...
       simctl help [subcommand]
Command line utility to control the Simulator

Subcommands:
\tboot                Boot a device or device pair.
\tget_app_container   Print the path of the installed app's container
\thelp                Prints the usage for a given subcommand.
\tinstall             Install an app on a device.
\tlaunch              Launch an application by identifier on a device.
\tlist                List available devices, device types, runtimes, or device pairs.
\tshutdown            Shutdown a device.
\tspawn               Spawn a process by executing a given executable on a device.
\tterminate           Terminate an application by identifier on a device.
\tuninstall           Uninstall an app from a device.
"""


def _sim_error(domain: str, code: int, *lines: str) -> str:
    return "\n".join([f"An error was encountered processing the command (domain={domain}, code={code}):", *lines])


def resolve_sim(state: dict[str, Any], ref: str) -> dict[str, Any]:
    if ref == "booted":
        for dev in state["devices"].values():
            if dev["kind"] == "simulator" and dev["state"] == "Booted":
                return dev
        raise XcrunError("No devices are booted.", 149)
    dev = find_device(state, ref, "simulator")
    if dev is None:
        raise XcrunError(f"Invalid device: {ref}", 148)
    return dev


def _need_booted(dev: dict[str, Any], what: str) -> None:
    if dev["state"] != "Booted":
        raise XcrunError(_sim_error("com.apple.CoreSimulator.SimError", 405, what,
                                    f"Unable to lookup in current state: {dev['state']}",
                                    "Invalid device state"), 149)


def runtime_key(runtime: str) -> str:
    platform, _, version = runtime.partition(" ")
    return f"com.apple.CoreSimulator.SimRuntime.{platform}-{version.replace('.', '-')}"


def sim_json(root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    return {"lastBootedAt": "2026-11-02T09:14:03Z",
            "dataPath": str(root / dev["udid"] / "data"), "dataPathSize": 1024 * 1024 * 512,
            "logPath": str(root / dev["udid"] / "logs"), "udid": dev["udid"], "isAvailable": True,
            "deviceTypeIdentifier": "com.apple.CoreSimulator.SimDeviceType." + dev["name"].replace(" ", "-"),
            "state": dev["state"], "name": dev["name"]}


def simctl(args: list[str]) -> int:
    while args[:1] in (["--set"], ["--profiles"]):
        args = args[2:]
    if not args:
        sys.stderr.write(SIMCTL_USAGE)
        return 64
    cmd, rest = args[0], args[1:]
    handlers = {"help": _simctl_help, "list": _simctl_list, "install": _simctl_install,
                "uninstall": _simctl_uninstall, "get_app_container": _simctl_container, "launch": _simctl_launch,
                "terminate": _simctl_terminate, "spawn": _simctl_spawn, "boot": _simctl_boot,
                "shutdown": _simctl_shutdown}
    if cmd not in handlers:
        sys.stderr.write(f"Unrecognized subcommand: {cmd}\n{SIMCTL_USAGE}")
        return 64
    return handlers[cmd](rest)


def _simctl_help(rest: list[str]) -> int:
    out(SIMCTL_USAGE)
    return 0


def _simctl_list(rest: list[str]) -> int:
    as_json = "--json" in rest or "-j" in rest
    words = [w for w in rest if w not in ("--json", "-j", "-v")]
    section = words[0] if words and words[0] in ("devices", "devicetypes", "runtimes", "pairs") else None
    filters = words[1:] if section else words
    root = state_dir()
    with locked_state(write=False) as state:
        sims = [d for d in state["devices"].values() if d["kind"] == "simulator"]
    for word in filters:
        if word == "booted":
            sims = [d for d in sims if d["state"] == "Booted"]
        elif word != "available":
            sims = [d for d in sims if word.lower() in d["name"].lower() or word == d["udid"]]
    devices: dict[str, list[dict[str, Any]]] = {}
    for dev in sims:
        devices.setdefault(runtime_key(dev["runtime"]), []).append(sim_json(root, dev))
    runtimes = sorted({d["runtime"] for d in sims})
    runtime_docs = [{"identifier": runtime_key(r), "name": r, "version": r.partition(" ")[2], "isAvailable": True,
                     "platform": r.partition(" ")[0], "buildversion": "21F79"} for r in runtimes]
    types = sorted({d["name"] for d in sims})
    type_docs = [{"name": t, "identifier": "com.apple.CoreSimulator.SimDeviceType." + t.replace(" ", "-"),
                  "productFamily": "iPhone" if t.startswith("iPhone") else "iPad",
                  "modelIdentifier": SIM_PRODUCTS.get(t, "iPhone15,4")} for t in types]
    if as_json:
        doc: dict[str, Any] = {"devicetypes": type_docs, "runtimes": runtime_docs, "devices": devices, "pairs": {}}
        if section:
            doc = {section: doc[section]}
        out(json.dumps(doc, indent=2))
        return 0
    if section in (None, "devices"):
        out("== Devices ==")
        for runtime in runtimes:
            out(f"-- {runtime} --")
            for dev in (d for d in sims if d["runtime"] == runtime):
                out(f"    {dev['name']} ({dev['udid']}) ({dev['state']}) ")
    return 0


def _read_bundle(app_path: str) -> dict[str, Any]:
    path = Path(app_path)
    if not path.exists():
        raise XcrunError(_sim_error("NSPOSIXErrorDomain", 2, "Failed to install the requested application",
                                    f"The application at {app_path} does not exist.",
                                    "No such file or directory"), 2)
    plist = path / "Info.plist"
    try:
        info = plistlib.loads(plist.read_bytes())
    except (OSError, plistlib.InvalidFileException, ValueError):
        raise XcrunError(_sim_error("IXUserPresentableErrorDomain", 4, "Failed to install the requested application",
                                    f"The application's Info.plist could not be read at {plist}."), 4) from None
    if not info.get("CFBundleIdentifier"):
        raise XcrunError(_sim_error("IXErrorDomain", 13, "Failed to install the requested application",
                                    "The application's Info.plist does not contain CFBundleIdentifier."), 4)
    return info


def _simctl_install(rest: list[str]) -> int:
    if len(rest) != 2:
        sys.stderr.write("Usage: simctl install <device> <path>\n")
        return 64
    root = state_dir()
    with locked_state() as state:
        dev = resolve_sim(state, rest[0])
        _need_booted(dev, f'Unable to install "{Path(rest[1]).name}"')
        info = _read_bundle(rest[1])
        bundle_id = info["CFBundleIdentifier"]
        kill_app(dev, bundle_id)
        ensure_app(root, dev, bundle_id, info.get("CFBundleExecutable", Path(rest[1]).stem),
                   Path(rest[1]).stem)
    return 0


def _simctl_uninstall(rest: list[str]) -> int:
    with locked_state() as state:
        dev = resolve_sim(state, rest[0])
        _need_booted(dev, f"Unable to uninstall {rest[1]}")
        kill_app(dev, rest[1])
        app = dev.get("apps", {}).pop(rest[1], None)
        if app:
            shutil.rmtree(app["container"], ignore_errors=True)
            dev.get("containers", {}).pop(rest[1], None)
    return 0


def _simctl_container(rest: list[str]) -> int:
    if len(rest) < 2:
        sys.stderr.write("Usage: simctl get_app_container <device> <app bundle identifier> [<container>]\n")
        return 64
    kind = rest[2] if len(rest) > 2 else "app"
    with locked_state(write=False) as state:
        dev = resolve_sim(state, rest[0])
        _need_booted(dev, f"Unable to lookup {rest[1]}")
        app = dev.get("apps", {}).get(rest[1])
    if app is None:
        raise XcrunError(_sim_error("NSPOSIXErrorDomain", 2, "No such file or directory"), 2)
    if kind == "data":
        out(app["container"])
    elif kind == "app":
        out(bundle_url(dev, app)[len("file://"):].rstrip("/"))
    elif kind == "groups":
        out("")
    else:
        raise XcrunError(_sim_error("NSPOSIXErrorDomain", 22, f"Unknown container type: {kind}",
                                    "Invalid argument"), 22)
    return 0


def _simctl_launch(rest: list[str]) -> int:
    terminate, console, wait = False, False, False
    stdout = stderr = None
    while rest and rest[0].startswith("-"):
        opt = rest.pop(0)
        if opt == "--terminate-running-process":
            terminate = True
        elif opt in ("--console", "--console-pty"):
            console = True
        elif opt in ("-w", "--wait-for-debugger"):
            wait = True
        elif opt.startswith("--stdout="):
            stdout = opt.split("=", 1)[1]
        elif opt.startswith("--stderr="):
            stderr = opt.split("=", 1)[1]
        else:
            sys.stderr.write(f"Unrecognized option: {opt}\nUsage: simctl launch [-w | --wait-for-debugger] "
                             "[--console|--console-pty] [--stdout=<path>] [--stderr=<path>] "
                             "[--terminate-running-process] <device> <app bundle identifier> [<argv 1> ...]\n")
            return 64
    del wait
    if len(rest) < 2:
        sys.stderr.write("Usage: simctl launch <device> <app bundle identifier> [<argv 1> ...]\n")
        return 64
    ref, bundle_id, app_args = rest[0], rest[1], rest[2:]
    env = {k[len("SIMCTL_CHILD_"):]: v for k, v in os.environ.items() if k.startswith("SIMCTL_CHILD_")}
    root = state_dir()
    with locked_state() as state:
        dev = resolve_sim(state, ref)
        _need_booted(dev, f"Unable to launch {bundle_id}")
        if bundle_id not in dev.get("apps", {}):
            raise XcrunError(_sim_error(
                "FBSOpenApplicationServiceErrorDomain", 4, f'The request to open "{bundle_id}" failed.',
                "Underlying error (domain=FBSOpenApplicationErrorDomain, code=4):",
                f"\tThe operation couldn’t be completed. Application info provider (FBSApplicationLibrary) "
                f'returned nil for "{bundle_id}"',
                f'\tApplication info provider (FBSApplicationLibrary) returned nil for "{bundle_id}"'), 4)
        if terminate:
            kill_app(dev, bundle_id)
        current = running(dev).get(bundle_id)
        if current:  # already running: iOS brings it to the foreground; the new arguments are not delivered
            out(f"{bundle_id}: {current['pid']}")
            return 0
        pid, proc = start_app(root, dev, bundle_id, app_args, env, stdout, stderr)
    out(f"{bundle_id}: {pid}")
    sys.stdout.flush()
    if console:
        proc.wait()
    return 0


def _simctl_terminate(rest: list[str]) -> int:
    if len(rest) != 2:
        sys.stderr.write("Usage: simctl terminate <device> <app bundle identifier>\n")
        return 64
    with locked_state() as state:
        dev = resolve_sim(state, rest[0])
        _need_booted(dev, f"Unable to terminate {rest[1]}")
        if not kill_app(dev, rest[1]):
            raise XcrunError(_sim_error("com.apple.CoreSimulator.SimError", 164,
                                        f"found nothing to terminate for {rest[1]}"), 3)
    return 0


def _simctl_spawn(rest: list[str]) -> int:
    if len(rest) < 2:
        sys.stderr.write("Usage: simctl spawn <device> <path to executable> [<argv 1> ...]\n")
        return 64
    with locked_state() as state:
        dev = resolve_sim(state, rest[0])
        _need_booted(dev, f"Unable to spawn {rest[1]}")
        procs = running(dev)
    if rest[1:3] == ["launchctl", "list"]:
        out("PID\tStatus\tLabel")
        out("-\t0\tcom.apple.xpc.launchd.oneshot.0x10000001.bash")
        out("1187\t0\tcom.apple.SpringBoard")
        for bundle_id, rec in procs.items():
            tag = format(rec["pid"] % 0xFFFF, "04x")
            out(f"{rec['pid']}\t0\tUIKitApplication:{bundle_id}[{tag}][rb-legacy]")
        return 0
    if rest[1] == "log" and rest[2:3] == ["show"]:
        for line in dev.get("crashes", []):
            out(line)
        return 0
    raise XcrunError(_sim_error("NSPOSIXErrorDomain", 2, f"Unable to spawn {rest[1]} (fake xcrun spawns only "
                                "'launchctl list' and 'log show')", "No such file or directory"), 2)


def _simctl_boot(rest: list[str]) -> int:
    with locked_state() as state:
        dev = resolve_sim(state, rest[0])
        if dev["state"] == "Booted":
            raise XcrunError(_sim_error("com.apple.CoreSimulator.SimError", 405,
                                        "Unable to boot device in current state: Booted"), 149)
        dev["state"] = "Booted"
    return 0


def _simctl_shutdown(rest: list[str]) -> int:
    with locked_state() as state:
        targets = [d for d in state["devices"].values() if d["kind"] == "simulator"] if rest[:1] == ["all"] \
            else [resolve_sim(state, rest[0])]
        for dev in targets:
            if dev["state"] != "Booted" and rest[:1] != ["all"]:
                raise XcrunError(_sim_error("com.apple.CoreSimulator.SimError", 405,
                                            "Unable to shutdown device in current state: Shutdown"), 149)
            for bundle_id in list(running(dev)):
                kill_app(dev, bundle_id)
            dev["state"] = "Shutdown"
    return 0


# --- devicectl -----------------------------------------------------------------------------------------

DEVICECTL_USAGE = """OVERVIEW: Core Device Device Control

USAGE: devicectl <subcommand>

OPTIONS:
  -h, --help              Show help information.

SUBCOMMANDS:
  list                    Lists information about available devices.
  device                  Commands for interacting with a device.

  See 'devicectl help <subcommand>' for detailed help.
"""

_VALUE_OPTS = {"--device", "-d", "--json-output", "-j", "--log-output", "--timeout", "--domain-type",
               "--domain-identifier", "--source", "--destination", "--user", "--environment-variables", "--pid",
               "--bundle-id", "--signal", "--filter", "--payload-url", "--columns"}


class _Ctl:
    """One devicectl invocation: parsed options, JSON output, outcome."""

    def __init__(self, words: list[str], stop_at_positional: bool) -> None:
        self.opts: dict[str, str] = {}
        self.flags: set[str] = set()
        self.pos: list[str] = []
        i = 0
        while i < len(words):
            w = words[i]
            if self.pos and stop_at_positional:
                self.pos.extend(words[i:])
                break
            if w in _VALUE_OPTS and i + 1 < len(words):
                key = {"-d": "--device", "-j": "--json-output"}.get(w, w)
                self.opts[key] = words[i + 1]
                i += 2
                continue
            if w.startswith("--") and "=" in w and w.split("=", 1)[0] in _VALUE_OPTS:
                key, value = w.split("=", 1)
                self.opts[key] = value
            elif w.startswith("-") and w != "-":
                self.flags.add(w)
            else:
                self.pos.append(w)
            i += 1

    def write_json(self, argv: list[str], command: str, result: dict[str, Any] | None,
                   error: XcrunError | None = None) -> None:
        path = self.opts.get("--json-output")
        if not path:
            return
        info: dict[str, Any] = {"arguments": ["devicectl", *argv], "commandType": command,
                                "environment": {"TERM": os.environ.get("TERM", "dumb")}, "jsonVersion": 2,
                                "outcome": "failed" if error else "success", "version": DEVICECTL_VERSION}
        doc: dict[str, Any] = {"info": info}
        if error:  # as devicectl 355+: an NSError, and no "result" at all
            first = error.message.splitlines()[0].removeprefix("ERROR: ")
            user_info: dict[str, Any] = {"NSLocalizedDescription": {"string": re.sub(r" \(\S+ error .*\)$", "",
                                                                                     first)}}
            if error.underlying:
                user_info["NSUnderlyingError"] = {"error": {"code": -402652958, "domain": "com.apple.mobiledevice",
                                                            "userInfo": {"NSLocalizedDescription": {
                                                                "string": error.underlying}}}}
            doc["error"] = {"code": error.ns_code, "domain": error.domain, "userInfo": user_info}
        else:
            doc["result"] = result or {}
        Path(path).write_text(json.dumps(doc, indent=2))


def _ctl_banner(quiet: bool) -> None:
    if not quiet:
        stamp = time.strftime("%H:%M:%S")
        out(f"{stamp}  Acquired tunnel connection to device.\n{stamp}  Enabling developer disk image services.\n"
            f"{stamp}  Acquired usage assertion.")


def device_json(dev: dict[str, Any]) -> dict[str, Any]:
    paired = bool(behaviour(dev, "paired"))
    product = dev["model"]
    return {
        "capabilities": [{"featureIdentifier": "com.apple.coredevice.feature.launchapplication",
                          "name": "Launch Application"},
                         {"featureIdentifier": "com.apple.coredevice.feature.installapp",
                          "name": "Install Application"},
                         {"featureIdentifier": "com.apple.coredevice.feature.transferFiles", "name": "Transfer Files"},
                         {"featureIdentifier": "com.apple.coredevice.feature.listprocesses", "name": "List Processes"}],
        "connectionProperties": {"authenticationType": "manualPairing", "isMobileDeviceOnly": False,
                                 "lastConnectionDate": "2026-11-02T09:14:03.512Z",
                                 "pairingState": "paired" if paired else "unpaired",
                                 "potentialHostnames": [f"{dev['udid']}.coredevice.local"],
                                 "transportType": "wired",
                                 "tunnelState": "connected" if paired else "disconnected",
                                 "tunnelTransportProtocol": "tcp"},
        "deviceProperties": {"bootState": "booted", "bootedFromSnapshot": True, "ddiServicesAvailable": paired,
                             "developerModeStatus": "enabled", "hasInternalOSBuild": False, "name": dev["name"],
                             "osBuildUpdate": "21F90", "osVersionNumber": dev["os"]},
        "hardwareProperties": {"cpuType": {"name": "arm64e", "subType": 2, "type": 16777228},
                               "deviceType": "iPhone", "ecid": 1234567890123, "hardwareModel": "D83AP",
                               "marketingName": dev.get("marketing_name") or PRODUCTS.get(product, product),
                               "platform": "iOS", "productType": product, "reality": "physical",
                               "serialNumber": "F2LXK0FAKE00", "supportedCPUTypes": [{"name": "arm64e"}],
                               "supportedDeviceFamilies": [1], "thinningProductType": product,
                               "udid": dev["udid"]},
        "identifier": dev["identifier"],
        "visibilityClass": "default",
    }


def devicectl(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        out(DEVICECTL_USAGE)
        return 0 if args else 64
    if args[0] == "--version":
        out(DEVICECTL_VERSION)
        return 0
    if args[:2] == ["list", "devices"]:
        return _ctl_list(args)
    if args[:1] == ["device"]:
        return _ctl_device(args)
    sys.stderr.write(f"Error: Unexpected argument '{args[0]}'\n{DEVICECTL_USAGE}")
    return 64


def _ctl_list(argv: list[str]) -> int:
    ctl = _Ctl(argv[2:], False)
    with locked_state(write=False) as state:
        devs = [d for d in state["devices"].values() if d["kind"] == "device"]
    docs = [device_json(d) for d in devs]
    ctl.write_json(argv, "devicectl.list.devices", {"devices": docs})
    if not devs:
        out("No devices found.")
        return 0
    rows = [("Name", "Hostname", "Identifier", "State", "Model")]
    for d, doc in zip(devs, docs, strict=True):
        hw = doc["hardwareProperties"]
        state_text = "available (paired)" if doc["connectionProperties"]["pairingState"] == "paired" \
            else "unavailable"
        rows.append((d["name"], f"{d['udid']}.coredevice.local", d["identifier"], state_text,
                     f"{hw['marketingName']} ({hw['productType']})"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out("Devices:")
    for n, row in enumerate(rows):
        out("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            out("   ".join("-" * w for w in widths))
    return 0


def _ctl_device(argv: list[str]) -> int:
    words = argv[1:]
    commands = {("install", "app"): _ctl_install, ("uninstall", "app"): _ctl_uninstall,
                ("process", "launch"): _ctl_launch, ("process", "terminate"): _ctl_terminate,
                ("copy", "to"): _ctl_copy_to, ("copy", "from"): _ctl_copy_from,
                ("info", "processes"): _ctl_processes, ("info", "apps"): _ctl_apps,
                ("info", "lockState"): _ctl_lock_state, ("info", "files"): _ctl_files}
    key = tuple(words[:2])
    if key not in commands:
        sys.stderr.write(f"Error: Unexpected argument '{' '.join(words[:2])}'\nUSAGE: devicectl device <subcommand>\n"
                         "SUBCOMMANDS: copy, info, install, process, uninstall\n")
        return 64
    ctl = _Ctl(words[2:], stop_at_positional=key == ("process", "launch"))
    command = "devicectl.device." + ".".join(key)
    if "--device" not in ctl.opts:
        sys.stderr.write("Error: Missing expected argument '--device <uuid|ecid|serial_number|udid|name|dns_name>'\n")
        return 64
    quiet = "-q" in ctl.flags or "--quiet" in ctl.flags
    try:
        with locked_state() as state:
            dev = find_device(state, ctl.opts["--device"], "device")
            if dev is None:
                raise XcrunError(f"ERROR: The specified device was not found. (com.apple.dt.CoreDeviceError error "
                                 f"1000 (0x3E8))\n       DeviceIdentifier = {ctl.opts['--device']}")
            if not behaviour(dev, "paired"):
                raise XcrunError(f"ERROR: The device is not paired with this host: {dev['name']} "
                                 f"({dev['identifier']}). (com.apple.dt.CoreDeviceError error 2 (0x02))\n"
                                 "       Pair the device in Xcode (Window > Devices and Simulators) and trust this "
                                 "computer on the device.")
            _ctl_banner(quiet)
            if key in (("copy", "to"), ("copy", "from"), ("info", "processes"), ("info", "files")) \
                    and is_locked(dev):
                raise _locked_error()
            # a dropped connection: counted down in the state, which is only saved when the block ends normally
            dropped = key == ("info", "processes") and bool(behaviour(dev, "processes_fail"))
            if dropped:
                dev["behaviour"]["processes_fail"] = int(behaviour(dev, "processes_fail")) - 1
            else:
                result = commands[key](ctl, state_dir(), dev)
        if dropped:
            raise XcrunError("ERROR: Internal logic error: Connection was invalidated "
                             "(com.apple.CoreDevice.ControlChannelConnectionError error 1 (0x01))\n"
                             "       Transport error", domain="com.apple.CoreDevice.ControlChannelConnectionError")
    except XcrunError as exc:
        ctl.write_json(argv, command, None, exc)
        raise
    ctl.write_json(argv, command, result)
    sys.stdout.flush()
    for proc in _CONSOLE:
        proc.wait()
    return 0


_CONSOLE: list[subprocess.Popen[bytes]] = []


def _ctl_install(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    if not ctl.pos:
        raise XcrunError("Error: Missing expected argument '<path>'", 64)
    path = ctl.pos[0]
    try:
        info = _read_bundle(path)
    except XcrunError as exc:
        raise XcrunError(f"ERROR: Failed to install the app on the device. (com.apple.dt.CoreDeviceError error "
                         f"3002 (0xBBA))\n       {exc.message.splitlines()[-1]}") from None
    bundle_id = info["CFBundleIdentifier"]
    kill_app(dev, bundle_id)
    app = ensure_app(root, dev, bundle_id, info.get("CFBundleExecutable", Path(path).stem), Path(path).stem)
    url = bundle_url(dev, app)
    db = str(uuid.uuid4()).upper()
    out(f"App installed:\n• bundleID: {bundle_id}\n• installationURL: {url}\n• launchServicesIdentifier: unknown\n"
        f"• databaseUUID: {db}\n• databaseSequenceNumber: 2804")
    return {"deviceIdentifier": dev["identifier"],
            "installedApplications": [{"bundleID": bundle_id, "databaseSequenceNumber": 2804, "databaseUUID": db,
                                       "installationURL": url, "launchServicesIdentifier": "unknown",
                                       "options": {}}]}


def _ctl_uninstall(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    bundle_id = ctl.pos[0] if ctl.pos else ""
    kill_app(dev, bundle_id)
    app = dev.get("apps", {}).pop(bundle_id, None)
    if app:
        shutil.rmtree(app["container"], ignore_errors=True)
        dev.get("containers", {}).pop(bundle_id, None)
    out(f"App uninstalled.\n• bundleID: {bundle_id}")
    return {"deviceIdentifier": dev["identifier"], "uninstalledApplications": [{"bundleID": bundle_id}]}


def _need_app(dev: dict[str, Any], bundle_id: str) -> dict[str, Any]:
    app = dev.get("apps", {}).get(bundle_id)
    if app is None:
        raise XcrunError(f"ERROR: The requested application {bundle_id} is not installed. "
                         "(com.apple.dt.CoreDeviceError error 10002 (0x2712))\n"
                         f"       BundleIdentifier = {bundle_id}")
    return app


def _ctl_launch(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    if not ctl.pos:
        raise XcrunError("Error: Missing expected argument '<bundle-identifier-or-path>'", 64)
    bundle_id, app_args = ctl.pos[0], ctl.pos[1:]
    if app_args[:1] == ["--"]:
        app_args = app_args[1:]
    app = _need_app(dev, bundle_id)
    if is_locked(dev):
        raise XcrunError(
            "ERROR: The application failed to launch. (com.apple.dt.CoreDeviceError error 10002 (0x2712))\n"
            f"       BundleIdentifier = {bundle_id}\n"
            f"ERROR: The request to open \"{bundle_id}\" failed. (FBSOpenApplicationServiceErrorDomain error 1 "
            "(0x01))\n"
            f"ERROR: Unable to launch {bundle_id} because the device was not, or could not be, unlocked: the "
            "device is locked. (FBSOpenApplicationErrorDomain error 7 (0x07))\n"
            "       BSErrorCodeDescription = Locked", ns_code=10002)
    env = {k[len("DEVICECTL_CHILD_"):]: v for k, v in os.environ.items() if k.startswith("DEVICECTL_CHILD_")}
    if "--environment-variables" in ctl.opts:
        try:
            env.update({str(k): str(v) for k, v in json.loads(ctl.opts["--environment-variables"]).items()})
        except (ValueError, AttributeError):
            raise XcrunError("Error: The value for '--environment-variables' must be a JSON dictionary", 64) from None
    if "--terminate-existing" in ctl.flags:
        kill_app(dev, bundle_id)
    if behaviour(dev, "lock_after") is not None:
        dev["locks_at"] = time.time() + float(behaviour(dev, "lock_after"))
    current = running(dev).get(bundle_id)
    proc = None
    pid = current["pid"] if current else None
    if pid is None:
        pid, proc = start_app(root, dev, bundle_id, app_args, env)
    out(f"Launched application with {bundle_id} bundle identifier.")
    if "--console" in ctl.flags and proc is not None:
        _CONSOLE.append(proc)  # waited for once the state lock is released (the app takes it too)
    executable = bundle_url(dev, app) + app["executable"]
    return {"deviceIdentifier": dev["identifier"], "launchOptions": {"arguments": app_args,
            "environmentVariables": env, "terminateExistingInstances": "--terminate-existing" in ctl.flags},
            "process": {"auditToken": [], "executable": executable, "processIdentifier": pid}}


def _ctl_terminate(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    pid = int(ctl.opts.get("--pid", "0"))
    for bundle_id, rec in running(dev).items():
        if rec["pid"] == pid:
            kill_app(dev, bundle_id)
            out(f"Terminated process {pid}.")
            return {"deviceIdentifier": dev["identifier"], "process": {"processIdentifier": pid}}
    raise XcrunError(f"ERROR: Failed to terminate process {pid}: no such process. (NSPOSIXErrorDomain error 3)")


def _container_root(ctl: _Ctl, dev: dict[str, Any], root: Path) -> Path:
    domain = ctl.opts.get("--domain-type", "")
    if domain == "appDataContainer":
        return Path(_need_app(dev, ctl.opts.get("--domain-identifier", ""))["container"])
    if domain == "systemCrashLogs":
        crash = root / dev["udid"] / "crashes"
        crash.mkdir(parents=True, exist_ok=True)
        return crash
    raise XcrunError(f"ERROR: The domain type '{domain}' is not supported by the fake devicectl "
                     "(appDataContainer, systemCrashLogs).", 64)


def _inside(base: Path, rel: str) -> Path:
    path = (base / rel.lstrip("/")).resolve()
    if not path.is_relative_to(base.resolve()):
        raise XcrunError(f"ERROR: The path {rel} is outside of the domain. (NSCocoaErrorDomain error 257)")
    return path


def _copy(src: Path, dst: Path) -> int:
    """``cp -R`` semantics: a file into an existing folder keeps its name; a folder merges into ``dst``."""
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
        return sum(1 for p in src.rglob("*") if p.is_file())
    if dst.is_dir():
        dst = dst / src.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    return 1


def _missing(path: str) -> XcrunError:
    return XcrunError(f"ERROR: The file “{Path(path).name}” couldn’t be opened because there is no such file. "
                      f"(NSCocoaErrorDomain error 260 (0x104))\n       NSFilePath = {path}")


def _ctl_copy_to(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    base = _container_root(ctl, dev, root)
    src = Path(ctl.opts.get("--source", ""))
    if not src.exists():
        raise _missing(str(src))
    dst = _inside(base, ctl.opts.get("--destination", ""))
    count = _copy(src, dst)
    out(f"Copied {count} file(s) to the device.")
    return {"files": [{"source": str(src), "destination": str(dst.relative_to(base.resolve()))}]}


def _ctl_copy_from(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    base = _container_root(ctl, dev, root)
    src = _inside(base, ctl.opts.get("--source", ""))
    if not src.exists():
        raise _missing(ctl.opts.get("--source", ""))
    dst = Path(ctl.opts.get("--destination", ""))
    count = _copy(src, dst)
    out(f"Copied {count} file(s) from the device.")
    return {"files": [{"source": ctl.opts.get("--source", ""), "destination": str(dst)}]}


def _ctl_files(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    base = _container_root(ctl, dev, root)
    files = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    for f in files:
        out(f)
    return {"files": [{"name": f} for f in files]}


def _ctl_processes(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    procs = [{"executable": "file:///usr/libexec/backboardd", "processIdentifier": 64},
             {"executable": "file:///System/Library/CoreServices/SpringBoard.app/SpringBoard",
              "processIdentifier": 71}]
    for bundle_id, rec in running(dev).items():
        app = dev["apps"].get(bundle_id)
        if app:
            procs.append({"executable": bundle_url(dev, app) + app["executable"], "processIdentifier": rec["pid"]})
    out(f"{'PID':<7} Executable")
    for p in procs:
        out(f"{p['processIdentifier']:<7} {p['executable']}")
    return {"deviceIdentifier": dev["identifier"], "runningProcesses": procs}


def _ctl_apps(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    wanted = ctl.opts.get("--bundle-id")
    apps = [a for b, a in dev.get("apps", {}).items() if wanted in (None, b)]
    docs = [{"appClip": False, "builtByDeveloper": True, "bundleIdentifier": a["bundle_id"],
             "bundleVersion": a["build"], "defaultApp": False, "hidden": False, "internalApp": False,
             "name": a["name"], "removable": True, "url": bundle_url(dev, a), "version": a["version"]}
            for a in apps]
    out(f"{'Name':<12} {'Bundle Identifier':<28} Version   Bundle Version")
    for d in docs:
        out(f"{d['name']:<12} {d['bundleIdentifier']:<28} {d['version']:<9} {d['bundleVersion']}")
    return {"apps": docs, "defaultAppsIncluded": False, "deviceIdentifier": dev["identifier"],
            "hiddenAppsIncluded": False, "internalAppsIncluded": False, "matchingBundleIdentifier": wanted,
            "removableAppsIncluded": True}


def is_locked(dev: dict[str, Any]) -> bool:
    return bool(behaviour(dev, "locked")) or time.time() >= dev.get("locks_at", float("inf"))


def _locked_error() -> XcrunError:
    """What devicectl says when its developer services need a locked phone (mounting the DDI, file transfer)."""
    return XcrunError(
        "ERROR: The developer disk image could not be mounted on this device. (com.apple.dt.CoreDeviceError error "
        "12040 (0x2F08))\n       Failed to mount the developer disk image: 0xe80000e2 "
        "(kAMDMobileImageMounterDeviceLocked: The device is locked.) (com.apple.mobiledevice error -402652958 "
        "(0xE80000E2))", ns_code=12040, underlying="The device is locked.")


def _ctl_lock_state(ctl: _Ctl, root: Path, dev: dict[str, Any]) -> dict[str, Any]:
    locked = is_locked(dev)
    out(f"passcodeRequired: {str(locked).lower()}\nunlockedSinceBoot: true")
    return {"deviceIdentifier": dev["identifier"], "passcodeRequired": locked, "unlockedSinceBoot": True}


# --- the simulated devicelab app ---------------------------------------------------------------------


def run_app(udid: str, bundle_id: str, job_id: str = "") -> int:
    """Body of an app process: run one job (devicelab app) and exit; drop the process record on the way out."""
    root = state_dir()
    with locked_state(root, write=False) as state:
        dev = state["devices"][udid]
        app = dev["apps"][bundle_id]
    code = 0
    try:
        if bundle_id != APP_BUNDLE:
            return 0
        cleanup = os.environ.get("DEVICELAB_FAKE_APP_ARGS", "")
        if cleanup.startswith("--cleanup "):  # the host removes a finished job's folders (as the real app does)
            gone = cleanup.split(" ", 1)[1]
            if _SAFE_JOB_ID.fullmatch(gone):
                for sub in ("jobs", "results"):
                    shutil.rmtree(Path(app["container"]) / "Documents" / sub / gone, ignore_errors=True)
            return 0
        if not job_id:
            job_id = os.environ.get("DEVICELAB_APP_DEVICELAB_JOB_ID", "")
        if not job_id or not _SAFE_JOB_ID.fullmatch(job_id):
            print(f"DeviceLab: no valid job id ({job_id!r}); nothing to do", file=sys.stderr)
            return 0
        time.sleep(float(behaviour(dev, "start_delay") or 0))
        print(f"DeviceLab: job {job_id}: started", file=sys.stderr, flush=True)
        if behaviour(dev, "hang"):
            while True:
                time.sleep(3600)
        crash_after = behaviour(dev, "crash_after")
        if crash_after is not None:
            time.sleep(float(crash_after))
            _record_crash(root, dev, job_id)
            os._exit(139)  # no result, no cleanup: the process just disappears
        container = Path(app["container"])
        result = _execute(dev, container, job_id)
        _publish(dev, container, job_id, result)
        print(f"DeviceLab: job {job_id}: finished status={result.status}", file=sys.stderr, flush=True)
    except Exception as exc:  # a bug in the fake: say it in the log, the host sees a vanished process
        print(f"DeviceLab: fake app failure: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        with locked_state(root) as state:
            procs = state["devices"][udid].get("processes", {})
            if procs.get(bundle_id, {}).get("pid") == os.getpid():
                procs.pop(bundle_id)
    return code


def _record_crash(root: Path, dev: dict[str, Any], job_id: str) -> None:
    stamp = time.strftime("%Y-%m-%d-%H%M%S")
    line = (f"{time.strftime('%Y-%m-%d %H:%M:%S')} DeviceLab[{os.getpid()}] crashed: EXC_BAD_ACCESS (SIGSEGV) "
            f"while running job {job_id} (simulated crash_after)")
    crash_dir = root / dev["udid"] / "crashes"
    crash_dir.mkdir(parents=True, exist_ok=True)
    (crash_dir / f"DeviceLab-{stamp}.ips").write_text(json.dumps(
        {"app_name": "DeviceLab", "bundleID": APP_BUNDLE, "exception": {"type": "EXC_BAD_ACCESS",
         "signal": "SIGSEGV"}, "pid": os.getpid(), "simulated": True}) + "\n")
    with locked_state(root) as state:
        state["devices"][dev["udid"]].setdefault("crashes", []).append(line)


def device_info(dev: dict[str, Any]) -> dict[str, Any]:
    from devicelab.runner import host_device

    if dev["kind"] == "simulator":
        product = SIM_PRODUCTS.get(dev["name"], "simulator")
        model, os_name = f"{dev['name']} Simulator ({product})", dev["runtime"]
    else:
        marketing = dev.get("marketing_name") or PRODUCTS.get(dev["model"], dev["model"])
        model, os_name = f"{dev['name']} - {marketing} ({dev['model']})", f"iOS {dev['os']}"
    return {"platform": "ios", "model": model, "os": os_name, "cpu": "arm64 (simulated)", "abi": "arm64",
            "simulator": dev["kind"] == "simulator", "udid": dev["udid"],
            "simulated_on": host_device()["cpu"]}


# TFLiteRuntime.profile in ios_app/DeviceLab/Runtimes/TFLiteRuntime.swift, word for word.
TFLITE_NO_PROFILE = ("TensorFlow Lite's Swift and C APIs, as this app uses them, give no per-operator times or "
                     "delegate placement (TFLite's benchmark_model with --enable_op_profiling=true does); only "
                     "whole-inference times are measured")


def _ios_version_text(dev: dict[str, Any]) -> str:
    return dev["runtime"].removeprefix("iOS ") if dev["kind"] == "simulator" else dev["os"]


def _ios_version(dev: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", _ios_version_text(dev))[:2])


class _SidecarCoreML:
    """A Core ML job run with a TFLite twin of the model (``model/sidecar.tflite`` in the job folder)."""

    name = "coreml"

    def __init__(self, inner: Any, sidecar: Path, units: str, dev: dict[str, Any]) -> None:
        self.inner, self.sidecar, self.units, self.dev = inner, sidecar, units, dev

    def version(self) -> str:
        return "simulated"

    def load(self, model_path: Path) -> None:  # the .mlpackage cannot run here; its sidecar does
        self.inner.load(self.sidecar)

    def used(self) -> str:
        return f"coreml (simulated with TFLite sidecar; compute units {self.units} requested)"

    def profile(self, feeds: list[Any]) -> dict[str, Any]:
        """What CoreMLRuntime.profile writes: below iOS 17.4 why there is no plan (the app's words); from 17.4 the
        fake's ``compute_plan`` (the result is simulated, so its table never counts as a device's)."""
        if _ios_version(self.dev) < (17, 4):
            return {"available": False, "reason": "Core ML's MLComputePlan (each op's preferred device and estimated "
                    f"cost) needs iOS 17.4 or newer; this device runs iOS {_ios_version_text(self.dev)}"}
        plan = behaviour(self.dev, "compute_plan")
        if plan is None:
            return {"available": False, "reason": "profiling failed: the simulated app has no Core ML to plan the "
                    "model with (set the fake's compute_plan behaviour)"}
        return plan

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def runtime_factory(dev: dict[str, Any], job_dir: Path) -> Any:
    from dataclasses import replace

    from devicelab.errors import ModelRunError, RuntimeUnavailableError
    from devicelab.runtimes.tflite import TFLiteRuntime

    def make(job: Any) -> Any:
        name = job.runtime.name
        if name == "tflite":
            requested = job.runtime.delegate
            ios_only = requested in ("coreml", "metal", "gpu")
            TFLiteRuntime.check_available()
            runtime = TFLiteRuntime(replace(job.runtime, delegate="xnnpack") if ios_only else job.runtime)
            inner_used = runtime.used
            note = f" (simulated; {requested} requested)" if ios_only else " (simulated)"
            runtime.used = lambda: inner_used() + note  # type: ignore[method-assign]
            runtime.profile = lambda feeds: {"available": False, "reason": TFLITE_NO_PROFILE}  # type: ignore
            return runtime
        if name == "coreml":
            backend = behaviour(dev, "coreml_backend")
            sidecar = job_dir / "model" / "sidecar.tflite"
            if not sidecar.is_file() and behaviour(dev, "coreml_sidecar"):
                sidecar = Path(behaviour(dev, "coreml_sidecar"))
            if backend != "tflite-sidecar" or not sidecar.is_file():
                raise ModelRunError("simulated app cannot run Core ML; provide a sidecar "
                                    "(model/sidecar.tflite in the job folder, a TFLite twin of the model)")
            TFLiteRuntime.check_available()
            units = job.runtime.compute_units or job.runtime.delegate or "all"
            return _SidecarCoreML(TFLiteRuntime(replace(job.runtime, delegate="xnnpack")), sidecar, units, dev)
        raise RuntimeUnavailableError(f"the devicelab iOS app has no '{name}' runtime",
                                      hint="the app runs coreml and tflite jobs")

    return make


def _execute(dev: dict[str, Any], container: Path, job_id: str) -> Any:
    from devicelab import protocol
    from devicelab.errors import DevicelabError
    from devicelab.runner import run_job

    job_dir = container / "Documents" / "jobs" / job_id
    staging = container / "tmp" / "runs" / job_id
    shutil.rmtree(staging, ignore_errors=True)
    if (job_dir / "job.json").is_file():  # what the app was given, for tests (XcrunFake.received_jobs)
        received = state_dir() / dev["udid"] / "received"
        received.mkdir(parents=True, exist_ok=True)
        shutil.copy(job_dir / "job.json", received / f"{job_id}.json")
    compile_error = behaviour(dev, "compile_error")
    if compile_error:
        return protocol.error_result(job_id, device_info(dev), "model_compile",
                                     f"Core ML could not compile the model: {compile_error}",
                                     "simulated by the fake xcrun's compile_error behaviour")
    try:
        return run_job(job_dir, staging, runtime_factory=runtime_factory(dev, job_dir))
    except DevicelabError as exc:  # no or invalid job.json: reported in a result, as the app would
        return protocol.error_result(job_id, device_info(dev), exc.kind, exc.message, exc.hint)


def _publish(dev: dict[str, Any], container: Path, job_id: str, result: Any) -> None:
    from devicelab import protocol

    runtime = (result.device or {}).get("runtime")
    result.device = {**device_info(dev), **({"runtime": runtime} if runtime else {})}
    result.simulated = True
    for sample in result.memory:
        if sample.method.startswith("VmHWM ("):
            sample.method = "phys_footprint (simulated: VmHWM of the simulating process)"
        else:
            sample.method = f"simulated: {sample.method} of the simulating process"
    result_dir = container / "Documents" / "results" / job_id
    staging = container / "tmp" / "runs" / job_id
    shutil.rmtree(result_dir, ignore_errors=True)
    result_dir.mkdir(parents=True)
    if (staging / "outputs").is_dir():
        shutil.copytree(staging / "outputs", result_dir / "outputs")
    protocol.write_result(result_dir, result)  # result.json, then DONE
    shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
