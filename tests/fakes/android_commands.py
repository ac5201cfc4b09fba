"""The Android commands of the fake shell: getprop, pm, am, dumpsys, pidof, logcat.

``dumpsys meminfo dev.devicelab.app`` while a job runs makes the app collect garbage (logged, and counted in
``app.meminfo_during_jobs``), as ActivityThread.dumpMemInfo does in the measured process.

Output follows what Android 14 prints closely enough for parsers written against real devices (adbutils'
``app_info`` regexes, ``INSTRUMENTATION_CODE`` lines, ``dumpsys meminfo`` TOTAL rows). Exit codes: ``pm``
failures exit 1; unknown ``pm``/``am`` subcommands exit 255 (ShellCommand's -1); ``am start`` of a missing
activity prints "Error type 3" and exits 1; ``am instrument`` of a missing instrumentation exits 1. The exit
code of ``am instrument -w`` for a finished run is 0 whatever the app did, as with real devices.

``am instrument -w`` prints what AOSP's Instrument.TextStatusReporter prints: without ``-r``, a bundle holding
``stream`` (Instrumentation.REPORT_KEY_STREAMRESULT) prints ONLY that text, so the app's final bundle gives no
INSTRUMENTATION_RESULT / INSTRUMENTATION_CODE lines at all; with ``-r`` (raw) every key prints as
``INSTRUMENTATION_RESULT: key=value`` (sorted) followed by ``INSTRUMENTATION_CODE: n``. A crash gives
``INSTRUMENTATION_RESULT: shortMsg=Process crashed.`` and code 0 in both modes (the bundle comes from the system).

``am start`` of MeasureActivity while an instance of it exists (a job still running, an interrupted run) does
what Android does with the launch mode declared in android_app's AndroidManifest.xml: "standard" brings the task
to the front and drops the intent ("Warning: Activity not started, its current task has been brought to the
front"); "singleTop" delivers it to the running instance (onNewIntent). ``-S`` force-stops the app first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from .android_device import FsError, LogLine, read_fake_apk
from .devicelab_app import ACTIVITY, APP_PACKAGE, INSTRUMENTATION, Launch
from .shell import Proc, UsageError, command, options

_LEVELS = "VDIWEFS"
_DEFAULT_BUFFERS = {"main", "system", "crash"}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@command("getprop")
def _getprop(p: Proc) -> int:
    args = p.argv[1:]
    if not args:
        for key in sorted(p.device.props):
            p.print(f"[{key}]: [{p.device.props[key]}]")
        return 0
    value = p.device.getprop(args[0])
    p.print(value if value is not None else (args[1] if len(args) > 1 else ""))
    return 0


@command("pidof")
def _pidof(p: Proc) -> int:
    pids = [str(p.device.app.pid) for name in p.argv[1:] if name == APP_PACKAGE and p.device.app.pid]
    if not pids:
        return 1
    p.print(" ".join(pids))
    return 0


# --- pm ----------------------------------------------------------------------------------------------


@command("pm")
def _pm(p: Proc) -> int:
    if len(p.argv) < 2:
        p.error("usage: pm [list|path|install|uninstall|clear] ...")
        return 255
    sub, args = p.argv[1], p.argv[2:]
    handler = {"path": _pm_path, "list": _pm_list, "install": _pm_install, "uninstall": _pm_uninstall,
               "clear": _pm_clear}.get(sub)
    if handler is None:
        p.error(f"Unknown command: {sub}")
        return 255
    return handler(p, _drop_user(args))


def _drop_user(args: list[str]) -> list[str]:
    """Remove ``--user N`` (every command here acts on user 0)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--user":
            skip = True
        else:
            out.append(arg)
    return out


def _pm_path(p: Proc, args: list[str]) -> int:
    package = p.device.packages.get(args[0]) if args else None
    if package is None:
        return 1
    p.print(f"package:{package.apk_path}")
    return 0


