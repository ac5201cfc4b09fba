"""report.html: one self-contained file (inline CSS, SVG plots and PNG examples; no scripts, no network).

Order follows what a reader asks first: the summary table, then the plots, then the evidence (disagreeing
inputs, frameworks, environments), then how long each phase took.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from devicelab.report import plots

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#111827;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #e5e7eb}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#6b7280}.small{font-size:12px}
table{border-collapse:collapse;background:#fff;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #e5e7eb;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f3f4f6;position:sticky;top:0}td.l,th.l{text-align:left}
tr.error td{background:#fef2f2}tr.ref td{background:#eff6ff}
.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}.warn{color:#b45309}
.box{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:12px;margin:8px 0;overflow-x:auto}
.fail{border-color:#fca5a5;background:#fef2f2}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.side{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.side>div{flex:0 1 auto}
figure{margin:0;text-align:center;font-size:11px}
figure img{width:84px;height:84px;image-rendering:pixelated;border:1px solid #d1d5db;background:#000}
svg{max-width:100%;height:auto}
code{background:#f3f4f6;padding:1px 4px;border-radius:3px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}dt{color:#6b7280}dd{margin:0}
"""


def render(doc: dict[str, Any]) -> str:
    parts = [_header(doc), _summary(doc), _failures(doc), _plots(doc), _disagreements(doc), _diagnoses(doc),
             _frameworks(doc), _robustness_details(doc), _timing_details(doc), _profiles(doc), _environments(doc),
             _phases(doc)]
    body = "\n".join(p for p in parts if p)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(doc.get('title', 'devicelab report'))}</title><style>{_CSS}</style></head>"
            f"<body><main>\n{body}\n</main></body></html>\n")


# --- formatting helpers --------------------------------------------------------------------------------------


def _f(value: Any, fmt: str = "{:.3g}", empty: str = "–") -> str:
    return empty if value is None else fmt.format(value)


def _pct(value: Any, ci: Any = None, digits: int = 1) -> str:
    if value is None:
        return "–"
    text = f"{value * 100:.{digits}f}%"
    if ci:
        text += f" <span class=\"muted small\">[{ci[0] * 100:.{digits}f}, {ci[1] * 100:.{digits}f}]</span>"
    return text


def _size(n: Any) -> str:
    if not n:
        return "–"
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def _ratio(value: Any, good_above: bool = True) -> str:
    if value is None:
        return "–"
    css = "ok" if (value >= 1) == good_above else "warn"
    return f"<span class=\"{css}\">{value:.2f}×</span>"


def _table(head: list[str], rows: list[list[str]], left: int = 1, css: list[str] | None = None) -> str:
    ths = "".join(f"<th class=\"{'l' if i < left else ''}\">{h}</th>" for i, h in enumerate(head))
    trs = []
    for k, cells in enumerate(rows):
        tds = "".join(f"<td class=\"{'l' if i < left else ''}\">{c}</td>" for i, c in enumerate(cells))
        trs.append(f"<tr class=\"{css[k] if css else ''}\">{tds}</tr>")
    return f"<div class=\"box\"><table><thead><tr>{ths}</tr></thead><tbody>{''.join(trs)}</tbody></table></div>"


def _name(row: dict[str, Any]) -> str:
    variant = "original (PC reference)" if row["variant"] == "original" else row["variant"]
    marks = " <span class=\"muted small\">(reused)</span>" if row.get("reused") else ""
    if row.get("simulated"):  # a test double's numbers: never to be read as a device's
        marks += " <span class=\"bad small\">(simulated)</span>"
    return escape(variant) + marks


# --- sections ------------------------------------------------------------------------------------------------


