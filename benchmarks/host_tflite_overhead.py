"""Does the latency devicelab reports for a host TFLite model match a bare ``invoke()`` loop?

Both sides run in this one process, in the same run, on the same .tflite file and the same inputs:

  devicelab  a job folder laid out by ``devicelab.api.build_job`` and run in process by
             ``devicelab.runner.run_job``; the figure is ``result.timings_ms.runs``.
  bare       an ``ai_edge_litert`` Interpreter with the same thread count and op resolver, timing
             ``set_tensor; invoke; get_tensor`` per run with ``time.perf_counter_ns``.

Rounds are interleaved (A then B, then B then A, ...) so drift on a noisy machine hits both sides; the medians
of all samples pooled per side are compared. The goal is a devicelab/bare ratio within 5%.

    python benchmarks/host_tflite_overhead.py [--runs 2000] [--warmup 50] [--rounds 5]
        [--variant tflite-fp32|tflite-int8|...] [--delegate xnnpack|cpu] [--json out.json] [--check]

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
import paired  # benchmarks/paired.py: importing it sets up the environment, before TensorFlow loads

TOLERANCE = 0.05
SAMPLES = 100
CALIBRATION_SAMPLES = 50
FAKE_CALIBRATION_SHA = "benchmark-random-calibration-seed0"


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variant", default="tflite-fp32", help="a tflite-* variant (default tflite-fp32)")
    parser.add_argument("--delegate", choices=("xnnpack", "cpu"), default="xnnpack",
                        help="xnnpack (default) or cpu (builtin kernels, no default delegate)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return paired.parse_args(__doc__, argv, runs=2000, warmup=50, rounds=5, tolerance=TOLERANCE,
                             add_options=add_options)


# --- model ---------------------------------------------------------------------------------------------


def build_artifact(variant_name: str, work: Path) -> Any:
    """LeNet-5 (untrained, seed 0) saved as .keras and converted through devicelab's artifact cache."""
    from devicelab.artifacts import get_or_convert
    from devicelab.convert import variants
    from devicelab.models import load_source

    variant = variants.get(variant_name)
    if variant.format != "tflite":
        raise SystemExit(f"--variant must be a TFLite variant, not {variant.name} ({variant.format})")
    source = load_source(paired.save_lenet5(work))
    calibration, calibration_sha = None, None
    if variant.needs_calibration:
        calibration = [np.random.default_rng(1).random((CALIBRATION_SAMPLES, 28, 28, 1), dtype=np.float32)]
        calibration_sha = FAKE_CALIBRATION_SHA
    artifact, _ = get_or_convert(source, variant, work / "cache", calibration, calibration_sha)
    return artifact


# --- the two sides -------------------------------------------------------------------------------------


def devicelab_round(job_dir: Path, result_dir: Path) -> tuple[list[float], dict[str, Any]]:
    from devicelab.runner import run_job

    return paired.devicelab_timings(run_job(job_dir, result_dir))  # in this process: no host worker subprocess


def bare_round(model_path: Path, x: np.ndarray, delegate: str, runs: int, warmup: int) -> list[float]:
    """The plainest loop that does what devicelab times: copy the input in, invoke, copy the output out."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Same mapping as devicelab/runtimes/tflite.py: AUTO applies XNNPACK, the other keeps the builtin kernels.
    resolver = OpResolverType.AUTO if delegate == "xnnpack" else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(model_path), num_threads=1, experimental_op_resolver_type=resolver)
    detail = interpreter.get_input_details()[0]
    if any(d < 0 for d in detail["shape_signature"]):  # as devicelab does for a dynamic batch dimension
        interpreter.resize_tensor_input(detail["index"], [1 if d < 0 else int(d) for d in detail["shape_signature"]])
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    in_index, out_index = detail["index"], interpreter.get_output_details()[0]["index"]

    scale, zero_point = detail["quantization"]
    data = x
    if detail["dtype"] in (np.int8, np.uint8) and scale:  # int8 I/O: quantize up front, outside any timing
        info = np.iinfo(detail["dtype"])
        data = np.clip(np.round(x / scale + zero_point), info.min, info.max)
    feeds = [np.ascontiguousarray(data[i : i + 1], dtype=detail["dtype"]) for i in range(len(data))]

    set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
    clock = time.perf_counter_ns
    n = len(feeds)
    for i in range(-1, warmup):  # -1: the first inference devicelab times on its own, then the warmups
        set_tensor(in_index, feeds[max(i, 0) % n])
        invoke()
        get_tensor(out_index)
    timed = [0] * runs
    for i in range(runs):
        feed = feeds[i % n]
        started = clock()
        set_tensor(in_index, feed)
        invoke()
        get_tensor(out_index)
        timed[i] = clock() - started
    return [ns / 1e6 for ns in timed]


# --- report --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    from devicelab.api import MeasureOptions, build_job
    from devicelab.errors import DevicelabError

    work = Path(tempfile.mkdtemp(prefix="devicelab-overhead-"))
    try:
        try:
            artifact = build_artifact(args.variant, work)
        except DevicelabError as exc:
            return paired.print_error(exc)
        x = paired.lenet5_inputs(SAMPLES)
        options = MeasureOptions(accuracy=False, runs=args.runs, warmup_runs=args.warmup, min_seconds=0.0,
                                 max_seconds=600.0, threads=1, delegate=args.delegate)
        job_dir = work / "job"
        build_job(job_dir, artifact.model_path, "tflite", args.variant, artifact.sha256, x, "tflite", options)
        setup_s = time.perf_counter() - started

        rounds = paired.interleave(
            args.rounds, args.runs,
            devicelab=lambda r: devicelab_round(job_dir, work / f"result-{r}"),
            bare=lambda r: (bare_round(artifact.model_path, x, args.delegate, args.runs, args.warmup), {}))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cmp = paired.compare(rounds, TOLERANCE)
    total_s = time.perf_counter() - started

    info = rounds.info["devicelab"]
    runtime = info.get("runtime") or {}
    print(f"host TFLite overhead: lenet5 {args.variant}, delegate {args.delegate} "
          f"({info.get('runtime_used')}), 1 thread, {runtime.get('version', '?')}")
    print(f"{args.rounds} interleaved rounds x {args.runs} runs per side (+{args.warmup} warmups), "
          f"{SAMPLES} random inputs, {os.cpu_count()} cores, {info.get('device', {}).get('cpu', '?')}")
    paired.print_report(rounds, cmp, bare_label="bare invoke()", digits=5, setup_s=setup_s, total_s=total_s)

    head = {"benchmark": "host_tflite_overhead", "model": "lenet5", "variant": args.variant,
            "delegate": args.delegate, "runtime_used": info.get("runtime_used"), "runtime": runtime,
            "device": info.get("device")}
    return paired.finish(args, head, SAMPLES, rounds, cmp, setup_s, total_s)


if __name__ == "__main__":
    sys.exit(main())
