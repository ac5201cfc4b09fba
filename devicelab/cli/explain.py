"""`devicelab explain`: which layer makes a variant disagree, a remedy, and where the time goes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from devicelab.cli.base import CacheOpt, StoreOpt, _Bars, _cache, app, console
from devicelab.report.terminal import profile_view


@app.command()
def explain(
    model: Annotated[str, typer.Argument(help="A .keras file, an .onnx file, a .pt2 program or a zoo name.")],
    variant: Annotated[str, typer.Option("--variant", help="The variant to explain, e.g. tflite-int8, executorch-int8, "
                                         "onnx-int8-static, onnx-fp32.")],
    target: Annotated[str, typer.Option("--target", "--browser", help="Where the variant runs: host, or a browser "
                                        "(chrome) for tfjs and onnx variants; --browser chrome as for measure.")]
    = "host",
    backend: Annotated[str | None, typer.Option("--backend", help="Browser backend: tfjs cpu, wasm, webgl, "
                                                "webgpu; ort-web wasm, webgpu, webnn.")] = None,
    runtime: Annotated[str | None, typer.Option("--runtime", help="Browser runtime (tfjs for tfjs variants, "
                                                "ort-web for onnx ones; the default).")] = None,
    remote: Annotated[str | None, typer.Option("--remote", help="A WebDriver URL (Selenium Grid, cloud farm) to "
                                               "run the browser on.")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    data: Annotated[str | None, typer.Option("--data", help="Samples to compare on (dataset name, .npz, IDX file, "
                                             "image folder). Default: the model's own dataset.")] = None,
    calibration: Annotated[str | None, typer.Option("--calibration", help="Calibration data for int8 variants.")]
    = None,
    samples: Annotated[int, typer.Option(help="How many samples to compare on.")] = 100,
    fix: Annotated[bool, typer.Option("--fix", help="Build and measure a variant that keeps the divergent "
                                      "layer(s) in float.")] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Per-operator times and providers (ONNX Runtime on "
                                          "the host; ort-web and tfjs in the browser; ExecuTorch ETDump).")]
    = False,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON to this file.")] = None,
    threshold_floor: Annotated[float, typer.Option("--threshold-floor", help="A layer below this SQNR (dB) "
                                                   "diverges.")] = 10.0,
    threshold_drop: Annotated[float, typer.Option("--threshold-drop", help="A layer this many dB below the best "
                                                  "layer before it (capped at 60 dB) diverges.")] = 15.0,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Compare every intermediate tensor of a variant with the original's, layer by layer, and name the first
    layer that diverges (SQNR below --threshold-floor, or --threshold-drop under the best layer before it)."""
    from devicelab import api
    from devicelab.explain.core import Threshold

    threshold = Threshold(floor_db=threshold_floor, drop_db=threshold_drop)
    if json_file is not None:
        _check_writable(json_file)
    with _Bars() as bars:
        report = api.explain(model, variant, target=target, data=data, calibration=calibration, samples=samples,
                             fix=fix, profile=profile, store=store, cache=_cache(cache_dir), progress=bars,
                             backend=backend, runtime=runtime, remote=remote, headed=headed, threshold=threshold)
    _show(report, model, calibration)
    if json_file is not None:
        _write_json(json_file, report.to_json())
        console.print(f"[dim]wrote {escape(str(json_file))}[/dim]")


def _check_writable(path: Path) -> None:
    """--json is checked before any work, so a typo does not cost the whole diagnosis."""
    from devicelab.errors import UsageError

    if path.is_dir():
        raise UsageError(f"--json {path} is a folder", hint="give a file name, e.g. why.json")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--json {path}: the folder {folder} does not exist", hint="create it first")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--json {path}: cannot write there", hint="choose a folder you can write to")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Whole or not at all: a temporary file next to it, then renamed."""
    from devicelab.errors import DevicelabError

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DevicelabError(f"could not write {path}: {exc.strerror or exc}",
                             hint="the diagnosis above is complete; rerun with another --json path") from None


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"


def _short(name: str, width: int = 44) -> str:
    """Long tensor names keep their end, where the op and the layer are."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _show(report: Any, model: str, calibration: str | None) -> None:
    table = Table(title=f"{escape(report.model)}: {escape(report.variant)} vs the original, per layer "
                        f"({report.samples} samples, {escape(report.runs_on)})")
    table.add_column("", width=2, no_wrap=True)
    table.add_column("layer", no_wrap=True, overflow="ellipsis")
    table.add_column("tensor", no_wrap=True, overflow="ellipsis")
    for column in ("SQNR dB", "cosine", "max abs", "int8 scale"):
        table.add_column(column, justify="right", no_wrap=True)
    first = report.first_divergent_layer
    for stat in report.comparison.layers:
        mark = "[bold red]>>[/bold red]" if stat.layer == first else ""
        sqnr = "identical" if stat.sqnr_db is None else f"{stat.sqnr_db:.1f}"
        table.add_row(mark, escape(stat.layer), escape(_short(stat.tensor or "")), sqnr, _num(stat.cosine, 4),
                      _num(stat.max_abs, 4), _num(stat.scale, 4))
    console.print(table)
    t = report.comparison.threshold
    if first:
        console.print(f"[bold red]First divergent layer: {escape(first)}[/bold red] "
                      f"[dim](below {t.floor_db:g} dB, or {t.drop_db:g} dB under the best layer before it)[/dim]")
    else:
        console.print(f"[green]No divergent layer[/green] [dim](none below {t.floor_db:g} dB or {t.drop_db:g} dB "
                      "under the layers before it)[/dim]")
    if report.agreement is not None:
        console.print(f"agreement of {escape(report.variant)} with the original: {report.agreement:.1%}")
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/dim]")
    if report.fix is not None:
        _show_fix(report.fix, model, calibration, report.target)
    if report.profile is not None:
        for renderable in profile_view(report.profile):
            console.print(renderable)


def _show_fix(fix: Any, model: str, calibration: str | None, target: str) -> None:
    table = Table(title="--fix: keep the divergent layer(s) in float")
    for column in ("variant", "kept float", "agreement", "size"):
        table.add_column(column, justify="right" if column in ("agreement", "size") else "left")
    others = [c for c in fix.tried if c.variant != fix.chosen.variant]
    rows = [(fix.chosen, ", ".join(fix.chosen.kept_float), "bold"),
            *[(c, ", ".join(c.kept_float), "dim") for c in others], (fix.full, "-", ""), (fix.fp32, "all", "")]
    for candidate, kept, style in rows:
        agreement = "-" if candidate.agreement is None else f"{candidate.agreement:.1%}"
        size = "-" if candidate.size_bytes is None else f"{candidate.size_bytes:,} B"
        table.add_row(escape(candidate.variant), escape(kept), agreement, size, style=style or None)
    console.print(table)
    if fix.within_bound:
        where = "" if target == "host" else f" --browser {target}"
        calib = f" --calibration {calibration}" if calibration else ""
        console.print(f"[dim]{escape(fix.chosen.variant)} is within 2 points of fp32's agreement; measure it like any "
                      f"variant:[/dim] devicelab measure {escape(model)} --variant {escape(fix.chosen.variant)}"
                      f"{escape(where + calib)}")
    else:
        console.print(f"[yellow]No variant tried is within 2 points of fp32's agreement[/yellow] [dim](the best "
                      f"is {escape(fix.chosen.variant)}); the layers before the divergent one may be losing "
                      "precision too: see their SQNR above, or use a float variant[/dim]")