def _header(doc: dict[str, Any]) -> str:
    data = doc.get("dataset") or {}
    models = ", ".join(f"{escape(f)}: <code>{escape(m['name'])}</code> ({escape(m['format'])})"
                       for f, m in (doc.get("model") or {}).items())
    trained = []
    for framework, info in (doc.get("training") or {}).items():
        if info.get("test_accuracy") is not None:
            trained.append(f"{escape(framework)} trained to {info['test_accuracy'] * 100:.1f}% in "
                           f"{_f(info.get('train_seconds'), '{:.1f}')} s")
    return (f"<h1>{escape(doc.get('title', 'devicelab report'))}</h1>"
            f"<p class=\"muted\">{escape(doc.get('created', ''))} · devicelab {escape(str(doc.get('devicelab')))}"
            f" · results store <code>{escape(str(doc.get('store', '')))}</code></p>"
            f"<div class=\"box\"><dl><dt>model</dt><dd>{models}</dd>"
            f"<dt>data</dt><dd>{escape(str(data.get('name', '?')))}: {data.get('samples', '?')} samples</dd>"
            f"<dt>targets</dt><dd>{escape(', '.join(doc.get('targets', [])))}</dd>"
            + (f"<dt>training</dt><dd>{'; '.join(trained)}</dd>" if trained else "")
            + "</dl><p class=\"small muted\">Every variant is compared with the original model run on this PC "
            "(the reference, blue rows): <b>agreement</b> is the share of inputs where both predict the same class, "
            "<b>speedup</b> and <b>size</b> are ratios against the reference, intervals are 95%. Attack success is "
            "the share of inputs the model classified correctly that the attack makes it misclassify.</p></div>")


def _summary(doc: dict[str, Any]) -> str:
    rows = doc.get("rows") or []
    if not rows:
        return "<h2>Summary</h2><p class=\"bad\">Nothing was measured: see the failures below.</p>"
    attacks = list(dict.fromkeys(k for r in rows for k in (r.get("robustness") or {})))
    values = any(r.get("mae") is not None or (r.get("task") in ("regression", "embedding")) for r in rows)
    head = ["variant", "target", "runtime", "size", "size ratio", "accuracy", "Δ acc", "agreement",
            "disagree", "max |Δ|", *(["MAE", "cosine", "SNR dB"] if values else []), "median ms", "p90 ms",
            "speedup", "peak MiB", *[f"{a} success" for a in attacks]]
    lines, css = [], []
    multi = len({r["framework"] for r in rows}) > 1
    for r in rows:
        if r["status"] != "ok":
            lines.append([_name(r), escape(r["target"]), escape(r.get("runtime") or "?"),
                          f"<span class=\"bad\">failed:</span> {escape(r.get('error') or '')}", *[""] * (
                              len(head) - 4)])
            css.append("error")
            continue
        robust = []
        for a in attacks:
            found = (r.get("robustness") or {}).get(a) or {}
            robust.append(_pct(found.get("rate"), (found.get("low"), found.get("high")) if found.get("rate")
                               is not None else None) if "error" not in found else
                          f"<span class=\"bad\">{escape(found['error'][:60])}</span>")
        delta = r.get("accuracy_delta_pt")
        lines.append([
            (f"<span class=\"muted small\">{escape(r['framework'])}</span> " if multi else "") + _name(r),
            escape(r["target"]), escape(r.get("runtime") or ""), _size(r.get("size_bytes")),
            _ratio(r.get("size_ratio"), good_above=False), _pct(r.get("accuracy"), r.get("accuracy_ci")),
            "–" if delta is None else f"<span class=\"{'bad' if delta < -0.5 else ''}\">{delta:+.1f} pt</span>",
            _pct(r.get("agreement"), r.get("agreement_ci")),
            _f(r.get("disagreements"), "{:d}"), _f(r.get("max_abs_diff"), "{:.1e}"),
            *([_f(r.get("mae"), "{:.4g}"), _f(r.get("cosine"), "{:.5f}"), _snr(r)] if values else []),
            _f(r.get("median_ms"), "{:.3f}"), _f(r.get("p90_ms"), "{:.3f}"), _ratio(r.get("speedup")),
            _f(r.get("memory_mib"), "{:.1f}"), *robust])
        css.append("ref" if r["variant"] == "original" else "")
    return "<h2>Summary</h2>" + _warnings(rows) + _table(head, lines, left=3, css=css) + _outputs(rows)


def _snr(r: dict[str, Any]) -> str:
    return "identical" if r.get("identical") else _f(r.get("snr_db"), "{:.1f}")


def _warnings(rows: list[dict[str, Any]]) -> str:
    """Figures that look good but mean nothing (a reference that never varies) are said first, in red."""
    seen = list(dict.fromkeys(w for r in rows for w in r.get("warnings") or []))
    return "".join(f"<div class=\"box fail\"><b>Warning:</b> {escape(w)}</div>" for w in seen)


