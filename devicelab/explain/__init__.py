"""Why a variant disagrees with the original, and where its time goes.

    report = explain("model.keras", "tflite-int8", data="eval.npz", calibration="calib.npz", fix=True)
    report.first_divergent_layer, report.to_json()

The original and the variant run on the same samples; every intermediate tensor of both is captured (the
reference per source layer, the variant per tensor its runtime exposes), matched to the source's layers by
name (core), scored (SQNR dB, cosine, max abs error, int8 scale) and the first divergent layer named by the
rule documented in ``core``. One module per variant format with the same shape: ``capture(model_path, x,
input_names) -> (tensors, outputs)`` and ``convert_selective(...)`` for ``--fix``.

``fix`` keeps the divergent layer in float32 (a selectively quantized variant, stored in the artifact cache
like any variant, named ``<base>-float-<layers>``), measures its agreement on the same samples, and when that
is not back within ``FIX_BOUND`` of the fp32 variant's agreement also keeps the next layer float (its
consumer re-quantizes the same activation range), up to ``FIX_MAX_LAYERS`` layers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ModelRunError, RuntimeUnavailableError, UsageError
from devicelab.explain import core
from devicelab.explain.core import Comparison, Threshold

FIX_BOUND = 0.02  # the fix is good when its agreement is within 2 points of the fp32 variant's
FIX_MAX_LAYERS = 3
DEFAULT_SAMPLES = 100
_FULL_INT8 = {"tflite": "tflite-int8", "onnx": "onnx-int8-static", "tfjs": "tfjs-uint8", "coreml": "coreml-int8"}
_FP32 = {"tflite": "tflite-fp32", "onnx": "onnx-fp32", "tfjs": "tfjs-fp32", "coreml": "coreml-fp32"}


@dataclass
class Candidate:
    """One variant measured on the explain samples: its agreement with the original and its size."""

    variant: str
    agreement: float | None
    size_bytes: int | None
    kept_float: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "agreement": _r(self.agreement), "size_bytes": self.size_bytes}


@dataclass
class Fix:
    chosen: Candidate
    full: Candidate  # the full int8 variant
    fp32: Candidate
    tried: list[Candidate]
    within_bound: bool

    def to_json(self) -> dict[str, Any]:
        return {"variant": self.chosen.variant, "kept_float": self.chosen.kept_float,
                "agreement": _r(self.chosen.agreement), "size_bytes": self.chosen.size_bytes,
                "within_bound": self.within_bound, "bound": FIX_BOUND,
                "against": {"full": self.full.to_json(), "fp32": self.fp32.to_json()},
                "tried": [{**c.to_json(), "kept_float": c.kept_float} for c in self.tried]}


@dataclass
class ExplainReport:
    model: str
    variant: str
    target: str
    runs_on: str
    samples: int
    comparison: Comparison
    agreement: float | None
    size_bytes: int | None
    fix: Fix | None = None
    profile: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    fix_asked: bool = False
    host_check: dict[str, Any] | None = None  # a browser diagnosis of an ONNX file, checked on this PC

    @property
    def first_divergent_layer(self) -> str | None:
        return self.comparison.first_divergent

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "variant": self.variant, "target": self.target, "runs_on": self.runs_on,
            "layers": [s.to_json() for s in self.comparison.layers],
            "first_divergent_layer": self.comparison.first_divergent,
            "unmatched": self.comparison.unmatched,
        }
        if self.fix is not None or self.fix_asked:  # null: --fix found nothing to keep float, or skipped
            doc["fix"] = None if self.fix is None else self.fix.to_json()
        if self.host_check is not None:
            doc["host_check"] = self.host_check
        if self.profile is not None:
            doc["profile"] = self.profile
        return doc


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _module(fmt: str) -> Any:
    """The format's explain module, or the clear error of a format that cannot be explained here."""
    if fmt == "tflite":
        from devicelab.explain import tflite

        return tflite
    if fmt == "onnx":
        from devicelab.explain import onnx

        return onnx
    if fmt == "coreml":
        if sys.platform != "darwin":
            raise RuntimeUnavailableError("explaining Core ML variants needs macOS: Core ML runs the model only "
                                          "there (coremltools' prediction raises elsewhere)",
                                          hint="run `devicelab explain` on a Mac, or explain the tflite/onnx "
                                          "variants here")
        from devicelab.explain import coreml

        return coreml
    if fmt == "executorch":
        from devicelab.explain import executorch

        return executorch
    if fmt == "tfjs":
        raise UsageError("TF.js variants run only in a browser, so they are explained there",
                         hint="add --target chrome (and --backend wasm, webgl, webgpu or cpu)")
    raise UsageError(f"cannot explain {fmt} variants")


