"""The workers a plan's targets give: pools of equivalent members (phones of one model, slots of one browser).

A pool runs each of its jobs once, on whichever member is free; a member is one worker (a phone, a browser
slot, this PC). Phones of the same manufacturer and model form one pool (``per_device = true``: one pool per
phone), so a phone that goes away leaves its jobs to its twins. Devices are found across every adb server of
the plan; DeviceFarmer/STF remote-connect endpoints are attached to the first server with ``adb connect``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devicelab.batch.plan import BrowserSpec, Plan
from devicelab.errors import DevicelabError
from devicelab.targets.base import Target

RuntimeTable = dict[str, tuple[str, tuple[str, ...]]]  # runtime -> (artifact format, settings it accepts)


def formats_of(table: RuntimeTable) -> dict[str, str]:
    """{artifact format: the runtime that runs it} from a target's runtime table (the first one wins)."""
    formats: dict[str, str] = {}
    for runtime, (fmt, _) in table.items():
        formats.setdefault(fmt, runtime)
    return formats


def settings_of(table: RuntimeTable) -> dict[str, tuple[str, ...]]:
    return {runtime: settings for runtime, (_, settings) in table.items()}


def _always() -> bool:
    return True


@dataclass
class Member:
    """One worker: builds its target in its own thread, and can tell whether its device is still there."""

    name: str  # what results are filed under (the target's name)
    label: str  # for progress lines and messages
    build: Callable[[], Target]
    present: Callable[[], bool] = _always


@dataclass
class Pool:
    key: str  # identity in job ids: "host", "android:Google Pixel 7", "browser:chrome"
    kind: str  # host | android | ios | browser (or anything, for pools built in code)
    label: str
    members: list[Member]
    formats: dict[str, str]  # artifact format -> runtime
    settings: dict[str, tuple[str, ...]]  # runtime -> the delegates / backends / compute units it accepts
    sweep: tuple[str, ...] = ()  # the plan's sweep values; each job takes those its runtime accepts
    sweep_field: str = "delegate"  # the MeasureOptions field a sweep value goes to
    why_unavailable: Callable[[str], str | None] = field(default=lambda runtime: None)

    @classmethod
    def from_table(cls, key: str, kind: str, label: str, members: list[Member], table: RuntimeTable,
                   **more: Any) -> Pool:
        return cls(key, kind, label, members, formats_of(table), settings_of(table), **more)

    def settings_for(self, runtime: str) -> list[str | None]:
        """The plan's sweep values this runtime accepts here, or [None] (the runtime's default) when none."""
        accepted = self.settings.get(runtime, ())
        return [s for s in self.sweep if s in accepted] or [None]


@dataclass
class Discovery:
    pools: list[Pool]
    warnings: list[str]


def discover(plan: Plan) -> Discovery:
    """Every pool the plan's targets give on this machine, and a warning for each target found nowhere."""
    warnings: list[str] = []
    pools: list[Pool] = []
    targets = plan.targets
    if targets.host:
        pools.append(host_pool(plan))
    if targets.android:
        pools.extend(android_pools(plan, warnings))
    if targets.ios:
        pools.extend(ios_pools(plan, warnings))
    pools.extend(browser_pool(spec, plan) for spec in targets.browsers)
    return Discovery(pools, warnings)


# --- host ------------------------------------------------------------------------------------------------------


def host_pool(plan: Plan) -> Pool:
    from devicelab import runtimes
    from devicelab.targets.host import HostTarget

    formats = {fmt: r.name for r in reversed(runtimes.RUNTIMES.values()) for fmt in r.formats}
    settings = {r.name: r.delegates for r in runtimes.RUNTIMES.values()}
    cache: dict[str, str | None] = {}

    def unavailable(name: str) -> str | None:
        if name not in cache:
            try:
                runtimes.get(name).check_available()
                cache[name] = None
            except DevicelabError as exc:
                cache[name] = exc.message
        return cache[name]

    # One worker: jobs on this PC share its CPU, so two at once would measure each other.
    return Pool("host", "host", "this PC", [Member("host", "this PC", HostTarget)], formats, settings,
                sweep=plan.measure.delegates, why_unavailable=unavailable)


# --- Android ---------------------------------------------------------------------------------------------------


def android_pools(plan: Plan, warnings: list[str]) -> list[Pool]:
    from devicelab.targets import android

    targets = plan.targets
    servers: list[str | None] = list(targets.adb_servers) or [None]
    for endpoint in targets.adb_connect:
        _connect(endpoint, servers[0], warnings)
    found: list[android.AndroidDevice] = []
    for server in servers:
        try:
            found.extend(android.list_devices(server))
        except DevicelabError as exc:
            stf = " (a DeviceFarmer/STF remote-connect address is a device: list it under adb_connect)" \
                if server else ""
            warnings.append(f"adb server {server or 'default'}: {exc.message}{stf}; its phones are skipped")
    chosen = _match_android(targets.android, found, warnings)
    groups: dict[str, list[android.AndroidDevice]] = {}
    for device in chosen:
        model = f"{device.manufacturer} {device.model}".strip() or device.serial
        key = f"android:{device.serial}@{device.server}" if targets.per_device else f"android:{model}"
        groups.setdefault(key, []).append(device)
    pools = []
    for key, devices in groups.items():
        members = [_android_member(d, targets.instrument) for d in devices]
        label = key.removeprefix("android:") + (f" ({len(devices)} phones)" if len(devices) > 1 else "")
        pools.append(Pool.from_table(key, "android", label, members, android.RUNTIMES,
                                     sweep=plan.measure.delegates))
    return pools