def _outputs(rows: list[dict[str, Any]]) -> str:
    """Every output of multi-output models, per variant: the summary shows the first (the headline)."""
    lines = []
    for r in rows:
        outputs = r.get("outputs") or []
        if r["status"] != "ok" or len(outputs) < 2 or r["variant"] == "original":
            continue
        for out in outputs:
            agreement = _pct(out.get("agreement"), out.get("agreement_ci")) if "agreement" in out else "–"
            lines.append([_name(r), escape(r["target"]), escape(out.get("name", "?")), escape(out.get("kind", "?")),
                          agreement, _f(out.get("max_abs_diff"), "{:.1e}"), _f(out.get("cosine"), "{:.5f}"),
                          "identical" if out.get("identical") else _f(out.get("snr_db"), "{:.1f}")])
    if not lines:
        return ""
    return ("<h3>Every output</h3>" + _table(["variant", "target", "output", "kind", "agreement", "max |Δ|",
                                               "cosine", "SNR dB"], lines, left=4))


def _failures(doc: dict[str, Any]) -> str:
    out = []
    for f in doc.get("failures") or []:
        hint = f"<br><span class=\"muted\">Hint: {escape(f['hint'])}</span>" if f.get("hint") else ""
        count = f" ({f['failed_jobs']} of {f['jobs']} jobs)" if f.get("jobs") else " (before any job ran)"
        out.append(f"<div class=\"box fail\"><b>{escape(f['target'])}</b> ({escape(f['framework'])}) failed{count}: "
                   f"{escape(f['error'])}{hint}</div>")
    skipped = doc.get("skipped") or []
    if skipped:
        lines = [[escape(s["variant"]), escape(s["target"]), escape(s["framework"]), escape(s["reason"])]
                 for s in skipped]
        out.append("<h3>Not run (known limits of a target)</h3>"
                   + _table(["variant", "target", "framework", "why"], lines, left=4))
    return ("<h2>Failed targets</h2>" if doc.get("failures") else "") + "".join(out) if out else ""


def _plots(doc: dict[str, Any]) -> str:
    rows = [r for r in doc.get("rows") or [] if r["status"] == "ok"]
    figures = [("Accuracy against model size", plots.accuracy_vs_size(rows)),
               ("Latency distributions per target", plots.latency_distributions(rows)),
               ("Peak memory", plots.memory(rows)),
               ("Robustness: attack success per variant", plots.robustness(rows))]
    shown = [f"<h3>{escape(title)}</h3><div class=\"box\">{svg}</div>" for title, svg in figures if svg]
    return "<h2>Plots</h2>" + "".join(shown) if shown else ""


def _disagreements(doc: dict[str, Any]) -> str:
    examples = doc.get("examples") or []
    if not examples:
        compared = any(r["status"] == "ok" and r.get("agreement") is not None for r in doc.get("rows") or [])
        if not compared:  # no variant was compared with a reference: claim nothing
            return ""
        return ("<h2>Disagreements with the reference</h2><p class=\"ok\">No variant disagreed with the reference "
                "on any input.</p>")
    out = ["<h2>Disagreements with the reference</h2><p class=\"small muted\">Inputs on which a variant's top-1 "
           "class differs from the PC reference: the cases that reveal converter and runtime bugs. All of them are "
           "saved (file below, inside the study folder); the first few are shown as <i>reference → variant "
           "(label)</i>.</p>"]
    for e in examples:
        figs = []
        for s in e["shown"]:
            label = "" if s.get("label") is None else f" ({s['label']})"
            image = f"<img alt=\"input {s['index']}\" src=\"{s['png']}\">" if s.get("png") else ""
            figs.append(f"<figure>{image}<figcaption>#{s['index']}: {s['reference']} → "
                        f"<b>{s['variant']}</b>{label}</figcaption></figure>")
        more = f" (first {len(e['shown'])} shown)" if e["count"] > len(e["shown"]) else ""
        out.append(f"<h3>{escape(e['variant'])} @ {escape(e['target'])} <span class=\"muted small\">"
                   f"{escape(e['framework'])}, {escape(e['runtime'])}: {e['count']} input(s){more}, saved in "
                   f"<code>{escape(e['file'])}</code></span></h3><div class=\"box grid\">{''.join(figs)}</div>")
    return "".join(out)


