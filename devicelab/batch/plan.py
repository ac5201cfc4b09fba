"""Batch plan files: parse the TOML, check every key and value, and say which line is wrong.

    plan = load_plan("plan.toml")          # PlanError: "plan.toml:12: unknown key 'retires' ..."

A plan names models x variants x targets; see README "Batch runs over device farms" for the whole format.
Validation is static (names, types, ranges); which devices exist is found when the batch starts.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelab.batch.tomlpos import key_lines, line_of
from devicelab.errors import UsageError

TomlPath = tuple[str | int, ...]
PLAN_HINT = "see the plan format in README.md, section 'Batch runs over device farms'"
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 2.0


class PlanError(UsageError):
    """A plan file that cannot be run; the message names the file and line."""

    kind = "plan"


@dataclass(frozen=True)
class BrowserSpec:
    browser: str
    backends: tuple[str, ...] | None = None  # None: the plan's [measure] backends, else each runtime's default
    slots: int = 1
    grid: str | None = None  # a WebDriver URL (Selenium Grid) instead of local drivers
    headed: bool = False


@dataclass(frozen=True)
class Targets:
    host: bool = False
    android: tuple[str, ...] = ()  # selectors: "all", "serial:XYZ", an alias or a piece of the model name
    ios: tuple[str, ...] = ()
    browsers: tuple[BrowserSpec, ...] = ()
    adb_servers: tuple[str, ...] = ()  # host:port of adb servers; empty: $DEVICELAB_ADB_SERVER or the local one
    adb_connect: tuple[str, ...] = ()  # host:port device endpoints (DeviceFarmer/STF remote connect, adb over TCP)
    per_device: bool = False  # every phone measures every job (default: once per phone model)
    instrument: bool = False  # run Android jobs through `am instrument -w`


@dataclass(frozen=True)
class MeasureSettings:
    runs: int = 50
    warmup_runs: int = 5
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    threads: int = 1
    accuracy: bool = True
    performance: bool = True
    delegates: tuple[str, ...] = ()  # TFLite / ONNX Runtime delegates (host, Android), kept where a target has them
    backends: tuple[str, ...] = ()  # browser backends (a browser entry's own list wins)
    compute_units: tuple[str, ...] = ()  # Core ML compute units (iOS)


@dataclass(frozen=True)
class FarmSettings:
    firebase_devices: tuple[str, ...] = ()  # gcloud --device values: "model=redfin,version=30"
    firebase_results_bucket: str | None = None
    firebase_timeout: str = "30m"
    aws_project_arn: str | None = None
    aws_device_pool_arn: str | None = None


@dataclass(frozen=True)
class Plan:
    name: str
    models: tuple[str, ...]
    variants: tuple[str, ...]
    targets: Targets
    measure: MeasureSettings = field(default_factory=MeasureSettings)
    farm: FarmSettings = field(default_factory=FarmSettings)
    data: str | None = None
    calibration: str | None = None
    samples: int | None = None
    repeats: int = 1
    retries: int = DEFAULT_RETRIES
    backoff_seconds: float = DEFAULT_BACKOFF_S
    timeout_seconds: float = 600.0
    reference: bool = True
    store: Path | None = None
    path: Path | None = None

    @property
    def key(self) -> str:
        """What identifies this plan's batches in the store (its name, else its file)."""
        return self.name or (str(self.path.resolve()) if self.path else "plan")

    def options(self) -> Any:
        """The api.MeasureOptions every job of this plan shares (sweep settings come per job)."""
        from devicelab.api import MeasureOptions

        m = self.measure
        return MeasureOptions(samples=self.samples, accuracy=m.accuracy, performance=m.performance,
                              warmup_runs=m.warmup_runs, runs=m.runs, min_seconds=m.min_seconds,
                              max_seconds=m.max_seconds, threads=m.threads, timeout_seconds=self.timeout_seconds)


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file; PlanError names the line of every problem found."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read plan {path}: {exc}", hint="give the path of a .toml plan file") from None
    return parse_plan(text, path)


