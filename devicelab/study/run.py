"""Run the study: every variant of a model (and of its PyTorch twin) on every target, clean and attacked.

The four questions of the deployment study, answered from stored measurements:
accuracy after migration and quantization, across frameworks, adversarial robustness, time and memory.
Every job goes through api.measure with reuse=True, so a rerun takes finished, unchanged jobs from the store
and a target that fails leaves everything else measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from devicelab import api
from devicelab.convert import variants as registry
from devicelab.data import Dataset
from devicelab.errors import DevicelabError, UsageError
from devicelab.models import SourceModel, load_source
from devicelab.paths import cache_dir, default_store
from devicelab.store import Store
from devicelab.study.targets import TargetSpec, parse_targets, runnable

FRAMEWORKS = ("keras", "pytorch")
DEFAULT_ATTACK_SAMPLES = 200
# Variants whose top-1 agreement with the PC reference on the host is below this are diagnosed (explain --fix):
# 99% lets the odd borderline input of a healthy int8 variant pass and catches a layer int8 really breaks.
DEFAULT_EXPLAIN_BELOW = 0.99
# The formats explain reads layer by layer, by kind of target: on this PC, and in a browser's page.
_EXPLAINABLE = {"host": ("tflite", "onnx"), "browser": ("tfjs", "onnx")}


@dataclass
class StudyConfig:
    model: str | Path
    data: str | None = None
    targets: list[TargetSpec] = field(default_factory=lambda: parse_targets("host"))
    variants: list[str] | None = None  # default: every variant the source gives and the target runs
    attacks: list[str] = field(default_factory=list)  # "fgsm", "pgd:eps=0.2"...
    frameworks: list[str] = field(default_factory=lambda: ["keras"])
    samples: int | None = None  # clean accuracy samples (default: the whole test split)
    attack_samples: int = DEFAULT_ATTACK_SAMPLES
    options: api.MeasureOptions = field(default_factory=lambda: api.MeasureOptions(runs=30, min_seconds=0.5))
    out: Path = Path("devicelab-study")
    store: Path | None = None
    cache: Path | None = None
    reuse: bool = True
    task: str | None = None  # how outputs are compared; default: guessed from labels and outputs
    explain_below: float | None = DEFAULT_EXPLAIN_BELOW  # diagnose variants agreeing less (0..1); None: never


@dataclass
class Part:
    """One framework's model on one target: what ran, what was skipped, and how it ended."""

    framework: str
    target: str
    clean: list[api.Measurement] = field(default_factory=list)
    attacked: dict[str, list[api.Measurement]] = field(default_factory=dict)  # attack label -> measurements
    skipped: dict[str, str] = field(default_factory=dict)  # variant -> reason
    error: DevicelabError | None = None  # the target failed (some or all jobs): this says why

    @property
    def jobs(self) -> list[api.Measurement]:
        return self.clean + [m for measured in self.attacked.values() for m in measured]


@dataclass
class Study:
    config: StudyConfig
    sources: dict[str, SourceModel] = field(default_factory=dict)  # framework -> source model
    dataset: Dataset | None = None
    parts: list[Part] = field(default_factory=list)
    attack_sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # framework -> label -> info
    frameworks: dict[str, Any] | None = None  # the Keras vs PyTorch comparison
    training: dict[str, dict[str, Any]] = field(default_factory=dict)  # framework -> zoo training info
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds per phase
    diagnoses: list[dict[str, Any]] = field(default_factory=list)  # explain --fix of each variant below threshold
    report_path: Path | None = None
    document: dict[str, Any] = field(default_factory=dict)  # what study.json holds

    def reference(self, framework: str) -> api.Measurement | None:
        """The framework's original model on this PC on the clean samples: what every variant is compared with.

        Every study has a host part (run_study adds a reference-only one when host is not a target).
        """
        return next((m for p in self.parts if p.framework == framework and p.target == "host" for m in p.clean
                     if m.variant == api.ORIGINAL), None)


