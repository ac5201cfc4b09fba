"""`devicelab devices` and the measurement apps: `android install`, `ios install`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from devicelab.cli.base import AdbServerOpt, app, console
from devicelab.errors import DevicelabError

android_app = typer.Typer(help="The Android measurement app on your phones.", no_args_is_help=True)
app.add_typer(android_app, name="android")
ios_app = typer.Typer(help="The iOS measurement app on simulators and devices (macOS with Xcode).",
                      no_args_is_help=True)
app.add_typer(ios_app, name="ios")


@app.command()
def devices() -> None:
    """List the targets this machine can measure on: the PC, Android devices, iOS simulators and devices, and the
    browsers with their drivers."""
    from rich.table import Table

    from devicelab.runner import host_device
    from devicelab.targets.browsers import KINDS, find_local

    host = host_device()
    console.print(f"host: {host['cpu']} ({host['cores']} cores), {host['os']}")
    _android_devices()
    _ios_devices()
    table = Table(title="Browsers", title_justify="left")
    for column in ("name", "browser", "version", "driver", "driver version", "status"):
        table.add_column(column)
    for name in KINDS:
        try:
            found = find_local(name)
            table.add_row(name, found.binary, found.versions["browser"], found.driver, found.versions["driver"],
                          "[green]ready[/green]")
        except DevicelabError as exc:
            table.add_row(name, "-", "-", "-", "-", f"[yellow]{exc.message}[/yellow]")
    console.print(table)


@ios_app.command("install")
def ios_install(
    app_path: Annotated[Path | None, typer.Argument(metavar="APP", help="The built DeviceLab.app (default: "
                                                    "ios_app's simulator build).")] = None,
    device: Annotated[str, typer.Option("--device", help="UDID, alias or piece of the name of a booted simulator "
                                        "or paired device.")] = "booted",
    build: Annotated[bool, typer.Option("--build", help="Build ios_app first (XcodeGen + xcodebuild); the default "
                                        "when no APP is given and no build exists.")] = False,
    team: Annotated[str | None, typer.Option("--team", help="Apple development team, to sign builds for devices.")]
    = None,
) -> None:
    """Build (or take a given build of) the devicelab app and install it on a booted simulator or a paired
    device."""
    from devicelab.targets.ios import DEFAULT_APP, IOSTarget, build_app

    target = IOSTarget("" if device == "booted" else device)
    note = None
    if app_path is None and (build or not DEFAULT_APP.exists() or not target.simulator):
        with console.status("building ios_app with xcodebuild..."):
            app_path, note = build_app(simulator=target.simulator, team=team)
    target.install(app_path or DEFAULT_APP)
    console.print(f"installed on {target.device.label}")
    if note:  # e.g. built without CocoaPods, so without TensorFlow Lite
        console.print(f"note: {note}", style="yellow", markup=False)


def _device_table(platform: str, title: str, lister: Any, columns: tuple[str, ...], row: Any) -> None:
    """One platform's devices as a table, or the one line that says why there are none."""
    from rich.table import Table

    try:
        found = lister()
    except DevicelabError as exc:
        console.print(f"{platform}: {exc.message}")
        return
    if not found:
        console.print(f"{platform}: no devices")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for device in found:
        table.add_row(*row(device))
    console.print(table)


def _ios_devices() -> None:
    from devicelab.targets.ios import list_devices

    _device_table("iOS", "iOS simulators and devices", list_devices, ("UDID / identifier", "name", "kind", "OS",
                                                                      "state"),
                  lambda d: (d.udid, d.name, d.kind, d.os, d.state + ("" if d.paired else " (not paired)")))


def _android_devices() -> None:
    from devicelab.targets.android import list_devices

    _device_table("Android", "Android devices", list_devices, ("serial", "model", "Android", "ABI", "state"),
                  lambda d: (d.serial, f"{d.manufacturer} {d.model}".strip() or "-", d.android or "-", d.abi or "-",
                             d.state))




@android_app.command("install")
def android_install(
    apk: Annotated[Path | None, typer.Argument(help="The APK (default: android_app's debug build).")] = None,
    device: Annotated[str | None, typer.Option("--device", help="Serial, alias or model piece (default: the only "
                                               "device).")] = None,
    adb_server: AdbServerOpt = None,
) -> None:
    """Install (or update) the devicelab measurement app on a device."""
    from devicelab.targets.android import DEFAULT_APK, AndroidTarget

    target = AndroidTarget(device or "", server=adb_server)
    output = target.install(apk or DEFAULT_APK)
    console.print(f"{target.device.label}: {output}; app versionCode {target.check_app()}")