def parse_plan(text: str, path: Path | None = None) -> Plan:
    label = path.name if path else "plan"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line = message.rsplit("(at line ", 1)[-1].split(",")[0] if "(at line " in message else "?"
        raise PlanError(f"{label}:{line}: not valid TOML: {message.split(' (at line')[0]}", hint=PLAN_HINT) from None
    checker = _Checker(label, key_lines(text))
    plan = checker.plan(doc, path)
    checker.raise_problems()
    assert plan is not None
    return plan


# --- checking -------------------------------------------------------------------------------------------------


def _known_settings() -> dict[str, set[str]]:
    """Every delegate / backend / compute unit some target accepts (a plan's sweep values must be among them)."""
    from devicelab import runtimes
    from devicelab.targets.android import RUNTIMES as ANDROID
    from devicelab.targets.browser import WEB_RUNTIMES
    from devicelab.targets.ios import RUNTIMES as IOS

    delegates = {d for r in runtimes.RUNTIMES.values() if r.name in ("tflite", "onnxruntime") for d in r.delegates}
    delegates |= {d for _, settings in ANDROID.values() for d in settings}
    return {"delegates": delegates, "backends": {b for _, s in WEB_RUNTIMES.values() for b in s},
            "compute_units": {c for _, s in IOS.values() for c in s}}


def _variant_names() -> set[str]:
    from devicelab.api import ORIGINAL
    from devicelab.convert.variants import VARIANTS

    return {*VARIANTS, ORIGINAL}


_TOP = ("name", "models", "variants", "data", "calibration", "samples", "repeats", "retries", "backoff_seconds",
        "timeout_seconds", "reference", "store", "measure", "targets", "farm")
_MEASURE = ("runs", "warmup_runs", "min_seconds", "max_seconds", "threads", "accuracy", "performance", "delegates",
            "backends", "compute_units")
_TARGETS = ("host", "android", "ios", "browsers", "adb_servers", "adb_connect", "per_device", "instrument", "grid")
_BROWSER = ("browser", "backends", "slots", "grid", "headed")
_FARM = ("firebase", "aws")
_FIREBASE = ("devices", "results_bucket", "timeout")
_AWS = ("project_arn", "device_pool_arn")
_SELECTOR_PREFIXES = ("serial:",)


