"""The Python API: everything the CLI does, callable on its own.

    from devicelab import api
    report = api.convert("lenet5", variants=["tflite-int8", "onnx-fp32"])
    records = api.measure("lenet5", variants=["tflite-int8"], data="mnist-sample")
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from devicelab import protocol
from devicelab.artifacts import Artifact, get_or_convert
from devicelab.convert import variants as registry
from devicelab.convert.base import Variant
from devicelab.data import Dataset, fit_inputs, load_dataset
from devicelab.errors import CalibrationError, DataError, DevicelabError, UsageError
from devicelab.hashing import sha256_json
from devicelab.metrics import accuracy as accuracy_metrics
from devicelab.metrics import latency, memory
from devicelab.models import SourceModel, load_source
from devicelab.paths import cache_dir, default_store
from devicelab.protocol import Job, ModelRef, Performance, Result, RuntimeSpec
from devicelab.store import Store, new_run_id
from devicelab.targets.base import Target
from devicelab.targets.host import HostTarget

# Progress callback used throughout: (task, done, total, detail). One bar per task in the CLI.
ProgressFn = Callable[[str, int, int, str], None]
ORIGINAL = "original"  # the variant name of the unconverted source model: the PC reference
DEFAULT_CALIBRATION_SAMPLES = 200


# --- zoo ---------------------------------------------------------------------------------------------


def zoo_build(name: str, *, dataset: str | None = None, epochs: int | None = None, seed: int = 0,
              force: bool = False, cache: Path | None = None,
              progress: ProgressFn | None = None) -> tuple[Path, dict[str, Any]]:
    """Train (or fetch from cache) a zoo model; returns the .keras path and its training info."""
    from devicelab.models import zoo

    if epochs is not None and epochs < 1:  # 0 built an untrained model, negatives "trained" to chance accuracy
        raise UsageError(f"--epochs must be at least 1 (got {epochs})", hint="leave it out for the zoo's recipe")
    config = zoo.default_config(name, dataset, epochs, seed)
    report = (lambda done, total: progress(f"train {name}", done, total, "epochs")) if progress else None
    return zoo.build(config, cache or cache_dir(), report, force=force)


# --- convert -----------------------------------------------------------------------------------------


@dataclass
class Conversion:
    variant: str
    artifact: Artifact | None = None
    cache_hit: bool = False
    error: DevicelabError | None = None
    note: str | None = None  # e.g. which earlier calibration an artifact reused without --calibration came from


@dataclass
class ConvertReport:
    source: SourceModel
    conversions: list[Conversion] = field(default_factory=list)

    skipped: list[str] = field(default_factory=list)  # variants this source format cannot give

    @property
    def failed(self) -> list[Conversion]:
        return [c for c in self.conversions if c.error]


def resolve_variants(formats: list[str] | None = None, quants: list[str] | None = None,
                     names: list[str] | None = None) -> list[Variant]:
    return registry.select(formats, quants, names)


def convert(model: str | Path, *, formats: list[str] | None = None, quants: list[str] | None = None,
            variants: list[str] | None = None, calibration: str | None = None,
            calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES, cache: Path | None = None,
            progress: ProgressFn | None = None, source: SourceModel | None = None,
            shapes: list[list[int]] | None = None) -> ConvertReport:
    """Convert a model to every selected variant; one failing variant does not stop the others.

    ``shapes`` (one per input, batch 1) are the data's: formats that need fixed shapes where the model has free
    dimensions (Core ML, recurrent layers in TFLite) are made for them, and their manifest says so.
    """
    if calibration_samples < 1:  # before anything is built or loaded
        raise UsageError(f"--calibration-samples must be at least 1 (got {calibration_samples})",
                         hint=f"the default is {DEFAULT_CALIBRATION_SAMPLES}")
    cache = cache or cache_dir()
    chosen = resolve_variants(formats, quants, variants)
    source = source or load_source(model, cache)
    source.inputs  # noqa: B018 - load the model now: a broken file is one error, not one per variant
    possible = [v for v in chosen if source.format in v.sources]
    if not possible and not variants:
        raise UsageError(f"none of the selected variants can be made from {source.format} models",
                         hint="ONNX sources give onnx-* variants; see `devicelab variants`")
    report = ConvertReport(source)
    if not variants:  # a broad selection: quietly keep what this source can give; named variants must all work
        report.skipped = [v.name for v in chosen if v not in possible]
        chosen = possible
    calib, calib_sha = None, None
    if any(v.needs_calibration for v in possible):
        calib, calib_sha = calibration_data(source, calibration, calibration_samples)
    for index, variant in enumerate(chosen):
        if progress:
            progress("convert", index, len(chosen), variant.name)
        entry = Conversion(variant.name)
        try:
            earlier = _earlier_calibrated(cache, source, variant) if variant.needs_calibration and calib is None \
                else None
            if earlier is not None:  # no calibration given now: the one made before with real data
                entry.artifact, entry.note = earlier
                entry.cache_hit = True
            else:
                entry.artifact, entry.cache_hit = get_or_convert(source, variant, cache, calib, calib_sha,
                                                                 shapes=shapes)
                if variant.needs_calibration and calib is not None:
                    _remember_calibrated(cache, source, variant, entry.artifact,
                                         calibration or source.dataset_hint or "?")
        except DevicelabError as exc:
            entry.error = exc
        report.conversions.append(entry)
    if progress:
        progress("convert", len(chosen), len(chosen), "done")
    return report


def _calibrated_index(cache: Path, source: SourceModel, variant: Variant) -> Path:
    return cache / "calibrated" / source.sha256[:32] / f"{variant.name}.json"


def _remember_calibrated(cache: Path, source: SourceModel, variant: Variant, artifact: Artifact,
                         calibration: str) -> None:
    """Note which artifact of this model and variant was calibrated last, and on what data."""
    import json

    index = _calibrated_index(cache, source, variant)
    index.parent.mkdir(parents=True, exist_ok=True)
    tmp = index.with_suffix(".tmp")
    tmp.write_text(json.dumps({"artifact": str(artifact.dir.relative_to(cache)), "calibration": calibration,
                               "sha256": (artifact.manifest.get("calibration") or {}).get("sha256")}))
    tmp.replace(index)


def _earlier_calibrated(cache: Path, source: SourceModel, variant: Variant) -> tuple[Artifact, str] | None:
    """The artifact of this model and variant calibrated last (convert --calibration), if it is still cached
    and was made by the converters installed now."""
    import json

    from devicelab.artifacts import MANIFEST, load_artifact
    from devicelab.convert.variants import converter

    index = _calibrated_index(cache, source, variant)
    try:
        noted = json.loads(index.read_text())
        folder = cache / noted["artifact"]
        if not (folder / MANIFEST).is_file():
            return None
        artifact = load_artifact(folder)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no note, or a damaged one: convert as if there were none
    if artifact.manifest.get("versions") != converter(variant).versions():
        return None
    return artifact, (f"{variant.name}: using the artifact calibrated earlier on '{noted['calibration']}' "
                      "(no --calibration given)")


def calibration_data(source: SourceModel, spec: str | None, samples: int = DEFAULT_CALIBRATION_SAMPLES
                     ) -> tuple[list[np.ndarray] | None, str | None]:
    """Real samples for full-integer quantization: --calibration, else the data the model was trained on.

    One array per model input, in the model's input order and dtype (token ids stay integers).
    """
    spec = spec or source.dataset_hint
    if not spec:
        return None, None  # the int8 converters raise a CalibrationError naming the variant
    try:
        dataset = load_dataset(spec, split="train", limit=samples)
    except DataError:
        if spec == source.dataset_hint:
            raise
        dataset = load_dataset(spec, split="test", limit=samples)
    try:
        arrays = fit_inputs(dataset, source.inputs)
    except DataError as exc:
        raise CalibrationError(f"calibration data '{spec}' does not fit the model: {exc.message}",
                               hint="give --calibration data shaped like the model input"
                               + (f": {exc.hint}" if exc.hint else "")) from None
    return arrays, dataset.sha256


# --- measure -----------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One measured job, as stored: the summary row and the raw result."""

    variant: str
    target: str
    runtime: str
    row_id: int | None
    result: Result | None
    summary: dict[str, Any]
    error: DevicelabError | None = None
    outputs: list[np.ndarray] = field(default_factory=list, repr=False)
    reused: bool = False  # taken from the store (same job measured before) rather than measured now
    note: str | None = None  # what the user should know about how it was made (an earlier calibration)
    size_bytes: int | None = None  # of the artifact that ran
    setting: str | None = None  # the swept runtime setting it ran with (browser backend, delegate, compute units)

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.ok


