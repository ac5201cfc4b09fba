"""The devicelab command line: parse, call the API, render. No logic lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Before TensorFlow is ever imported: its C++ logging would bury the tables.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")

from devicelab import __version__
from devicelab.errors import DevicelabError

# Converters write to fds 1 and 2 from C++; devicelab silences them there. The console writes to its own
# duplicate of stdout, so bars and tables still reach the terminal while that happens.
_stdout = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
# Logs and pipes get wide tables rather than rows folded into 80 columns.
console = Console(file=_stdout, highlight=False, width=None if _stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)

app = typer.Typer(
    name="devicelab",
    help="What happens to your model when it leaves your PC: convert and quantize it (TFLite, Core ML, TF.js, "
         "ONNX), run every variant on the PC, phones and browsers, and compare accuracy, speed and memory "
         "with the original.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
zoo_app = typer.Typer(help="Reference models of the study, built as code and trained offline.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
android_app = typer.Typer(help="The Android measurement app on your phones.", no_args_is_help=True)
app.add_typer(android_app, name="android")
ios_app = typer.Typer(help="The iOS measurement app on simulators and devices (macOS with Xcode).",
                      no_args_is_help=True)
app.add_typer(ios_app, name="ios")
AdbServerOpt = Annotated[str | None, typer.Option("--adb-server", help="host:port of the adb server (default: "
                                                  "$DEVICELAB_ADB_SERVER or the local one on 5037).")]

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Results store (SQLite). Default: the user's data "
                                               "dir, or $DEVICELAB_STORE.", show_default=False)]
CacheOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Artifact cache. Default: the user's cache dir, "
                                               "or $DEVICELAB_CACHE.", show_default=False)]


def _split(values: list[str] | None) -> list[str] | None:
    """Accept both `--x a,b` and `--x a --x b`."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class _Bars:
    """Turns the API's (task, done, total, detail) callbacks into one rich bar per task."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("[dim]{task.fields[detail]}"), TimeElapsedColumn(), console=console,
                                 transient=False)
        self.tasks: dict[str, Any] = {}

    def __call__(self, task: str, done: int, total: int, detail: str = "") -> None:
        if not self.tasks:  # start drawing only once there is something to draw
            self.progress.start()
        if task not in self.tasks:
            self.tasks[task] = self.progress.add_task(task, total=total, detail=detail)
        self.progress.update(self.tasks[task], completed=done, total=total, detail=detail)

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tasks:
            self.progress.stop()


def _version(value: bool) -> None:
    if value:
        console.print(f"devicelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show full tracebacks of errors.")] = False,
) -> None:
    if verbose:
        os.environ["DEVICELAB_VERBOSE"] = "1"


def _cache(path: Path | None) -> Path | None:
    if path is not None:
        os.environ["DEVICELAB_CACHE"] = str(path)  # the host worker process inherits it
    return path


@app.command()
def variants() -> None:
    """List every variant devicelab can make, with a one-line description."""
    from rich.markup import escape

    from devicelab.convert.variants import NOT_OFFERED, VARIANTS
    from devicelab.report.terminal import variants_table

    console.print(variants_table(VARIANTS.values()))
    for path, reason in NOT_OFFERED.items():
        console.print(f"not offered: {escape(path)}: {escape(reason)}")


@app.command()
def convert(
    model: Annotated[str, typer.Argument(help="A .keras/.h5 file, a SavedModel folder, an .onnx file, a torch.export "
                                              ".pt2 or a zoo name (lenet1, lenet5, resnet20).")],
    to: Annotated[list[str] | None, typer.Option("--to", help="Formats: tflite,coreml,tfjs,onnx,executorch "
                                                                  "(default: all).")]
    = None,
    quant: Annotated[list[str] | None, typer.Option("--quant", help="Levels: fp32,fp16,dynamic-int8,int8 "
                                                    "(default: all). Each format makes its nearest variant.")] = None,
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Exact variant names instead of "
                                                      "--to/--quant, e.g. tflite-int8,onnx-fp32.")] = None,
    calibration: Annotated[str | None, typer.Option("--calibration", help="Real data for full-integer "
                                                    "quantization (dataset name, .npz, IDX file, image folder). "
                                                    "Default: the model's training data when known.")] = None,
    calibration_samples: Annotated[int, typer.Option(help="How many calibration samples to use.")] = 200,
    cache_dir: CacheOpt = None,
) -> None:
    """Convert a model to every selected variant, cached by content (same model + options = no reconversion)."""
    from devicelab import api
    from devicelab.report.terminal import conversions_table

    with _Bars() as bars:
        report = api.convert(model, formats=_split(to), quants=_split(quant), variants=_split(variant),
                             calibration=calibration, calibration_samples=calibration_samples,
                             cache=_cache(cache_dir), progress=bars)
    console.print(conversions_table(report))
    if report.skipped:
        console.print(f"[dim]not made from a {report.source.format} model: {', '.join(report.skipped)}[/dim]")
    first = next((c for c in report.conversions if c.artifact), None)
    if first:
        console.print(f"[dim]artifacts under {first.artifact.dir.parent.parent}[/dim]")
    for failure in report.failed:
        _print_error(failure.error)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def measure(
    model: Annotated[str, typer.Argument(help="Model file, SavedModel folder or zoo name.")],
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Variants to measure, comma separated; "
                                                      "'original' is the unconverted model. Default: from "
                                                      "--runtime, else the original.")] = None,
    target: Annotated[str, typer.Option("--target", help="Where to run: host (this PC).")] = "host",
    browser: Annotated[str | None, typer.Option("--browser", help="Run in a browser instead: chrome, chromium, "
                                                "edge, firefox, safari (where browser and driver exist).")] = None,
    backend: Annotated[list[str] | None, typer.Option("--backend", help="Browser backends to sweep: cpu, wasm, "
                                                      "webgl, webgpu (tfjs); wasm (tflite-web, ort-web).")] = None,
    remote: Annotated[str | None, typer.Option("--remote", help="A WebDriver URL (Selenium Grid, cloud farm) "
                                               "instead of a local driver.")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    runtime: Annotated[str | None, typer.Option("--runtime", help="Host: keras, tflite, onnxruntime, coreml, "
                                                "executorch, torch. "
                                                "Browser: tfjs, tflite-web, ort-web. Default: the variant's own.")]
    = None,
    data: Annotated[str | None, typer.Option("--data", help="Evaluation data: mnist-sample, a .npz, IDX file or "
                                             "image folder. Default: the model's own dataset when known.")] = None,
    samples: Annotated[int | None, typer.Option(help="Accuracy samples (default: the whole test split).")] = None,
    runs: Annotated[int, typer.Option(help="Minimum timed runs in performance mode.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up runs before the timed ones.")] = 5,
    min_seconds: Annotated[float, typer.Option(help="Keep running until at least this long.")] = 1.0,
    max_seconds: Annotated[float, typer.Option(help="Stop timing after this long even if --runs is not met.")]
    = 30.0,
    threads: Annotated[int, typer.Option(help="Runtime threads.")] = 1,
    delegate: Annotated[str | None, typer.Option(help="TFLite delegate on the host: xnnpack (default) or cpu.")]
    = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a job is stopped.")] = 600.0,
    no_accuracy: Annotated[bool, typer.Option("--no-accuracy", help="Skip accuracy mode.")] = False,
    no_performance: Annotated[bool, typer.Option("--no-performance", help="Skip performance mode.")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Also record per-operator times (executorch: ETDump), "
                                          "from a short extra run after the timed ones.")] = False,
    calibration: Annotated[str | None, typer.Option(help="Calibration data for int8 variants.")] = None,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Run variants of a model through the job protocol on a target and store the results.

    Accuracy mode runs every sample once and compares with the labels and with the original model on this
    PC (top-1 agreement, max abs difference). Performance mode times warm runs, keeping every sample.
    """
    from devicelab import api
    from devicelab.targets.base import Target
    from devicelab.targets.host import HostTarget

    if target != "host":
        raise DevicelabError(f"unknown target '{target}'",
                             "measure on this PC with --target host, or in a browser with --browser chrome")
    chosen: Target
    if browser:
        from devicelab.targets.browser import BrowserTarget

        chosen = BrowserTarget(browser, headed=headed, remote=remote)
    elif remote or backend:
        raise DevicelabError("--remote and --backend need --browser", "for example --browser chrome --backend wasm")
    else:
        chosen = HostTarget()
    options = api.MeasureOptions(samples=samples, accuracy=not no_accuracy, performance=not no_performance,
                                 warmup_runs=warmup, runs=runs, min_seconds=min_seconds, max_seconds=max_seconds,
                                 threads=threads, delegate=delegate, timeout_seconds=timeout, profile=profile)
    _run_measure(model, variant, runtime, data, chosen, options, calibration, store, cache_dir, backend)


