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
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # before anything imports TensorFlow (all such imports are below)

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # measure this checkout's devicelab, even when it is not installed

TOLERANCE = 0.05
SAMPLES = 100
CALIBRATION_SAMPLES = 50
FAKE_CALIBRATION_SHA = "benchmark-random-calibration-seed0"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000, help="timed runs per side per round (default 2000)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed warmup runs per side per round (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--variant", default="tflite-fp32", help="a tflite-* variant (default tflite-fp32)")
    parser.add_argument("--delegate", choices=("xnnpack", "cpu"), default="xnnpack",
                        help="xnnpack (default) or cpu (builtin kernels, no default delegate)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to this JSON file")
    parser.add_argument("--check", action="store_true", help="exit 1 when the ratio is outside 5%%")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--runs and --rounds must be >= 1, --warmup >= 0")
    return args


# --- model ---------------------------------------------------------------------------------------------


def build_artifact(variant_name: str, work: Path) -> Any:
    """LeNet-5 (untrained, seed 0) saved as .keras and converted through devicelab's artifact cache."""
    import keras

    from devicelab.artifacts import get_or_convert
    from devicelab.convert import variants
    from devicelab.models import load_source
    from devicelab.models.zoo import architectures

    variant = variants.get(variant_name)
    if variant.format != "tflite":
        raise SystemExit(f"--variant must be a TFLite variant, not {variant.name} ({variant.format})")
    keras.utils.set_random_seed(0)
    path = work / "lenet5.keras"
    architectures.lenet5().save(path)
    source = load_source(path)
    calibration, calibration_sha = None, None
    if variant.needs_calibration:
        calibration = np.random.default_rng(1).random((CALIBRATION_SAMPLES, 28, 28, 1), dtype=np.float32)
        calibration_sha = FAKE_CALIBRATION_SHA
    artifact, _ = get_or_convert(source, variant, work / "cache", calibration, calibration_sha)
    return artifact


# --- the two sides -------------------------------------------------------------------------------------


def devicelab_round(job_dir: Path, result_dir: Path) -> tuple[list[float], dict[str, Any]]:
    from devicelab.runner import run_job

    result = run_job(job_dir, result_dir)  # in this process: no host worker subprocess
    if not result.ok:
        error = result.error or {}
        raise SystemExit(f"devicelab run failed: {error.get('kind')}: {error.get('message')}")
    return result.timings_ms.runs, {"runtime_used": result.runtime_used, "runtime": result.device.get("runtime"),
                                    "device": result.device}


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
    from devicelab.metrics import latency

    work = Path(tempfile.mkdtemp(prefix="devicelab-overhead-"))
    try:
        try:
            artifact = build_artifact(args.variant, work)
        except DevicelabError as exc:
            print(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), file=sys.stderr)
            return 2
        x = np.random.default_rng(0).random((SAMPLES, 28, 28, 1), dtype=np.float32)
        options = MeasureOptions(accuracy=False, runs=args.runs, warmup_runs=args.warmup, min_seconds=0.0,
                                 max_seconds=600.0, threads=1, delegate=args.delegate)
        job_dir = work / "job"
        build_job(job_dir, artifact.model_path, "tflite", args.variant, artifact.sha256, x, "tflite", options)
        setup_s = time.perf_counter() - started

        pooled: dict[str, list[float]] = {"devicelab": [], "bare": []}
        rounds: list[dict[str, Any]] = []
        info: dict[str, Any] = {}
        for r in range(args.rounds):
            order = ("devicelab", "bare") if r % 2 == 0 else ("bare", "devicelab")
            this: dict[str, list[float]] = {}
            for side in order:
                if side == "devicelab":
                    this[side], info = devicelab_round(job_dir, work / f"result-{r}")
                else:
                    this[side] = bare_round(artifact.model_path, x, args.delegate, args.runs, args.warmup)
                pooled[side].extend(this[side])
            if len(this["devicelab"]) != args.runs:
                print(f"warning: devicelab timed {len(this['devicelab'])} runs in round {r + 1}, not {args.runs}",
                      file=sys.stderr)
            med = {side: float(np.median(v)) for side, v in this.items()}
            rounds.append({"round": r + 1, "first": order[0], "devicelab_median_ms": med["devicelab"],
                           "bare_median_ms": med["bare"], "ratio": med["devicelab"] / med["bare"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    stats = {side: latency.summarize(values) for side, values in pooled.items()}
    dl, bare = stats["devicelab"], stats["bare"]
    ratio = dl["median_ms"] / bare["median_ms"]
    p90_ratio = dl["p90_ms"] / bare["p90_ms"]
    within = abs(ratio - 1.0) <= TOLERANCE
    verdict = "PASS (within 5%)" if within else "OUTSIDE 5%"
    total_s = time.perf_counter() - started

    runtime = info.get("runtime") or {}
    print(f"host TFLite overhead: lenet5 {args.variant}, delegate {args.delegate} "
          f"({info.get('runtime_used')}), 1 thread, {runtime.get('version', '?')}")
    print(f"{args.rounds} interleaved rounds x {args.runs} runs per side (+{args.warmup} warmups), "
          f"{SAMPLES} random inputs, {os.cpu_count()} cores, {info.get('device', {}).get('cpu', '?')}")
    print()
    print(f"{'round':>5}  {'first':<9}  {'devicelab ms':>12}  {'bare ms':>9}  {'ratio':>6}")
    for row in rounds:
        print(f"{row['round']:>5}  {row['first']:<9}  {row['devicelab_median_ms']:>12.5f}  "
              f"{row['bare_median_ms']:>9.5f}  {row['ratio']:>6.3f}")
    print()
    print(f"{'pooled':<16}  {'median ms':>9}  {'p90 ms':>8}  {'n':>6}")
    print(f"{'devicelab':<16}  {dl['median_ms']:>9.5f}  {dl['p90_ms']:>8.5f}  {dl['n']:>6}")
    print(f"{'bare invoke()':<16}  {bare['median_ms']:>9.5f}  {bare['p90_ms']:>8.5f}  {bare['n']:>6}")
    print(f"{'devicelab/bare':<16}  {ratio:>9.3f}  {p90_ratio:>8.3f}")
    print()
    print(f"{verdict}  (median ratio {ratio:.3f}; overhead {(dl['median_ms'] - bare['median_ms']) * 1000:+.1f} us "
          f"per run; setup {setup_s:.1f} s, total {total_s:.1f} s)")

    if args.json:
        doc = {
            "benchmark": "host_tflite_overhead", "model": "lenet5", "variant": args.variant,
            "delegate": args.delegate, "runtime_used": info.get("runtime_used"), "runtime": runtime,
            "device": info.get("device"), "runs": args.runs, "warmup": args.warmup, "rounds": args.rounds,
            "samples": SAMPLES, "tolerance": TOLERANCE,
            "devicelab": {k: dl[k] for k in ("n", "median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms")},
            "bare": {k: bare[k] for k in ("n", "median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms")},
            "ratio_median": ratio, "ratio_p90": p90_ratio, "within_tolerance": within, "per_round": rounds,
            "setup_seconds": round(setup_s, 2), "total_seconds": round(total_s, 2),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if args.check and not within else 0


if __name__ == "__main__":
    sys.exit(main())