def explain(model: str | Path, variant: str, *, target: Any = "host", data: str | None = None,
            calibration: str | None = None, samples: int = DEFAULT_SAMPLES, fix: bool = False,
            profile: bool = False, threshold: Threshold | None = None, cache: Path | None = None,
            store: Path | None = None, progress: Any = None, runtime: str | None = None,
            backend: str | None = None, headed: bool = False, remote: str | None = None) -> ExplainReport:
    """Compare the variant's intermediate tensors with the original's layer by layer (see the module doc).

    ``target`` is "host" or a browser ("chrome"): there the variant runs in the web runner page (tfjs and
    onnx variants; ``backend`` picks the page's backend, ``headed``/``remote`` as for measure). A
    BrowserTarget may be given instead of a name (the study's own); the caller then closes it.
    """
    from devicelab.targets.browser import BrowserTarget

    if isinstance(target, BrowserTarget):
        return _explain(model, variant, target.name, (target, runtime, backend), data, calibration, samples, fix,
                        profile, threshold, cache, store, progress)
    if target == "host":
        given = [flag for flag, value in (("--backend", backend), ("--runtime", runtime), ("--remote", remote),
                                          ("--headed", headed)) if value]
        if given:
            raise UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to a browser "
                             "target",
                             hint="for example --target chrome --backend wasm")
        return _explain(model, variant, target, None, data, calibration, samples, fix, profile, threshold, cache,
                        store, progress)
    from devicelab.targets.browsers import kind

    try:
        kind(target)
    except UsageError as exc:
        raise UsageError(f"explain runs on the host or in a browser; '{target}' is neither ({exc.message})",
                         hint="use --target host or --target chrome (phones: `devicelab deploy`)") from None
    browser = BrowserTarget(target, headed=headed, remote=remote)
    try:
        return _explain(model, variant, target, (browser, runtime, backend), data, calibration, samples, fix,
                        profile, threshold, cache, store, progress)
    finally:
        browser.close()


