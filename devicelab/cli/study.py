"""`devicelab study` and `devicelab demo`: the whole matrix, a terminal summary and report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from devicelab.cli.base import CacheOpt, StoreOpt, TaskOpt, _Bars, _cache, _split, app, console

DEMO_TARGETS = "host,chrome"
EXPLAIN_BELOW_PERCENT = 99.0  # study.run.DEFAULT_EXPLAIN_BELOW in percent (the CLI imports no numpy to start)


@app.command()
def study(
    model: Annotated[str, typer.Argument(help="Model file, SavedModel folder or zoo name.")],
    data: Annotated[str | None, typer.Option("--data", help="Test data (default: what a zoo model trained on).")]
    = None,
    targets: Annotated[str, typer.Option("--targets", help="Comma-separated: host, a browser (chrome, chromium, "
                                         "edge, firefox, safari) or a device selector (pixel, a serial, iphone).")]
    = "host",
    variant: Annotated[list[str] | None, typer.Option("--variants", "--variant", help="Variants to include "
                                                      "(default: all the model gives and each target runs).")]
    = None,
    attacks: Annotated[str | None, typer.Option("--attacks", help="Adversarial attacks, e.g. fgsm, pgd or "
                                                "'fgsm:eps=0.2' (made on the reference, run everywhere).")]
    = None,
    frameworks: Annotated[str, typer.Option("--frameworks", help="keras, or keras, pytorch: also train the zoo "
                                            "model's PyTorch twin and compare (it enters the matrix via ONNX).")]
    = "keras",
    samples: Annotated[int | None, typer.Option(help="Clean test samples (default: the whole test split).")]
    = None,
    attack_samples: Annotated[int, typer.Option(help="Test samples attacked.")] = 200,
    runs: Annotated[int, typer.Option(help="Timed runs per job.")] = 30,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for report.html, study.json and the saved "
                                      "disagreeing inputs.")] = Path("devicelab-study"),
    remote: Annotated[str | None, typer.Option("--remote", help="Selenium Grid / WebDriver URL for browsers.")]
    = None,
    adb_server: Annotated[str | None, typer.Option("--adb-server", help="host:port of the adb server.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Measure everything again instead of reusing finished, "
                                        "unchanged jobs from the store.")] = False,
    explain_below: Annotated[float, typer.Option("--explain-below", help="Diagnose (explain --fix) every TFLite/ONNX "
                                                 "variant whose top-1 agreement on this PC is below this percentage; "
                                                 "0: never.")] = EXPLAIN_BELOW_PERCENT,
    profile: Annotated[bool, typer.Option("--profile", help="Also record per-operator times where the runtime gives "
                                          "them (ONNX Runtime, ort-web, tfjs, ExecuTorch; Core ML on iOS 17.4+: "
                                          "each op's device and estimated cost): a table per run in the "
                                          "report.")] = False,
    task: TaskOpt = None,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """Accuracy, robustness, speed and memory of every variant on every target, against the PC original;
    writes a self-contained report.html."""
    from devicelab.study.run import StudyConfig
    from devicelab.study.targets import parse_targets

    names = _split(variant)
    config = StudyConfig(
        model=model, data=data, targets=parse_targets(targets, remote=remote, adb_server=adb_server),
        variants=names, attacks=split_attacks(attacks or ""),
        frameworks=[f.strip() for f in frameworks.split(",") if f.strip()], samples=samples,
        attack_samples=attack_samples, out=out, store=store, cache=_cache(cache_dir), reuse=not fresh, task=task,
        explain_below=_threshold(explain_below))
    config.options.runs = runs
    config.options.profile = profile
    _run(config)


def _threshold(percent: float) -> float | None:
    if not 0 <= percent <= 100:
        raise typer.BadParameter(f"{percent:g} is not a percentage (0 to 100)", param_hint="--explain-below")
    return percent / 100 or None


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the report.")] = Path("devicelab-demo"),
    targets: Annotated[str, typer.Option("--targets", help="Where to run (a browser needs chromium and "
                                         "chromedriver).")] = DEMO_TARGETS,
    runs: Annotated[int, typer.Option(help="Timed runs per job.")] = 30,
    fresh: Annotated[bool, typer.Option("--fresh", help="Measure again instead of reusing the last demo's jobs.")]
    = False,
    store: StoreOpt = None,
    cache_dir: CacheOpt = None,
) -> None:
    """The main job on the embedded default: the study of zoo LeNet-5 on the bundled MNIST sample, in Keras and
    PyTorch, every variant on this PC and in headless Chromium, with FGSM and PGD; writes report.html."""
    from devicelab.study.run import StudyConfig
    from devicelab.study.targets import parse_targets

    config = StudyConfig(model="lenet5", targets=parse_targets(targets), attacks=["fgsm", "pgd"],
                         frameworks=["keras", "pytorch"], out=out, store=store, cache=_cache(cache_dir),
                         reuse=not fresh)
    config.options.runs = runs
    _run(config)


def split_attacks(text: str) -> list[str]:
    """'fgsm,pgd:eps=0.1,steps=40' -> ['fgsm', 'pgd:eps=0.1,steps=40']: a piece with '=' but no ':' is a setting."""
    attacks: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if attacks and "=" in piece and ":" not in piece:
            attacks[-1] += f",{piece}"
        else:
            attacks.append(piece)
    return attacks


def _run(config: Any) -> None:
    from devicelab.report.terminal import study_table
    from devicelab.study.run import run_study

    with _Bars() as bars:
        done = run_study(config, progress=bars)
    doc = done.document
    console.print(study_table(doc["rows"], title=doc["title"]))
    for warning in dict.fromkeys(w for r in doc["rows"] for w in r.get("warnings") or []):
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    for skipped in _group_skipped(doc["skipped"]):
        console.print(f"[dim]not run: {escape(skipped)}[/dim]")
    failed_jobs = [r for r in doc["rows"] if r["status"] != "ok"]
    for failure in doc["failures"]:
        count = f" ({failure['failed_jobs']} of {failure['jobs']} jobs)" if failure.get("jobs") else ""
        console.print(f"[red]target {escape(failure['target'])} ({failure['framework']}) failed{count}:[/red] "
                      f"{escape(failure['error'])}")
        if failure.get("hint"):
            console.print(f"[dim]Hint: {escape(failure['hint'])}[/dim]")
    for line in diagnosis_lines(doc.get("diagnoses") or []):
        console.print(line)
    reused = sum(1 for r in doc["rows"] if r.get("reused"))
    timing = escape(", ".join(f"{name} {seconds:.1f} s" for name, seconds in doc["phases"].items()))
    console.print(f"[dim]{timing}" + (f"; {reused} job(s) reused from the store (--fresh to redo)" if reused else "")
                  + "[/dim]")
    console.print(f"Report: [bold]{escape(str(done.report_path))}[/bold]")
    if doc["failures"] or failed_jobs:
        console.print("[red]The study finished with failures[/red]: everything else was measured and is in the "
                      "report and the store.")
        raise typer.Exit(1)


def _group_skipped(skipped: list[dict[str, Any]]) -> list[str]:
    by_reason: dict[str, list[str]] = {}
    for s in skipped:
        by_reason.setdefault(f"{s['reason']} ({s['target']})", []).append(s["variant"])
    return [f"{', '.join(dict.fromkeys(v))}: {reason}" for reason, v in by_reason.items()]


def diagnosis_lines(diagnoses: list[dict[str, Any]]) -> list[str]:
    """One line per diagnosed variant: the layer named and what the fix gave (details in the report)."""
    lines = []
    for d in diagnoses:
        head = f"[bold]{escape(d['variant'])}[/bold] agrees {d['agreement']:.1%}"
        if d.get("error"):
            lines.append(f"{head}; [red]its diagnosis failed:[/red] {escape(d['error']['message'])}")
            continue
        report = d.get("explain") or {}
        first = report.get("first_divergent_layer")
        text = f"{head}; first divergent layer: [red]{escape(first)}[/red]" if first else \
            f"{head}; no layer diverges"
        fix = report.get("fix")
        if fix and fix.get("agreement") is not None:
            text += (f"; keeping {escape(', '.join(fix['kept_float']))} in float: {escape(fix['variant'])} agrees "
                     f"{fix['agreement']:.1%}")
        lines.append(text)
    return lines
