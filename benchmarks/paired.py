"""What the paired overhead benchmarks share: devicelab against a bare loop, interleaved, pooled, judged.

Each benchmark in this folder times the same model two ways in the same run, ``devicelab`` and ``bare``, and asks
whether devicelab's pooled median is within a tolerance of the bare one. This module holds the parts that do not
depend on what is timed: the environment, the common CLI options, the interleaved rounds, the pooled comparison,
the tables and verdict, the --json document and the --check exit code. Each benchmark keeps its own sides, header
lines and JSON details.

Importing this module is the setup: the benchmarks import it before anything that may import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # before anything imports TensorFlow (the benchmarks import it lazily)

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # measure this checkout's devicelab, even when it is not installed

SIDES = ("devicelab", "bare")
STAT_KEYS = ("n", "median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms")

# One round of one side: given the round index, the timed runs in ms and whatever details that side reports.
Side = Callable[[int], tuple[list[float], dict[str, Any]]]


# --- CLI -----------------------------------------------------------------------------------------------


def parse_args(doc: str, argv: list[str] | None, *, runs: int, warmup: int, rounds: int, tolerance: float,
               rounds_note: str = "",
               add_options: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """--runs, --warmup, --rounds, then the benchmark's own options (add_options), then --json and --check."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=runs, help=f"timed runs per side per round (default {runs})")
    parser.add_argument("--warmup", type=int, default=warmup,
                        help=f"untimed warmup runs per side per round (default {warmup})")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"interleaved rounds (default {rounds}{rounds_note})")
    if add_options is not None:
        add_options(parser)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers to this JSON file")
    # The trailing "%" doubles the one the format spec writes: argparse %-formats help strings.
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the ratio is outside {tolerance:.0%}%")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--runs and --rounds must be >= 1, --warmup >= 0")
    return args


def print_error(exc: Any) -> int:
    """A DevicelabError met while setting up, as one line on stderr; returns the exit code for it."""
    print(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), file=sys.stderr)
    return 2


# --- model and devicelab side --------------------------------------------------------------------------


def save_lenet5(work: Path) -> Path:
    """LeNet-5, untrained with seed 0 (so every run converts the same weights), saved as work/lenet5.keras."""
    import keras

    from devicelab.models.zoo import architectures

    keras.utils.set_random_seed(0)
    path = work / "lenet5.keras"
    architectures.lenet5().save(path)
    return path


def lenet5_inputs(samples: int) -> np.ndarray:
    """The same random 28x28x1 inputs (seed 0) for both sides."""
    return np.random.default_rng(0).random((samples, 28, 28, 1), dtype=np.float32)


def devicelab_timings(result: Any) -> tuple[list[float], dict[str, Any]]:
    """The timed runs of a devicelab RunResult and the details the report prints; a failed run ends the benchmark."""
    if not result.ok:
        error = result.error or {}
        raise SystemExit(f"devicelab run failed: {error.get('kind')}: {error.get('message')}")
    return result.timings_ms.runs, {"runtime_used": result.runtime_used, "runtime": result.device.get("runtime"),
                                    "device": result.device, "extra": result.extra}


# --- rounds and comparison -----------------------------------------------------------------------------


@dataclass
class Rounds:
    pooled: dict[str, list[float]]  # every timed run per side, all rounds together
    per_round: list[dict[str, Any]]  # one row per round: who went first, the medians and their ratio
    info: dict[str, dict[str, Any]]  # the details each side reported in its last round


def interleave(rounds: int, runs: int, devicelab: Side, bare: Side) -> Rounds:
    """Run both sides `rounds` times, alternating who goes first so drift on a noisy machine hits both sides."""
    run_side = {"devicelab": devicelab, "bare": bare}
    result = Rounds({side: [] for side in SIDES}, [], {side: {} for side in SIDES})
    for r in range(rounds):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        this: dict[str, list[float]] = {}
        for side in order:
            this[side], result.info[side] = run_side[side](r)
            result.pooled[side].extend(this[side])
        if len(this["devicelab"]) != runs:  # devicelab stops at its time budget; the bare loops never do
            print(f"warning: devicelab timed {len(this['devicelab'])} runs in round {r + 1}, not {runs}",
                  file=sys.stderr)
        med = {side: float(np.median(v)) for side, v in this.items()}
        result.per_round.append({"round": r + 1, "first": order[0], "devicelab_median_ms": med["devicelab"],
                                 "bare_median_ms": med["bare"], "ratio": med["devicelab"] / med["bare"]})
    return result


