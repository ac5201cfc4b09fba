"""The runtime contract: what every host runtime adapter implements (the apps implement the same in Kotlin/Swift).

Only ``run`` is timed. ``prepare`` turns one float32 sample into what the runtime eats (quantized for int8
I/O models) and ``finish`` turns raw outputs back into float32, both outside the timed region, as TFLite's
benchmark_model does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import RuntimeUnavailableError
from devicelab.protocol import RuntimeSpec


class Runtime(ABC):
    name: str = ""
    formats: tuple[str, ...] = ()
    delegates: tuple[str, ...] = ()  # accepted runtime.delegate values; the first is the default

    def __init__(self, spec: RuntimeSpec) -> None:
        self.spec = spec

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


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: Any) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.float32) - zero_point) * scale).astype(np.float32)
