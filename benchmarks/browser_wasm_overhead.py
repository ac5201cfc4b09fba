"""Does the latency devicelab reports for TF.js on wasm in headless Chromium match a bare page's timing loop?

Both sides run in one headless Chromium session, in the same run, on the same tfjs-fp32 model and the same inputs:

  devicelab  a job folder laid out by ``devicelab.api.build_job`` (runtime tfjs, backend wasm, 1 thread), run by
             ``devicelab.targets.browser.BrowserTarget("chrome").run``: the web runner page, driven by Selenium;
             the figure is ``result.timings_ms.runs``.
  bare       ``benchmarks/bare_tfjs_page.html``: loads the same tf.min.js and wasm backend, then times
             ``model.execute(t); await y.data()`` per run with ``performance.now()``; the raw list is read
             back from ``window.bareResult``.

The bare page is served by a second ``devicelab.targets.webserver.JobServer`` (same COOP/COEP headers, so both
pages are cross-origin isolated) from a temporary runner folder holding the page and byte-identical copies of
the tfjs dist files; it opens in a fresh tab of the target's own WebDriver session.

Rounds are interleaved (A then B, then B then A, ...) so drift on a noisy machine hits both sides; the medians
of all samples pooled per side are compared. The goal is a devicelab/bare ratio within 10%.

    python benchmarks/browser_wasm_overhead.py [--runs 300] [--warmup 20] [--rounds 15] [--json out.json] [--check]

Exits 0 whatever the ratio (it is a benchmark), unless --check is given: then 1 when outside 10%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import paired  # benchmarks/paired.py: importing it sets up the environment, before TensorFlow loads

TOLERANCE = 0.10
SAMPLES = 100
VARIANT = "tfjs-fp32"
BARE_PAGE = Path(__file__).resolve().with_name("bare_tfjs_page.html")
# What the bare page loads, relative to web_runner/: the same files the web runner loads for tfjs on wasm.
BARE_FILES = ("node_modules/@tensorflow/tfjs/dist/tf.min.js",
              "node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js",
              "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm",
              "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
              "node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm")
POLL_S = 0.2  # as devicelab.targets.browser._POLL_S
BARE_TIMEOUT_S = 120.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return paired.parse_args(__doc__, argv, runs=300, warmup=20, rounds=15, tolerance=TOLERANCE,
                             rounds_note=": fewer rounds swing with machine load")


# --- model ---------------------------------------------------------------------------------------------


def build_artifact(work: Path) -> Any:
    """LeNet-5 (untrained, seed 0) saved as .keras and converted to tfjs-fp32 through devicelab's cache."""
    from devicelab import api

    conversion = api.convert(paired.save_lenet5(work), variants=[VARIANT], cache=work / "cache").conversions[0]
    if conversion.error:
        raise conversion.error
    return conversion.artifact


def bare_runner_root(work: Path) -> Path:
    """A runner folder for the second JobServer: bare.html plus copies of the tfjs files it loads.

    Copies (hard links when possible), not a node_modules symlink: the server resolves symlinks and refuses
    anything that lands outside its runner root.
    """
    root = work / "bare-runner"
    source = paired.REPO / "web_runner"
    for relative in BARE_FILES:
        dst = root / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            dst.hardlink_to(source / relative)
        except OSError:
            shutil.copy2(source / relative, dst)
    shutil.copy2(BARE_PAGE, root / "bare.html")
    return root


# --- the two sides -------------------------------------------------------------------------------------


def devicelab_round(target: Any, job_dir: Path, result_dir: Path) -> tuple[list[float], dict[str, Any]]:
    return paired.devicelab_timings(target.run(job_dir, result_dir))


def bare_round(target: Any, url: str) -> tuple[list[float], dict[str, Any]]:
    """Open the bare page in a fresh tab of the target's session (as target.run does) and wait for its list."""
    from selenium.common.exceptions import TimeoutException

    target._fresh_tab()
    target.driver.get(url)
    deadline = time.monotonic() + BARE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:  # a poll waits while the timed loop runs (it never yields); a very long loop outlasts the script timeout
            found = target.driver.execute_script("return window.bareResult || null;")
        except TimeoutException:
            continue
        if found:
            if not found.get("ok"):
                raise SystemExit(f"bare page failed: {found.get('error')}")
            runs = [float(v) for v in found.pop("runs")]
            return runs, found
        time.sleep(POLL_S)
    raise SystemExit(f"the bare page did not finish within {BARE_TIMEOUT_S:g} s")