def _pm_list(p: Proc, args: list[str]) -> int:
    if not args or args[0] != "packages":
        p.error("Error: unknown list type")
        return 255
    flags, _, operands = options(args[1:], "fdesu3iUa")
    needle = operands[0] if operands else ""
    for name, package in sorted(p.device.packages.items()):
        if ("3" in flags and package.system) or ("s" in flags and not package.system) or needle not in name:
            continue
        p.print(f"package:{package.apk_path}={name}" if "f" in flags else f"package:{name}")
    return 0


def _pm_install(p: Proc, args: list[str]) -> int:
    flags, _, operands = options(args, "rtgdflsDp", with_value="iS")
    if len(operands) != 1:
        p.print("Error: APK content must be streamed")
        return 1
    path = operands[0]
    try:
        host = p.device.host_path(path)
        if not host.is_file():
            raise FsError("No such file or directory")
    except FsError:
        p.print(f"Error: Can't open file: {path}")
        return 1
    meta = read_fake_apk(host)
    device, name = p.device, meta["package"]
    current = device.packages.get(name)
    if int(meta.get("minSdk", 24)) > device.sdk:
        p.print(f"Failure [INSTALL_FAILED_OLDER_SDK: Failed parse during installPackageLI: /data/app/vmdl.tmp/"
                f"base.apk: Requires newer sdk version #{meta['minSdk']} (current version is #{device.sdk})]")
        return 1
    if meta.get("abis") and device.abi not in meta["abis"]:
        p.print("Failure [INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113]")
        return 1
    if current is not None and current.version_code > int(meta.get("versionCode", 1)) and "d" not in flags:
        p.print(f"Failure [INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version code "
                f"{meta.get('versionCode', 1)} is older than current {current.version_code}]")
        return 1
    device.install_package(meta, host)
    p.print("Success")
    return 0


def _pm_uninstall(p: Proc, args: list[str]) -> int:
    flags, _, operands = options(args, "k")
    if not operands or not p.device.uninstall_package(operands[0], keep_data="k" in flags):
        p.print("Failure [DELETE_FAILED_INTERNAL_ERROR]")
        return 1
    p.print("Success")
    return 0


def _pm_clear(p: Proc, args: list[str]) -> int:
    if not args or args[0] not in p.device.packages:
        p.print("Failed")
        return 1
    if args[0] == APP_PACKAGE:
        p.device.app.force_stop(reason="clear data")
    p.print("Success")
    return 0


# --- am ----------------------------------------------------------------------------------------------

_MANIFEST = Path(__file__).resolve().parents[2] / "android_app/app/src/main/AndroidManifest.xml"


def activity_launch_mode() -> str:
    """android:launchMode of MeasureActivity in the real app's manifest ("standard" when not declared)."""
    text = _MANIFEST.read_text() if _MANIFEST.is_file() else ""
    element = re.search(r"<activity\b[^>]*android:name=\"\.MeasureActivity\"[^>]*>", text, re.S)
    mode = re.search(r'android:launchMode="(\w+)"', element.group(0)) if element else None
    return mode.group(1) if mode else "standard"


_AM_VALUE_OPTIONS = {"-n", "-a", "-d", "-t", "-c", "-f", "-p", "-R", "-P", "--user", "--display", "--sampling",
                     "--start-profiler", "--windowingMode", "--activityType", "--task", "--abi",
                     "--receiver-permission", "--instrumentation-display"}
_AM_EXTRA_OPTIONS = {"-e", "--es", "--ei", "--ez", "--el", "--ef", "--eu", "--ecn", "--eia", "--ela", "--efa",
                     "--esa", "--ed"}


class _Intent:
    def __init__(self) -> None:
        self.component: tuple[str, str] | None = None
        self.action: str | None = None
        self.data: str | None = None
        self.extras: dict[str, str] = {}
        self.flags: set[str] = set()
        self.operands: list[str] = []

    def describe(self) -> str:
        parts = []
        if self.action:
            parts.append(f"act={self.action}")
        if self.data:
            parts.append(f"dat={self.data}")
        if self.component:
            pkg, cls = self.component
            short = cls[len(pkg):] if cls.startswith(pkg + ".") else cls
            parts.append(f"cmp={pkg}/{short}")
        return "Intent { " + " ".join(parts) + (" (has extras)" if self.extras else "") + " }"