def _run_measure(model: str, variant: list[str] | None, runtime: str | None, data: str | None, target: Any,
                 options: Any, calibration: str | None, store: Path | None, cache_dir: Path | None,
                 sweep: list[str] | None) -> None:
    """Measure, close the target whatever happens, show the table, exit 1 if any job failed."""
    from devicelab import api

    try:
        with _Bars() as bars:
            measured = api.measure(model, variants=_split(variant), runtime=runtime, data=data, target=target,
                                   options=options, calibration=calibration, store=store, cache=_cache(cache_dir),
                                   backends=_split(sweep), progress=bars)
    finally:
        target.close()
    _show_measured(measured, store, "Measured")


def _show_measured(measured: list[Any], store: Path | None, title: str, note: str | None = None) -> None:
    """The stored rows of just these measurements as a table, then each failure; exit 1 if any failed."""
    from devicelab.paths import default_store
    from devicelab.report.terminal import results_table
    from devicelab.store import Store

    with Store(store or default_store()) as db:  # only these rows: a long-used store holds thousands
        rows = [row for m in measured if m.row_id and (row := db.get(m.row_id))]
    console.print(results_table(rows, title=title))
    if note:
        console.print(note)
    failed = [m for m in measured if not m.ok]
    for m in failed:
        _print_error(m.error)
    if failed:
        raise typer.Exit(1)


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="Model file, SavedModel folder or zoo name.")],
    device: Annotated[str, typer.Option("--device", help="A serial, an alias from your config file "
                                        "(\\[devices] in config.toml), or a piece of the model name (pixel).")],
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Variants, e.g. tflite-fp32,tflite-int8,"
                                                      "onnx-int8-static (default tflite-fp32).")] = None,
    delegate: Annotated[list[str] | None, typer.Option("--delegate", help="Android: TFLite delegates to sweep: "
                                                       "cpu, xnnpack, gpu, nnapi (ONNX Runtime: cpu, nnapi).")] = None,
    compute_units: Annotated[list[str] | None, typer.Option("--compute-units", help="iOS: Core ML compute units "
                                                            "to sweep: cpu, cpu-gpu, all, cpu-ane.")] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="android or ios, when --device could match "
                                                 "both.")] = None,
    threads: Annotated[int, typer.Option(help="Runtime threads on the device.")] = 1,
    data: Annotated[str | None, typer.Option("--data", help="Evaluation data (default: the model's own).")] = None,
    samples: Annotated[int | None, typer.Option(help="Accuracy samples (default: the whole test split).")] = None,
    runs: Annotated[int, typer.Option(help="Minimum timed runs.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up runs.")] = 5,
    min_seconds: Annotated[float, typer.Option(help="Keep running until at least this long.")] = 1.0,
    timeout: Annotated[float, typer.Option(help="Seconds before a job is stopped.")] = 600.0,
    instrument: Annotated[bool, typer.Option("--instrument", help="Run through `am instrument -w` (what device "
                                             "farms run) instead of the Activity.")] = False,
    adb_server: AdbServerOpt = None,
    calibration: Annotated[str | None, typer.Option(help="Calibration data for int8 variants.")] = None,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Convert as needed, push each job to a phone or simulator (Android over adb, iOS through xcrun), run it in
    the devicelab app there, and store the results like any other target."""
    from devicelab import api
    from devicelab.targets.devices import find_device_target

    target = find_device_target(device, platform=platform, adb_server=adb_server, instrument=instrument)
    options = api.MeasureOptions(samples=samples, warmup_runs=warmup, runs=runs, min_seconds=min_seconds,
                                 threads=threads, timeout_seconds=timeout)
    default = ["coreml-fp32"] if target.kind == "ios" else ["tflite-fp32"]
    sweep = compute_units if target.kind == "ios" else delegate
    _run_measure(model, variant or default, None, data, target, options, calibration, store, cache_dir, sweep)


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


@app.command()
def results(
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    variant: Annotated[str | None, typer.Option(help="Only this variant.")] = None,
    last: Annotated[int | None, typer.Option(help="Only the last N results.")] = None,
) -> None:
    """Show stored results: variant, target, accuracy, agreement, latency, memory, size."""
    from devicelab import api
    from devicelab.report.terminal import results_table

    rows = api.results(store=store, model=model, variant=variant, last=last)
    if not rows:
        console.print("No results yet: run `devicelab measure MODEL` first.")
        return
    console.print(results_table(rows))


@app.command()
def export(
    format: Annotated[str, typer.Option("--format", "-f", help="csv (summary columns) or json (everything, "
                                        "raw samples included).")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    store: StoreOpt = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
) -> None:
    """Write stored results out as CSV or JSON."""
    from devicelab import api

    text = api.export(format, output, store=store, model=model)
    if output is None:
        console.file.write(text)
    else:
        err_console.print(f"wrote {output}")


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="Before: a store file (.sqlite), a JSON export, run:RUN_ID (default "
                                     "store; also run:latest, run:previous) or STORE:RUN_ID.")],
    b: Annotated[str, typer.Argument(help="After, given the same way.")],
    fail_if: Annotated[list[str] | None, typer.Option("--fail-if", help="Gate, repeatable: latency>+10%, "
                                                      "accuracy<-0.5pt, agreement<-1pt, memory>+20%, size>+5%. "
                                                      "Latency, accuracy and agreement gates need a significant "
                                                      "change.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the pull request comment (markdown) "
                                                  "here instead of stdout.")] = None,
    store: StoreOpt = None,
) -> None:
    """Compare two runs per (model, variant, target, runtime): which differences are significant; gate CI.

    Exits 1 when a --fail-if gate fails. Latency: median ratio B/A, bootstrap 95% interval, Mann-Whitney p.
    Accuracy/agreement: points, Newcombe 95% interval, two-proportion z-test. Memory and size: plain ratios.
    """
    from rich.markup import escape
    from rich.table import Table

    from devicelab import api
    from devicelab.metrics import compare as cmp

    comparison, failures = api.compare(a, b, _split(fail_if), store=store)
    table = Table(title=f"{a} → {b}", title_justify="left")
    for column in cmp.HEADER:
        table.add_column(column, justify="left" if column in ("key", "metric") else "right")
    for row in cmp.rows(comparison):
        table.add_row(*map(escape, row[:-1]), "[bold]yes[/bold]" if row[-1] == "yes" else row[-1])
    console.print(table)
    for title, keys in (("only in B", comparison.added), ("only in A", comparison.removed)):
        if keys:
            console.print(f"{title}: " + ", ".join(" / ".join(k) for k in keys))
    text = cmp.markdown(comparison, failures, [cmp.parse_gate(g) for g in _split(fail_if) or []])
    if markdown is None:
        console.print()
        console.file.write(text)
    else:
        markdown.write_text(text)
        err_console.print(f"wrote {markdown}")
    for failure in failures:
        err_console.print(f"[bold red]gate failed:[/bold red] {failure.gate.text}: {' / '.join(failure.key)} "
                          f"{cmp.format_change(failure.diff)} ({cmp.format_interval(failure.diff)})")
    if failures:
        raise typer.Exit(1)


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
    if app_path is None and (build or not DEFAULT_APP.exists() or not target.simulator):
        with console.status("building ios_app with xcodebuild..."):
            app_path = build_app(simulator=target.simulator, team=team)
    target.install(app_path or DEFAULT_APP)
    console.print(f"installed on {target.device.label}")


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


@app.command()
def schema(kind: Annotated[str, typer.Argument(help="job or result")]) -> None:
    """Print the JSON Schema of the job or result document (for app and target authors)."""
    import json

    from devicelab import protocol

    if kind not in ("job", "result"):
        raise DevicelabError(f"unknown schema '{kind}'", "use job or result")
    console.file.write(json.dumps(protocol.schema(kind), indent=2) + "\n")


@zoo_app.command("list")
def zoo_list() -> None:
    """List the zoo models."""
    from rich.table import Table

    from devicelab.models.zoo import ZOO

    table = Table(title="Zoo", title_justify="left")
    for column in ("name", "input", "trains on", "description"):
        table.add_column(column)
    for entry in ZOO.values():
        table.add_row(entry.name, str(entry.input_shape), entry.dataset or "(untrained offline)", entry.description)
    console.print(table)


@zoo_app.command("build")
def zoo_build(
    name: Annotated[str, typer.Argument(help="lenet1, lenet5 or resnet20.")],
    data: Annotated[str | None, typer.Option("--data", help="Training data (default: the model's own; "
                                             "resnet20 needs keras:cifar10, online).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default: the zoo's recipe).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic for a seed).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Retrain even if cached.")] = False,
    cache_dir: CacheOpt = None,
) -> None:
    """Build (train) a zoo model once; later uses come from the cache."""
    from devicelab import api

    with _Bars() as bars:
        path, info = api.zoo_build(name, dataset=data, epochs=epochs, seed=seed, force=force,
                                   cache=_cache(cache_dir), progress=bars)
    if info.get("trained"):
        console.print(f"{name}: test accuracy {info['test_accuracy'] * 100:.2f}% on {info['test_samples']} samples, "
                      f"trained in {info['train_seconds']} s")
    else:
        console.print(f"{name}: built untrained (no training data given)")
    console.print(str(path))


def _print_error(error: BaseException | None) -> None:
    if error is None:
        return
    message = getattr(error, "message", str(error))
    err_console.print(f"[bold red]Error:[/bold red] {message}")
    hint = getattr(error, "hint", None)
    if hint:
        err_console.print(f"[yellow]Hint:[/yellow] {hint}")


# Commands defined in their own modules register themselves on `app` when imported.
from devicelab import cli_batch, cli_study  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors end in one message and a hint, never a traceback (unless --verbose)."""
    try:
        app(args=argv, prog_name="devicelab")
    except DevicelabError as exc:
        if os.environ.get("DEVICELAB_VERBOSE"):
            err_console.print_exception()
        _print_error(exc)
        sys.exit(exc.exit_code)
