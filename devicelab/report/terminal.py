"""Terminal tables (rich): what a user looks at first after convert, measure and results."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


RESULT_COLUMNS = ("id", "model", "variant", "target", "runtime", "accuracy", "agreement", "max |Δ|", "load ms",
                  "first ms", "median ms", "p90 ms", "memory", "size", "status")


def results_table(rows: Iterable[Any], title: str = "Results") -> Table:
    """One line per stored result (store rows or dicts with the store's summary columns)."""
    table = Table(title=title, title_justify="left")
    for column in RESULT_COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "variant", "target", "runtime", "status")
                         else "right", overflow="fold")
    for row in rows:
        get = row.get
        status = "[green]ok[/green]" if get("status") == "ok" else f"[red]{get('error_kind') or 'error'}[/red]"
        if get("simulated"):
            status += " (simulated)"
        memory = _num(get("memory_mib"), "{:.1f} MiB")
        table.add_row(
            str(get("id")), get("model") or "-", get("variant") or "-", get("target") or "-",
            get("runtime_used") or get("runtime") or "-", _pct(get("accuracy")), _pct(get("agreement")),
            _num(get("max_abs_diff"), "{:.2g}"), _num(get("load_ms"), "{:.1f}"), _num(get("first_ms"), "{:.2f}"),
            _num(get("median_ms"), "{:.3f}"), _num(get("p90_ms"), "{:.3f}"), memory, _size(get("size_bytes")), status,
        )
    return table


def variants_table(variants: Iterable[Any]) -> Table:
    table = Table(title="Variants", title_justify="left")
    for column in ("variant", "format", "quantization", "host runtime", "description"):
        table.add_column(column)
    for v in variants:
        calib = " (needs calibration data)" if v.needs_calibration else ""
        table.add_row(v.name, v.format, v.quant, v.runtime or "browser only", v.description + calib)
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