def _component(text: str) -> tuple[str, str]:
    if "/" not in text:
        raise UsageError(f"Bad component name: {text}")
    pkg, cls = text.split("/", 1)
    return pkg, pkg + cls if cls.startswith(".") else cls


def _parse_intent(args: list[str]) -> _Intent:
    intent = _Intent()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _AM_EXTRA_OPTIONS:
            if i + 2 >= len(args):
                raise UsageError(f"Error: No value specified for {arg}")
            intent.extras[args[i + 1]] = args[i + 2]
            i += 3
        elif arg == "--esn":
            intent.extras[args[i + 1]] = ""
            i += 2
        elif arg in _AM_VALUE_OPTIONS:
            if i + 1 >= len(args):
                raise UsageError(f"Error: No argument for {arg}")
            value = args[i + 1]
            if arg == "-n":
                intent.component = _component(value)
            elif arg == "-a":
                intent.action = value
            elif arg == "-d":
                intent.data = value
            i += 2
        elif arg.startswith("-"):
            intent.flags.add(arg)
            i += 1
        else:
            intent.operands.append(arg)
            i += 1
    return intent


@command("am")
def _am(p: Proc) -> int:
    if len(p.argv) < 2:
        p.error("usage: am [start|instrument|force-stop|broadcast] ...")
        return 255
    sub, args = p.argv[1], p.argv[2:]
    handler = {"start": _am_start, "start-activity": _am_start, "instrument": _am_instrument,
               "force-stop": _am_force_stop, "kill": _am_force_stop, "broadcast": _am_broadcast}.get(sub)
    if handler is None:
        p.error(f"Unknown command: {sub}")
        return 255
    try:
        return handler(p, args)
    except UsageError as exc:
        p.error(str(exc))
        return 255


def _am_start(p: Proc, args: list[str]) -> int:
    intent = _parse_intent(args)
    if intent.component is None and intent.operands:
        intent.component = _component(intent.operands[0])
    device = p.device
    p.print(f"Starting: {intent.describe()}")
    if intent.component != (APP_PACKAGE, ACTIVITY) or not device.app_installed:
        pkg, cls = intent.component or ("?", "?")
        p.print("Error type 3")
        p.print(f"Error: Activity class {{{pkg}/{cls}}} does not exist.")
        return 1
    if "-S" in intent.flags:
        device.app.force_stop(reason="am start -S")
    elif device.app.activity_open():
        if activity_launch_mode() == "standard":
            p.print("Warning: Activity not started, its current task has been brought to the front")
            return 0  # the intent is not delivered: the running instance never hears of this job
        p.print("Warning: Activity not started, intent has been delivered to currently running top-most instance.")
    started = time.monotonic()
    launch = device.app.launch(intent.extras.get("job_id"), via="activity")
    if "-W" in intent.flags:
        took = max(1, int((time.monotonic() - started) * 1000)) + (250 if launch.cold else 40)
        p.print("Status: ok")
        p.print(f"LaunchState: {'COLD' if launch.cold else 'WARM'}")
        p.print(f"Activity: {APP_PACKAGE}/.MeasureActivity")
        p.print(f"TotalTime: {took}")
        p.print(f"WaitTime: {took + 3}")
        p.print("Complete")
    return 0