def run_study(config: StudyConfig, progress: api.ProgressFn | None = None) -> Study:
    """Measure the whole matrix, then write report.html and study.json into config.out."""
    from devicelab.study import document

    config = replace(config, cache=config.cache or cache_dir(), store=config.store or default_store())
    api.check_measure_request(replace(config.options, samples=config.samples))
    Store.check_writable(config.store)
    unknown = [f for f in config.frameworks if f not in FRAMEWORKS]
    if unknown:
        raise UsageError(f"unknown framework '{unknown[0]}'", hint=f"frameworks: {', '.join(FRAMEWORKS)}")
    _check_twin(config)
    attack_specs = _parse_attacks(config.attacks)
    if config.explain_below is not None and not 0 <= config.explain_below <= 1:
        raise UsageError(f"the explain threshold must be an agreement between 0 and 1 (got {config.explain_below})",
                         hint="--explain-below takes a percentage, e.g. 99; 0 turns the diagnosis off")
    if attack_specs and config.attack_samples < 1:
        raise UsageError(f"--attack-samples must be at least 1 (got {config.attack_samples})",
                         hint="the default attacks the first 200 test samples")
    study = Study(config)
    with _phase(study, "prepare models"):
        _prepare_sources(study, progress)
    if attack_specs and any(f not in FRAMEWORKS for f in study.sources):
        raise UsageError(f"attacks need the model's gradients: {config.model} is an ONNX model",
                         hint="give the Keras model (or a zoo name) to attack, or drop --attacks")
    if attack_specs and study.dataset is not None:
        inputs = next(iter(study.sources.values())).inputs
        if len(inputs) != 1 or not str(inputs[0].dtype).startswith("float"):
            raise UsageError(f"FGSM and PGD perturb one float input; {config.model} takes "
                             + ", ".join(f"{i.name} ({i.dtype})" for i in inputs),
                             hint="token ids and masks cannot be nudged by epsilon: drop --attacks for this model")
    with _phase(study, "convert"):
        _convert_all(study, progress)
    attack_sets: dict[str, dict[str, Dataset]] = {}
    if attack_specs:
        with _phase(study, "generate attacks"):
            attack_sets = _attack_sets(study, attack_specs, progress)
    targets = config.targets
    if not any(spec.name == "host" for spec in targets):  # the PC reference is a row of every study
        targets = [TargetSpec("host", parse_targets("host")[0].build, reference_only=True), *targets]
    for spec in targets:
        with _phase(study, f"measure on {spec.name}"):
            _run_target(study, spec, attack_sets, progress)
    below = _below_threshold(study)
    if below:  # a healthy study pays nothing: no phase, no conversions
        with _phase(study, "explain"):
            study.diagnoses = _diagnose(study, below, progress)
    with _phase(study, "analyse"):
        study.frameworks = _compare_frameworks(study)
    with _phase(study, "report"):
        study.report_path, study.document = document.write(study)
    return study


class _phase:
    """Times one phase of the study into study.phases (for the report and the benchmark)."""

    def __init__(self, study: Study, name: str) -> None:
        self.study, self.name = study, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.study.phases[self.name] = round(time.perf_counter() - self.start, 3)


def _parse_attacks(texts: list[str]) -> list[Any]:
    if not texts:
        return []
    from devicelab.study import attacks

    return [attacks.parse_attack(t) for t in texts]


def _prepare_sources(study: Study, progress: api.ProgressFn | None) -> None:
    """The user's model, and its PyTorch twin (zoo models only) built with the same recipe and seed."""
    config = study.config
    keras_source = load_source(config.model, config.cache)
    study.sources[_framework_of(keras_source)] = keras_source
    if keras_source.zoo:
        study.training[_framework_of(keras_source)] = keras_source.zoo
    spec = config.data or keras_source.dataset_hint
    if not spec:
        raise UsageError(f"no dataset given for {keras_source.name}",
                         hint="pass --data (mnist-sample, a .npz, IDX file or image folder)")
    from devicelab.data import load_dataset

    dataset = load_dataset(spec, split="test", limit=config.samples)
    from devicelab.api import model_inputs

    arrays = model_inputs(keras_source, dataset, study.config.task)
    # The same samples laid out as the model takes them: the hash (what was measured) stays the dataset's.
    study.dataset = replace(dataset, inputs={i.name: a for i, a in zip(keras_source.inputs, arrays, strict=True)})
    if "pytorch" in config.frameworks:
        if _framework_of(keras_source) != "keras":
            raise UsageError("--frameworks pytorch compares a Keras zoo model with its PyTorch twin",
                             hint="use a zoo model (devicelab zoo list)")
        study.sources["pytorch"], study.training["pytorch"] = _pytorch_twin(keras_source, config.cache, progress)