@dataclass
class MeasureOptions:
    samples: int | None = None  # accuracy samples (default: the whole test split)
    accuracy: bool = True
    performance: bool = True
    warmup_runs: int = 5
    runs: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 30.0
    threads: int | None = 1
    delegate: str | None = None  # host TFLite: xnnpack | cpu
    backend: str | None = None  # browser runtimes: cpu | wasm | webgl | webgpu
    compute_units: str | None = None  # Core ML on iOS: all | cpu | cpu-gpu | cpu-ane
    profile: bool = False  # per-operator times (runtimes that have them: executorch), in result.extra
    timeout_seconds: float = 600.0

    def validate(self) -> None:
        """Refuse out-of-range settings as usage errors before any work (the job schema would only catch them
        job by job, after converting, and leave an error row for each)."""
        limits = [("--samples", self.samples, 1, None), ("--runs", self.runs, 1, None),
                  ("--warmup", self.warmup_runs, 0, None), ("--threads", self.threads, 1, None),
                  ("--min-seconds", self.min_seconds, 0, None), ("--max-seconds", self.max_seconds, None, 0),
                  ("--timeout", self.timeout_seconds, None, 0)]
        for flag, value, at_least, above in limits:
            if value is None:
                continue
            if (at_least is not None and value < at_least) or (above is not None and value <= above):
                bound = f"at least {at_least}" if at_least is not None else f"more than {above}"
                raise UsageError(f"{flag} must be {bound} (got {value:g})",
                                 hint="see the command's --help for what each option means")
        if self.max_seconds < self.min_seconds:
            raise UsageError(f"--max-seconds ({self.max_seconds:g}) is below --min-seconds ({self.min_seconds:g})",
                             hint="--max-seconds caps the timing that --min-seconds asks for: raise it")
        if not (self.accuracy or self.performance):
            raise UsageError("--no-accuracy and --no-performance leave nothing to measure", hint="drop one of them")


