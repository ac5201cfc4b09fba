"""How much faster is a batch over N devices than measuring the same jobs one after another?

N simulated devices take a fixed time per job (``--latency``, like a phone that needs that long to run it); every
job still goes through the real batch machinery: the plan, job expansion, ``api.measure`` (job folder, the
result's summary, one SQLite transaction per result), the worker pool and the resume lookup. In one run:

  serial   the same jobs with ``api.measure`` in a loop on one simulated device (what a script would do);
  batch N  ``run_batch`` with N simulated devices in one pool, for N = 1, 2, 4.

speedup(N) = serial wall time / batch wall time. The goal is at least 0.9 x N at N = 4. Rounds rotate which
configuration goes first; the median wall time per configuration over the rounds is reported.

    python benchmarks/batch_parallel.py [--jobs 12] [--latency 1.0] [--rounds 1] [--devices 1,2,4]
        [--json out.json] [--check]

Exits 0 whatever the speedup (it is a benchmark), unless --check: then 1 when N = 4 is under 0.9 x 4.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import paired  # benchmarks/paired.py: importing it sets up the environment, before TensorFlow loads

GOAL = 0.9  # of N at N = 4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=12, help="jobs per run (default 12, divisible by 1, 2, 4)")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds a simulated device takes per job")
    parser.add_argument("--rounds", type=int, default=1, help="rounds over all configurations (default 1)")
    parser.add_argument("--devices", default="1,2,4", help="device counts to run the batch with (default 1,2,4)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to this JSON file")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when N=4 is under {GOAL} x 4")
    args = parser.parse_args(argv)
    args.counts = [int(n) for n in args.devices.split(",")]
    if args.jobs < 1 or args.latency < 0 or args.rounds < 1 or min(args.counts) < 1:
        parser.error("--jobs, --rounds and --devices must be >= 1, --latency >= 0")
    return args


def simulated_device_class() -> type:
    from devicelab import protocol
    from devicelab.targets.base import Target

    class SimulatedDevice(Target):
        """A phone that takes ``latency`` seconds per job and returns a fixed, valid result (no outputs)."""

        kind = "sim"
        sweep_field = "delegate"

        def __init__(self, index: int, latency: float) -> None:
            self.index, self.latency = index, latency

        @property
        def name(self) -> str:
            return f"sim:{self.index}"

        def default_runtime(self, fmt: str) -> str:
            return fmt

        def check(self, runtime: str, fmt: str) -> None:
            return None

        def run(self, job_dir: Path, result_dir: Path, progress: Any = None) -> protocol.Result:
            job = protocol.read_job(job_dir)
            time.sleep(self.latency)
            result = protocol.Result(job.id, "ok", {"platform": "sim", "model": f"simulated phone {self.index}"},
                                     protocol.Timings(load=1.0, first_inference=1.0, runs=[self.latency * 1000]),
                                     runtime_used=f"{job.runtime.name} (simulated)", simulated=True)
            protocol.write_result(result_dir, result)
            return result

    return SimulatedDevice


def setup(work: Path, jobs: int) -> tuple[Path, Path]:
    """An untrained LeNet-5, a small random .npz and a plan of ``jobs`` repeats of its tflite-fp32 variant."""
    model = paired.save_lenet5(work)
    rng = np.random.default_rng(0)
    data = work / "data.npz"
    np.savez(data, x_test=rng.random((8, 28, 28, 1), dtype=np.float32), y_test=rng.integers(0, 10, 8))
    plan = work / "plan.toml"
    plan.write_text(f'models = ["{model}"]\nvariants = ["tflite-fp32"]\ndata = "{data}"\nrepeats = {jobs}\n'
                    "reference = false\n[measure]\naccuracy = false\nruns = 1\nwarmup_runs = 0\nmin_seconds = 0\n"
                    "[targets]\nhost = true\n")
    return plan, work / "cache"


def run_serial(plan: Any, cache: Path, store: Path, latency: float, device_class: type) -> float:
    from devicelab import api
    from devicelab.data import load_dataset

    dataset = load_dataset(plan.data, split="test")
    target = device_class(0, latency)
    started = time.perf_counter()
    for k in range(plan.repeats):
        measured = api.measure(plan.models[0], variants=list(plan.variants), target=target, options=plan.options(),
                               dataset=dataset, store=store, cache=cache, reference=False, tag=f"serial-{k}")
        assert measured[-1].ok, measured[-1].error
    return time.perf_counter() - started


def run_batch(plan: Any, cache: Path, store: Path, latency: float, devices: int, device_class: type) -> float:
    from devicelab.batch import Member, run_batch
    from devicelab.batch.pools import Pool

    members = [Member(f"sim:{i}", f"simulated phone {i}", lambda i=i: device_class(i, latency))
               for i in range(devices)]
    pool = Pool.from_table("sim", "sim", "simulated phones", members, {"tflite": ("tflite", ())})
    started = time.perf_counter()
    report = run_batch(plan, store=store, cache=cache, pools=[pool], mode="new")
    wall = time.perf_counter() - started
    assert report.ok and report.counts["ok"] == plan.repeats, report.counts
    return wall


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from devicelab.batch import load_plan

    work = Path(tempfile.mkdtemp(prefix="devicelab-batch-bench-"))
    try:
        began = time.perf_counter()
        path, cache = setup(work, args.jobs)
        plan = load_plan(path)
        device_class = simulated_device_class()
        # Warm up (TensorFlow import, conversion into the cache, first model load): not part of any timing.
        run_batch(load_plan(path), cache, work / "warm.sqlite", 0.0, 1, device_class)
        setup_s = time.perf_counter() - began
        configs = ["serial", *[f"batch {n}" for n in args.counts]]
        walls: dict[str, list[float]] = {c: [] for c in configs}
        for r in range(args.rounds):
            order = configs[r % len(configs):] + configs[: r % len(configs)]
            for config in order:
                store = work / f"{config.replace(' ', '-')}-{r}.sqlite"
                if config == "serial":
                    walls[config].append(run_serial(plan, cache, store, args.latency, device_class))
                else:
                    walls[config].append(run_batch(plan, cache, store, args.latency, int(config.split()[1]),
                                                   device_class))
        serial = statistics.median(walls["serial"])
        print(f"{args.jobs} jobs of {args.latency:g} s each on simulated devices; {args.rounds} round(s), "
              f"median wall times; setup {setup_s:.1f} s")
        print(f"serial loop of api.measure: {serial:.2f} s ({serial / args.jobs - args.latency:+.3f} s per job "
              "over the device's own time)")
        print()
        print(f"{'devices':>7}  {'wall s':>7}  {'speedup':>7}  {'goal':>5}  {'of N':>5}")
        rows = []
        for n in args.counts:
            wall = statistics.median(walls[f"batch {n}"])
            speedup = serial / wall
            rows.append({"devices": n, "wall_seconds": wall, "speedup": speedup, "efficiency": speedup / n,
                         "rounds": walls[f"batch {n}"]})
            goal = f"{GOAL * n:.1f}" if n == 4 else "-"
            print(f"{n:>7}  {wall:>7.2f}  {speedup:>6.2f}x  {goal:>5}  {speedup / n:>5.2f}")
        at4 = next((r for r in rows if r["devices"] == 4), None)
        if at4 is not None:
            verdict = "PASS" if at4["efficiency"] >= GOAL else "BELOW GOAL"
            print(f"\n{verdict}: {at4['speedup']:.2f}x with 4 devices (goal {GOAL * 4:.1f}x), total "
                  f"{time.perf_counter() - began:.1f} s")
        if args.json:
            args.json.write_text(json.dumps({"jobs": args.jobs, "latency_seconds": args.latency,
                                             "rounds": args.rounds, "serial_seconds": serial,
                                             "serial_rounds": walls["serial"], "batch": rows, "goal": GOAL}, indent=2))
        return 1 if args.check and at4 is not None and at4["efficiency"] < GOAL else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