# --- report --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    from devicelab.api import MeasureOptions, build_job
    from devicelab.errors import DevicelabError
    from devicelab.targets.browser import BrowserTarget
    from devicelab.targets.webserver import JobServer

    work = Path(tempfile.mkdtemp(prefix="devicelab-browser-overhead-"))
    target = BrowserTarget("chrome")
    bare_server: JobServer | None = None
    try:
        try:
            artifact = build_artifact(work)
            target.check("tfjs", "tfjs")
            target._ensure_session()
        except DevicelabError as exc:
            return paired.print_error(exc)
        x = paired.lenet5_inputs(SAMPLES)
        options = MeasureOptions(accuracy=False, runs=args.runs, warmup_runs=args.warmup, min_seconds=0.0,
                                 max_seconds=600.0, threads=1, backend="wasm", timeout_seconds=300.0)
        job_dir = work / "job"
        build_job(job_dir, artifact.model_path, "tfjs", VARIANT, artifact.sha256, x, "tfjs", options)

        bare_server = JobServer(bare_runner_root(work)).start()
        bare_id = f"bare-{uuid.uuid4().hex[:12]}"
        bare_server.add_job(bare_id, job_dir, work / "bare-result")  # serves the job's model and inputs
        model_file = artifact.model_path.name
        bare_url = (f"{bare_server.origin}/runner/bare.html?model=/jobs/{bare_id}/model/{model_file}"
                    f"&input=/jobs/{bare_id}/inputs/input_0.bin&shape=1,28,28,1"
                    f"&runs={args.runs}&warmup={args.warmup}")
        setup_s = time.perf_counter() - started

        rounds = paired.interleave(args.rounds, args.runs,
                                   devicelab=lambda r: devicelab_round(target, job_dir, work / f"result-{r}"),
                                   bare=lambda r: bare_round(target, bare_url))
    finally:
        target.close()
        if bare_server is not None:
            bare_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    cmp = paired.compare(rounds, TOLERANCE)
    total_s = time.perf_counter() - started

    info, bare_info = rounds.info["devicelab"], rounds.info["bare"]
    device, extra = info.get("device", {}), info.get("extra", {})
    for side, found in (("devicelab", extra), ("bare", bare_info)):
        if found.get("crossOriginIsolated") is not True:
            print(f"warning: the {side} page was not cross-origin isolated (coarser timer, no wasm threads)",
                  file=sys.stderr)
    runtime = info.get("runtime") or {}
    browser = f"{device.get('browser_name', '?')} {device.get('browser_version', '?')}"
    print(f"browser TF.js overhead: lenet5 {VARIANT}, backend wasm ({info.get('runtime_used')}), "
          f"threads devicelab {extra.get('threads')} / bare {bare_info.get('threads')}, "
          f"{runtime.get('version', '?')}, headless {browser}")
    print(f"{args.rounds} interleaved rounds x {args.runs} runs per side (+{args.warmup} warmups), "
          f"{SAMPLES} random inputs, {os.cpu_count()} cores")
    print(f"crossOriginIsolated: devicelab {extra.get('crossOriginIsolated')}, "
          f"bare {bare_info.get('crossOriginIsolated')}; timer resolution {extra.get('timer_resolution_ms')} ms")
    paired.print_report(rounds, cmp, bare_label="bare page", digits=4, setup_s=setup_s, total_s=total_s)

    head = {"benchmark": "browser_wasm_overhead", "model": "lenet5", "variant": VARIANT, "backend": "wasm",
            "runtime_used": info.get("runtime_used"), "runtime": runtime, "device": device,
            "cross_origin_isolated": {"devicelab": extra.get("crossOriginIsolated"),
                                      "bare": bare_info.get("crossOriginIsolated")},
            "threads": {"devicelab": extra.get("threads"), "bare": bare_info.get("threads")},
            "timer_resolution_ms": extra.get("timer_resolution_ms"), "bare_page": bare_info}
    return paired.finish(args, head, SAMPLES, rounds, cmp, setup_s, total_s)


if __name__ == "__main__":
    sys.exit(main())