_DEFAULT_RUNTIME_VARIANT = {"keras": ORIGINAL, "tflite": "tflite-fp32", "onnxruntime": "onnx-fp32",
                            "coreml": "coreml-fp32", "tfjs": "tfjs-fp32", "tflite-web": "tflite-fp32",
                            "litert-js": "tflite-fp32", "ort-web": "onnx-fp32", "executorch": "executorch-fp32",
                            "torch": ORIGINAL}


def measure(model: str | Path, *, variants: list[str] | None = None, runtime: str | None = None,
            data: str | None = None, target: Target | None = None, options: MeasureOptions | None = None,
            calibration: str | None = None, store: Path | None = None, cache: Path | None = None,
            reference: bool = True, backends: list[str] | None = None, reuse: bool = False,
            tag: str | None = None, dataset: Dataset | None = None, task: str | None = None,
            progress: ProgressFn | None = None) -> list[Measurement]:
    """Measure variants of a model on a target and store every result the moment it arrives.

    ``variants`` may include "original" (the source model itself, on its native runtime). Agreement is
    computed against the original's outputs on the same samples, measured first when not in the store yet.
    ``backends`` sweeps the target's runtime setting (browser backends, TFLite delegates): each variant x
    setting is one job.
    ``reuse`` takes a job's result from the store when exactly that job (same artifact, target, runtime
    setting, options, samples and ``tag``) already finished there; ``tag`` tells repeats of a job apart.
    ``dataset`` gives the samples directly (already loaded) instead of ``data``: one array per model input.
    ``task`` (classification | regression | embedding) overrides the guess of how outputs are compared.
    """
    options = options or MeasureOptions()
    cache = cache or cache_dir()
    target = target or HostTarget()
    check_measure_request(options, runtime)
    default = runtime or ("keras" if isinstance(target, HostTarget) else "tfjs")
    names = variants or [_DEFAULT_RUNTIME_VARIANT.get(default, ORIGINAL)]
    chosen = [n if n == ORIGINAL else registry.get(n).name for n in names]
    if task is not None and task not in accuracy_metrics.TASKS:
        raise UsageError(f"unknown task '{task}'", hint=f"tasks: {', '.join(accuracy_metrics.TASKS)}")
    check_target_fits(target, chosen, runtime, backends)
    Store.check_writable(store or default_store())
    source = load_source(model, cache)
    dataset = dataset if dataset is not None else _dataset_for(source, data, options.samples)
    x = model_inputs(source, dataset, task)
    run_id = new_run_id()
    results: list[Measurement] = []
    plan = _JobPlan(run_id, reuse, tag, task)
    with Store(store or default_store()) as db:
        ref_outputs = None
        if reference:
            # The reference is the original on the host: a phone's or browser's "original" is a job of its own.
            on_host = target.name == "host"
            ref_outputs = _reference_outputs(db, source, dataset, x, cache, options, plan, progress, results,
                                             wanted=ORIGINAL in chosen and on_host)
        for name in chosen:
            if name == ORIGINAL and any(r.variant == ORIGINAL and r.target == target.name for r in results):
                continue
            field_name = target.sweep_field
            for setting in _sweep_settings(target, name, runtime, backends, getattr(options, field_name), progress):
                swept = replace(options, **{field_name: setting})
                results.append(_measure_one(db, source, name, runtime, dataset, x, target, swept, calibration,
                                            cache, plan, ref_outputs, progress))
    return results


