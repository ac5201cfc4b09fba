"""The Target contract: every place a model can run (host, browser, phone) takes a job folder, gives a result folder.

A target never computes statistics or compares outputs; it returns raw results, and the host does the rest.
Adding a target means one new module here with a class of this shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from devicelab.errors import UsageError
from devicelab.protocol import Result

# (phase, done, total): targets report progress through this; the CLI draws it as bars.
Progress = Callable[[str, int, int], None]


class Target(ABC):
    kind: str = ""  # "host", "browser", "android", "ios"
    # Which runtime setting a sweep (--backend / --delegate / --compute-units) varies on this target.
    sweep_field: str = "backend"

    @property
    @abstractmethod
    def name(self) -> str:
        """What results are filed under: 'host', 'chrome', 'android:<serial>'..."""

    @abstractmethod
    def default_runtime(self, fmt: str) -> str:
        """The runtime this target uses for an artifact format when the user names none."""

    def backends(self, runtime: str) -> tuple[str, ...]:
        """Backends / delegates a runtime accepts here; the first is the default."""
        return ()

    def close(self) -> None:
        """Release sessions and servers (a no-op where there are none)."""
        return None

    @abstractmethod
    def check(self, runtime: str, fmt: str) -> None:
        """Raise a DevicelabError before any work when this target cannot run that runtime / format."""

    @abstractmethod
    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> Result:
        """Run the job and return its result (errors as error results, not exceptions, where a result exists)."""


class RuntimeTable:
    """For targets whose app has a fixed table of runtimes: {runtime: (artifact format, settings, first default)}.

    Browser, Android and iOS targets share this shape; only their tables differ.
    """

    runtimes: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {}
    where = "this target"  # for messages: "the Android app", "browsers"

    def default_runtime(self, fmt: str) -> str:
        for runtime, (runtime_format, _) in self.runtimes.items():
            if runtime_format == fmt:
                return runtime
        formats = ", ".join(f"{f}-*" for f, _ in self.runtimes.values())
        raise UsageError(f"{self.where} cannot run {fmt} models", hint=f"{self.where} runs {formats} variants")

    def backends(self, runtime: str) -> tuple[str, ...]:
        return self.runtimes.get(runtime, ("", ()))[1]

    def check_runtime(self, runtime: str, fmt: str) -> None:
        if runtime not in self.runtimes:
            raise UsageError(f"unknown runtime '{runtime}' for {self.where}", hint=f"use {', '.join(self.runtimes)}")
        if self.runtimes[runtime][0] != fmt:
            raise UsageError(f"the {runtime} runtime does not run {fmt} models",
                             hint=f"{runtime} runs {self.runtimes[runtime][0]}-* variants")
