"""`devicelab explain`: which layer makes a variant disagree, a remedy, and where the time goes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from devicelab.cli.base import CacheOpt, StoreOpt, _Bars, _cache, app, console


@app.command()
def explain(
    model: Annotated[str, typer.Argument(help="A .keras file, an .onnx file, a .pt2 program or a zoo name.")],
    variant: Annotated[str, typer.Option("--variant", help="The variant to explain, e.g. tflite-int8, executorch-int8, "
                                         "onnx-int8-static, onnx-fp32.")],
    target: Annotated[str, typer.Option("--target", "--browser", help="Where the variant runs: host, or a browser "
                                        "(chrome) for tfjs and onnx variants; --browser chrome as for measure.")]
    = "host",
    backend: Annotated[str | None, typer.Option("--backend", help="Browser backend: tfjs cpu, wasm, webgl, "
                                                "webgpu; ort-web wasm, webgpu.")] = None,
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

    with _Bars() as bars:
        report = api.explain(model, variant, target=target, data=data, calibration=calibration, samples=samples,
                             fix=fix, profile=profile, store=store, cache=_cache(cache_dir), progress=bars,
                             backend=backend, runtime=runtime, remote=remote, headed=headed,
                             threshold=Threshold(floor_db=threshold_floor, drop_db=threshold_drop))
    _show(report)
    if json_file is not None:
        json_file.write_text(json.dumps(report.to_json(), indent=2))
        console.print(f"[dim]wrote {escape(str(json_file))}[/dim]")


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"


def _show(report: Any) -> None:
    table = Table(title=f"{escape(report.model)}: {escape(report.variant)} vs the original, per layer "
                        f"({report.samples} samples, {escape(report.runs_on)})")
    for column in ("", "layer", "tensor", "SQNR dB", "cosine", "max abs", "int8 scale"):
        table.add_column(column, justify="right" if column in ("SQNR dB", "cosine", "max abs", "int8 scale")
                         else "left", overflow="fold")
    first = report.first_divergent_layer
    for stat in report.comparison.layers:
        mark = "[bold red]>>[/bold red]" if stat.layer == first else ""
        sqnr = "identical" if stat.sqnr_db is None else f"{stat.sqnr_db:.1f}"
        table.add_row(mark, escape(stat.layer), escape((stat.tensor or "")[:60]), sqnr, _num(stat.cosine, 4),
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
        _show_fix(report.fix)
    if report.profile is not None:
        _show_profile(report.profile)


def _show_fix(fix: Any) -> None:
    table = Table(title="--fix: keep the divergent layer(s) in float")
    for column in ("variant", "kept float", "agreement", "size"):
        table.add_column(column)
    rows = [(fix.chosen, ", ".join(fix.chosen.kept_float)), (fix.full, "-"), (fix.fp32, "all")]
    for candidate, kept in rows:
        agreement = "-" if candidate.agreement is None else f"{candidate.agreement:.1%}"
        table.add_row(escape(candidate.variant), escape(kept), agreement, f"{candidate.size_bytes:,} B")
    console.print(table)
    verdict = "within" if fix.within_bound else "NOT within"
    console.print(f"[dim]{escape(fix.chosen.variant)} is {verdict} 2 points of fp32's agreement; measure it "
                  f"like any variant: devicelab measure MODEL --variant {escape(fix.chosen.variant)}[/dim]")


def _show_profile(raw: dict[str, Any]) -> None:
    from devicelab.study.document import profile_table

    if not raw.get("available"):
        console.print(f"[yellow]No per-op profile:[/yellow] {escape(raw.get('reason', ''))}")
        return
    profile = profile_table(raw)
    table = Table(title=f"Per-operator times ({profile['runs']} runs, {escape(str(profile['method']))})")
    for column in ("op", "type", "provider", "ms/inference"):
        table.add_column(column, justify="right" if column == "ms/inference" else "left", overflow="fold")
    for op in profile["operators"]:
        ms = "-" if op["ms"] is None else f"{op['ms']:.4g}"
        table.add_row(escape(str(op["name"])), escape(str(op["op_type"] or "")), escape(str(op["provider"] or "")),
                      ms)
    console.print(table)
    facts = []
    if profile["ops_ms"] is not None:
        whole = f" of {profile['run_ms']:.4f} ms" if profile["run_ms"] else ""
        facts.append(f"ops {profile['ops_ms']:.4f} ms{whole} per inference")
    if profile["share_ops"] is not None:
        facts.append(f"on {escape(str(profile['requested']))}: {profile['share_ops']:.0%} of ops, "
                     f"{profile['share_time']:.0%} of op time")
    elif raw.get("share_note"):
        facts.append(f"no share on {escape(str(profile['requested']))}: {escape(raw['share_note'])}")
    if facts:
        console.print("; ".join(facts))
