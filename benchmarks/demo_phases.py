"""Wall time of `devicelab demo` split by phase, cold and then with warm caches, in one run.

    .venv/bin/python benchmarks/demo_phases.py [--targets host,chrome] [--json PATH]

Both runs use a fresh temporary cache and store: the first starts empty (trains the Keras model and its PyTorch
twin, converts every variant, generates the attacks, measures every job), the second is the same command again
(everything is reused: cached artifacts, cached adversarial examples, finished jobs from the store).
Printed: seconds per phase for both runs, and the warm/cold ratio of the whole command's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_demo(root: Path, targets: str, name: str) -> tuple[float, dict[str, float]]:
    out = root / name
    env = {**os.environ, "DEVICELAB_CACHE": str(root / "cache"), "DEVICELAB_STORE": str(root / "results.sqlite"),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "devicelab", "demo", "--targets", targets, "-o", str(out)],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"devicelab demo failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    phases = json.loads((out / "study.json").read_text())["phases"]
    return wall, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="host,chrome")
    parser.add_argument("--json", type=Path, help="save the numbers here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devicelab-bench-") as tmp:
        root = Path(tmp)
        cold_wall, cold = run_demo(root, args.targets, "cold")
        warm_wall, warm = run_demo(root, args.targets, "warm")
    print(f"devicelab demo --targets {args.targets}: wall time by phase (s)")
    print(f"{'phase':<28}{'cold':>10}{'warm':>10}")
    for phase in dict.fromkeys([*cold, *warm]):
        print(f"{phase:<28}{cold.get(phase, 0):>10.1f}{warm.get(phase, 0):>10.1f}")
    in_phases = sum(cold.values()), sum(warm.values())
    print(f"{'(startup: imports, CLI)':<28}{cold_wall - in_phases[0]:>10.1f}{warm_wall - in_phases[1]:>10.1f}")
    print(f"{'whole command':<28}{cold_wall:>10.1f}{warm_wall:>10.1f}")
    print(f"warm rerun / cold run: {warm_wall / cold_wall:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"cold": {"wall": cold_wall, "phases": cold},
                                         "warm": {"wall": warm_wall, "phases": warm},
                                         "ratio": warm_wall / cold_wall}, indent=2))


if __name__ == "__main__":
    main()