def _diagnoses(doc: dict[str, Any]) -> str:
    """explain --fix of every variant whose agreement fell below the study's threshold."""
    diagnoses = doc.get("diagnoses") or []
    if not diagnoses:
        return ""
    from devicelab.explain.core import FLOOR_DB

    out = [f"<h2>Why variants disagree</h2><p class=\"small muted\">Each variant of the model whose top-1 "
           f"agreement with the reference fell below {_pct(doc.get('explain_below'), digits=0)} (TFLite and ONNX on "
           "this PC; TF.js and ONNX in a browser, diagnosed there on the same backend) was "
           "diagnosed (<code>devicelab explain --fix</code>): its intermediate tensors compared with the original's, "
           "layer by layer along the graph (SQNR in dB: higher is closer; healthy int8 layers sit at 20-45 dB), the "
           "first divergent layer named, and a variant keeping that layer in float built and measured. Agreements "
           "in this section are on the diagnosis' own samples (the first of the test data).</p>"]
    for d in diagnoses:
        title = (f"<h3>{escape(d['variant'])} @ {escape(d['target'])} <span class=\"muted small\">agreement "
                 f"{_pct(d.get('agreement'))} in the study; diagnosed on {d.get('samples')} samples in "
                 f"{_f(d.get('seconds'), '{:.1f}')} s</span></h3>")
        error = d.get("error")
        if error:
            hint = f"<br><span class=\"muted\">Hint: {escape(error['hint'])}</span>" if error.get("hint") else ""
            out.append(title + f"<div class=\"box fail\"><b>The diagnosis failed</b> ({escape(error['kind'])}): "
                       f"{escape(error['message'])}{hint}</div>")
            continue
        report = d.get("explain") or {}
        first = report.get("first_divergent_layer")
        verdict = (f"First divergent layer: <b class=\"bad\">{escape(first)}</b>" if first else
                   "<span class=\"ok\">No layer diverges</span> (the disagreement is spread thin, or comes from "
                   "the last layer's rounding)")
        unmatched = report.get("unmatched") or []
        if unmatched:
            verdict += (f". <span class=\"muted\">No tensor of their own in the variant (fused or folded): "
                        f"{escape(', '.join(unmatched))}</span>")
        chart = plots.layer_errors(report, FLOOR_DB)
        layers = [[escape(s["layer"]), escape(str(s.get("tensor") or "")),
                   "identical" if s.get("sqnr_db") is None else _f(s["sqnr_db"], "{:.1f}"),
                   _f(s.get("cosine"), "{:.4f}"), _f(s.get("max_abs"), "{:.3g}"), _f(s.get("scale"), "{:.3g}")]
                  for s in report.get("layers") or []]
        css = ["error" if s["layer"] == first else "" for s in report.get("layers") or []]
        notes = "".join(f"<p class=\"small muted\">{escape(n)}</p>" for n in d.get("notes") or [])
        # The chart and the fix side by side: where it breaks, and what keeping that layer in float gives.
        out.append(title + f"<div class=\"side\"><div class=\"box\"><p>{verdict}.</p>{chart or ''}</div>"
                   f"<div>{_fix(report.get('fix'))}</div></div><details><summary class=\"small\">Per-layer figures"
                   "</summary>"
                   + _table(["layer", "variant tensor", "SQNR dB", "cosine", "max |Δ|", "int8 scale"], layers,
                            left=2, css=css) + "</details>" + notes)
    return "".join(out)