def _am_instrument(p: Proc, args: list[str]) -> int:
    intent = _parse_intent(args)
    if not intent.operands:
        p.error("Error: No instrumentation specified")  # a bare "am instrument" prints usage
        return 255
    pkg, cls = _component(intent.operands[-1])
    device = p.device
    if (pkg, cls) != (APP_PACKAGE, INSTRUMENTATION) or not device.app_installed:
        p.print(f"INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{{{pkg}/{cls}}}")
        p.print("INSTRUMENTATION_STATUS_CODE: -1")
        p.print(f"android.util.AndroidException: INSTRUMENTATION_FAILED: {pkg}/{cls}")
        return 1
    launch = device.app.launch(intent.extras.get("job_id"), via="instrumentation")
    if "-w" not in intent.flags:
        return 0
    if not launch.wait(p.alive):
        return 1  # the client went away (or the device was unplugged): nobody reads the rest
    _instrumentation_report(p, launch, raw="-r" in intent.flags)
    return 0


def instrumentation_bundle(launch: Launch) -> tuple[int, dict[str, str]]:
    """The final (code, bundle) MeasureInstrumentation.onStart() passes to finish(), or the system's on a crash."""
    if launch.outcome in ("crashed", "killed"):
        return 0, {"shortMsg": "Process crashed."}
    if launch.outcome == "no_job":
        message = (f"no job: pass job_id <id> (a folder under /storage/emulated/0/Android/data/{APP_PACKAGE}/"
                   "files/jobs) or job_dir <path>")
        return 0, {"id": "devicelab", "status": "error", "error_kind": "usage", "error_message": message,
                   "stream": f"devicelab: error usage: {message}\n"}
    if launch.outcome == "no_storage":
        message = "external storage is not available, so there is no jobs/ or results/ folder"
        return 0, {"id": "devicelab", "status": "error", "error_kind": "result_unwritable", "error_message": message,
                   "stream": f"devicelab: error result_unwritable: {message}\n"}
    job_id = launch.job_id or ""
    bundle = {"id": "devicelab", "job_id": job_id, "status": launch.outcome or "error",
              "result_dir": f"/storage/emulated/0/Android/data/{APP_PACKAGE}/files/results/{job_id}"}
    result = launch.result
    if result is not None and result.error:
        kind, message = result.error.get("kind"), result.error.get("message")
        bundle.update(error_kind=str(kind), error_message=str(message),
                      stream=f"devicelab: job {job_id} error {kind}: {message}\n")
        return 0, bundle
    used = result.runtime_used if result is not None else None
    bundle.update(runtime_used=str(used), stream=f"devicelab: job {job_id} ok ({used}), result in "
                                                 f"{bundle['result_dir']}\n")
    return -1, bundle


def _instrumentation_report(p: Proc, launch: Launch, raw: bool) -> None:
    """Instrument.TextStatusReporter.onInstrumentationFinishedLocked, as in AOSP."""
    code, bundle = instrumentation_bundle(launch)
    if not raw and "stream" in bundle:
        p.print(bundle["stream"])  # System.out.println(pretty): the stream text only, no result lines
        return
    for key in sorted(bundle):
        p.print(f"INSTRUMENTATION_RESULT: {key}={bundle[key]}")
    p.print(f"INSTRUMENTATION_CODE: {code}")


def _am_force_stop(p: Proc, args: list[str]) -> int:
    args = _drop_user(args)
    if args and args[0] == APP_PACKAGE:
        p.device.app.force_stop(reason=f"from pid {p.shell.pid}")
    return 0


def _am_broadcast(p: Proc, args: list[str]) -> int:
    intent = _parse_intent(args)
    p.print(f"Broadcasting: {intent.describe()}")
    p.print("Broadcast completed: result=0")
    return 0


# --- dumpsys -----------------------------------------------------------------------------------------


@command("dumpsys")
def _dumpsys(p: Proc) -> int:
    args = [a for a in p.argv[1:] if not a.startswith("-")]
    if not args:
        p.print("Currently running services:\n  activity\n  meminfo\n  package")
        return 0
    service, rest = args[0], args[1:]
    if service == "package":
        return _dumpsys_package(p, rest)
    if service == "meminfo":
        return _dumpsys_meminfo(p, rest)
    if service in ("activity", "battery", "window", "display", "power", "cpuinfo", "gfxinfo"):
        return 0  # real services, nothing the fake simulates
    p.print(f"Can't find service: {service}")
    return 0


