"""Finding a device by what the user typed: one selector across Android (adb) and iOS (xcrun)."""

from __future__ import annotations

from devicelab.errors import DevicelabError
from devicelab.targets.base import Target


def find_device_target(selector: str, *, platform: str | None = None, adb_server: str | None = None,
                       instrument: bool = False) -> Target:
    """The Android or iOS target `selector` names; with no --platform, the one platform where it matches.

    A platform whose tools are missing (no adb server, no xcrun) is skipped, and named in the error if nothing
    matched anywhere.
    """
    from devicelab.targets.android import AndroidTarget
    from devicelab.targets.ios import IOSTarget

    builders = {"android": lambda: AndroidTarget(selector, server=adb_server, instrument=instrument),
                "ios": lambda: IOSTarget(selector)}
    if platform:
        if platform not in builders:
            raise DevicelabError(f"unknown platform '{platform}'", "use android or ios")
        return builders[platform]()
    found, problems, hints = [], [], []
    for name, build in builders.items():
        try:
            found.append(build())
        except DevicelabError as exc:
            problems.append(f"{name}: {exc.message}")
            hints.extend([f"{name}: {exc.hint}"] if exc.hint else [])
    if len(found) == 1:
        return found[0]
    if not found:
        raise DevicelabError(f"no device matches '{selector}'. " + " | ".join(problems),
                             "; ".join([*hints, "`devicelab devices` lists what is here"]))
    raise DevicelabError(f"'{selector}' matches both an Android and an iOS device: "
                         + ", ".join(target.name for target in found), "add --platform android or --platform ios")