def _fix(fix: dict[str, Any] | None) -> str:
    """The fix's agreement and size beside the full int8 variant's and fp32's."""
    if not fix:
        return ""
    against = fix.get("against") or {}
    full, fp32 = against.get("full") or {}, against.get("fp32") or {}
    kept = escape(", ".join(fix.get("kept_float") or []))
    lines = [[f"<b>{escape(fix['variant'])}</b> <span class=\"muted small\">(fix: {kept} in float)</span>",
              _pct(fix.get("agreement")), _size(fix.get("size_bytes"))],
             [escape(full.get("variant", "full int8")) + " <span class=\"muted small\">(full int8)</span>",
              _pct(full.get("agreement")), _size(full.get("size_bytes"))],
             [escape(fp32.get("variant", "fp32")) + " <span class=\"muted small\">(float)</span>",
              _pct(fp32.get("agreement")), _size(fp32.get("size_bytes"))]]
    bound = fix.get("bound")
    verdict = ("<p class=\"ok small\">The fix is within {:.0f} points of fp32's agreement: measure, deploy or study it "
               "by its name like any variant.</p>" if fix.get("within_bound") else
               "<p class=\"warn small\">Keeping these layers in float did not bring agreement within {:.0f} points of "
               "fp32's; the best variant tried is shown.</p>").format((bound or 0) * 100)
    tried = fix.get("tried") or []
    steps = "" if len(tried) < 2 else ("<p class=\"small muted\">Tried: " + "; ".join(
        f"{escape(', '.join(t.get('kept_float') or []))} float: {_pct(t.get('agreement'))}" for t in tried) + "</p>")
    return _table(["variant", "agreement", "size"], lines) + verdict + steps


def _frameworks(doc: dict[str, Any]) -> str:
    fw = doc.get("frameworks")
    if not fw:
        return ""
    names = fw.get("names", ["keras", "pytorch"])
    training = doc.get("training") or {}
    rows = []
    for name in names:
        info, trained = (fw.get("frameworks") or {}).get(name) or {}, training.get(name) or {}
        rows.append([escape(name), _pct(info.get("accuracy"), info.get("accuracy_ci")),
                     _f(trained.get("train_seconds"), "{:.1f} s"), _f(trained.get("parameters"), "{:,}"),
                     escape(str(trained.get("framework_version") or ""))])
    mcnemar = fw.get("mcnemar") or {}
    text = (f"<p>The same architecture, recipe and seed, trained in each framework on the CPU, then run as "
            f"originals on this PC on the same {fw.get('samples')} inputs. Top-1 agreement between them: "
            f"<b>{_pct(fw.get('agreement'), fw.get('agreement_ci'))}</b>, max |Δ probability| "
            f"{_f(fw.get('max_abs_diff'), '{:.2g}')}. Only {escape(names[0])} right: "
            f"{mcnemar.get('only_a_correct', '–')}, only {escape(names[1])} right: "
            f"{mcnemar.get('only_b_correct', '–')}; McNemar exact p = {_f(mcnemar.get('p_value'), '{:.3g}')} "
            f"(small p: their accuracies really differ). The PyTorch model also enters the variant matrix through "
            f"ONNX (rows marked pytorch above).</p>")
    return ("<h2>Across frameworks</h2>" + text
            + _table(["framework", "accuracy", "training time", "parameters", "version"], rows)
            + (f"<div class=\"box\">{plots.per_class(fw) or ''}</div>"))


def _robustness_details(doc: dict[str, Any]) -> str:
    attacks = doc.get("attacks") or {}
    if not attacks:
        return ""
    lines = []
    for framework, sets in attacks.items():
        for label, info in sets.items():
            lines.append([escape(label), escape(framework), str(info.get("samples")), _f(info.get("linf"), "{:.3f}"),
                          _f(info.get("seconds"), "{:.1f} s")])
    return ("<h2>Adversarial examples</h2><p class=\"small muted\">Generated on each framework's reference model "
            "(ART, untargeted, true labels) and fed to every variant on every target.</p>"
            + _table(["attack", "made on", "samples", "max L∞ change", "time"], lines, left=2))


def _timing_details(doc: dict[str, Any]) -> str:
    rows = [r for r in doc.get("rows") or [] if r["status"] == "ok"]
    if not rows:
        return ""
    lines = [[_name(r), escape(r["target"]), _f(r.get("load_ms"), "{:.1f}"), _f(r.get("first_ms"), "{:.2f}"),
              _f(r.get("median_ms"), "{:.3f}"), _f(r.get("p90_ms"), "{:.3f}"), _f(r.get("iqr_ms"), "{:.3f}"),
              _f(r.get("cv"), "{:.2f}"), str(len(r.get("runs_ms") or [])), _f(r.get("memory_mib"), "{:.1f}"),
              escape(r.get("memory_method") or "–")] for r in rows]
    return ("<h2>Time and memory</h2>"
            + _table(["variant", "target", "load ms", "first ms", "median ms", "p90 ms", "IQR ms", "CV", "runs",
                      "peak MiB", "memory method"], lines, left=2))