def model_inputs(source: SourceModel, dataset: Dataset, task: str | None = None) -> list[np.ndarray]:
    """The dataset as the model's inputs (one array each, in order, dtype and shape), with its labels checked."""
    arrays = fit_inputs(dataset, source.inputs)
    if dataset.y is not None and dataset.label_kind == "class" and source.outputs:
        problem = accuracy_metrics.check_labels(dataset.y, source.outputs[0].shape, task)
        if problem:
            raise DataError(f"{dataset.name}: {problem}",
                            hint="labels must be class ids of this model's output; for regression targets "
                            "store float labels, or pass --task regression")
    if dataset.y is not None and task == "classification" and dataset.label_kind == "value":
        raise DataError(f"{dataset.name}: --task classification needs class-id labels, and these are fractional "
                        "or negative values", hint="store whole non-negative class ids, or pick --task regression")
    return arrays


def check_measure_request(options: MeasureOptions, runtime: str | None = None) -> None:
    """The usage errors measure can refuse before any work (and before the store is opened): settings out of
    range, an unknown runtime name."""
    options.validate()
    if runtime and runtime not in _DEFAULT_RUNTIME_VARIANT:
        raise UsageError(f"unknown runtime '{runtime}'", hint=f"runtimes: {', '.join(_DEFAULT_RUNTIME_VARIANT)}")


def choose_target(name: str = "host", *, browser: str | None = None, remote: str | None = None,
                  headed: bool = False, backends: list[str] | None = None, profile: bool = False) -> Target:
    """The target `measure` runs on: this PC, or a browser (local or behind a WebDriver URL)."""
    if name != "host":
        raise UsageError(f"unknown target '{name}'",
                         hint="measure on this PC with --target host, in a browser with --browser chrome, or on a "
                              "phone with `devicelab deploy`")
    if browser:
        from devicelab.targets.browser import BrowserTarget
        from devicelab.targets.browsers import kind

        kind(browser)  # an unknown browser is a usage error before any work
        return BrowserTarget(browser, headed=headed, remote=remote, profile=profile)
    given = [flag for flag, value in (("--remote", remote), ("--backend", backends)) if value]
    if given:  # --profile is fine on this PC too: runtimes that have per-operator times give them
        raise UsageError(f"{' and '.join(given)} need{'s' if len(given) == 1 else ''} --browser",
                         hint="for example --browser chrome --backend wasm")
    return HostTarget()


def check_target_fits(target: Target, variants: list[str], runtime: str | None, backends: list[str] | None) -> None:
    """Runtime and backend names the target cannot take are usage errors before any work, not an error row per
    job (tfjs on this PC, an unknown browser backend). Whether the runtime is available stays a job's matter.

    A sweep over several variants applies each setting only where the runtime has it (_sweep_settings), so a
    setting is unknown only when no chosen variant's runtime has it: xnnpack over tflite and onnx variants on a
    phone is fine, a typo is not.
    """
    known_anywhere: dict[str, tuple[str, ...]] = {}
    for name in variants:
        if name == ORIGINAL:
            continue
        fmt = registry.get(name).format
        chosen = runtime or target.default_runtime(fmt)
        try:
            target.check(chosen, fmt)
        except UsageError:
            raise
        except DevicelabError:
            pass  # not a usage error (Core ML off macOS, packages missing): reported per job as before
        known_anywhere[chosen] = tuple(target.backends(chosen) or ())
    if not known_anywhere or any(not known for known in known_anywhere.values()):
        return  # a runtime that lists no settings takes whatever its job says
    every = sorted({b for known in known_anywhere.values() for b in known})
    unknown = [b for b in backends or [] if b not in every]
    if unknown:
        runtimes = ", ".join(known_anywhere)
        raise UsageError(f"{runtimes} on {target.name} {'has' if len(known_anywhere) == 1 else 'have'} no "
                         f"'{unknown[0]}' setting", hint=f"use one of {', '.join(every)}")


def _sweep_settings(target: Target, name: str, runtime: str | None, sweep: list[str] | None, default: str | None,
                    progress: ProgressFn | None) -> list[str | None]:
    """The settings of a sweep (--delegate / --backend) that this variant's runtime has on ``target``.

    A sweep over several variants applies each setting only where the runtime has it (ONNX Runtime on Android
    has no xnnpack delegate) and says which were skipped. When the runtime has none of them they are all kept,
    so the job's error names what was asked for instead of the variant silently vanishing.
    """
    if name == ORIGINAL:
        return [None]
    if not sweep:
        return [default]
    try:
        runtime_name = runtime or target.default_runtime(registry.get(name).format)
        accepted = target.backends(runtime_name)
    except DevicelabError:
        return list(sweep)  # an unknown variant or runtime: _measure_one reports it
    keep = [s for s in sweep if s in accepted]
    skipped = [s for s in sweep if s not in accepted]
    if not keep or not skipped:
        return list(sweep)
    if progress:
        progress(f"{name} on {target.name}: {target.sweep_field} {', '.join(skipped)} skipped", 1, 1,
                 f"{runtime_name} has {', '.join(accepted)}")
    return list(keep)


