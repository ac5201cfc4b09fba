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


# The headline figure of a result, best first: the model's own growth on the host, the page's renderer as the
# OS sees it in a browser, then any peak a target reports.
HEADLINE = ("peak_over_baseline", "renderer_uss_peak", "peak_rss")


def peak_summary(samples: list[dict]) -> tuple[float | None, str | None]:
    """The one memory figure tables show, with its method; the full list stays in the result."""
    run_phase = [s for s in samples if s["phase"] == "run"]
    for metric in HEADLINE:
        found = next((s for s in run_phase if s["metric"] == metric), None)
        if found:
            return _mib(found), found["method"]
    top = next((s for s in samples if s["metric"].startswith("peak")), None)
    return (_mib(top), top["method"]) if top else (None, None)


def _mib(sample: dict) -> float:
    return float(sample["value"]) / {"B": 2**20, "KiB": 1024, "MiB": 1}[sample["unit"]]
