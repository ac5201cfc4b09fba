"""`devicelab variants` and `devicelab convert`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from devicelab.cli.base import CacheOpt, _Bars, _cache, _print_error, _split, app, console


@app.command()
def variants() -> None:
    """List every variant devicelab can make, with a one-line description."""
    from devicelab.convert.variants import NOT_OFFERED, VARIANTS
    from devicelab.report.terminal import variants_table

    console.print(variants_table(VARIANTS.values()))
    for path, reason in NOT_OFFERED.items():
        console.print(f"not offered: {escape(path)}: {escape(reason)}")


@app.command()
def convert(
    model: Annotated[str, typer.Argument(help="A .keras/.h5 file, a SavedModel folder, an .onnx file, a torch.export "
                                              ".pt2 or a zoo name (lenet1, lenet5, resnet20).")],
    to: Annotated[list[str] | None, typer.Option("--to", help="Formats: tflite, coreml, tfjs, onnx, executorch "
                                                 "(default: all).")]
    = None,
    quant: Annotated[list[str] | None, typer.Option("--quant", help="Levels: fp32, fp16, dynamic-int8, int8 "
                                                    "(default: all). Each format makes its nearest variant.")] = None,
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Exact variant names instead of "
                                                      "--to/--quant, e.g. tflite-int8, onnx-fp32.")] = None,
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
    for conversion in report.conversions:
        if conversion.note:
            console.print(f"[dim]{escape(conversion.note)}[/dim]")
    if report.skipped:
        console.print(f"[dim]not made from a {report.source.format} model: {', '.join(report.skipped)}[/dim]")
    first = next((c for c in report.conversions if c.artifact), None)
    if first:
        console.print(f"[dim]artifacts under {first.artifact.dir.parent.parent}[/dim]")
    for failure in report.failed:
        _print_error(failure.error)
    if report.failed:
        raise typer.Exit(1)