def _framework_of(source: SourceModel) -> str:
    return "keras" if source.format in ("keras", "savedmodel") else source.format


def _check_twin(config: StudyConfig) -> None:
    """--frameworks pytorch on a zoo model without a PyTorch twin is a usage error before anything is trained."""
    from devicelab.models import zoo

    name = str(config.model)
    if "pytorch" not in config.frameworks or not zoo.is_zoo_name(name) or Path(name).exists():
        return
    from devicelab.models.torch_zoo.architectures import TWINS

    if name not in TWINS:
        raise UsageError(f"--frameworks pytorch: the zoo model {name} has no PyTorch twin",
                         hint=f"twins exist for {', '.join(TWINS)}; drop --frameworks pytorch for {name}")


def _pytorch_twin(source: SourceModel, cache: Path | None,
                  progress: api.ProgressFn | None) -> tuple[SourceModel, dict[str, Any]]:
    if not source.zoo:
        raise UsageError("--frameworks pytorch needs a zoo model: its architecture is defined in both frameworks",
                         hint=f"use a zoo model (devicelab zoo list) instead of {source.path.name}")
    from devicelab.models import torch_zoo, zoo
    from devicelab.models.torch_zoo.architectures import TWINS

    cfg = zoo.TrainConfig(**source.zoo["config"])
    if cfg.name not in TWINS:
        raise UsageError(f"--frameworks pytorch: the zoo model {cfg.name} has no PyTorch twin",
                         hint=f"twins exist for {', '.join(TWINS)}; drop --frameworks pytorch for {cfg.name}")
    report = (lambda done, total: progress("train pytorch twin", done, total, "epochs")) if progress else None
    path, info = torch_zoo.build(cfg, cache or cache_dir(), report)
    return load_source(path, cache), info


def _variants_for(study: Study, framework: str) -> list[str]:
    source = study.sources[framework]
    wanted = [n for n in study.config.variants or registry.VARIANTS if n != api.ORIGINAL]  # the original always runs
    return [name for name in wanted if source.format in registry.get(name).sources]


def _convert_all(study: Study, progress: api.ProgressFn | None) -> None:
    """Convert up front so the measuring phases time measuring only (the cache makes later calls free)."""
    for framework, source in study.sources.items():
        names = _variants_for(study, framework)
        if not names:
            continue
        # A failed conversion is not raised here: the measure step stores it as that variant's error row.
        api.convert(source.path, variants=names, cache=study.config.cache, source=source,
                    calibration=_calibration(study), progress=_relabel(progress, f"convert {framework}"))


def _calibration(study: Study) -> str | None:
    """Full-integer variants calibrate on the study's data (the training split when there is one)."""
    primary = next(iter(study.sources.values()))
    return study.config.data or primary.dataset_hint


def _relabel(progress: api.ProgressFn | None, task: str) -> api.ProgressFn | None:
    if progress is None:
        return None
    return lambda _task, done, total, detail: progress(task, done, total, detail)


def _attack_sets(study: Study, specs: list[Any], progress: api.ProgressFn | None) -> dict[str, dict[str, Dataset]]:
    """Adversarial examples made on each framework's reference model, from the first N test samples."""

    dataset = study.dataset
    assert dataset is not None
    if dataset.y is None:
        raise UsageError("adversarial attacks need labelled data", hint="give --data with labels, or drop --attacks")
    n = min(study.config.attack_samples, len(dataset))
    x, y = dataset.x[:n], dataset.y[:n]
    sets: dict[str, dict[str, Dataset]] = {}
    total = len(specs) * len(study.sources)
    done = 0
    for framework, source in study.sources.items():
        sets[framework] = {}
        study.attack_sets[framework] = {}
        for spec in specs:
            if progress:
                progress("generate attacks", done, total, f"{spec.label} on {framework}")
            started = time.perf_counter()
            x_adv, path = _adversarial(framework, source, x, y, dataset.sha256, spec, study.config.cache)
            x_adv = x_adv.astype(np.float32)
            sets[framework][spec.label] = dataset.replace_inputs({dataset.names[0]: x_adv},
                                                                 name=f"{dataset.name}+{spec.label}", y=y)
            linf = float(np.abs(x_adv - x).reshape(n, -1).max()) if n else 0.0
            study.attack_sets[framework][spec.label] = {"samples": n, "path": str(path), "linf": linf,
                                                        "seconds": round(time.perf_counter() - started, 2),
                                                        "spec": spec.__dict__}
            done += 1
    if progress:
        progress("generate attacks", total, total, "done")
    return sets