def _dataset_for(source: SourceModel, data: str | None, samples: int | None) -> Dataset:
    spec = data or source.dataset_hint
    if not spec:
        raise DataError(f"no dataset given for {source.name}",
                        hint="pass --data (mnist-sample, a .npz, IDX file or image folder)")
    return load_dataset(spec, split="test", limit=samples)


def _reference_outputs(db: Store, source: SourceModel, dataset: Dataset, x: list[np.ndarray], cache: Path,
                       options: MeasureOptions, plan: _JobPlan, progress: ProgressFn | None,
                       results: list[Measurement], wanted: bool) -> list[np.ndarray] | None:
    """Outputs of the original model on the host (the PC reference), from the store or measured now."""
    found = db.find_reference(source.sha256, dataset.sha256, len(x[0]))
    if found is not None and not wanted:
        return found.outputs()
    # The reference always runs on the host: it is what "the model on my PC" means.
    measured = _measure_one(db, source, ORIGINAL, None, dataset, x, HostTarget(), options, None, cache, plan,
                            None, progress)
    results.append(measured)
    if not measured.ok or not measured.outputs:
        return found.outputs() if found is not None else None
    return measured.outputs


@dataclass(frozen=True)
class _JobPlan:
    """What every job of one measure() call shares: its run id and whether finished jobs are reused."""

    run_id: str
    reuse: bool = False
    tag: str | None = None
    task: str | None = None  # how outputs are compared, when the user said so


def job_key(*, model_sha256: str, variant: str, artifact_sha256: str, target: str, runtime: str,
            options: MeasureOptions, dataset_sha256: str, samples: int, tag: str | None = None,
            task: str | None = None) -> str:
    """Identity of a job: two jobs with the same key measure the same thing (the timeout does not count).

    A task given by the user changes the stored figures, so it is part of the key; the guessed one is not.
    """
    # profile=False is left out so jobs keyed before the option existed keep their keys.
    settings = {k: v for k, v in options.__dict__.items()
                if k != "timeout_seconds" and not (k == "profile" and not v)}
    doc = {"model": model_sha256, "variant": variant, "artifact": artifact_sha256, "target": target,
           "runtime": runtime, "options": settings, "dataset": dataset_sha256, "samples": samples, "tag": tag}
    if task is not None:
        doc["task"] = task
    return sha256_json(doc)[:32]


