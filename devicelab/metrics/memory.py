"""Process memory as the OS reports it, always with the method named (numbers differ between methods)."""

from __future__ import annotations

import sys
from pathlib import Path

from devicelab.protocol import MemorySample

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the peak we read later belongs to this job alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss(phase: str) -> MemorySample:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return MemorySample("rss", kib / 1024, "MiB", "VmRSS (/proc/self/status)", phase)
    import psutil

    return MemorySample("rss", psutil.Process().memory_info().rss / 2**20, "MiB", "psutil rss", phase)


def peak(phase: str, since_reset: bool) -> MemorySample:
    kib = _status_kib("VmHWM")
    if kib is not None:
        method = "VmHWM (/proc/self/status)" + (", reset before load" if since_reset else ", since process start")
        return MemorySample("peak_rss", kib / 1024, "MiB", method, phase)
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    return MemorySample("peak_rss", value, "MiB", "getrusage ru_maxrss, since process start", phase)


def peak_summary(samples: list[dict]) -> tuple[float | None, str | None]:
    """The headline figure for tables: the peak over the baseline when we have both, else the plain peak."""
    by_metric = {(s["metric"], s["phase"]): s for s in samples}
    growth = by_metric.get(("peak_over_baseline", "run"))
    if growth:
        return growth["value"], growth["method"]
    top = next((s for s in samples if s["metric"].startswith("peak")), None)
    return (top["value"], top["method"]) if top else (None, None)
