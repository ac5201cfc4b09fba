"""The measurement core: run one job folder with a runtime and write its result folder.

This is the Python twin of the apps' cores (android_app, ios_app, web_runner): the same phases in the same
order, so figures from every target mean the same thing.
  load (timed) -> first inference on sample 0 (timed alone) -> accuracy mode (every sample once, outputs kept)
  -> performance mode (warmups, then runs until both ``runs`` and ``min_seconds`` are met, or ``max_seconds``)
Raw per-run times are kept; statistics are computed later on the host, once.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from devicelab import protocol
from devicelab.errors import DevicelabError
from devicelab.metrics import memory
from devicelab.protocol import Job, MemorySample, Result, Timings

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_PROGRESS_EVERY_S = 0.2


def host_device() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # no /proc/cpuinfo off Linux: keep platform's answer
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"platform": sys.platform, "model": platform.node() or "PC", "os": platform.platform(), "cpu": cpu,
            "abi": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}


def run_job(job_dir: Path, result_dir: Path, progress: Progress | None = None,
            runtime_factory: Callable[[Job], Any] | None = None) -> Result:
    """Run the job in ``job_dir`` in this process and write ``result_dir``; errors become error results."""
    job_dir, result_dir = Path(job_dir), Path(result_dir)
    result_dir.mkdir(parents=True, exist_ok=True)
    job = protocol.read_job(job_dir)
    device = host_device()
    try:
        if job.capture is not None:  # explain reads intermediates on this PC in-process, not through a job
            raise DevicelabError("the host runner does not return intermediate tensors (job.capture)",
                                 hint="use `devicelab explain`, which reads them on this PC directly")
        result = _measure(job, job_dir, result_dir, device, progress, runtime_factory)
    except DevicelabError as exc:
        result = protocol.error_result(job.id, device, exc.kind, exc.message, exc.hint)
    except Exception as exc:  # a runtime failing mid-run: report it in the result, as an app would
        result = protocol.error_result(job.id, device, "runtime_failure", f"{type(exc).__name__}: {exc}"[:500])
    protocol.write_result(result_dir, result)
    return result


def _default_runtime(job: Job) -> Any:
    from devicelab import runtimes

    runtime_class = runtimes.get(job.runtime.name)
    runtime_class.check_available()
    return runtime_class(job.runtime)


def _measure(job: Job, job_dir: Path, result_dir: Path, device: dict[str, Any], progress: Progress | None,
             runtime_factory: Callable[[Job], Any] | None) -> Result:
    inputs = [protocol.read_tensor(job_dir, spec) for spec in job.inputs]
    samples = len(inputs[0])
    runtime = (runtime_factory or _default_runtime)(job)
    if hasattr(runtime, "bind"):  # names, dtypes and shapes of the inputs, before the model is loaded
        runtime.bind(job.inputs)
    device["runtime"] = {"name": runtime.name, "version": runtime.version()}
    mem: list[MemorySample] = [memory.rss("before_load")]
    reset = memory.reset_peak()

    started = time.perf_counter_ns()
    runtime.load(job_dir / job.model.files[0])  # files[0] is what the runtime opens (a file or a package folder)
    timings = Timings(load=_ms(time.perf_counter_ns() - started))
    mem.append(memory.rss("after_load"))

    feeds = [runtime.prepare([x[i : i + 1] for x in inputs]) for i in range(samples)]
    started = time.perf_counter_ns()
    first_raw = runtime.run(feeds[0])
    timings.first_inference = _ms(time.perf_counter_ns() - started)

    outputs_spec = []
    if job.accuracy:
        collected = [runtime.finish(first_raw)]
        started = time.perf_counter_ns()
        ticker = _Ticker(progress, "accuracy", samples)
        for i in range(1, samples):
            collected.append(runtime.finish(runtime.run(feeds[i])))
            ticker.tick(i + 1)
        timings.accuracy_total = _ms(time.perf_counter_ns() - started)
        names = runtime.output_names() or [f"output_{k}" for k in range(len(collected[0]))]
        for k, name in enumerate(names):
            stacked = np.concatenate([sample[k] for sample in collected], axis=0)
            outputs_spec.append(protocol.write_tensor(result_dir, f"outputs/output_{k}.bin", name, stacked))

    if job.performance.enabled:
        timings.warmup, timings.runs = _performance(runtime, feeds, job.performance, progress)

    mem.append(memory.peak("run", reset))
    mem.append(memory.rss("after_run"))
    before = mem[0]
    if reset and before.method.startswith("VmRSS") and mem[-2].method.startswith("VmHWM"):
        mem.append(MemorySample("peak_over_baseline", mem[-2].value - before.value, "MiB",
                                "VmHWM - VmRSS before load", "run"))
    extra: dict[str, Any] = {"threads": job.runtime.threads or 1, "samples": samples}
    if job.runtime.profile:  # after the timed runs and the memory readings, so it weighs on neither
        extra["profile"] = _profile(runtime, feeds)
    return Result(job_id=job.id, status="ok", device=device, timings_ms=timings, memory=mem,
                  outputs=outputs_spec, runtime_used=runtime.used(), extra=extra)


def _profile(runtime: Any, feeds: list[Any]) -> dict[str, Any]:
    """The runtime's per-operator table; a runtime without one, or a profiler that fails, says so there and the
    measured figures stay."""
    profile = getattr(runtime, "profile", None)
    if profile is None:
        return {"error": f"the {runtime.name} runtime gives no per-operator times"}
    try:
        return profile(feeds)
    except DevicelabError as exc:
        return {"error": exc.message, "hint": exc.hint}
    except Exception as exc:  # the profiler is a second, optional pass: its failure must not lose the first
        return {"error": f"profiling failed: {type(exc).__name__}: {exc}"[:500]}


def _performance(runtime: Any, feeds: list[Any], perf: protocol.Performance,
                 progress: Progress | None) -> tuple[list[float], list[float]]:
    clock = time.perf_counter_ns
    warmup = []
    for i in range(perf.warmup_runs):
        started = clock()
        runtime.run(feeds[i % len(feeds)])
        warmup.append(_ms(clock() - started))
    runs: list[float] = []
    ticker = _Ticker(progress, "performance", perf.runs)
    begin = clock()
    min_ns, max_ns = perf.min_seconds * 1e9, perf.max_seconds * 1e9
    i = 0
    while True:
        feed = feeds[i % len(feeds)]
        started = clock()
        runtime.run(feed)
        ended = clock()
        runs.append(_ms(ended - started))
        i += 1
        elapsed = ended - begin
        if (i >= perf.runs and elapsed >= min_ns) or elapsed >= max_ns:
            break
        # Runs go on until both --runs and --min-seconds are met: past --runs, the total is the runs that
        # --min-seconds will take at this pace (capped by --max-seconds), not a bar stuck at runs/runs.
        ticker.tick(i, perf.runs if i < perf.runs else _expected_runs(i, elapsed, min_ns, max_ns))
    ticker.tick(i, i)
    return warmup, runs


def _expected_runs(done: int, elapsed: float, min_ns: float, max_ns: float) -> int:
    if elapsed <= 0:
        return done + 1
    return max(done + 1, int(done * min(max(min_ns, elapsed), max_ns) / elapsed))


class _Ticker:
    """Reports progress at most every 0.2 s, so reporting never weighs on what is being timed."""

    def __init__(self, progress: Progress | None, phase: str, total: int) -> None:
        self.progress, self.phase, self.total, self.last = progress, phase, total, 0.0
        if progress:
            progress(phase, 0, total)

    def tick(self, done: int, total: int | None = None) -> None:
        if not self.progress:
            return
        if total is not None:
            self.total = total
        now = time.monotonic()
        if now - self.last >= _PROGRESS_EVERY_S or done >= self.total:
            self.last = now
            self.progress(self.phase, done, self.total)


def _ms(ns: int) -> float:
    return ns / 1e6
