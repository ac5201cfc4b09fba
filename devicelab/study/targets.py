"""Which targets a study runs on, and which variants each of them can run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from devicelab.convert import variants as registry
from devicelab.errors import DevicelabError, UsageError
from devicelab.targets.base import Target

# Variant x target-kind pairs that cannot work, with the reason the report gives (not errors: known limits). Empty
# since LiteRT.js is the browser's TFLite runtime: it runs the int8-I/O and dynamic-range variants tfjs-tflite could
# not.
_CANNOT_RUN: dict[tuple[str, str], str] = {}


def known_limit(kind: str, variant: str) -> str | None:
    """Why a kind of target (host, browser, android, ios) cannot run a variant at all, or None (batch plans skip
    these combinations at plan time, as the study does)."""
    return _CANNOT_RUN.get((kind, variant))


@dataclass
class TargetSpec:
    """A target as the user named it, built lazily so a missing device fails only its own part."""

    name: str
    build: Callable[[], Target]
    reference_only: bool = False  # run only the original (the PC reference), not the variants


def parse_targets(text: str | list[str], *, remote: str | None = None, adb_server: str | None = None,
                  headed: bool = False) -> list[TargetSpec]:
    """'host,chrome,pixel' -> specs: host, a browser kind, or a device selector (Android or iOS)."""
    from devicelab.targets import browsers

    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise UsageError("no targets given", hint="for example --targets host,chrome,pixel")
    specs = []
    for name in dict.fromkeys(names):
        if name == "host":
            specs.append(TargetSpec(name, _host))
        elif name.lower() in browsers.KINDS:
            specs.append(TargetSpec(name, _browser(name.lower(), remote, headed)))
        else:
            specs.append(TargetSpec(name, _device(name, adb_server)))
    return specs


def _host() -> Target:
    from devicelab.targets.host import HostTarget

    return HostTarget()


def _browser(name: str, remote: str | None, headed: bool) -> Callable[[], Target]:
    def build() -> Target:
        from devicelab.targets.browser import BrowserTarget

        return BrowserTarget(name, headed=headed, remote=remote)
    return build


def _device(selector: str, adb_server: str | None) -> Callable[[], Target]:
    def build() -> Target:
        from devicelab.targets.devices import find_device_target

        return find_device_target(selector, adb_server=adb_server)
    return build


def runnable(target: Target, variant_names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split variants into those this target runs and those it cannot (with the reason)."""
    keep, skipped = [], {}
    for name in variant_names:
        variant = registry.get(name)
        reason = _CANNOT_RUN.get((target.kind, name))
        if target.kind == "host" and variant.format == "coreml" and sys.platform != "darwin":
            reason = "Core ML runs on macOS and iOS only"
        if reason is None:
            try:
                target.default_runtime(variant.format)
            except DevicelabError as exc:
                reason = exc.message
        if reason:
            skipped[name] = reason
        else:
            keep.append(name)
    return keep, skipped
