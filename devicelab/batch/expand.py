"""Jobs of a batch: models x variants x pools x sweep settings x repeats, each with a stable identity.

A job's ``uid`` depends only on what it measures (model, variant, pool, setting, repeat), so the same plan
gives the same uids on every run: that is what resume matches on. Combinations a pool cannot run (a TF.js
variant on a phone, Core ML off macOS) are not jobs; they are listed as skipped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devicelab.batch.plan import Plan
from devicelab.batch.pools import Pool
from devicelab.hashing import sha256_json

ORIGINAL = "original"  # api.ORIGINAL, without importing the API (and TensorFlow's import chain) here


@dataclass(frozen=True)
class BatchJob:
    uid: str
    model: str  # as the plan names it (a zoo name or a path)
    variant: str
    fmt: str  # artifact format
    pool: str  # Pool.key
    runtime: str
    setting: str | None  # delegate / backend / compute units, None: the runtime's default
    repeat: int = 0

    @property
    def label(self) -> str:
        setting = f" ({self.setting})" if self.setting else ""
        repeat = f" #{self.repeat + 1}" if self.repeat else ""
        return f"{self.model} {self.variant}{setting}{repeat}"


@dataclass(frozen=True)
class Skip:
    """A combination the plan names that no job covers, and why."""

    model: str
    variant: str
    target: str  # a pool's label, or "" when no target of the plan runs the variant's format
    reason: str

    def __str__(self) -> str:
        return f"{self.model} {self.variant}" + (f" on {self.target}" if self.target else "") + f": {self.reason}"


@dataclass
class Expansion:
    jobs: list[BatchJob] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)  # coreml-fp32 on this PC: Core ML prediction needs macOS

    def by_pool(self) -> dict[str, list[BatchJob]]:
        grouped: dict[str, list[BatchJob]] = {}
        for job in self.jobs:
            grouped.setdefault(job.pool, []).append(job)
        return grouped


def source_format(model: str) -> str:
    """The format of a model as the plan names it, without loading it (zoo models are Keras)."""
    from devicelab.models import detect_format, zoo

    if zoo.is_zoo_name(model) and not Path(model).exists():
        return "keras"
    return detect_format(Path(model).expanduser())


def expand(plan: Plan, pools: list[Pool], formats: dict[str, str] | None = None) -> Expansion:
    """Every job of the plan on these pools; ``formats`` gives each model's source format (found if absent)."""
    from devicelab.convert.variants import VARIANTS
    from devicelab.study.targets import known_limit

    formats = formats if formats is not None else {m: source_format(m) for m in plan.models}
    out = Expansion()
    for model in plan.models:
        source = formats[model]
        for variant in plan.variants:
            if variant != ORIGINAL and source not in VARIANTS[variant].sources:
                out.skipped.append(Skip(model, variant, "", f"cannot be made from a {source} model"))
                continue
            fmt = source if variant == ORIGINAL else VARIANTS[variant].format
            runnable = False
            for pool in pools:
                runtime = pool.formats.get(fmt)
                if runtime is None:
                    continue
                why = pool.why_unavailable(runtime) or known_limit(pool.kind, variant)
                if why:
                    out.skipped.append(Skip(model, variant, pool.label, why))
                    continue
                runnable = True
                settings = [None] if variant == ORIGINAL else pool.settings_for(runtime)
                for setting in settings:
                    for repeat in range(plan.repeats):
                        uid = sha256_json([model, variant, pool.key, setting, repeat])[:16]
                        out.jobs.append(BatchJob(uid, model, variant, fmt, pool.key, runtime, setting, repeat))
            if not runnable and not any((s.model, s.variant) == (model, variant) for s in out.skipped):
                out.skipped.append(Skip(model, variant, "", f"no target of this plan runs {fmt} models"))
    return out