class _Checker:
    """Collects every problem with its line, so one run of `devicelab batch` shows them all."""

    def __init__(self, label: str, lines: dict[TomlPath, int]) -> None:
        self.label, self.lines = label, lines
        self.problems: list[tuple[int, str]] = []

    def problem(self, path: TomlPath, message: str) -> None:
        line = line_of(self.lines, path)
        self.problems.append((line or 0, f"{self.label}:{line}: {message}" if line else f"{self.label}: {message}"))

    def raise_problems(self) -> None:
        """One error naming every problem, in file order, one per line (a fix-one-rerun loop is slow)."""
        if not self.problems:
            return
        ordered = [message for _, message in sorted(self.problems, key=lambda p: p[0])]
        if len(ordered) == 1:
            raise PlanError(ordered[0], hint=PLAN_HINT)
        raise PlanError(f"{len(ordered)} problems in {self.label}:\n" + "\n".join(f"  {m}" for m in ordered),
                        hint=PLAN_HINT)

    # -- generic ------------------------------------------------------------------------------------------------

    def table(self, doc: Any, path: TomlPath, known: tuple[str, ...]) -> dict[str, Any]:
        where = ".".join(str(p) for p in path) or "the top level"
        if not isinstance(doc, dict):
            self.problem(path, f"'{where}' must be a table")
            return {}
        for key in doc:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
                self.problem((*path, key), f"unknown key '{key}' in {where}{hint}")
        return doc

    def typed(self, doc: dict[str, Any], path: TomlPath, key: str, kind: type | tuple[type, ...], default: Any,
              check: Callable[[Any], str | None] | None = None) -> Any:
        if key not in doc:
            return default
        value = doc[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            names = "a number" if set(kinds) == {int, float} else " or ".join(_TYPE_NAMES[k] for k in kinds)
            self.problem((*path, key), f"'{key}' must be {names}, not {_describe(value)}")
            return default
        problem = check(value) if check else None
        if problem:
            self.problem((*path, key), f"'{key}' {problem}")
            return default
        return value

    def strings(self, doc: dict[str, Any], path: TomlPath, key: str, required: bool = False,
                allowed: set[str] | None = None, what: str = "name") -> tuple[str, ...]:
        if key not in doc:
            if required:
                self.problem(path, f"'{key}' is missing ({what}s to use)")
            return ()
        value = doc[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem((*path, key), f"'{key}' must be a list of strings")
            return ()
        if required and not value:
            self.problem((*path, key), f"'{key}' is empty")
        for index, item in enumerate(value):
            if allowed is not None and item not in allowed:
                close = difflib.get_close_matches(item, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (use one of {', '.join(sorted(allowed))})"
                self.problem((*path, key, index), f"unknown {what} '{item}'{hint}")
        return tuple(value)

    # -- sections ------------------------------------------------------------------------------------------------

    def plan(self, doc: dict[str, Any], path: Path | None) -> Plan | None:
        top = self.table(doc, (), _TOP)
        models = self.strings(top, (), "models", required=True, what="model")
        variants = self.strings(top, (), "variants", required=True, allowed=_variant_names(), what="variant")
        if "targets" not in top:
            self.problem((), "'[targets]' is missing: name at least one of host, android, ios, browsers")
        targets = self.targets(top.get("targets", {}), ("targets",))
        measure = self.measure(top.get("measure", {}), ("measure",))
        farm = self.farm(top.get("farm", {}), ("farm",))
        t = (top, ())
        positive, non_negative = _at_least(1), _at_least(0)
        store = self.typed(*t, "store", str, None)
        return Plan(
            name=self.typed(*t, "name", str, ""), models=models, variants=variants, targets=targets,
            measure=measure, farm=farm, data=self.typed(*t, "data", str, None),
            calibration=self.typed(*t, "calibration", str, None),
            samples=self.typed(*t, "samples", int, None, positive),
            repeats=self.typed(*t, "repeats", int, 1, positive),
            retries=self.typed(*t, "retries", int, DEFAULT_RETRIES, non_negative),
            backoff_seconds=float(self.typed(*t, "backoff_seconds", (int, float), DEFAULT_BACKOFF_S, non_negative)),
            timeout_seconds=float(self.typed(*t, "timeout_seconds", (int, float), 600.0, _above(0))),
            reference=self.typed(*t, "reference", bool, True),
            store=(path.parent / store if path else Path(store)) if store else None, path=path)

    def measure(self, doc: Any, path: TomlPath) -> MeasureSettings:
        m = self.table(doc, path, _MEASURE)
        known = _known_settings()
        t = (m, path)
        return MeasureSettings(
            runs=self.typed(*t, "runs", int, 50, _at_least(1)),
            warmup_runs=self.typed(*t, "warmup_runs", int, 5, _at_least(0)),
            min_seconds=float(self.typed(*t, "min_seconds", (int, float), 1.0, _at_least(0))),
            max_seconds=float(self.typed(*t, "max_seconds", (int, float), 30.0, _above(0))),
            threads=self.typed(*t, "threads", int, 1, _at_least(1)),
            accuracy=self.typed(*t, "accuracy", bool, True), performance=self.typed(*t, "performance", bool, True),
            delegates=self.strings(m, path, "delegates", allowed=known["delegates"], what="delegate"),
            backends=self.strings(m, path, "backends", allowed=known["backends"], what="backend"),
            compute_units=self.strings(m, path, "compute_units", allowed=known["compute_units"],
                                       what="compute unit"))

    def targets(self, doc: Any, path: TomlPath) -> Targets:
        t = self.table(doc, path, _TARGETS)
        android = self.strings(t, path, "android", what="selector")
        for index, selector in enumerate(android):
            prefix = selector.split(":", 1)[0] + ":" if ":" in selector else ""
            if prefix and prefix not in _SELECTOR_PREFIXES and not selector.rsplit(":", 1)[-1].isdigit():
                close = difflib.get_close_matches(prefix, _SELECTOR_PREFIXES, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else " (use serial:SERIAL, all, or a model name)"
                self.problem((*path, "android", index), f"unknown selector prefix '{prefix}'{hint}")
        browsers = self.browsers(t.get("browsers", []), (*path, "browsers"))
        grid = self.typed(t, path, "grid", str, None, _url)
        if grid:
            browsers = tuple(b if b.grid else BrowserSpec(b.browser, b.backends, b.slots, grid, b.headed)
                             for b in browsers)
        targets = Targets(
            host=self.typed(t, path, "host", bool, False), android=android,
            ios=self.strings(t, path, "ios", what="selector"), browsers=browsers,
            adb_servers=self.endpoints(t, path, "adb_servers"), adb_connect=self.endpoints(t, path, "adb_connect"),
            per_device=self.typed(t, path, "per_device", bool, False),
            instrument=self.typed(t, path, "instrument", bool, False))
        if isinstance(doc, dict) and not (targets.host or targets.android or targets.ios or targets.browsers):
            self.problem(path, "no targets: set host = true, or list android, ios or browsers")
        if targets.adb_connect and not targets.android:
            self.problem((*path, "adb_connect"), "'adb_connect' needs android selectors (for example \"all\")")
        return targets

    def endpoints(self, doc: dict[str, Any], path: TomlPath, key: str) -> tuple[str, ...]:
        values = self.strings(doc, path, key, what="endpoint")
        for index, value in enumerate(values):
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or "/" in value:
                self.problem((*path, key, index), f"'{value}' is not host:port (for example 10.0.0.7:5037)")
        return values

    def browsers(self, doc: Any, path: TomlPath) -> tuple[BrowserSpec, ...]:
        from devicelab.targets.browsers import KINDS

        if not isinstance(doc, list):
            self.problem(path, "'browsers' must be a list of tables: [{browser = \"chrome\", slots = 2}]")
            return ()
        specs = []
        known = _known_settings()["backends"]
        for index, entry in enumerate(doc):
            where = (*path, index)
            b = self.table(entry, where, _BROWSER)
            if not b:
                continue
            name = self.typed(b, where, "browser", str, None)
            if name is None:
                self.problem(where, "a browser entry needs 'browser' (chrome, chromium, edge, firefox, safari)")
                continue
            if name not in KINDS:
                close = difflib.get_close_matches(name, KINDS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (use one of {', '.join(KINDS)})"
                self.problem((*where, "browser"), f"unknown browser '{name}'{hint}")
            backends = self.strings(b, where, "backends", allowed=known, what="backend") if "backends" in b else None
            specs.append(BrowserSpec(name, backends, self.typed(b, where, "slots", int, 1, _at_least(1)),
                                     self.typed(b, where, "grid", str, None, _url),
                                     self.typed(b, where, "headed", bool, False)))
        return tuple(specs)

    def farm(self, doc: Any, path: TomlPath) -> FarmSettings:
        f = self.table(doc, path, _FARM)
        firebase = self.table(f.get("firebase", {}), (*path, "firebase"), _FIREBASE)
        aws = self.table(f.get("aws", {}), (*path, "aws"), _AWS)
        fb, aw = (*path, "firebase"), (*path, "aws")
        return FarmSettings(
            firebase_devices=self.strings(firebase, fb, "devices", what="device"),
            firebase_results_bucket=self.typed(firebase, fb, "results_bucket", str, None),
            firebase_timeout=self.typed(firebase, fb, "timeout", str, "30m"),
            aws_project_arn=self.typed(aws, aw, "project_arn", str, None),
            aws_device_pool_arn=self.typed(aws, aw, "device_pool_arn", str, None))


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", list: "a list",
               dict: "a table"}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, (int, float)):
        return f"{value}"
    return "a list" if isinstance(value, list) else "a table" if isinstance(value, dict) else type(value).__name__


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda value: f"must be at least {low:g}, not {value}" if value < low else None


def _above(low: float) -> Callable[[Any], str | None]:
    return lambda value: f"must be more than {low:g}, not {value}" if value <= low else None


def _url(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else f"must be an http(s) URL, not '{value}'"