def _measure_one(db: Store, source: SourceModel, name: str, runtime: str | None, dataset: Dataset,
                 x: list[np.ndarray], target: Target, options: MeasureOptions, calibration: str | None,
                 cache: Path, plan: _JobPlan, ref_outputs: list[np.ndarray] | None,
                 progress: ProgressFn | None) -> Measurement:
    setting = None if name == ORIGINAL else getattr(options, target.sweep_field)
    label = f"{name} on {target.name}" + (f" ({setting})" if setting else "")
    fields: dict[str, Any] = {"run_id": plan.run_id, "model": source.name, "model_sha256": source.sha256,
                              "variant": name, "target": target.name, "dataset": dataset.name,
                              "dataset_sha256": dataset.sha256, "samples": len(x[0]), "simulated": 0}
    runtime_name = runtime or "?"
    note = None
    try:
        fmt = source.format if name == ORIGINAL else registry.get(name).format
        runtime_name = target.default_runtime(fmt) if name == ORIGINAL else runtime or target.default_runtime(fmt)
        target.check(runtime_name, fmt)  # fail fast (Core ML off macOS) before converting
        if name == ORIGINAL:
            model_path, size, sha = source.path, _size(source.path), source.sha256
        else:
            if progress:
                progress(label, 0, 1, "converting")
            report = convert(source.path, variants=[name], calibration=calibration, cache=cache, source=source,
                             shapes=[[1, *array.shape[1:]] for array in x])
            conversion = report.conversions[0]
            if conversion.error:
                raise conversion.error
            if progress:
                progress(label, 0, 1, "cached" if conversion.cache_hit else "converted")
            artifact = conversion.artifact
            assert artifact is not None
            note = conversion.note
            model_path, size, sha = artifact.model_path, artifact.size_bytes, artifact.sha256
        fields.update(format=fmt, runtime=f"{runtime_name}/{setting}" if setting else runtime_name, size_bytes=size,
                      artifact_sha256=sha)
        fields["job_key"] = job_key(model_sha256=source.sha256, variant=name, artifact_sha256=sha,
                                    target=target.name, runtime=fields["runtime"], options=options,
                                    dataset_sha256=dataset.sha256, samples=len(x[0]), tag=plan.tag,
                                    task=plan.task)
        done = db.find_job(fields["job_key"]) if plan.reuse else None
        if done is not None:
            if progress:
                progress(label, 1, 1, "reused")
            return _from_store(done, name, target.name, runtime_name)
        with _job_folder() as (job_dir, result_dir):
            job = build_job(job_dir, model_path, fmt, name, sha, x, runtime_name, options,
                            input_names=[i.name for i in source.inputs])
            forward = (lambda phase, done, total: progress(label, done, total, phase)) if progress else None
            result = target.run(job_dir, result_dir, forward)
            outputs = [protocol.read_tensor(result_dir, spec) for spec in result.outputs] if result.ok else []
    except DevicelabError as exc:
        if progress:  # the bar ends saying so, not frozen at its last phase ("0/1 converting")
            progress(label, 1, 1, f"failed: {exc.kind}")
        fields.update(runtime=runtime_name, status="error", error_kind=exc.kind, error_message=exc.message)
        row_id = db.add(fields, metrics={"hint": exc.hint})
        return Measurement(name, target.name, runtime_name, row_id, None, {}, error=exc, setting=setting)
    summary = summarize(result, outputs, dataset.y, ref_outputs if name != ORIGINAL else None, task=plan.task,
                        label_kind=dataset.label_kind)
    fields.update(_summary_fields(result, summary))
    row_id = db.add(fields, device=result.device, job=job.to_json(), result=result.to_json(), metrics=summary,
                    outputs=outputs)
    error = None
    if not result.ok:
        err = result.error or {}
        error = DevicelabError(f"{label}: {err.get('message', 'failed')}", err.get("hint"))
        error.kind = err.get("kind", "error")
    return Measurement(name, target.name, runtime_name, row_id, result, summary, error, outputs,
                       size_bytes=fields.get("size_bytes"), note=note, setting=setting)


def _from_store(row: Any, variant: str, target: str, runtime: str) -> Measurement:
    result = Result.from_json(row.result)
    stored = str(row["runtime"] or "")  # "runtime/setting" when a setting was swept
    return Measurement(variant, target, runtime, row["id"], result, row.metrics, None, row.outputs(), reused=True,
                       size_bytes=row["size_bytes"], setting=stored.split("/", 1)[1] if "/" in stored else None)


def build_job(job_dir: Path, model_path: Path, fmt: str, variant: str, sha: str,
              x: np.ndarray | list[np.ndarray], runtime: str, options: MeasureOptions,
              input_names: list[str] | None = None, capture: protocol.Capture | None = None) -> Job:
    """Lay out a job folder of the shared protocol: model file(s) under model/, inputs under inputs/.

    ``x`` holds one array per model input (N samples each, in the model's order and dtype); ``input_names``
    names them as the model does, so every runtime can feed them by name. ``capture`` asks for intermediate
    tensors too (explain).
    """
    model_dir = job_dir / "model"
    model_dir.mkdir(parents=True)
    entry = model_dir / model_path.name
    if model_path.is_dir():
        shutil.copytree(model_path, entry, copy_function=_link_or_copy)
        inside = sorted(p.relative_to(job_dir).as_posix() for p in entry.rglob("*") if p.is_file())
        files = [entry.relative_to(job_dir).as_posix(), *inside]
    else:
        _link_or_copy(model_path, entry)
        files = [entry.relative_to(job_dir).as_posix()]
        manifest = model_path.parent / "manifest.json"
        if fmt == "tflite" and manifest.is_file():  # int8 I/O quantization parameters, for runtimes that lack them
            _link_or_copy(manifest, model_dir / manifest.name)
            files.append(f"model/{manifest.name}")
    if fmt == "tfjs":  # a graph model's weight shards sit next to model.json
        for shard in model_path.parent.glob("*.bin"):
            _link_or_copy(shard, model_dir / shard.name)
            files.append(f"model/{shard.name}")
    arrays = [x] if isinstance(x, np.ndarray) else list(x)
    names = input_names or (["input"] if len(arrays) == 1 else [f"input_{k}" for k in range(len(arrays))])
    specs = [protocol.write_tensor(job_dir, f"inputs/input_{k}.bin", names[k], array)
             for k, array in enumerate(arrays)]
    job = Job(
        id=f"{variant}-{uuid.uuid4().hex[:12]}",
        model=ModelRef(format=fmt, variant=variant, files=files, sha256=sha),
        inputs=specs,
        runtime=RuntimeSpec(name=runtime, threads=options.threads, delegate=options.delegate,
                            backend=options.backend, compute_units=options.compute_units, profile=options.profile),
        accuracy=options.accuracy,
        performance=Performance(enabled=options.performance, warmup_runs=options.warmup_runs, runs=options.runs,
                                min_seconds=options.min_seconds, max_seconds=options.max_seconds),
        timeout_seconds=options.timeout_seconds,
        capture=capture,
    )
    protocol.write_job(job_dir, job)
    return job