def _stamp(t: float) -> str:
    return time.strftime(_TIME_FORMAT, time.localtime(t))


def _dumpsys_package(p: Proc, args: list[str]) -> int:
    package = p.device.packages.get(args[0]) if args else None
    if package is None:
        p.print(f"Unable to find package: {args[0] if args else ''}")
        return 0
    code_path = package.apk_path.rsplit("/", 1)[0]
    activity = "\n".join([
        "Activity Resolver Table:", "  Non-Data Actions:", "      android.intent.action.MAIN:",
        f"        4f1b2c3 {package.name}/.MeasureActivity filter 8a7b6c5", "",
    ]) if package.name == APP_PACKAGE else ""
    p.print(activity + "\n".join([
        "Packages:",
        f"  Package [{package.name}] (7c1d2e3):",
        f"    userId={package.user_id}",
        f"    pkg=Package{{9e8d7c6 {package.name}}}",
        f"    codePath={code_path}",
        f"    resourcePath={code_path}",
        f"    primaryCpuAbi={p.device.abi}",
        f"    versionCode={package.version_code} minSdk={package.min_sdk} targetSdk={package.target_sdk}",
        f"    versionName={package.version_name}",
        "    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]",
        f"    timeStamp={_stamp(package.last_update)}",
        f"    firstInstallTime={_stamp(package.first_install)}",
        f"    lastUpdateTime={_stamp(package.last_update)}",
        "    installerPackageName=null",
        "    signatures=PackageSignatures{5a6b7c8 [3f2e1d0c]}",
        "    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP ]",
    ]))
    return 0


def _dumpsys_meminfo(p: Proc, args: list[str]) -> int:
    device = p.device
    target = args[0] if args else None
    pid = device.app.pid
    if target is None or pid is None or target not in (APP_PACKAGE, str(pid)):
        p.print(f"No process found for: {target}")
        return 0
    if device.app.job_running():
        # ActivityThread.dumpMemInfo in the app's process: a full collection and a walk over its heap, right
        # inside whatever the app is timing. Counted, so tests can check that nobody does this mid-job.
        device.app.meminfo_during_jobs += 1
        device.log("I", APP_PACKAGE, "Explicit concurrent mark compact GC freed 2104(118KB) AllocSpace objects, "
                   "0(0B) LOS objects, 49% free, 3412KB/6824KB, paused 61us,18us total 21.402ms", pid=pid)
    total = device.app.memory_kb()  # the app's memory in KB; PSS == RSS: the fake shares no pages
    native, java = int(total * 0.45), int(total * 0.12)
    code, stack, other = int(total * 0.18), 96, 0
    system = total - native - java - code - stack
    rows = [("Native Heap", native), ("Dalvik Heap", java), ("Stack", stack), (".so mmap", code),
            ("Other mmap", other), ("Unknown", system)]
    p.print("Applications Memory Usage (in Kilobytes):")
    p.print(f"Uptime: {int(time.monotonic() * 1000)} Realtime: {int(time.monotonic() * 1000)}")
    p.print("")
    p.print(f"** MEMINFO in pid {pid} [{APP_PACKAGE}] **")
    p.print("                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap")
    p.print("                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free")
    p.print("                ------   ------   ------   ------   ------   ------   ------   ------")
    for label, kb in rows:
        heap = f"{kb + 2048:>8} {kb:>8} {2048:>8}" if "Heap" in label else ""
        p.print(f"{label:>13} {kb:>8} {kb:>8} {0:>8} {0:>8} {kb:>8} {heap}".rstrip())
    p.print(f"{'TOTAL':>13} {total:>8} {total - system:>8} {system:>8} {0:>8} {total:>8} "
            f"{native + java + 4096:>8} {native + java:>8} {4096:>8}")
    p.print("")
    p.print(" App Summary")
    p.print("                       Pss(KB)                        Rss(KB)")
    p.print("                        ------                         ------")
    for label, kb in (("Java Heap:", java), ("Native Heap:", native), ("Code:", code), ("Stack:", stack),
                      ("Graphics:", 0), ("Private Other:", other), ("System:", system)):
        p.print(f"{label:>20} {kb:>8} {'':>22} {kb:>8}")
    p.print(f"{'Unknown:':>20} {'':>8} {'':>22} {0:>8}")
    p.print("")
    p.print(f"{'TOTAL PSS:':>20} {total:>8} {'TOTAL RSS:':>22} {total:>8} {'TOTAL SWAP PSS:':>20} {0:>8}")
    return 0


