"""A fake ``xcrun`` (``simctl`` + ``devicectl``) for tests on machines without Xcode.

    from fakes.xcrun import XcrunFake

    fake = XcrunFake(tmp_path)
    sim = fake.add_simulator("iPhone 15", state="Booted")
    phone = fake.add_device("Ada's iPhone", locked=False)
    fake.set(sim, app_installed=True)
    subprocess.run(["xcrun", "simctl", "list", "devices", "--json"], env=fake.env(), ...)

``env()`` puts this folder (holding the ``xcrun`` executable) first on PATH and points the fake at its state.
The simulated devicelab app writes results with ``simulated: true``; see ``fake_xcrun`` for the commands.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from .fake_xcrun import APP_BUNDLE, DEFAULT_BEHAVIOUR, ensure_app, kill_app, locked_state, running

FAKE_DIR = Path(__file__).resolve().parent

__all__ = ["APP_BUNDLE", "FAKE_DIR", "XcrunFake", "make_fake_app"]


def make_fake_app(folder: Path, bundle_id: str = APP_BUNDLE, name: str = "DeviceLab") -> Path:
    """A ``<name>.app`` folder with an XML Info.plist: what ``simctl install`` / ``devicectl`` need."""
    app = Path(folder) / f"{name}.app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "Info.plist").write_bytes(plistlib.dumps({
        "CFBundleIdentifier": bundle_id, "CFBundleExecutable": name, "CFBundleName": name,
        "CFBundleShortVersionString": "1.0", "CFBundleVersion": "1", "MinimumOSVersion": "16.0"}))
    (app / name).write_bytes(b"\xcf\xfa\xed\xfe fake Mach-O")
    return app


class XcrunFake:
    def __init__(self, tmp_path: Path) -> None:
        self.root = Path(tmp_path) / "fake-xcrun"
        self.root.mkdir(parents=True, exist_ok=True)
        with locked_state(self.root):
            pass

    # --- set-up ---------------------------------------------------------------------------------------

    def add_simulator(self, name: str = "iPhone 15", udid: str | None = None, runtime: str = "iOS 17.5",
                      state: str = "Booted", **behaviour: Any) -> str:
        udid = udid or str(uuid.uuid4()).upper()
        with locked_state(self.root) as st:
            st["devices"][udid] = {"kind": "simulator", "udid": udid, "name": name, "runtime": runtime,
                                   "state": state, "behaviour": {}, "apps": {}, "processes": {}}
        if behaviour:
            self.set(udid, **behaviour)
        return udid

    def add_device(self, name: str = "Ada's iPhone", udid: str | None = None, identifier: str | None = None,
                   os: str = "17.5", model: str = "iPhone15,2", paired: bool = True, locked: bool = False,
                   marketing_name: str | None = None, **behaviour: Any) -> str:
        udid = udid or f"00008120-{uuid.uuid4().hex[:16].upper()}"
        identifier = identifier or str(uuid.uuid4()).upper()
        with locked_state(self.root) as st:
            st["devices"][udid] = {"kind": "device", "udid": udid, "identifier": identifier, "name": name,
                                   "os": os, "model": model, "marketing_name": marketing_name,
                                   "behaviour": {}, "apps": {}, "processes": {}}
        self.set(udid, paired=paired, locked=locked, **behaviour)
        return udid

    def set(self, udid: str, **behaviour: Any) -> None:
        """Change behaviours: app_installed, crash_after, hang, compile_error, locked, paired, coreml_backend,
        lock_after (a device locks that many seconds after an app launch), processes_fail (the next N
        `devicectl device info processes` fail as a dropped connection does), start_delay (seconds before the
        simulated app starts its job), coreml_sidecar (a TFLite twin for Core ML jobs without one in their
        folder), compute_plan (the extra.profile table the app answers on iOS 17.4+ when the job asks for one)."""
        unknown = set(behaviour) - set(DEFAULT_BEHAVIOUR)
        if unknown:
            raise TypeError(f"unknown fake xcrun behaviour(s): {sorted(unknown)}; known: {sorted(DEFAULT_BEHAVIOUR)}")
        with locked_state(self.root) as st:
            dev = self._dev(st, udid)
            dev["behaviour"].update(behaviour)
            if behaviour.get("app_installed"):
                ensure_app(self.root, dev, APP_BUNDLE)
            elif behaviour.get("app_installed") is False and APP_BUNDLE in dev.get("apps", {}):
                kill_app(dev, APP_BUNDLE)
                app = dev["apps"].pop(APP_BUNDLE)
                shutil.rmtree(app["container"], ignore_errors=True)
                dev.get("containers", {}).pop(APP_BUNDLE, None)

    def set_state(self, udid: str, state: str) -> None:
        """A simulator's state: "Booted" or "Shutdown"."""
        with locked_state(self.root) as st:
            self._dev(st, udid)["state"] = state

    # --- use ------------------------------------------------------------------------------------------

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{FAKE_DIR}{os.pathsep}{env.get('PATH', '')}"
        env["FAKE_XCRUN_STATE"] = str(self.root)
        env["DEVICELAB_FAKE_PYTHON"] = sys.executable
        return env

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []

    def received_jobs(self, udid: str) -> list[dict[str, Any]]:
        """Every job.json the simulated app on ``udid`` was started with (the host removes the folders after)."""
        folder = self.root / udid / "received"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []

    def container(self, udid: str, bundle_id: str = APP_BUNDLE) -> Path:
        """Host folder of the app's data container (Documents/, Library/, tmp/); the app must be installed."""
        with locked_state(self.root, write=False) as st:
            app = self._dev(st, udid).get("apps", {}).get(bundle_id)
        if app is None:
            raise KeyError(f"{bundle_id} is not installed on {udid}")
        return Path(app["container"])

    def running(self, udid: str) -> dict[str, int]:
        """bundle id -> pid of the app processes alive on ``udid``."""
        with locked_state(self.root) as st:
            return {b: r["pid"] for b, r in running(self._dev(st, udid)).items()}

    def crashes(self, udid: str) -> list[str]:
        with locked_state(self.root, write=False) as st:
            return list(self._dev(st, udid).get("crashes", []))

    def stop_all(self) -> None:
        """Kill every app process still running (tests call it in teardown)."""
        with locked_state(self.root) as st:
            for dev in st["devices"].values():
                for bundle_id in list(running(dev)):
                    kill_app(dev, bundle_id)

    @staticmethod
    def _dev(st: dict[str, Any], ref: str) -> dict[str, Any]:
        for dev in st["devices"].values():
            if ref in (dev["udid"], dev.get("identifier"), dev["name"]):
                return dev
        raise KeyError(f"no fake simulator or device {ref!r}")