def _profiles(doc: dict[str, Any]) -> str:
    """Where the time goes: one per-operator table for every profiled run (measure or study --profile)."""
    profiles = doc.get("profiles") or []
    if not profiles:
        return ""
    out = ["<h2>Where the time goes</h2><p class=\"small muted\">Per-operator times from the runtime's own "
           "profiler, in extra runs after the timed ones (so the timings above are not slowed): ms per inference "
           "and the provider or backend that ran each op. Core ML on iOS 17.4+ gives a plan instead (MLComputePlan): "
           "each op's preferred device and share of the estimated cost, no time. A share below 100% on the "
           "requested provider is a silent fallback.</p>"]
    for p in profiles:
        head = (f"<h3>{escape(p['variant'])} @ {escape(p['target'])} <span class=\"muted small\">"
                f"{escape(p.get('runtime') or '')}</span></h3>")
        if p.get("error"):
            out.append(head + f"<p class=\"warn small\">No per-operator table: {escape(p['error'])}</p>")
            continue
        facts = [escape(p.get("method") or "")]
        if p.get("ops_ms") is not None:
            whole = f" of {p['run_ms']:.4f} ms per inference" if p.get("run_ms") else " per inference"
            facts.append(f"ops {p['ops_ms']:.4f} ms{whole}")
        estimated = bool(p.get("estimated"))  # Core ML's MLComputePlan: preferred device and cost share, no ms
        if p.get("share_ops") is not None:
            css = "ok" if p["share_ops"] >= 1 else "bad"
            share = (f"{_pct(p.get('share_cost'), digits=0)} of estimated cost" if estimated
                     else f"{_pct(p.get('share_time'), digits=0)} of op time")
            facts.append(f"on {escape(str(p.get('requested')))}: <span class=\"{css}\">"
                         f"{_pct(p['share_ops'], digits=0)} of ops, {share}</span>")
        if estimated:
            lines = [[escape(str(op.get("name"))), escape(str(op.get("op_type") or "")),
                      escape(str(op.get("provider") or "–")), escape(", ".join(op.get("supported") or [])),
                      _pct(op.get("cost"), digits=1)] for op in p.get("operators") or []]
            table = _table(["op", "type", "preferred device", "supported", "estimated cost"], lines, left=4)
        else:
            lines = [[escape(str(op.get("name"))), escape(str(op.get("op_type") or "")),
                      escape(str(op.get("provider") or "")), _f(op.get("calls"), "{}"), _f(op.get("ms"), "{:.4f}")]
                     for op in p.get("operators") or []]
            table = _table(["op", "type", "provider", "calls", "ms / inference"], lines, left=3)
        out.append(head + f"<p class=\"small\">{' · '.join(facts)}</p>" + table)
    return "".join(out)


def _environments(doc: dict[str, Any]) -> str:
    envs = doc.get("environments") or []
    if not envs:
        return ""
    out = ["<h2>Environments</h2>"]
    for env in envs:
        items = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(_plain(v))}</dd>"
                        for k, v in (env.get("device") or {}).items())
        used = env.get("runtime_used")
        items += f"<dt>runtime</dt><dd>{escape(_plain(used))}</dd>" if used else ""
        out.append(f"<h3>{escape(env['target'])}</h3><div class=\"box\"><dl>{items}</dl></div>")
    host = doc.get("host") or {}
    out.append(f"<p class=\"small muted\">devicelab ran on {escape(host.get('platform', '?'))}, Python "
               f"{escape(host.get('python', '?'))}.</p>")
    return "".join(out)


def _phases(doc: dict[str, Any]) -> str:
    phases = doc.get("phases") or {}
    if not phases:
        return ""
    lines = [[escape(name), f"{seconds:.1f} s"] for name, seconds in phases.items()]
    lines.append(["<b>total</b>", f"<b>{sum(phases.values()):.1f} s</b>"])
    return "<h2>How long it took</h2>" + _table(["phase", "wall time"], lines)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