def _explain(model: str | Path, variant: str, target: str, browser: tuple[Any, str | None, str | None] | None,
             data: str | None, calibration: str | None, samples: int, fix: bool, profile: bool,
             threshold: Threshold | None, cache: Path | None, store: Path | None, progress: Any) -> ExplainReport:
    from devicelab import api
    from devicelab.convert import variants as registry
    from devicelab.data import load_dataset
    from devicelab.errors import DataError
    from devicelab.models import load_source
    from devicelab.paths import cache_dir

    if samples < 1:
        raise UsageError(f"--samples must be at least 1 (got {samples})", hint="the default is 100")
    cache = cache or cache_dir()
    chosen = registry.get(variant)
    if browser is None:
        module = _module(chosen.format)
    else:
        from devicelab.explain.browser import BrowserCapture

        module = BrowserCapture(chosen.format, browser[0], runtime=browser[1], backend=browser[2])
        module.target.start()  # a browser that cannot start fails now, before any work
    source = load_source(model, cache)
    if source.format not in ("keras", "onnx", "pt2"):
        raise UsageError(f"explain compares against the layers of Keras, ONNX and .pt2 sources; a "
                         f"{source.format} source is not supported yet",
                         hint="give the .keras file (or an ONNX export) of the model")
    spec = data or source.dataset_hint
    if not spec:
        raise DataError(f"no dataset given for {source.name}", hint="pass --data (a dataset name, .npz, IDX file "
                        "or image folder)")
    dataset = load_dataset(spec, split="test", limit=samples)
    x = api.model_inputs(source, dataset)
    names = [i.name for i in source.inputs]
    # Converting first: a missing calibration or an unsupported op is known before the reference runs.
    _tick(progress, f"convert {variant}", 0)
    artifact, size = _artifact(api, source, variant, calibration, cache, x)
    _tick(progress, f"convert {variant}", 1)
    _tick(progress, "run the original, layer by layer", 0)
    reference, ref_outputs, output_layers, aliases = _reference(source, x, names, cache)
    _tick(progress, "run the original, layer by layer", 1)
    _tick(progress, f"capture {variant} ({module.RUNS_ON})", 0)
    tensors, outputs = module.capture(artifact, x, names)
    _tick(progress, f"capture {variant} ({module.RUNS_ON})", 1)
    if hasattr(module, "aliases"):  # Core ML: its sanitized names are read with the layer list
        aliases = {**module.aliases(tensors, list(reference), aliases), **aliases}
    by_layer = {layer: t for layer, t in zip(output_layers, outputs, strict=False) if layer}
    kept = getattr(module, "kept", None) or len(x[0])  # a browser page keeps what its byte cap allows
    if kept < len(x[0]):
        reference = {layer: values[:kept] for layer, values in reference.items()}
        by_layer = {layer: core.VariantTensor(t.name, t.values[:kept], t.scale, t.origin)
                    for layer, t in by_layer.items()}
    comparison = core.compare(reference, tensors, by_layer, threshold, aliases)
    report = ExplainReport(source.name, variant, target, module.RUNS_ON, len(x[0]), comparison,
                           _agreement(outputs, ref_outputs), size)
    if len(x[0]) < samples:
        report.notes.append(f"the data has {len(x[0])} samples, fewer than the {samples} asked for: all are used")
    if kept < len(x[0]):
        from devicelab.explain.browser import CAPTURE_BYTES

        cap = f"{CAPTURE_BYTES / 2**20:g} MiB" if CAPTURE_BYTES >= 2**20 else f"{CAPTURE_BYTES / 1024:g} KiB"
        report.notes.append(f"layers compared on the first {kept} of {len(x[0])} samples (the page returns at "
                            f"most {cap} of intermediate tensors); the agreement is on all of them")
    if comparison.unmatched and chosen.format == "executorch":
        report.notes.append(f"{len(comparison.unmatched)} layer(s) {module.DELEGATED_NOTE}: "
                            + ", ".join(comparison.unmatched))
    elif comparison.unmatched:
        report.notes.append(f"{len(comparison.unmatched)} layer(s) have no tensor of their own in the variant "
                            "(fused into the next op, or folded away): " + ", ".join(comparison.unmatched))
    report.fix_asked = fix
    runtime_defect = False
    if browser is not None and chosen.format == "onnx" and comparison.first_divergent:
        runtime_defect = _check_on_host(report, artifact, x, names, reference, output_layers, threshold, aliases)
    if fix and runtime_defect:
        report.notes.append("--fix skipped: keeping layers float cures a quantization loss, not a backend that "
                            "computes the same file differently")
    elif fix:
        report.fix = _fix(api, source, chosen, comparison, list(reference), report, x, names, ref_outputs,
                          calibration, cache, module, progress)
    if profile:
        _tick(progress, f"profile {variant}", 0)
        report.profile = _profile(api, model, variant, data, calibration, samples, cache, store, chosen.format,
                                  module)
        _tick(progress, f"profile {variant}", 1)
    return report