def summarize(result: Result, outputs: list[np.ndarray], labels: np.ndarray | None,
              reference: list[np.ndarray] | np.ndarray | None, *, task: str | None = None,
              label_kind: str | None = None) -> dict[str, Any]:
    """Every derived figure of one result, computed from its raw samples (every output is compared)."""
    t = result.timings_ms
    summary: dict[str, Any] = {"latency": latency.summarize(t.runs, t.warmup, t.first_inference, t.load)}
    if outputs:
        names = [spec.name for spec in result.outputs]
        summary["accuracy"] = accuracy_metrics.compare(outputs, labels, reference, task=task,
                                                       label_kind=label_kind, names=names)
    mib, method = memory.peak_summary([m.__dict__ for m in result.memory])
    summary["memory"] = {"peak_mib": mib, "method": method}
    return summary


def _summary_fields(result: Result, summary: dict[str, Any]) -> dict[str, Any]:
    lat, acc = summary["latency"], summary.get("accuracy", {})
    err = result.error or {}
    return {
        "job_id": result.job_id, "status": result.status, "error_kind": err.get("kind"),
        "error_message": err.get("message"), "runtime_used": result.runtime_used,
        "accuracy": acc.get("accuracy"), "agreement": acc.get("agreement"),
        "max_abs_diff": acc.get("max_abs_diff"), "mean_abs_diff": acc.get("mean_abs_diff"),
        "task": acc.get("task"), "mae": acc.get("mae"), "rmse": acc.get("rmse"), "cosine": acc.get("cosine"),
        "cosine_min": acc.get("cosine_min"), "snr_db": acc.get("snr_db"),
        "load_ms": lat.get("load_ms"), "first_ms": lat.get("first_ms"), "median_ms": lat.get("median_ms"),
        "p90_ms": lat.get("p90_ms"), "p99_ms": lat.get("p99_ms"), "mean_ms": lat.get("mean_ms"),
        "std_ms": lat.get("std_ms"), "cv": lat.get("cv"), "runs": lat.get("n"),
        "memory_mib": summary["memory"]["peak_mib"], "memory_method": summary["memory"]["method"],
        "simulated": int(result.simulated),
    }


@contextmanager
def _job_folder() -> Iterator[tuple[Path, Path]]:
    root = Path(tempfile.mkdtemp(prefix="devicelab-job-"))
    try:
        yield root / "job", root / "result"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _link_or_copy(src: Any, dst: Any) -> Any:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- explain -----------------------------------------------------------------------------------------


def explain(model: str | Path, variant: str, **options: Any) -> Any:
    """Which layer makes a variant disagree with the original, a remedy (``fix=True``) and where its time
    goes (``profile=True``): see devicelab.explain.explain for the options; returns its ExplainReport."""
    from devicelab.explain import explain as run_explain

    return run_explain(model, variant, **options)


# --- results -----------------------------------------------------------------------------------------


RESULT_STATUSES = ("ok", "error", "retried")


@dataclass
class ResultFilter:
    """Which stored results a command reads, exports or deletes. ``run`` is a run id, latest or previous;
    ``last`` keeps the newest N of what the other filters select."""

    model: str | None = None
    variant: str | None = None
    target: str | None = None
    status: str | None = None
    run: str | None = None
    last: int | None = None

    def validate(self) -> None:
        if self.last is not None and self.last < 1:
            raise UsageError(f"--last must be at least 1 (got {self.last})", hint="--last N shows the newest N results")
        if self.status is not None and self.status not in RESULT_STATUSES:
            raise UsageError(f"unknown status '{self.status}'", hint=f"statuses: {', '.join(RESULT_STATUSES)}")

    def select(self, db: Store) -> list[Any]:
        run_id = _resolve_run(db, self.run) if self.run else None
        return db.rows(model=self.model, variant=self.variant, target=self.target, status=self.status,
                       run_id=run_id, last=self.last)