# --- logcat ------------------------------------------------------------------------------------------


@command("logcat")
def _logcat(p: Proc) -> int:
    args = list(p.argv[1:])
    dump, clear, silent, style, tail, pid = False, False, False, "threadtime", None, None
    since: float | None = None
    buffers: set[str] = set()
    specs: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-d":
            dump = True
        elif arg in ("-c", "--clear"):
            clear = True
        elif arg == "-s":
            silent = True
        elif arg in ("-b", "-v", "-t", "-T", "--pid", "--buffer", "--format") and i + 1 < len(args):
            value = args[i + 1]
            i += 1
            if arg in ("-b", "--buffer"):
                buffers |= {"main", "system", "crash", "events", "radio"} if value == "all" else set(value.split(","))
            elif arg in ("-v", "--format"):
                style = value
            elif arg in ("-t", "-T") and not value.isdigit():  # '<time>': lines since then (-t implies -d)
                since, dump = _log_time(value), dump or arg == "-t"
            elif arg in ("-t", "-T"):
                tail, dump = int(value), dump or arg == "-t"
            else:
                pid = int(value)
        elif arg.startswith("--pid="):
            pid = int(arg.split("=", 1)[1])
        elif arg.startswith("-b") and len(arg) > 2:
            buffers |= set(arg[2:].split(","))
        elif arg.startswith("-"):
            pass  # -v long forms, -D, etc.: accepted, ignored
        else:
            specs.append(arg)
        i += 1
    if clear:
        p.device.clear_logs()
        return 0
    selector = _log_filter(buffers or _DEFAULT_BUFFERS, specs, silent, pid)
    with p.device.log_changed:
        lines = [line for line in p.device.logs if selector(line) and (since is None or line.time >= since)]
        seen = len(p.device.logs)
    for line in lines[-tail:] if tail else lines:
        p.print(line.format(style))
    if dump:
        return 0
    while p.alive():  # follow mode: stream new lines until the client goes away
        with p.device.log_changed:
            p.device.log_changed.wait(0.1)
            fresh = p.device.logs[seen:]
            seen = len(p.device.logs)
        for line in fresh:
            if selector(line):
                p.print(line.format(style))
    return 0


def _log_time(value: str) -> float:
    """logcat's -t/-T time: 'sssss.mmm' (seconds since the epoch) or 'MM-DD hh:mm:ss.mmm' (this year, local)."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = time.strptime(f"{time.localtime().tm_year}-{value}", "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        raise UsageError(f"unknown time format '{value}'") from None
    return time.mktime(parsed) + float("0." + value.rsplit(".", 1)[-1])


def _log_filter(buffers: set[str], specs: list[str], silent: bool, pid: int | None) -> Callable[[LogLine], bool]:
    """logcat's filterspecs: ``TAG:LEVEL`` pairs, ``*:S`` for the rest; ``-s`` makes the rest silent."""
    minimum: dict[str, int] = {}
    for spec in specs:
        tag, _, level = spec.partition(":")
        level = (level or "V").upper()[:1]
        minimum[tag] = _LEVELS.index(level) if level in _LEVELS else 0
    default = minimum.pop("*", _LEVELS.index("S") if silent else 0)

    def keep(line: LogLine) -> bool:
        if line.buffer not in buffers or (pid is not None and line.pid != pid):
            return False
        needed = minimum.get(line.tag, default)
        return needed < _LEVELS.index("S") and _LEVELS.index(line.level) >= needed

    return keep
