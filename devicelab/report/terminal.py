"""Terminal tables (rich): what a user looks at first after convert, measure and results."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table


def _num(value: Any, fmt: str = "{:.3f}", empty: str = "-") -> str:
    return empty if value is None else fmt.format(value)


def _pct(value: Any) -> str:
    return _num(None if value is None else value * 100, "{:.1f}%")


def _size(size: Any) -> str:
    if size is None:
        return "-"
    return f"{size / 1024:.0f} KiB" if size < 2**20 else f"{size / 2**20:.1f} MiB"


def conversions_table(report: Any) -> Table:
    table = Table(title=f"Variants of {report.source.name} ({report.source.format})", title_justify="left")
    for column in ("variant", "size", "vs fp32", "I/O", "sha256", "time", "cache"):
        table.add_column(column, justify="right" if column in ("size", "vs fp32", "time") else "left")
    sizes = {c.variant: c.artifact.size_bytes for c in report.conversions if c.artifact}
    for conv in report.conversions:
        if conv.error:
            table.add_row(conv.variant, "-", "-", "-", "-", "-", f"[red]failed: {conv.error.kind}[/red]")
            continue
        manifest = conv.artifact.manifest
        base = sizes.get(f"{manifest['format']}-fp32")
        ratio = f"{manifest['size_bytes'] / base:.2f}x" if base else "-"
        inputs = "/".join(sorted({i["dtype"] or "?" for i in manifest.get("inputs", [])}))
        table.add_row(conv.variant, _size(manifest["size_bytes"]), ratio, inputs, manifest["sha256"][:12],
                      f"{manifest['convert_seconds']:.2f} s", "hit" if conv.cache_hit else "converted")
    return table


def _status(get: Any) -> str:
    if get("status") == "ok":
        status = "[green]ok[/green]"
    else:
        status = f"[red]{escape(get('error_kind') or get('status') or 'error')}[/red]"
    return status + (" (simulated)" if get("simulated") else "")


def _text(key: str) -> Any:
    return lambda get: escape(str(get(key))) if get(key) is not None else "-"


# name -> (header, cell); names are what --columns takes.
RESULT_COLUMNS: dict[str, tuple[str, Any]] = {
    "id": ("id", lambda get: str(get("id"))),
    "run": ("run", _text("run_id")),
    "created": ("created", _text("created_at")),
    "model": ("model", _text("model")),
    "variant": ("variant", _text("variant")),
    "target": ("target", _text("target")),
    "runtime": ("runtime", lambda get: escape(get("runtime_used") or get("runtime") or "-")),
    "dataset": ("dataset", _text("dataset")),
    "samples": ("samples", _text("samples")),
    "accuracy": ("acc", lambda get: _pct(get("accuracy"))),
    "agreement": ("agree", lambda get: _pct(get("agreement"))),
    "maxdiff": ("max |Δ|", lambda get: _num(get("max_abs_diff"), "{:.2g}")),
    "task": ("task", _text("task")),
    "mae": ("MAE", lambda get: _num(get("mae"), "{:.4g}")),
    "rmse": ("RMSE", lambda get: _num(get("rmse"), "{:.4g}")),
    "cosine": ("cosine", lambda get: _num(get("cosine"), "{:.5f}")),
    "snr": ("SNR dB", lambda get: _num(get("snr_db"), "{:.1f}",
                                       empty="-" if get("cosine") is None else "exact")),
    "load": ("load ms", lambda get: _num(get("load_ms"), "{:.1f}")),
    "first": ("first ms", lambda get: _num(get("first_ms"), "{:.2f}")),
    "median": ("median ms", lambda get: _num(get("median_ms"), "{:.3f}")),
    "p90": ("p90 ms", lambda get: _num(get("p90_ms"), "{:.3f}")),
    "p99": ("p99 ms", lambda get: _num(get("p99_ms"), "{:.3f}")),
    "cv": ("cv", lambda get: _num(get("cv"), "{:.2f}")),
    "runs": ("runs", _text("runs")),
    "memory": ("MiB", lambda get: _num(get("memory_mib"), "{:.1f}")),
    "size": ("size", lambda get: _size(get("size_bytes"))),
    "status": ("status", _status),
    "error": ("error", _text("error_message")),
}
# What fits 80 columns; --wide shows WIDE_COLUMNS, --columns any of RESULT_COLUMNS.
DEFAULT_COLUMNS = ("id", "model", "variant", "target", "accuracy", "agreement", "median", "memory", "status")
WIDE_COLUMNS = ("id", "model", "variant", "target", "runtime", "accuracy", "agreement", "maxdiff", "load", "first",
                "median", "p90", "memory", "size", "status")
# After measure: also which runtime (and backend) really ran.
MEASURED_COLUMNS = ("id", "model", "variant", "target", "runtime", "accuracy", "agreement", "median", "memory",
                    "status")
_TEXT_COLUMNS = {"run", "created", "model", "variant", "target", "runtime", "dataset", "status", "error", "task"}
_SHARED = ("model", "target")  # the same on every row: said once in the title instead of a column


def results_table(rows: Iterable[Any], title: str = "Results", columns: Iterable[str] | None = None,
                  drop_shared: bool | None = None) -> Table:
    """One line per stored result (store rows or dicts with the store's summary columns). Numbers never wrap;
    unless columns are named, a model or target common to every row moves into the title (``drop_shared``)."""
    rows = list(rows)
    chosen = list(columns or DEFAULT_COLUMNS)
    if columns is None or drop_shared:
        chosen = _fitting_figures(chosen, rows)
    if (columns is None if drop_shared is None else drop_shared) and len(rows) > 1:
        for name in _SHARED:
            values = {row.get(name) for row in rows}
            if name in chosen and len(values) == 1 and None not in values:
                chosen.remove(name)
                title += f" · {name} {next(iter(values))}"
    # No vertical rules and no outer padding: nine columns of a first look fit an 80-column terminal.
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for name in chosen:
        text = name in _TEXT_COLUMNS
        table.add_column(RESULT_COLUMNS[name][0], justify="left" if text else "right",
                         overflow="fold" if text else "ellipsis", no_wrap=not text)
    for row in rows:
        table.add_row(*(RESULT_COLUMNS[name][1](row.get) for name in chosen))
    return table


def _fitting_figures(chosen: list[str], rows: list[Any]) -> list[str]:
    """Regression and embedding rows have no accuracy or agreement: show MAE and cosine in their place."""
    def some(column: str) -> bool:
        return any(row.get(column) is not None for row in rows)

    swaps = {"accuracy": ("accuracy", "mae"), "agreement": ("agreement", "cosine")}
    return [new if name in swaps and not some(swaps[name][0]) and some(new) else name
            for name in chosen for new in [swaps.get(name, (name, name))[1]]]


def check_columns(names: Iterable[str]) -> list[str]:
    """--columns values, each a RESULT_COLUMNS name (or 'all')."""
    from devicelab.errors import UsageError

    chosen: list[str] = []
    for name in names:
        if name == "all":
            chosen.extend(RESULT_COLUMNS)
        elif name not in RESULT_COLUMNS:
            raise UsageError(f"unknown column '{name}'", hint=f"columns: {', '.join(RESULT_COLUMNS)}, all")
        else:
            chosen.append(name)
    return list(dict.fromkeys(chosen))


def variants_table(variants: Iterable[Any]) -> Table:
    # The name already says format and quantization: the width goes to the description, which wraps.
    table = Table(title="Variants", title_justify="left")
    table.add_column("variant", no_wrap=True)
    table.add_column("host runtime", no_wrap=True)
    table.add_column("description", ratio=1)
    for v in variants:
        calib = " (needs calibration data)" if v.needs_calibration else ""
        table.add_row(v.name, v.runtime or "browser only", v.description + calib)
    return table


def study_table(rows: Iterable[dict[str, Any]], title: str = "Study") -> Table:
    """The study's summary: one line per variant x target, ratios against the PC reference."""
    rows = list(rows)
    attacks = list(dict.fromkeys(k for r in rows for k in (r.get("robustness") or {})))
    table = Table(title=escape(title), title_justify="left")
    values = any(r.get("mae") is not None or r.get("task") in ("regression", "embedding") for r in rows)
    for column in ("variant", "target", "runtime", "size", "accuracy", "agreement",
                   *(["MAE", "cosine"] if values else []), "median ms", "speedup", "peak MiB", *attacks, "status"):
        table.add_column(column, justify="left" if column in ("variant", "target", "runtime", "status") else "right",
                         overflow="fold")
    multi = len({r["framework"] for r in rows}) > 1
    for r in rows:
        name = (f"{r['framework']}: " if multi and r["framework"] != "keras" else "") + r["variant"]
        robust = [_pct(((r.get("robustness") or {}).get(a) or {}).get("rate")) for a in attacks]
        status = "[green]ok[/green]" if r["status"] == "ok" else "[red]failed[/red]"
        if r.get("reused"):
            status += " [dim](reused)[/dim]"
        if r.get("simulated"):
            status += " [red](simulated)[/red]"
        table.add_row(escape(name), escape(r["target"]), escape(r.get("runtime") or "-"), _size(r.get("size_bytes")),
                      _pct(r.get("accuracy")),
                      _pct(r.get("agreement")),
                      *([_num(r.get("mae"), "{:.4g}"), _num(r.get("cosine"), "{:.5f}")] if values else []),
                      _num(r.get("median_ms"), "{:.3f}"),
                      _num(r.get("speedup"), "{:.2f}x"), _num(r.get("memory_mib"), "{:.1f}"), *robust, status)
    return table


def figure_notes(rows: Iterable[Any]) -> list[str]:
    """Lines under a results table: every output of multi-output models, regression and embedding figures,
    and warnings that make a figure meaningless (rows are store rows or dicts with a 'metrics' document)."""
    lines: list[str] = []
    for row in rows:
        metrics = row.metrics if hasattr(row, "metrics") else row.get("metrics") or {}
        acc = metrics.get("accuracy") or {}
        label = f"{row.get('variant')} on {row.get('target')}"
        if acc.get("task") in ("regression", "embedding") and row.get("variant") != "original":
            parts = [f"task {acc['task']}" + (" (guessed; --task overrides)" if acc.get("task_guessed") else "")]
            if acc.get("mae") is not None:
                parts.append(f"MAE {acc['mae']:.4g}, RMSE {acc['rmse']:.4g} against the labels")
            if acc.get("cosine") is not None:
                parts.append(f"cosine {acc['cosine']:.5f} (min {acc['cosine_min']:.5f}), SNR "
                             + ("identical" if acc.get("identical") else _num(acc.get("snr_db"), "{:.1f} dB")))
            lines.append(f"{escape(label)}: " + "; ".join(parts))
        outputs = acc.get("outputs") or []
        if len(outputs) > 1 and row.get("variant") != "original":
            described = []
            for out in outputs:
                bits = [f"{out.get('agreement_kind', 'agreement')} {_pct(out['agreement'])}"] if "agreement" in out \
                    else []
                if out.get("max_abs_diff") is not None:
                    bits.append(f"max |Δ| {out['max_abs_diff']:.2g}, cosine {out['cosine']:.5f}")
                described.append(f"{out.get('name')} ({', '.join(bits) or out.get('kind', '-')})")
            lines.append(f"{escape(label)}: outputs " + "; ".join(escape(d) for d in described))
        for warning in acc.get("warnings") or []:
            lines.append(f"[yellow]warning[/yellow] {escape(label)}: {escape(warning)}")
    return lines


def profile_view(profile: dict[str, Any]) -> list[Any]:
    """A normalized per-operator profile (devicelab.explain.profile.normalized) as a table and a line of
    facts: where the time went and the share on the requested provider."""
    if not profile.get("available"):
        return [f"[yellow]No per-op profile:[/yellow] {escape(str(profile.get('reason', '')))}"]
    runs = profile.get("runs") or 0
    table = Table(title=f"Per-operator times ({runs} run{'' if runs == 1 else 's'}, "
                        f"{escape(str(profile.get('method')))})")
    table.add_column("op", overflow="fold")
    for column in ("type", "provider", "ms/inference"):
        table.add_column(column, justify="right" if column == "ms/inference" else "left", no_wrap=True)
    for op in profile["operators"]:
        ms = "-" if op.get("ms") is None else f"{op['ms']:#.4g}"
        table.add_row(escape(str(op["name"])), escape(str(op.get("op_type") or "")),
                      escape(str(op.get("provider") or "")), ms)
    out: list[Any] = [table]
    facts = []
    if profile.get("ops_ms") is not None:
        whole = f" of {profile['run_ms']:.4g} ms" if profile.get("run_ms") else ""
        facts.append(f"ops {profile['ops_ms']:.4g} ms{whole} per inference")
    if profile.get("share_ops") is not None:
        time_share = "" if profile.get("share_time") is None else f", {profile['share_time']:.0%} of op time"
        facts.append(f"on {escape(str(profile.get('requested')))}: {profile['share_ops']:.0%} of ops{time_share}")
    elif profile.get("share_note"):
        facts.append(f"no share on {escape(str(profile.get('requested')))}: {escape(profile['share_note'])}")
    if facts:
        out.append("; ".join(facts))
    if profile.get("row_id") is not None:
        out.append(f"[dim]stored as result {profile['row_id']} (`devicelab results --profile` shows it again)[/dim]")
    return out
