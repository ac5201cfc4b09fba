"""The runtime contract: what every host runtime adapter implements (the apps implement the same in Kotlin/Swift).

Only ``run`` is timed. ``prepare`` turns one sample (one array per input, batch 1, in the source model's
dtype: float32 values, int32/int64 ids, bool masks) into what the runtime eats (quantized for int8 I/O models)
and ``finish`` turns raw outputs back into float32, both outside the timed region, as TFLite's benchmark_model
does. ``bind`` tells the runtime the job's inputs (names, dtypes, shapes) before ``load``, so it can match
inputs by name and size free dimensions from the data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import RuntimeUnavailableError
from devicelab.protocol import RuntimeSpec, TensorSpec, plain_name


class Runtime(ABC):
    name: str = ""
    formats: tuple[str, ...] = ()
    delegates: tuple[str, ...] = ()  # accepted runtime.delegate values; the first is the default

    def __init__(self, spec: RuntimeSpec) -> None:
        self.spec = spec
        self.job_inputs: list[TensorSpec] = []

    def bind(self, inputs: list[TensorSpec]) -> None:
        """The job's inputs, in the source model's order; called before load."""
        self.job_inputs = list(inputs)

    def sample_shapes(self) -> list[list[int]]:
        """The shape of one sample of each job input (batch 1): what free dimensions are sized to."""
        return [[1, *spec.shape[1:]] for spec in self.job_inputs]

    @classmethod
    @abstractmethod
    def check_available(cls) -> None:
        """Import the runtime library (so its cost is not counted as the model's memory); raise
        RuntimeUnavailableError / MissingDependencyError when this runtime cannot run here."""

    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def load(self, model_path: Path) -> None: ...

    @abstractmethod
    def used(self) -> str:
        """What really ran (delegate, provider, device), which may differ from what was asked."""

    def prepare(self, sample: list[np.ndarray]) -> Any:
        return sample

    @abstractmethod
    def run(self, feed: Any) -> Any: ...

    def finish(self, raw: Any) -> list[np.ndarray]:
        return [np.asarray(o, dtype=np.float32) for o in raw]

    def output_names(self) -> list[str]:
        return []

    def profile(self, feeds: list[Any]) -> dict[str, Any]:
        """Per-operator times from a short extra run over ``feeds``: {"method", "runs", "operators": [...]}."""
        raise RuntimeUnavailableError(f"the {self.name} runtime gives no per-operator times here",
                                      hint="drop the profile option for this runtime")


def order_by_name(wanted: list[str], have: list[str]) -> list[int]:
    """For each wanted name, the index of the matching name in ``have``; by position when names differ."""
    plain = {plain_name(h): i for i, h in enumerate(have)}
    found = [plain.get(plain_name(w)) for w in wanted]
    if len(wanted) == len(have) and all(i is not None for i in found) and len(set(found)) == len(found):
        return [int(i) for i in found]  # type: ignore[arg-type]
    return list(range(len(have)))


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: Any) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)