def _check_on_host(report: ExplainReport, artifact: Path, x: list[np.ndarray], names: list[str],
                   reference: dict[str, np.ndarray], output_layers: list[str | None], threshold: Threshold | None,
                   aliases: dict[str, str]) -> bool:
    """For an ONNX variant that diverges in the page: the same file on this PC's ONNX Runtime. When the layer
    the page names is healthy here, the page's backend computes it differently (a runtime defect, which no
    float layer fixes): say so, with both figures. Returns whether that is the case."""
    from devicelab.explain import onnx

    layer = report.comparison.first_divergent
    tensors, outputs = onnx.capture(artifact, x, names)
    kept = len(next(iter(reference.values())))
    host_layers = [core.VariantTensor(t.name, t.values[:kept], t.scale, t.origin) for t in tensors]
    host_by_layer = {layer: core.VariantTensor(t.name, t.values[:kept], t.scale, t.origin)
                     for layer, t in zip(output_layers, outputs, strict=False) if layer}
    host = core.compare(reference, host_layers, host_by_layer, threshold, aliases)
    stats = {s.layer: s.sqnr_db for s in host.layers}
    page = {s.layer: s.sqnr_db for s in report.comparison.layers}
    report.host_check = {"runs_on": onnx.RUNS_ON, "first_divergent_layer": host.first_divergent,
                         "sqnr_db": _r(stats.get(layer or ""))}
    if host.first_divergent == layer:
        return False

    def db(value: float | None) -> str:
        return "identical" if value is None else f"{value:.1f} dB"

    here = "names no divergent layer" if host.first_divergent is None else f"diverges first at {host.first_divergent}"
    report.notes.append(f"on this PC ({onnx.RUNS_ON}) the same file {here}: {layer} is {db(stats.get(layer or ''))} "
                        f"there against {db(page.get(layer or ''))} in the page, so {report.runs_on} computes it "
                        "differently (a runtime defect, not a quantization loss); try another --backend")
    return True


def _tick(progress: Any, task: str, done: int) -> None:
    if progress:
        progress(task, done, 1, "")


def _reference(source: Any, x: list[np.ndarray], names: list[str], cache: Path
               ) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[str | None], dict[str, str]]:
    """(per-layer outputs of the original, its model outputs, the layer of each model output, tensor names
    that name a layer outright)."""
    if source.format == "pt2":
        from devicelab.explain import executorch

        return executorch.reference(source, x)
    if source.format == "keras":
        from devicelab.explain import keras as keras_side

        reference = keras_side.capture(source, x)
        output_layers = keras_side.output_layers(source)
        outputs = [reference[layer] for layer in output_layers if layer]
        return reference, outputs, output_layers, {}
    from devicelab.explain import onnx

    tensors, outputs = onnx.capture(source.path, x, names)
    return {t.name: t.values for t in tensors}, [o.values for o in outputs], [o.name for o in outputs], {}


def _artifact(api: Any, source: Any, variant: str, calibration: str | None, cache: Path,
              x: list[np.ndarray]) -> tuple[Path, int]:
    # The data's shapes, as measure gives them: a variant that needs fixed shapes is the one measure runs.
    report = api.convert(source.path, variants=[variant], calibration=calibration, cache=cache, source=source,
                         shapes=[[1, *array.shape[1:]] for array in x])
    conversion = report.conversions[0]
    if conversion.error:
        raise conversion.error
    return conversion.artifact.model_path, conversion.artifact.size_bytes


def _agreement(outputs: list[Any], reference: list[np.ndarray]) -> float | None:
    """Top-1 agreement of the first output with the original's; cosine for outputs that are not classes."""
    from devicelab.metrics import accuracy

    if not outputs or not reference:
        return None
    figures = accuracy.compare([outputs[0].values], None, [reference[0]])
    value = figures.get("agreement")
    return figures.get("cosine") if value is None else value


def _measure_variant(api: Any, source: Any, name: str, kept: list[str], x: list[np.ndarray], names: list[str],
                     ref_outputs: list[np.ndarray], calibration: str | None, cache: Path, module: Any
                     ) -> Candidate:
    path, size = _artifact(api, source, name, calibration, cache, x)
    if hasattr(module, "outputs"):  # the browser: a plain job, without uploading every intermediate tensor
        outputs = module.outputs(path, x, names)
    else:
        _, outputs = module.capture(path, x, names)
    return Candidate(name, _agreement(outputs, ref_outputs), size, kept)


def _fix_steps(comparison: Comparison, all_layers: list[str]) -> list[list[str]]:
    """What each --fix attempt adds: the divergent layer, then the next matched layers one by one, each with
    the unmatched layers just before it (fused into it: their ops compute its tensor, so they go float too)."""
    matched = [s.layer for s in comparison.layers]
    start = matched.index(comparison.first_divergent or "")
    steps = []
    for layer in matched[start:start + FIX_MAX_LAYERS]:
        at = all_layers.index(layer)
        before = at
        while before > 0 and all_layers[before - 1] in comparison.unmatched:
            before -= 1
        steps.append(all_layers[before:at + 1])
    return steps


