"""A simulated Android device: properties, a file system rooted in a host folder, packages, logcat.

Device paths map onto ``root``: ``/sdcard/x`` is ``root/sdcard/x``; ``/storage/emulated/0`` and
``/storage/self/primary`` are aliases of ``/sdcard`` as on a phone. Like the ``shell`` user on a real device, adb
may write below ``/sdcard`` and ``/data/local/tmp`` only; every path is resolved inside ``root`` (symlinks
included), so nothing a test sends can touch the host outside it.

Behaviours a test sets as attributes (at construction or later) to provoke failures:

``app_installed`` / ``app_version_code``  whether ``dev.devicelab.app`` is installed, and its versionCode
``crash_after``       seconds after a launch the app dies: no result, ``pidof`` empty, and in logcat what kills it
``crash_kind``        how it dies: "java" (FATAL EXCEPTION in the crash buffer, under the app's pid), "native"
                      (a tombstone from crash_dump: ``>>> dev.devicelab.app <<<``, signal 11) or "lmk" (lmkd's
                      ``lowmemorykiller: Kill 'dev.devicelab.app' (pid)``)
``app_folders``       (default True) the app has run since it was installed, so its external files folder
                      (jobs/, results/) exists and is its own. False: a fresh install, where it is missing; a
                      folder the shell makes there first (``mkdir``/``push``) is not the app's, which then cannot
                      read or write it (Android 11+)
``hang``              the app never writes a result and keeps running until ``am force-stop``
``model_error``       the app writes an error result of kind ``model_run`` with this message instead of running
``unplug_after``      seconds after a launch the device is removed from its server (connections dropped)
``storage_free_bytes``  free space now: sync SEND, ``cp`` and ``>`` take from it (a SEND beyond it fails with
                      "No space left on device"), ``rm`` gives back; files the app writes are not counted
``app_memory_kb``     what ``dumpsys meminfo`` reports (default: VmRSS of this process, where the app runs)
``runtime_factory``   replaces the app's runtime factory (tests that need no real runtime)

Everything adb clients send is recorded: ``commands`` (raw shell command lines), ``executed`` (the argv of
every simple command the shell ran, after quote removal) and ``sync_log`` ((request, path) pairs).
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .devicelab_app import APP_PACKAGE, SimulatedApp

if TYPE_CHECKING:
    from .adb_server import FakeAdbServer

STATES = ("device", "offline", "unauthorized")
# Where the shell user may write on a real device (adb push / shell rm / mkdir).
WRITABLE_ROOTS = ("/sdcard", "/data/local/tmp")
SDCARD_ALIASES = ("/storage/emulated/0", "/storage/self/primary", "/mnt/sdcard", "/mnt/user/0/primary")
_LEVELS = "VDIWEFS"
FAKE_APK_MANIFEST = "fake-apk.json"


class FsError(Exception):
    """A file-system error, carrying the strerror text a real device prints ("No such file or directory")."""

    def __init__(self, strerror: str) -> None:
        super().__init__(strerror)
        self.strerror = strerror


@dataclass
class Package:
    name: str
    version_code: int = 1
    version_name: str = "0.1.0"
    min_sdk: int = 24
    target_sdk: int = 34
    apk_path: str = ""
    system: bool = False
    first_install: float = field(default_factory=time.time)
    last_update: float = field(default_factory=time.time)
    user_id: int = 10234


@dataclass
class LogLine:
    time: float
    pid: int
    tid: int
    level: str
    tag: str
    message: str
    buffer: str = "main"

    def format(self, style: str = "threadtime") -> str:
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(self.time)) + f".{int(self.time * 1000) % 1000:03d}"
        if style == "time":
            return f"{stamp} {self.level}/{self.tag}({self.pid:5d}): {self.message}"
        if style == "epoch":  # seconds since the epoch, as `logcat -v epoch`
            return f"{self.time:14.3f} {self.pid:5d} {self.tid:5d} {self.level} {self.tag}: {self.message}"
        if style == "brief":
            return f"{self.level}/{self.tag}({self.pid:5d}): {self.message}"
        return f"{stamp} {self.pid:5d} {self.tid:5d} {self.level} {self.tag}: {self.message}"


def make_fake_apk(path: Path, *, package: str = APP_PACKAGE, version_code: int = 1, version_name: str = "0.1.0",
                  min_sdk: int = 24, target_sdk: int = 34, abis: list[str] | None = None) -> Path:
    """Write a stand-in APK: a zip holding ``fake-apk.json``, which the fake ``pm install`` reads.

    The fake does not parse real APKs. Any other file installs ``dev.devicelab.app`` with versionCode 1.
    """
    path = Path(path)
    meta: dict[str, Any] = {"package": package, "versionCode": version_code, "versionName": version_name,
                            "minSdk": min_sdk, "targetSdk": target_sdk}
    if abis:
        meta["abis"] = abis
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(FAKE_APK_MANIFEST, json.dumps(meta))
        archive.writestr("AndroidManifest.xml", b"\x03\x00\x08\x00")  # a binary-XML header, for looks only
    return path


def read_fake_apk(path: Path) -> dict[str, Any]:
    """What ``pm install`` learns from a file: ``fake-apk.json`` inside a zip, else defaults (see make_fake_apk)."""
    meta: dict[str, Any] = {"package": APP_PACKAGE, "versionCode": 1, "versionName": "0.1.0", "minSdk": 24,
                            "targetSdk": 34}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if FAKE_APK_MANIFEST in archive.namelist():
                meta.update(json.loads(archive.read(FAKE_APK_MANIFEST)))
    return meta


class FakeDevice:
    """One simulated phone. See the module docstring for the behaviours tests can set."""

    def __init__(self, serial: str, model: str = "Pixel 7", manufacturer: str = "Google", android: str = "14",
                 sdk: int = 34, abi: str = "arm64-v8a", state: str = "device", root: Path | None = None, *,
                 cpu: str | None = None, props: dict[str, str] | None = None, app_installed: bool = False,
                 app_version_code: int = 1, storage_free_bytes: int = 48 * 2**30,
                 storage_total_bytes: int = 128 * 2**30, crash_after: float | None = None, hang: bool = False,
                 unplug_after: float | None = None, model_error: str | None = None,
                 app_memory_kb: int | None = None, runtime_factory: Callable[[Any], Any] | None = None,
                 crash_kind: str = "java", app_folders: bool = True) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        self.serial, self.model, self.manufacturer, self.android = serial, model, manufacturer, android
        self.sdk, self.abi, self.state = sdk, abi, state
        self.cpu = cpu or f"{abi} (simulated)"
        self.product = model.lower().replace(" ", "_")
        if root is None:
            root = Path(tempfile.mkdtemp(prefix=f"fakedevice-{serial}-"))
        self.root = Path(root).resolve()
        self.storage_free_bytes, self.storage_total_bytes = storage_free_bytes, storage_total_bytes
        self.crash_after, self.hang, self.unplug_after = crash_after, hang, unplug_after
        self.model_error, self.app_memory_kb, self.runtime_factory = model_error, app_memory_kb, runtime_factory
        self.crash_kind = crash_kind
        self.app_made_its_folders = False  # set by the simulated app when it creates files/ itself
        self.props = self._default_props()
        self.props.update(props or {})

        self.commands: list[str] = []
        self.executed: list[list[str]] = []
        self.sync_log: list[tuple[str, str]] = []
        self.logs: list[LogLine] = []
        self.log_changed = threading.Condition()
        self.lock = threading.RLock()
        self.packages: dict[str, Package] = {}
        self.transport_id = 0
        self.server: FakeAdbServer | None = None
        self._next_pid = 12000 + secrets.randbelow(4000)

        self._make_layout()
        for name in ("com.android.shell", "com.android.settings", "com.google.android.gms"):
            self.packages[name] = Package(name, version_code=34, version_name="14", system=True,
                                          apk_path=f"/system/priv-app/{name}/{name}.apk", user_id=1000)
        self.app = SimulatedApp(self)
        if app_installed:
            self.install_package({"package": APP_PACKAGE, "versionCode": app_version_code})
            if app_folders:
                self.app.ensure_folders()
        self.log("I", "ActivityManager", "System now ready", pid=1400, buffer="system")

    def __repr__(self) -> str:
        return f"FakeDevice({self.serial!r}, {self.manufacturer} {self.model}, Android {self.android}, {self.state})"

    # --- properties and state -------------------------------------------------------------------------

    def _default_props(self) -> dict[str, str]:
        return {
            "ro.product.model": self.model, "ro.product.manufacturer": self.manufacturer,
            "ro.product.brand": self.manufacturer.lower(), "ro.product.name": self.product,
            "ro.product.device": self.product, "ro.build.version.release": self.android,
            "ro.build.version.sdk": str(self.sdk), "ro.product.cpu.abi": self.abi,
            "ro.product.cpu.abilist": self.abi, "ro.serialno": self.serial, "ro.boot.serialno": self.serial,
            "ro.build.type": "user", "ro.debuggable": "0", "ro.secure": "1", "sys.boot_completed": "1",
            "ro.build.fingerprint": f"{self.manufacturer.lower()}/{self.product}/{self.product}:{self.android}/"
                                    f"SIM1.{self.sdk}/1:user/release-keys",
            "ro.build.id": f"SIM1.{self.sdk}", "ro.kernel.qemu": "0", "persist.sys.timezone": "UTC",
        }

    def getprop(self, key: str) -> str | None:
        return self.props.get(key)

    @property
    def connected(self) -> bool:
        """Attached to a running fake server (not unplugged)."""
        server = self.server
        return server is not None and server.has_device(self)

    @property
    def app_installed(self) -> bool:
        return APP_PACKAGE in self.packages

    @app_installed.setter
    def app_installed(self, installed: bool) -> None:
        if installed and not self.app_installed:
            self.install_package({"package": APP_PACKAGE, "versionCode": 1})
        elif not installed and self.app_installed:
            self.uninstall_package(APP_PACKAGE)

    @property
    def app_version_code(self) -> int | None:
        package = self.packages.get(APP_PACKAGE)
        return package.version_code if package else None

    @app_version_code.setter
    def app_version_code(self, code: int) -> None:
        if self.app_installed:
            self.packages[APP_PACKAGE].version_code = int(code)
        else:
            self.install_package({"package": APP_PACKAGE, "versionCode": int(code)})

    def new_pid(self) -> int:
        with self.lock:
            self._next_pid += 1 + secrets.randbelow(40)
            return self._next_pid

    def unplug(self) -> None:
        """Pull the cable: remove this device from its server (its open connections are closed)."""
        server = self.server
        if server is not None:
            server.remove_device(self.serial)

    # --- file system ------------------------------------------------------------------------------------

    def _make_layout(self) -> None:
        for folder in ("sdcard/Android/data", "sdcard/Android/media", "sdcard/Download", "sdcard/DCIM",
                       "data/local/tmp", "data/app", "data/data", "system/bin", "storage", "proc", "vendor"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def normalize(path: str) -> str:
        """An absolute, normalized device path with the /sdcard aliases folded (relative paths start at /)."""
        path = posixpath.normpath("/" + path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        for alias in SDCARD_ALIASES:
            if path == alias or path.startswith(alias + "/"):
                return "/sdcard" + path[len(alias):]
        return path

    def host_path(self, path: str, *, write: bool = False) -> Path:
        """The host file behind a device path; FsError when it escapes the root or (write) is not writable."""
        device_path = self.normalize(path)
        host = (self.root / device_path.lstrip("/")).resolve()
        if not host.is_relative_to(self.root):
            raise FsError("Permission denied")
        if write:
            inside = any(device_path.startswith(top + "/") for top in WRITABLE_ROOTS)
            if not inside or not any(host.is_relative_to(self.root / top.lstrip("/")) for top in WRITABLE_ROOTS):
                raise FsError("Read-only file system" if device_path in ("/", "/system") else "Permission denied")
        return host

    def device_path(self, host: Path) -> str:
        return "/" + host.relative_to(self.root).as_posix() if host != self.root else "/"

    def glob(self, pattern: str) -> list[str]:
        """Expand a shell glob (``*``, ``?``, ``[...]``) against the device file system; sorted matches."""
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        found = ["/" if absolute else ""]
        for part in parts:
            matches = []
            for base in found:
                if not any(ch in part for ch in "*?["):
                    candidate = posixpath.join(base, part) if base else part
                    try:
                        if os.path.lexists(self.host_path(candidate)):
                            matches.append(candidate)
                    except FsError:
                        pass
                    continue
                try:
                    folder = self.host_path(base or "/")
                    names = sorted(os.listdir(folder)) if folder.is_dir() else []
                except (FsError, OSError):
                    names = []
                for name in names:
                    if fnmatch.fnmatchcase(name, part) and (not name.startswith(".") or part.startswith(".")):
                        matches.append(posixpath.join(base, name) if base else name)
            found = matches
        return sorted(found) if parts else []

    def use_storage(self, nbytes: int) -> bool:
        """Take ``nbytes`` of free space; False (nothing taken) when the device is full."""
        with self.lock:
            if nbytes > self.storage_free_bytes:
                return False
            self.storage_free_bytes -= nbytes
            return True

    def release_storage(self, nbytes: int) -> None:
        with self.lock:
            self.storage_free_bytes += max(0, nbytes)

    @staticmethod
    def disk_usage(host: Path) -> int:
        if host.is_symlink() or not host.exists():
            return 0
        if host.is_file():
            return host.stat().st_size
        return sum(p.stat().st_size for p in host.rglob("*") if p.is_file() and not p.is_symlink())

    def remove_tree(self, host: Path) -> None:
        """Delete a file or folder and give its space back."""
        freed = self.disk_usage(host)
        if host.is_dir() and not host.is_symlink():
            shutil.rmtree(host)
        else:
            host.unlink()
        self.release_storage(freed)

    # --- packages ---------------------------------------------------------------------------------------

    def install_package(self, meta: dict[str, Any], apk: Path | None = None) -> Package:
        """Install (or update) a package from ``read_fake_apk`` metadata; copies the APK under /data/app."""
        name = meta.get("package", APP_PACKAGE)
        if name == APP_PACKAGE:
            self.app.force_stop(reason="install")
        token = secrets.token_urlsafe(12)
        code_dir = self.root / "data/app" / f"~~{token[:11]}==" / f"{name}-{token[11:]}=="
        code_dir.mkdir(parents=True, exist_ok=True)
        base = code_dir / "base.apk"
        if apk is not None:
            shutil.copyfile(apk, base)
        else:
            base.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
        with self.lock:
            old = self.packages.get(name)
            if old is not None and old.apk_path:
                shutil.rmtree(self.host_path(old.apk_path).parent, ignore_errors=True)
            package = Package(name, version_code=int(meta.get("versionCode", 1)),
                              version_name=str(meta.get("versionName", "0.1.0")), min_sdk=int(meta.get("minSdk", 24)),
                              target_sdk=int(meta.get("targetSdk", 34)), apk_path=self.device_path(base),
                              first_install=old.first_install if old else time.time())
            self.packages[name] = package
        return package

    def uninstall_package(self, name: str, keep_data: bool = False) -> bool:
        with self.lock:
            package = self.packages.get(name)
            if package is None or package.system:
                return False
            if name == APP_PACKAGE:
                self.app.force_stop(reason="uninstall")
            del self.packages[name]
        if package.apk_path:
            shutil.rmtree(self.host_path(package.apk_path).parent, ignore_errors=True)
        if not keep_data:  # Android deletes the app's external folder with the app
            external = self.host_path(f"/sdcard/Android/data/{name}")
            if external.exists():
                self.remove_tree(external)
            if name == APP_PACKAGE:
                self.app_made_its_folders = False
            shutil.rmtree(self.root / "data/data" / name, ignore_errors=True)
        return True

    # --- logcat -----------------------------------------------------------------------------------------

    def log(self, level: str, tag: str, message: str, *, pid: int = 1400, tid: int | None = None,
            buffer: str = "main", at: float | None = None) -> None:
        """Append a log line (``at``: its time, for tests that plant old lines; default now)."""
        if level not in _LEVELS:
            raise ValueError(f"log level must be one of {_LEVELS}")
        with self.log_changed:
            self.logs.append(LogLine(time.time() if at is None else at, pid, tid or pid, level, tag, message,
                                     buffer))
            self.log_changed.notify_all()

    def clear_logs(self) -> None:
        with self.log_changed:
            self.logs.clear()

    # --- recording --------------------------------------------------------------------------------------

    def ran(self, *argv: str) -> bool:
        """True when the shell executed a simple command starting with these arguments."""
        return any(cmd[: len(argv)] == list(argv) for cmd in self.executed)

    def shutdown(self) -> None:
        """Stop the simulated app (no thread outlives a test)."""
        self.app.shutdown()
