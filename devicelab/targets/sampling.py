"""Sampling a figure from outside a running job (a phone's PSS, a page's renderer USS) on a background thread."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class PeakSampler(ABC):
    """Calls ``sample()`` at once (short jobs get a figure too), then every ``period`` seconds until stopped,
    keeping the largest value. Sampling is best effort: the job's outcome is decided elsewhere."""

    period: float = 1.0
    METHOD = ""  # how the figure is obtained, stored with it

    def __init__(self, name: str) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Safe to call twice, and before start (a job that failed before it began)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @abstractmethod
    def sample(self) -> int | None:
        """One reading, or None when there is nothing to read right now."""

    def _loop(self) -> None:
        while True:
            value = self.sample()
            if value is not None:
                self.peak = max(self.peak, value)
            if self._stop.wait(self.period):
                return
