"""`devicelab measure` (this PC, browsers) and `devicelab deploy` (phones, simulators)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from devicelab.cli.base import (
    AdbServerOpt,
    CacheOpt,
    StoreOpt,
    TaskOpt,
    _Bars,
    _cache,
    _print_error,
    _split,
    app,
    console,
)


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
                                                      "webgl, webgpu (tfjs); wasm, webgpu (litert-js); wasm, "
                                                      "webgpu, webnn (ort-web); wasm (tflite-web).")] = None,
    remote: Annotated[str | None, typer.Option("--remote", help="A WebDriver URL (Selenium Grid, cloud farm) "
                                               "instead of a local driver.")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Also record per-operator times where the runtime gives "
                                          "them (executorch ETDump; in a browser ort-web and tfjs), from extra "
                                          "untimed runs after the timed ones, kept in the result's extra.")] = False,
    runtime: Annotated[str | None, typer.Option("--runtime", help="Host: keras, tflite, onnxruntime, coreml, "
                                                "executorch, torch. "
                                                "Browser: tfjs, litert-js, tflite-web, ort-web. Default: the variant's "
                                                "own (litert-js for tflite-*).")]
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
    calibration: Annotated[str | None, typer.Option(help="Calibration data for int8 variants.")] = None,
    task: TaskOpt = None,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Run variants of a model through the job protocol on a target and store the results.

    Accuracy mode runs every sample once and compares with the labels and with the original model on this
    PC (top-1 agreement, max abs difference). Performance mode times warm runs, keeping every sample.
    """
    from devicelab import api
    options = api.MeasureOptions(samples=samples, accuracy=not no_accuracy, performance=not no_performance,
                                 warmup_runs=warmup, runs=runs, min_seconds=min_seconds, max_seconds=max_seconds,
                                 threads=threads, delegate=delegate, timeout_seconds=timeout, profile=profile)
    api.check_measure_request(options, runtime)
    chosen = api.choose_target(target, browser=browser, remote=remote, headed=headed, backends=backend,
                               profile=profile)
    _run_measure(model, variant, runtime, data, chosen, options, calibration, store, cache_dir, backend, task)


def _run_measure(model: str, variant: list[str] | None, runtime: str | None, data: str | None, target: Any,
                 options: Any, calibration: str | None, store: Path | None, cache_dir: Path | None,
                 sweep: list[str] | None, task: str | None = None) -> None:
    """Measure, close the target whatever happens, show the table, exit 1 if any job failed."""
    from devicelab import api

    try:
        with _Bars() as bars:
            measured = api.measure(model, variants=_split(variant), runtime=runtime, data=data, target=target,
                                   options=options, calibration=calibration, store=store, cache=_cache(cache_dir),
                                   backends=_split(sweep), task=task, progress=bars)
    finally:
        target.close()
    _show_measured(measured, store, "Measured")


def _show_measured(measured: list[Any], store: Path | None, title: str, note: str | None = None) -> None:
    """The stored rows of just these measurements as a table, then each failure; exit 1 if any failed."""
    from devicelab.paths import default_store
    from devicelab.report.terminal import MEASURED_COLUMNS, figure_notes, results_table
    from devicelab.store import Store

    with Store(store or default_store()) as db:  # only these rows: a long-used store holds thousands
        rows = [row for m in measured if m.row_id and (row := db.get(m.row_id))]
    console.print(results_table(rows, title=title, columns=MEASURED_COLUMNS, drop_shared=True))
    for line in figure_notes(rows):
        console.print(line)
    for m in measured:
        if m.note:
            console.print(f"[dim]{escape(m.note)}[/dim]")
        profile = (m.result.extra.get("profile") if m.result is not None else None) or {}
        line = _profile_line(profile)
        if line:  # --profile: a silent fallback shows here
            console.print(f"[dim]{escape(m.variant)}: {line}[/dim]")
    if note:
        console.print(note)
    failed = [m for m in measured if not m.ok]
    for m in failed:
        _print_error(m.error)
    if failed:
        raise typer.Exit(1)


def _profile_line(profile: dict[str, Any]) -> str | None:
    """One line on a run's per-op table: ONNX Runtime gives op times; Core ML's MLComputePlan (iOS) an estimated
    cost per op and no time; a phone app without a table (Core ML below iOS 17.4, TFLite) says why."""
    def pct(share: Any) -> str:
        return "?" if share is None else f"{share:.0%}"

    if profile.get("available") is False:
        return f"no per-operator table: {escape(str(profile.get('reason')))}"
    if "share_ops_on_requested" not in profile:
        return None
    where = escape(str(profile.get("requested_provider")))
    if "share_cost_on_requested" in profile:
        planned = profile.get("ops_planned", len(profile.get("operators") or []))  # constants are not placed
        return (f"{planned} ops planned, {pct(profile['share_ops_on_requested'])} of "
                f"them and {pct(profile['share_cost_on_requested'])} of the estimated cost preferred on {where} "
                f"({escape(str(profile.get('source')))}; `devicelab study --profile` puts the table in its report)")
    ops = len(profile.get("operators") or profile.get("nodes") or [])  # the browser page lists "nodes"
    if profile["share_ops_on_requested"] is None and profile.get("share_note"):
        return f"{ops} ops profiled on {where}; no share claimed: {escape(str(profile['share_note']))}"
    return (f"{ops} ops profiled, {pct(profile['share_ops_on_requested'])} of them "
            f"and {pct(profile.get('share_time_on_requested'))} of op time on {where} "
            "(`devicelab results --profile` shows the table)")


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="Model file, SavedModel folder or zoo name.")],
    device: Annotated[str, typer.Option("--device", help="A serial, an alias from your config file "
                                        "(\\[devices] in config.toml), or a piece of the model name (pixel).")],
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Variants, comma separated, e.g. "
                                                      "tflite-fp32, tflite-int8, onnx-int8-static (default "
                                                      "tflite-fp32).")] = None,
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
    profile: Annotated[bool, typer.Option("--profile", help="Also record per-operator placement and times where "
                                          "the app's runtime tells (Android: ONNX Runtime's profiler; iOS 17.4+: "
                                          "Core ML's MLComputePlan), from extra runs after the timed ones.")] = False,
    adb_server: AdbServerOpt = None,
    calibration: Annotated[str | None, typer.Option(help="Calibration data for int8 variants.")] = None,
    task: TaskOpt = None,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Convert as needed, push each job to a phone or simulator (Android over adb, iOS through xcrun), run it in
    the devicelab app there, and store the results like any other target."""
    from devicelab import api
    from devicelab.targets.devices import find_device_target

    options = api.MeasureOptions(samples=samples, warmup_runs=warmup, runs=runs, min_seconds=min_seconds,
                                 threads=threads, timeout_seconds=timeout, profile=profile)
    api.check_measure_request(options)
    target = find_device_target(device, platform=platform, adb_server=adb_server, instrument=instrument)
    default = ["coreml-fp32"] if target.kind == "ios" else ["tflite-fp32"]
    sweep = compute_units if target.kind == "ios" else delegate
    _run_measure(model, variant or default, None, data, target, options, calibration, store, cache_dir, sweep,
                 task)
