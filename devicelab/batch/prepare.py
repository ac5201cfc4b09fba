"""What a batch does once per model before any worker starts: load it, load its data, convert every variant it
needs and measure the PC reference. Workers then only hit the artifact cache and read the reference from the
store, so two workers never convert the same artifact or measure the same reference at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelab.batch.expand import ORIGINAL, BatchJob
from devicelab.batch.plan import Plan
from devicelab.errors import DataError, DevicelabError

Say = Callable[[str], None]


@dataclass
class PreparedModel:
    spec: str  # the model as the plan names it
    source: Any  # devicelab.models.SourceModel
    dataset: Any  # devicelab.data.Dataset, already cut to the plan's samples
    artifacts: dict[str, str] = field(default_factory=dict)  # variant -> artifact sha256 ("" when it failed)
    failed: dict[str, DevicelabError] = field(default_factory=dict)  # variant -> why it did not convert
    reference_ok: bool = False  # the original's outputs on this PC are in the store (agreement can be computed)
    reference_error: DevicelabError | None = None

    @property
    def samples(self) -> int:
        return len(self.dataset)


def prepare(plan: Plan, jobs: list[BatchJob], store: Path, cache: Path, say: Say | None = None,
            broken: dict[str, DevicelabError] | None = None) -> dict[str, PreparedModel]:
    """Every model of the plan ready for its jobs; a variant that does not convert fails only its own jobs.

    A model that cannot be prepared (it does not load, its data does not load or does not fit its input) is an
    error naming the model: raised at once, or, when ``broken`` is given, put there so the other models run."""
    prepared = {}
    for model in plan.models:
        variants = list(dict.fromkeys(j.variant for j in jobs if j.model == model))
        if not variants:
            continue
        try:
            prepared[model] = _prepare_model(plan, model, variants, store, cache, say or (lambda _: None))
        except DevicelabError as exc:
            named = exc if model in exc.message else type(exc)(f"model {model}: {exc.message}", exc.hint)
            named.kind = exc.kind
            if broken is None:
                raise named from None
            broken[model] = named
    return prepared


def _prepare_model(plan: Plan, model: str, variants: list[str], store: Path, cache: Path,
                   say: Say) -> PreparedModel:
    from devicelab import api
    from devicelab.data import fit_to_shape, load_dataset
    from devicelab.models import load_source

    say(f"{model}: loading")
    source = load_source(model, cache)
    source.inputs  # noqa: B018 - a broken model file is one error now, not one per job later
    spec = plan.data or source.dataset_hint
    if not spec:
        raise DataError(f"the plan gives no data for model {model}",
                        hint="add data = \"mnist-sample\" (or a .npz, IDX file, image folder) to the plan")
    dataset = load_dataset(spec, split="test", limit=plan.samples)
    fit_to_shape(dataset.x, tuple(source.inputs[0].shape))  # data the model cannot take fails it here, once
    ready = PreparedModel(model, source, dataset)
    converted = [v for v in variants if v != ORIGINAL]
    if converted:
        say(f"{model}: converting {', '.join(converted)}")
        report = api.convert(model, variants=converted, calibration=plan.calibration, cache=cache, source=source)
        for conversion in report.conversions:
            if conversion.artifact is not None:
                ready.artifacts[conversion.variant] = conversion.artifact.sha256
            else:
                ready.artifacts[conversion.variant] = ""
                if conversion.error is not None:
                    ready.failed[conversion.variant] = conversion.error
    if ORIGINAL in variants:
        ready.artifacts[ORIGINAL] = source.sha256
    ready.reference_ok = not plan.reference or _reference(plan, ready, store, cache, say)
    return ready


def _reference(plan: Plan, ready: PreparedModel, store: Path, cache: Path, say: Say) -> bool:
    """The original model's outputs on this PC, from the store or measured now (once, before the workers)."""
    from devicelab import api
    from devicelab.store import Store
    from devicelab.targets.host import HostTarget

    with Store(store) as db:
        if db.find_reference(ready.source.sha256, ready.dataset.sha256, ready.samples) is not None:
            return True
    say(f"{ready.spec}: measuring the original on this PC (the reference for agreement)")
    measured = api.measure(ready.spec, variants=[ORIGINAL], target=HostTarget(), options=plan.options(),
                           dataset=ready.dataset, store=store, cache=cache, reference=True)
    if measured and measured[0].ok:
        return True
    ready.reference_error = measured[0].error if measured else None
    return False