def _fix(api: Any, source: Any, chosen: Any, comparison: Comparison, all_layers: list[str], report: ExplainReport,
         x: list[np.ndarray],
         names: list[str], ref_outputs: list[np.ndarray], calibration: str | None, cache: Path, module: Any,
         progress: Any) -> Fix | None:
    from devicelab.explain import selective

    base = _FULL_INT8.get(chosen.format)
    if comparison.first_divergent is None:
        report.notes.append("--fix: no divergent layer, nothing to keep in float")
        return None
    if base is None or getattr(chosen, "base", chosen.name) != base:
        report.notes.append(f"--fix makes selectively quantized variants of {', '.join(_FULL_INT8.values())}; "
                            f"{chosen.name} is not one (a float variant that diverges has a runtime or "
                            "converter defect, not a quantization one)")
        return None
    _tick(progress, "fix: the full quantized variant and fp32, for comparison", 0)
    # The variant explained is the full one: its agreement is known (measuring it again could differ on a
    # nondeterministic backend and show two figures for one file).
    full = Candidate(base, report.agreement, report.size_bytes) if chosen.name == base else \
        _measure_variant(api, source, base, [], x, names, ref_outputs, calibration, cache, module)
    fp32 = _measure_variant(api, source, _FP32[chosen.format], [], x, names, ref_outputs, None, cache, module)
    _tick(progress, "fix: the full quantized variant and fp32, for comparison", 1)
    kept = list(getattr(chosen, "keep_float", ()))
    tried: list[Candidate] = []
    for step in _fix_steps(comparison, all_layers):
        kept.extend(layer for layer in step if layer not in kept)
        name = selective.name_for(base, kept)
        _tick(progress, f"fix {name}", 0)
        try:
            candidate = _measure_variant(api, source, name, list(kept), x, names, ref_outputs, calibration, cache,
                                         module)
        except ModelRunError as exc:  # e.g. a layer with no weights to keep float: try the next step
            report.notes.append(f"--fix: {name} was not made: {exc.message}")
            continue
        finally:
            _tick(progress, f"fix {name}", 1)
        tried.append(candidate)
        if _within(candidate, fp32):
            return Fix(candidate, full, fp32, tried, True)
    if not tried:
        report.notes.append("--fix: no variant could be made that keeps the divergent layers float")
        return None
    best = max(tried, key=lambda c: c.agreement or 0.0)
    return Fix(best, full, fp32, tried, False)


def _within(candidate: Candidate, fp32: Candidate) -> bool:
    if candidate.agreement is None or fp32.agreement is None:
        return False
    return candidate.agreement >= fp32.agreement - FIX_BOUND


def _profile(api: Any, model: str | Path, variant: str, data: str | None, calibration: str | None,
             samples: int, cache: Path, store: Path | None, fmt: str, module: Any) -> dict[str, Any]:
    """Where the time goes: one measure job with the runtime's per-op profiling on (ONNX Runtime and
    ExecuTorch on the host; ort-web and tfjs in the browser), stored like any result."""
    from devicelab.explain.browser import BrowserCapture
    from devicelab.explain.profile import NO_PER_OP_TIMES

    options = api.MeasureOptions(samples=samples, profile=True, runs=20, min_seconds=0.2, max_seconds=10.0)
    if isinstance(module, BrowserCapture):
        target = module.target.profiled()
        options = replace(options, backend=module.backend)
    elif fmt in ("onnx", "executorch"):
        target = None
    else:
        return {"available": False, "reason": NO_PER_OP_TIMES.get(fmt, f"no per-op times for {fmt} here")}
    try:
        measured = api.measure(model, variants=[variant], data=data, options=options, calibration=calibration,
                               store=store, cache=cache, reference=False, target=target)[0]
    finally:
        if target is not None:
            target.close()
    if not measured.ok or measured.result is None:
        raise measured.error or RuntimeUnavailableError(f"profiling {variant} failed")
    from devicelab.explain.profile import normalized

    # One shape whatever the runtime (the stored result keeps the runtime's own, under extra.profile).
    return normalized(measured.result.extra.get("profile"), measured.row_id)