def _connect(endpoint: str, server: str | None, warnings: list[str]) -> None:
    """`adb connect HOST:PORT` through an adb server: the remote device then shows up in its list."""
    from devicelab.targets import android

    try:
        answer = str(android.adb_client(server).connect(endpoint, timeout=20))
    except DevicelabError as exc:
        warnings.append(f"adb connect {endpoint}: {exc.message}")
        return
    except Exception as exc:  # adbutils raises its own errors for refused connections
        answer = str(exc)
    if "connected to" not in answer:
        warnings.append(f"adb connect {endpoint}: {answer.strip() or 'no answer'}; check the remote-connect "
                        "address (STF: Use > Remote debug) and that this machine can reach it")


def _match_android(selectors: tuple[str, ...], devices: list[Any], warnings: list[str]) -> list[Any]:
    """All devices each selector names ("all", "serial:X", an alias, a serial start, a piece of the model)."""
    from devicelab.targets.android import load_aliases

    aliases = load_aliases()
    chosen: dict[tuple[str, str], Any] = {}
    listing = "; ".join(f"{d.serial} ({d.manufacturer} {d.model}, {d.state})" for d in devices) or "none"
    for selector in selectors:
        if selector == "all":
            matches = list(devices)
        elif selector.startswith("serial:"):
            matches = [d for d in devices if d.serial == selector.removeprefix("serial:")]
        else:
            wanted = aliases.get(selector, selector)
            needle = wanted.lower()
            matches = [d for d in devices if d.serial == wanted] or [
                d for d in devices if needle in f"{d.manufacturer} {d.model}".lower()
                or d.serial.lower().startswith(needle)]
        usable = [d for d in matches if d.state == "device"]
        for device in matches:
            if device.state != "device":
                warnings.append(f"android {device.serial} is {device.state}: skipped ("
                                + ("accept the USB debugging prompt)" if device.state == "unauthorized"
                                   else "reconnect it or run `adb reconnect`)"))
        if not matches:
            warnings.append(f"no Android device matches '{selector}'; devices here: {listing}")
        for device in usable:
            chosen.setdefault((device.server, device.serial), device)
    return list(chosen.values())


def _android_member(device: Any, instrument: bool) -> Member:
    from devicelab.targets.android import AndroidTarget, list_devices

    serial, server = device.serial, device.server

    def build() -> Target:
        target = AndroidTarget(serial, server=server, instrument=instrument, aliases={})
        target.check_app()  # not installed / too old: this phone cannot take jobs, say so once
        return target

    def present() -> bool:
        try:
            return any(d.serial == serial and d.state == "device" for d in list_devices(server))
        except Exception:  # the server itself is gone
            return False

    label = f"{serial} ({device.manufacturer} {device.model})".replace("( ", "(") + f" via {server}"
    return Member(f"android:{serial}", label, build, present)


# --- iOS -------------------------------------------------------------------------------------------------------


def ios_pools(plan: Plan, warnings: list[str]) -> list[Pool]:
    from devicelab.targets import ios

    try:
        devices = ios.list_devices()
    except DevicelabError as exc:
        warnings.append(f"iOS: {exc.message}; iOS targets are skipped")
        return []
    usable = [d for d in devices if (d.kind == "device" and d.paired) or d.state == "Booted"]
    chosen: dict[str, Any] = {}
    for selector in plan.targets.ios:
        needle = selector.lower()
        matches = usable if selector == "all" else [
            d for d in usable if d.udid == selector or needle in d.name.lower() or needle in d.model.lower()]
        if not matches:
            warnings.append(f"no booted simulator or paired device matches '{selector}'")
        for device in matches:
            chosen.setdefault(device.udid, device)
    groups: dict[str, list[Any]] = {}
    for device in chosen.values():
        key = f"ios:{device.udid}" if plan.targets.per_device else f"ios:{device.name} ({device.os})"
        groups.setdefault(key, []).append(device)
    pools = []
    for key, group in groups.items():
        members = [Member(f"ios:{d.name}", f"{d.name} ({d.kind}, {d.os})", _ios_builder(d.udid),
                          _ios_present(d.udid)) for d in group]
        pools.append(Pool.from_table(key, "ios", key.removeprefix("ios:"), members, ios.RUNTIMES,
                                     sweep=plan.measure.compute_units, sweep_field="compute_units"))
    return pools


def _ios_builder(udid: str) -> Callable[[], Target]:
    from devicelab.targets.ios import IOSTarget

    return lambda: IOSTarget(udid, aliases={})


def _ios_present(udid: str) -> Callable[[], bool]:
    def present() -> bool:
        from devicelab.targets.ios import list_devices

        with contextlib.suppress(Exception):
            return any(d.udid == udid and (d.state == "Booted" or d.kind == "device") for d in list_devices())
        return False

    return present


# --- browsers --------------------------------------------------------------------------------------------------


def browser_pool(spec: BrowserSpec, plan: Plan) -> Pool:
    from devicelab.targets.browser import WEB_RUNTIMES, BrowserTarget
    from devicelab.targets.browsers import find_local

    where = f" on {spec.grid}" if spec.grid else ""

    def build() -> Target:
        if not spec.grid:
            find_local(spec.browser)  # no browser or driver here: say so once, not once per job
        return BrowserTarget(spec.browser, headed=spec.headed, remote=spec.grid)

    members = [Member(spec.browser, f"{spec.browser} slot {i + 1}/{spec.slots}{where}", build)
               for i in range(spec.slots)]
    key = f"browser:{spec.browser}" + (f"@{spec.grid}" if spec.grid else "")
    sweep = spec.backends if spec.backends is not None else plan.measure.backends
    return Pool.from_table(key, "browser", f"{spec.browser}{where}", members, WEB_RUNTIMES, sweep=sweep,
                           sweep_field="backend")
