"""Does the latency devicelab reports for a host ExecuTorch program match a bare ``execute`` loop?

Both sides run in this one process, in the same run, on the same .pte file and the same inputs:

  devicelab  a job folder laid out by ``devicelab.api.build_job`` and run in process by
             ``devicelab.runner.run_job``; the figure is ``result.timings_ms.runs``.
  bare       ``executorch.runtime``: ``Runtime.get().load_program(path).load_method("forward")``, with the same
             XNNPACK thread count, timing ``method.execute([x])`` per run with ``time.perf_counter_ns``.

The model is a small CNN (two conv + pool, one linear; untrained, seed 0) saved with torch.export.save and
converted by devicelab's artifact cache to an XNNPACK-lowered .pte. Rounds are interleaved (A then B, then B
then A, ...); the medians of all samples pooled per side are compared. The goal is a devicelab/bare ratio
within 5%.

    python benchmarks/host_executorch_overhead.py [--runs 2000] [--warmup 50] [--rounds 5]
        [--variant executorch-fp32|executorch-int8] [--json out.json] [--check]

Exits 0 whatever the ratio (it is a benchmark), unless --check is given: then 1 when outside 5%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import paired  # benchmarks/paired.py: importing it sets up the environment and the path to this checkout

TOLERANCE = 0.05
SAMPLES = 100
CALIBRATION_SAMPLES = 50
FAKE_CALIBRATION_SHA = "benchmark-random-calibration-seed1"
THREADS = 1


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", default="executorch-fp32", choices=("executorch-fp32", "executorch-int8"),
                        help="the ExecuTorch variant (default executorch-fp32)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return paired.parse_args(__doc__, argv, runs=2000, warmup=50, rounds=5, tolerance=TOLERANCE,
                             add_options=add_options)


# --- model ---------------------------------------------------------------------------------------------


def save_cnn(work: Path) -> Path:
    """A LeNet-sized CNN, channels first, untrained with seed 0, exported with a batch of one."""
    import torch

    class SmallCNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 8, 3)
            self.conv2 = torch.nn.Conv2d(8, 16, 3)
            self.fc = torch.nn.Linear(16 * 5 * 5, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
            return self.fc(torch.flatten(x, 1))

    torch.manual_seed(0)
    path = work / "small_cnn.pt2"
    torch.export.save(torch.export.export(SmallCNN().eval(), (torch.zeros(1, 1, 28, 28),)), str(path))
    return path


def build_artifact(variant_name: str, work: Path) -> Any:
    from devicelab.artifacts import get_or_convert
    from devicelab.convert import variants
    from devicelab.models import load_source

    variant = variants.get(variant_name)
    source = load_source(save_cnn(work))
    calibration, calibration_sha = None, None
    if variant.needs_calibration:
        calibration = np.random.default_rng(1).random((CALIBRATION_SAMPLES, 1, 28, 28), dtype=np.float32)
        calibration_sha = FAKE_CALIBRATION_SHA
    artifact, _ = get_or_convert(source, variant, work / "cache", calibration, calibration_sha)
    return artifact


def inputs(samples: int) -> np.ndarray:
    """The same random 1x28x28 inputs (seed 0) for both sides."""
    return np.random.default_rng(0).random((samples, 1, 28, 28), dtype=np.float32)


# --- the two sides -------------------------------------------------------------------------------------


def devicelab_round(job_dir: Path, result_dir: Path) -> tuple[list[float], dict[str, Any]]:
    from devicelab.runner import run_job

    return paired.devicelab_timings(run_job(job_dir, result_dir))  # in this process: no host worker subprocess


def bare_round(model_path: Path, x: np.ndarray, runs: int, warmup: int) -> list[float]:
    """The plainest loop that does what devicelab times: one execute() per run on a ready input tensor."""
    import executorch.extension.pybindings.portable_lib as lib
    import torch
    from executorch.runtime import Runtime

    lib._unsafe_reset_threadpool(THREADS)  # as devicelab does: XNNPACK's pool, one thread
    method = Runtime.get().load_program(model_path).load_method("forward")
    feeds = [[torch.from_numpy(np.ascontiguousarray(x[i : i + 1]))] for i in range(len(x))]
    execute = method.execute
    clock = time.perf_counter_ns
    n = len(feeds)
    for i in range(-1, warmup):  # -1: the first inference devicelab times on its own, then the warmups
        execute(feeds[max(i, 0) % n])
    timed = [0] * runs
    for i in range(runs):
        feed = feeds[i % n]
        started = clock()
        execute(feed)
        timed[i] = clock() - started
    return [ns / 1e6 for ns in timed]


# --- report --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    from devicelab.api import MeasureOptions, build_job
    from devicelab.errors import DevicelabError

    work = Path(tempfile.mkdtemp(prefix="devicelab-et-overhead-"))
    try:
        try:
            artifact = build_artifact(args.variant, work)
        except DevicelabError as exc:
            return paired.print_error(exc)
        x = inputs(SAMPLES)
        options = MeasureOptions(accuracy=False, runs=args.runs, warmup_runs=args.warmup, min_seconds=0.0,
                                 max_seconds=600.0, threads=THREADS)
        job_dir = work / "job"
        build_job(job_dir, artifact.model_path, "executorch", args.variant, artifact.sha256, x, "executorch",
                  options)
        setup_s = time.perf_counter() - started

        rounds = paired.interleave(
            args.rounds, args.runs,
            devicelab=lambda r: devicelab_round(job_dir, work / f"result-{r}"),
            bare=lambda r: (bare_round(artifact.model_path, x, args.runs, args.warmup), {}))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cmp = paired.compare(rounds, TOLERANCE)
    total_s = time.perf_counter() - started

    info = rounds.info["devicelab"]
    runtime = info.get("runtime") or {}
    print(f"host ExecuTorch overhead: small CNN {args.variant} ({info.get('runtime_used')}), "
          f"{runtime.get('version', '?')}")
    print(f"{args.rounds} interleaved rounds x {args.runs} runs per side (+{args.warmup} warmups), "
          f"{SAMPLES} random inputs, {os.cpu_count()} cores, {info.get('device', {}).get('cpu', '?')}")
    paired.print_report(rounds, cmp, bare_label="bare execute()", digits=5, setup_s=setup_s, total_s=total_s)

    head = {"benchmark": "host_executorch_overhead", "model": "small_cnn", "variant": args.variant,
            "runtime_used": info.get("runtime_used"), "runtime": runtime, "device": info.get("device")}
    return paired.finish(args, head, SAMPLES, rounds, cmp, setup_s, total_s)


if __name__ == "__main__":
    sys.exit(main())