def _adversarial(framework: str, source: SourceModel, x: np.ndarray, y: np.ndarray, data_sha256: str, spec: Any,
                 cache: Path | None) -> tuple[np.ndarray, Path]:
    """Attack the framework's own reference: the Keras model, or the trained torch module behind the twin."""
    from devicelab.study import attacks

    load = None
    if framework == "pytorch":
        from devicelab.models import torch_zoo

        load = lambda: torch_zoo.load_trained(source.path)  # noqa: E731 - called only on a cache miss
    return attacks.generate_cached(source.path, source.sha256, x, y, data_sha256, spec, cache or cache_dir(),
                                   load=load)


def _run_target(study: Study, spec: TargetSpec, attack_sets: dict[str, dict[str, Dataset]],
                progress: api.ProgressFn | None) -> None:
    config = study.config
    try:
        target = spec.build()
    except DevicelabError as exc:
        study.parts.extend(Part(f, spec.name, error=exc) for f in study.sources)
        return
    try:
        for framework, source in study.sources.items():
            part = Part(framework, target.name)
            study.parts.append(part)
            names, part.skipped = runnable(target, _variants_for(study, framework))
            if spec.reference_only:
                names, part.skipped = [], {}
            if target.name == "host":  # the PC reference belongs to this PC's part
                names = [api.ORIGINAL, *names]
            if not names:
                continue
            task = f"{framework} on {target.name}"
            try:
                part.clean = _measure(study, source, names, target, study.dataset, config.options,
                                      _relabel_jobs(progress, task))
                accuracy_only = replace(config.options, performance=False)
                for label, adversarial in attack_sets.get(framework, {}).items():
                    part.attacked[label] = _measure(study, source, names, target, adversarial, accuracy_only,
                                                    _relabel_jobs(progress, f"{task}, {label}"))
            except DevicelabError as exc:  # the target broke down; what it measured is in the store already
                part.error = exc
            part.error = part.error or _first_error(part)
    finally:
        target.close()


def _measure(study: Study, source: SourceModel, names: list[str], target: Any, dataset: Dataset | None,
             options: api.MeasureOptions, progress: api.ProgressFn | None) -> list[api.Measurement]:
    config = study.config
    measured = api.measure(source.path, variants=names, target=target, dataset=dataset, options=options,
                           calibration=_calibration(study), store=config.store, cache=config.cache,
                           reuse=config.reuse, task=config.task, progress=progress)
    if progress:  # a failed job never reports its last step: close the bar on what was done
        progress("", len(measured), len(measured), "done")
    # The reference always runs on the host: it belongs to the part of the target it really ran on.
    return [m for m in measured if m.variant != api.ORIGINAL or m.target == target.name]


def _relabel_jobs(progress: api.ProgressFn | None, task: str) -> api.ProgressFn | None:
    """One bar per framework x target instead of one per job: N of M jobs done, the current job as detail."""
    if progress is None:
        return None
    seen: dict[str, bool] = {}

    def forward(job: str, done: int, total: int, detail: str) -> None:
        if not job:  # the end of the whole call
            progress(task, len(seen), len(seen), detail)
            return
        finished = done >= total and total > 0
        if finished:
            seen[job] = True
        else:
            seen.setdefault(job, False)
        progress(task, sum(seen.values()), max(len(seen), 1), f"{job}: {detail}")
    return forward


def _first_error(part: Part) -> DevicelabError | None:
    """A target that failed any job is reported with its first error (the rest are in the summary rows)."""
    return next((m.error for m in part.jobs if m.error), None)