def _resolve_run(db: Store, run: str) -> str:
    """run:latest and run:previous name the newest and the one before, by when they started."""
    if run not in ("latest", "previous"):
        return run
    runs = db.run_ids()
    wanted = -1 if run == "latest" else -2
    if len(runs) < -wanted:
        raise UsageError(f"{db.path} holds {len(runs)} run(s): there is no {run} run",
                         hint="measure again, or name runs by id (see `devicelab results --columns id,run`)")
    return runs[wanted]


def results(store: Path | None = None, **filters: Any) -> list[Any]:
    """Stored results matching the filters (ResultFilter's fields), oldest first; never creates a store."""
    chosen = ResultFilter(**filters)
    chosen.validate()
    with Store(store or default_store(), create=False) as db:
        return chosen.select(db)


def export(fmt: str, destination: Path | None = None, store: Path | None = None, outputs: bool = False,
           **filters: Any) -> str | bytes:
    """Write the matching results as csv, json or parquet; raw output tensors only with ``outputs``."""
    from devicelab.store import EXPORT_FORMATS, check_destination

    chosen = ResultFilter(**filters)
    chosen.validate()
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format '{fmt}'", hint=f"use {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet" and destination is None:
        raise UsageError("Parquet is binary: it needs a file", hint="add -o results.parquet")
    if destination is not None:
        check_destination(Path(destination))  # before reading anything
    with Store(store or default_store(), create=False) as db:
        return db.export(destination, fmt, chosen.select(db), outputs=outputs)


def summary_json(rows: list[Any]) -> str:
    """The rows' summary columns as a JSON list (what `results --json` prints)."""
    import json

    from devicelab.store import SUMMARY_COLUMNS

    return json.dumps([{c: row.get(c) for c in SUMMARY_COLUMNS} for row in rows], indent=1) + "\n"


def delete_results(row_ids: list[int], store: Path | None = None) -> int:
    """Remove stored results by id (what `results --delete` listed and the user confirmed)."""
    with Store(store or default_store(), create=False) as db:
        return db.delete(row_ids)


# --- compare -----------------------------------------------------------------------------------------


def load_records(spec: str, store: Path | None = None) -> list[dict[str, Any]]:
    """Results to compare, from one of:

    - a results store file (.sqlite): all its rows;
    - a JSON export (`devicelab export --format json`): all its results;
    - `run:RUN_ID` (also `run:latest`, `run:previous`): one run of the default store (or ``store``);
    - `STORE_PATH:RUN_ID` (also `:latest` / `:previous`): one run of that store file.
    Records are store summary columns plus "runs", the raw warm latency samples in ms.
    """
    import json

    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() == ".json" or path.read_bytes()[:1] in (b"{", b"["):
            try:
                doc = json.loads(path.read_text())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise UsageError(f"cannot read {path} as a JSON export: {exc}",
                                 hint="write one with `devicelab export --format json -o FILE`") from None
            if not isinstance(doc, dict) or doc.get("schema") != "devicelab.export/1":
                raise UsageError(f"{path} is not a devicelab JSON export",
                                 hint="write one with `devicelab export --format json -o FILE`")
            return [{**d, "runs": (d.get("result") or {}).get("timings_ms", {}).get("runs")} for d in doc["results"]]
        return _store_records(path, None)
    where, _, run_id = spec.rpartition(":")
    if where == "run":
        return _store_records(store or default_store(), run_id)
    if where and Path(where).is_file():
        return _store_records(Path(where), run_id)
    raise UsageError(f"cannot find results '{spec}'",
                     hint="give a store file (.sqlite), a JSON export, run:RUN_ID (default store) or STORE:RUN_ID")


def _store_records(path: Path, run_id: str | None) -> list[dict[str, Any]]:
    with Store(path, create=False) as db:
        if run_id:
            run_id = _resolve_run(db, run_id)
        rows = db.rows(run_id=run_id) if run_id else db.rows()
    if not rows:
        raise UsageError(f"no results for run '{run_id}' in {path}" if run_id else f"no results in {path}",
                         hint="run ids are in the run_id column of `devicelab export`")
    skip = {"result_json", "outputs", "device_json", "job_json", "metrics_json"}
    return [{**{k: v for k, v in r.fields.items() if k not in skip},
             "runs": r.result.get("timings_ms", {}).get("runs")} for r in rows]


def compare(a: str, b: str, gates: list[str] | None = None, store: Path | None = None) -> tuple[Any, list[Any]]:
    """Compare results A (before) with B (after); returns the Comparison and the gate failures."""
    from devicelab.metrics import compare as cmp

    parsed = [cmp.parse_gate(g) for g in gates or []]
    comparison = cmp.compare_records(load_records(a, store), load_records(b, store), a, b)
    return comparison, cmp.evaluate_gates(comparison, parsed)