@dataclass
class Comparison:
    devicelab: dict[str, Any]  # devicelab.metrics.latency.summarize of the pooled runs
    bare: dict[str, Any]
    ratio: float  # devicelab / bare, pooled medians
    p90_ratio: float
    tolerance: float

    @property
    def within(self) -> bool:
        return abs(self.ratio - 1.0) <= self.tolerance

    @property
    def verdict(self) -> str:
        return f"PASS (within {self.tolerance:.0%})" if self.within else f"OUTSIDE {self.tolerance:.0%}"


def compare(rounds: Rounds, tolerance: float) -> Comparison:
    """Pooled medians rather than a mean of round medians: every run weighs the same."""
    from devicelab.metrics import latency

    dl, bare = (latency.summarize(rounds.pooled[side]) for side in SIDES)
    return Comparison(dl, bare, dl["median_ms"] / bare["median_ms"], dl["p90_ms"] / bare["p90_ms"], tolerance)


# --- report --------------------------------------------------------------------------------------------


def print_report(rounds: Rounds, cmp: Comparison, *, bare_label: str, digits: int, setup_s: float,
                 total_s: float) -> None:
    """The per-round table, the pooled table and the verdict line, after the benchmark's own header lines."""
    dl, bare = cmp.devicelab, cmp.bare
    print()
    print(f"{'round':>5}  {'first':<9}  {'devicelab ms':>12}  {'bare ms':>9}  {'ratio':>6}")
    for row in rounds.per_round:
        print(f"{row['round']:>5}  {row['first']:<9}  {row['devicelab_median_ms']:>12.{digits}f}  "
              f"{row['bare_median_ms']:>9.{digits}f}  {row['ratio']:>6.3f}")
    print()
    print(f"{'pooled':<16}  {'median ms':>9}  {'p90 ms':>8}  {'n':>6}")
    for label, stats in (("devicelab", dl), (bare_label, bare)):
        print(f"{label:<16}  {stats['median_ms']:>9.{digits}f}  {stats['p90_ms']:>8.{digits}f}  {stats['n']:>6}")
    print(f"{'devicelab/bare':<16}  {cmp.ratio:>9.3f}  {cmp.p90_ratio:>8.3f}")
    print()
    print(f"{cmp.verdict}  (median ratio {cmp.ratio:.3f}; overhead "
          f"{(dl['median_ms'] - bare['median_ms']) * 1000:+.1f} us per run; setup {setup_s:.1f} s, "
          f"total {total_s:.1f} s)")


def finish(args: argparse.Namespace, head: dict[str, Any], samples: int, rounds: Rounds, cmp: Comparison,
           setup_s: float, total_s: float) -> int:
    """Write --json (the benchmark's own keys in `head`, then the shared numbers); return the exit code.

    0 whatever the ratio (it is a benchmark), unless --check: then 1 when outside the tolerance.
    """
    if args.json:
        doc = {
            **head, "runs": args.runs, "warmup": args.warmup, "rounds": args.rounds, "samples": samples,
            "tolerance": cmp.tolerance,
            "devicelab": {k: cmp.devicelab[k] for k in STAT_KEYS}, "bare": {k: cmp.bare[k] for k in STAT_KEYS},
            "ratio_median": cmp.ratio, "ratio_p90": cmp.p90_ratio, "within_tolerance": cmp.within,
            "per_round": rounds.per_round, "setup_seconds": round(setup_s, 2), "total_seconds": round(total_s, 2),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 1 if args.check and not cmp.within else 0