def _compare_frameworks(study: Study) -> dict[str, Any] | None:
    """Keras vs PyTorch: both originals on the host, on the same clean samples."""
    if len(study.sources) < 2 or study.dataset is None or study.dataset.y is None:
        return None
    keras, pytorch = study.reference("keras"), study.reference("pytorch")
    if not (keras and keras.ok and keras.outputs and pytorch and pytorch.ok and pytorch.outputs):
        return None
    from devicelab.metrics.frameworks import compare_frameworks

    return compare_frameworks(keras.outputs[0], pytorch.outputs[0], study.dataset.y, names=("keras", "pytorch"))


def _below_threshold(study: Study) -> list[tuple[api.Measurement, float]]:
    """The user's model's variants that agree with the reference less than config.explain_below (top-1;
    outputs that are not classes have no agreement and are not diagnosed): TFLite and ONNX variants that ran
    on this PC, and TF.js and ONNX variants that ran in a browser (diagnosed in that browser, on the same
    backend, since the page's kernels are what disagreed)."""
    from devicelab.targets import browsers

    threshold = study.config.explain_below
    if not threshold or not study.sources:
        return []
    framework = next(iter(study.sources))  # the user's model (Keras or ONNX), not a PyTorch twin
    found: list[tuple[api.Measurement, float]] = []
    seen: set[tuple[str, str, str]] = set()
    for part in study.parts:
        kind = "host" if part.target == "host" else "browser" if part.target.lower() in browsers.KINDS else None
        if part.framework != framework or kind is None:
            continue
        for m in part.clean:
            if m.variant == api.ORIGINAL or not m.ok or registry.get(m.variant).format not in _EXPLAINABLE[kind]:
                continue
            agreement = ((m.summary or {}).get("accuracy") or {}).get("agreement")
            # On the host once per variant (the diagnosis is of the file); in a browser per backend too.
            key = (m.variant, part.target, (m.setting or "") if kind == "browser" else "")
            if agreement is not None and agreement < threshold and key not in seen:
                seen.add(key)
                found.append((m, agreement))
    return found


def _diagnose(study: Study, below: list[tuple[api.Measurement, float]],
              progress: api.ProgressFn | None) -> list[dict[str, Any]]:
    """explain --fix of each variant below the threshold; a diagnosis that fails is listed with its error and
    the study goes on."""
    from devicelab.explain import DEFAULT_SAMPLES

    config, source = study.config, next(iter(study.sources.values()))
    samples = min(len(study.dataset), DEFAULT_SAMPLES) if study.dataset is not None else DEFAULT_SAMPLES
    diagnoses = []
    for k, (m, agreement) in enumerate(below):
        if progress:
            progress("explain", k, len(below), m.variant)
        entry: dict[str, Any] = {"framework": next(iter(study.sources)), "variant": m.variant, "target": m.target,
                                 "agreement": agreement, "threshold": config.explain_below, "samples": samples}
        started = time.perf_counter()
        where: dict[str, Any] = {}
        try:
            if m.target != "host":  # the study's own browser target (its --remote, --headed), on the same backend
                spec = next((s for s in config.targets if s.name.lower() == m.target.lower()), None)
                if spec is None:
                    raise DevicelabError(f"no browser target named {m.target} in this study to diagnose it in")
                where = {"target": spec.build(), "backend": m.setting}
                entry["runtime"] = f"{m.runtime}/{m.setting}" if m.setting else m.runtime
            report = api.explain(source.path, m.variant, data=config.data or source.dataset_hint,
                                 calibration=_calibration(study), samples=samples, fix=True, cache=config.cache,
                                 store=config.store, **where)
            entry.update(explain=report.to_json(), notes=report.notes, explain_agreement=report.agreement)
        except DevicelabError as exc:
            entry["error"] = {"kind": exc.kind, "message": exc.message, "hint": exc.hint}
        finally:
            if "target" in where:
                where["target"].close()
        entry["seconds"] = round(time.perf_counter() - started, 2)
        diagnoses.append(entry)
    if progress:
        progress("explain", len(below), len(below), "done")
    return diagnoses
