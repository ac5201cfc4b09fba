"""Does the latency devicelab reports for LiteRT.js on wasm in headless Chromium match a hand-written page?

Both sides run in one headless Chromium session, in the same run, on the same fixed-batch .tflite (fp32; LeNet-5, or
with ``--model mobilenetv2`` an untrained MobileNetV2 at 224x224) and the same inputs:

  devicelab  a job folder laid out by ``devicelab.api.build_job`` (runtime litert-js, backend wasm), run by
             ``devicelab.targets.browser.BrowserTarget("chrome").run``; the figure is ``result.timings_ms.runs``.
  bare       ``benchmarks/bare_litert_page.html``: LiteRT.js's public API as a user would write it
             (loadLiteRt, loadAndCompile, Tensor, ``await model.run(t)`` then ``toTypedArray()`` per run), timed
             with ``performance.now()``; the raw list is read back from ``window.bareResult``. With
             ``--bare-api lowlevel`` the page times the calls the web runner itself makes (the compiled model's
             run() on tensor buffers): that ratio is the runner's own overhead; the public one adds what
             LiteRT.js's Tensor API costs per run.

The bare page is served by a second JobServer (same COOP/COEP headers) from a temporary runner folder holding the
page and byte-identical copies of the @litertjs files; rounds are interleaved and the pooled medians compared, as
in browser_wasm_overhead.py. The goal is a devicelab/bare ratio within 5% (issue 14 / 11).

    python benchmarks/browser_litert_overhead.py [--runs 300] [--warmup 20] [--rounds 5] [--model lenet5|mobilenetv2]
        [--bare-api public|lowlevel] [--json out.json] [--check]

Exits 0 whatever the ratio (it is a benchmark), unless --check is given: then 1 when outside 5%.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import browser_wasm_overhead as tfjs_side  # the bare-page driver is the same for every runtime
import numpy as np
import paired  # importing it sets up the environment, before TensorFlow loads

TOLERANCE = 0.05
SAMPLES = 100
BARE_PAGE = Path(__file__).resolve().with_name("bare_litert_page.html")
BARE_FOLDERS = ("node_modules/@litertjs/core/dist", "node_modules/@litertjs/core/wasm",
                "node_modules/@litertjs/wasm-utils/dist")


def parse_args(argv: list[str] | None = None):
    def add_options(parser) -> None:
        parser.add_argument("--model", choices=sorted(MODELS), default="lenet5",
                            help="lenet5 (about 60 us a run: the 5 us timer step is 8%% of it) or mobilenetv2 "
                                 "(untrained keras.applications MobileNetV2 at 224x224, tens of ms a run)")
        parser.add_argument("--bare-api", choices=("public", "lowlevel"), default="public",
                            help="what the bare page calls: LiteRT.js's Tensor API (default) or the lower-level "
                                 "calls the web runner makes")

    return paired.parse_args(__doc__, argv, runs=300, warmup=20, rounds=5, tolerance=TOLERANCE,
                             rounds_note=": more rounds give a firmer ratio on a busy machine",
                             add_options=add_options)


def _mobilenetv2(work: Path):
    import keras

    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))


def _lenet5(work: Path):
    import keras

    return keras.models.load_model(paired.save_lenet5(work))


# name: (builder, one sample's shape, samples)
MODELS = {"lenet5": (_lenet5, (28, 28, 1), SAMPLES), "mobilenetv2": (_mobilenetv2, (224, 224, 3), 10)}


def fixed_batch_tflite(work: Path, name: str) -> Path:
    """The model (untrained, seed 0) as an fp32 .tflite with batch 1 (LiteRT.js refuses a -1 batch)."""
    import keras
    import tensorflow as tf

    build, shape, _ = MODELS[name]
    model = build(work)
    inputs = keras.Input(batch_shape=(1, *shape), name="input")
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, model(inputs)))
    path = work / "tflite" / "model.tflite"
    path.parent.mkdir()
    path.write_bytes(converter.convert())
    return path


def bare_runner_root(work: Path) -> Path:
    """bare.html plus hard links (or copies) of the @litertjs files: the server refuses symlinks out of its root."""
    root = work / "bare-runner"
    source = paired.REPO / "web_runner"
    for folder in BARE_FOLDERS:
        for file in (source / folder).iterdir():
            dst = root / folder / file.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                dst.hardlink_to(file)
            except OSError:
                shutil.copy2(file, dst)
    shutil.copy2(BARE_PAGE, root / "bare.html")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    from devicelab.api import MeasureOptions, build_job
    from devicelab.errors import DevicelabError
    from devicelab.targets.browser import BrowserTarget
    from devicelab.targets.webserver import JobServer

    work = Path(tempfile.mkdtemp(prefix="devicelab-litert-overhead-"))
    target = BrowserTarget("chrome")
    bare_server: JobServer | None = None
    try:
        try:
            model = fixed_batch_tflite(work, args.model)
            target.check("litert-js", "tflite")
            target._ensure_session()
        except DevicelabError as exc:
            return paired.print_error(exc)
        _, shape, samples = MODELS[args.model]
        x = np.random.default_rng(0).random((samples, *shape), dtype=np.float32)
        options = MeasureOptions(accuracy=False, runs=args.runs, warmup_runs=args.warmup, min_seconds=0.0,
                                 max_seconds=600.0, threads=1, backend="wasm", timeout_seconds=300.0)
        job_dir = work / "job"
        build_job(job_dir, model, "tflite", "tflite-fp32", "0" * 64, x, "litert-js", options)

        bare_server = JobServer(bare_runner_root(work)).start()
        bare_id = f"bare-{uuid.uuid4().hex[:12]}"
        bare_server.add_job(bare_id, job_dir, work / "bare-result")
        bare_url = (f"{bare_server.origin}/runner/bare.html?model=/jobs/{bare_id}/model/model.tflite"
                    f"&input=/jobs/{bare_id}/inputs/input_0.bin&shape=1,{','.join(map(str, shape))}&runs={args.runs}"
                    f"&warmup={args.warmup}&api={args.bare_api}")
        setup_s = time.perf_counter() - started
        rounds = paired.interleave(
            args.rounds, args.runs,
            devicelab=lambda r: paired.devicelab_timings(target.run(job_dir, work / f"result-{r}")),
            bare=lambda r: tfjs_side.bare_round(target, bare_url))
    finally:
        target.close()
        if bare_server is not None:
            bare_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    cmp = paired.compare(rounds, TOLERANCE)
    total_s = time.perf_counter() - started
    info, bare_info = rounds.info["devicelab"], rounds.info["bare"]
    device, extra = info.get("device", {}), info.get("extra", {})
    runtime = info.get("runtime") or {}
    print(f"browser LiteRT.js overhead: {args.model} tflite-fp32 (batch 1), {info.get('runtime_used')}, "
          f"{runtime.get('version', '?')}, headless {device.get('browser_name', '?')} "
          f"{device.get('browser_version', '?')}")
    print(f"{args.rounds} interleaved rounds x {args.runs} runs per side (+{args.warmup} warmups), "
          f"{MODELS[args.model][2]} random inputs, {os.cpu_count()} cores")
    print(f"crossOriginIsolated: devicelab {extra.get('crossOriginIsolated')}, "
          f"bare {bare_info.get('crossOriginIsolated')}; timer resolution {extra.get('timer_resolution_ms')} ms")
    print(f"bare page API: {bare_info.get('api')}")
    paired.print_report(rounds, cmp, bare_label="bare page", digits=4, setup_s=setup_s, total_s=total_s)
    head = {"benchmark": "browser_litert_overhead", "model": args.model, "variant": "tflite-fp32 (batch 1)",
            "backend": "wasm", "bare_api": args.bare_api, "runtime_used": info.get("runtime_used"),
            "runtime": runtime, "device": device,
            "cross_origin_isolated": {"devicelab": extra.get("crossOriginIsolated"),
                                      "bare": bare_info.get("crossOriginIsolated")},
            "timer_resolution_ms": extra.get("timer_resolution_ms"), "bare_page": bare_info}
    return paired.finish(args, head, MODELS[args.model][2], rounds, cmp, setup_s, total_s)


if __name__ == "__main__":
    sys.exit(main())
