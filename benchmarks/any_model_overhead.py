"""Any model at realistic size: conversion time of every variant, and devicelab's latency against a bare loop.

Two models nobody trained, at the size people ship:

  mobilenetv2  ``keras.applications.MobileNetV2`` (224x224x3, 3.5 M parameters, ``weights=None``, seed 0)
  encoder      a 6-layer BERT-sized Transformer encoder in PyTorch (hidden 768, 12 heads, FFN 3072, vocabulary
               30522, sequence 64) exported to ONNX with int64 ``input_ids`` and ``attention_mask``

First every variant devicelab makes of each is converted through its artifact cache (a fresh, temporary one) and
timed. Then, per (model, variant, runtime), devicelab's per-inference median is compared with a bare loop in the
same process and the same run, interleaved as in ``paired.py``:

  devicelab  a job folder from ``devicelab.api.build_job`` with the model's own inputs (names and dtypes), run by
             ``devicelab.runner.run_job``; the figure is ``result.timings_ms.runs``.
  bare       the runtime's own API in the plainest loop that does the same work: ai-edge-litert
             ``set_tensor; invoke; get_tensor`` or onnxruntime ``session.run(None, feed)``.

The goal is a devicelab/bare median ratio within 2% on the host.

    python benchmarks/any_model_overhead.py [--runs 40] [--warmup 5] [--rounds 4] [--models mobilenetv2,encoder]
        [--skip-convert] [--json out.json] [--check]

Exits 0 whatever the ratios (it is a benchmark), unless --check is given: then 1 when a ratio is outside 2%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import paired  # benchmarks/paired.py: importing it sets up the environment, before TensorFlow loads

TOLERANCE = 0.02
SAMPLES = 8
CALIBRATION_SAMPLES = 16
SEQUENCE = 64
VOCABULARY = 30522


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="mobilenetv2,encoder", help="mobilenetv2, encoder or both")
    parser.add_argument("--skip-convert", action="store_true",
                        help="convert only the variants that are timed (skip the conversion table)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return paired.parse_args(__doc__, argv, runs=40, warmup=5, rounds=4, tolerance=TOLERANCE,
                             add_options=add_options)


# --- models --------------------------------------------------------------------------------------------


def save_mobilenetv2(work: Path) -> tuple[Path, dict[str, np.ndarray]]:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
    path = work / "mobilenetv2.keras"
    model.save(path)
    x = np.random.default_rng(0).random((SAMPLES + CALIBRATION_SAMPLES, 224, 224, 3), dtype=np.float32)
    return path, {"x": x}


def save_encoder(work: Path) -> tuple[Path, dict[str, np.ndarray]]:
    import torch

    torch.manual_seed(0)

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(VOCABULARY, 768)
            self.position = torch.nn.Parameter(torch.randn(1, SEQUENCE, 768) * 0.02)
            layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, batch_first=True)
            self.layers = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.layers(self.embed(input_ids) + self.position, src_key_padding_mask=attention_mask == 0)
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1)  # mean-pooled sentence embedding

    model = Encoder().eval()
    rng = np.random.default_rng(0)
    n = SAMPLES + CALIBRATION_SAMPLES
    ids = rng.integers(0, VOCABULARY, (n, SEQUENCE)).astype(np.int64)
    mask = np.ones((n, SEQUENCE), np.int64)
    for i, length in enumerate(rng.integers(SEQUENCE // 4, SEQUENCE + 1, n)):
        mask[i, length:] = 0
    path = work / "encoder.onnx"
    # Not under no_grad: there PyTorch takes its fused encoder fast path, which has no ONNX export.
    torch.onnx.export(model, (torch.from_numpy(ids[:1]), torch.from_numpy(mask[:1])), str(path),
                      input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                      dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return path, {"input_ids": ids, "attention_mask": mask}


MODELS: dict[str, Callable[[Path], tuple[Path, dict[str, np.ndarray]]]] = {
    "mobilenetv2": save_mobilenetv2, "encoder": save_encoder}
TIMED = {"mobilenetv2": [("tflite-fp32", "tflite"), ("onnx-fp32", "onnxruntime")],
         "encoder": [("onnx-fp32", "onnxruntime"), ("onnx-int8-dynamic", "onnxruntime")]}


# --- conversion ----------------------------------------------------------------------------------------


def convert_all(path: Path, data: dict[str, np.ndarray], cache: Path, only: list[str] | None) -> list[dict]:
    """Convert every variant this source gives (or `only`), each timed; failures are listed, not fatal."""
    from devicelab.artifacts import get_or_convert
    from devicelab.convert import variants
    from devicelab.errors import DevicelabError
    from devicelab.models import load_source

    source = load_source(path, cache)
    calibration = [np.ascontiguousarray(data[i.name][SAMPLES:]) for i in source.inputs]  # not the timed ones
    rows = []
    for variant in variants.select(None, None, only):
        if source.format not in variant.sources:
            continue
        started = time.perf_counter()
        try:
            artifact, _ = get_or_convert(source, variant, cache, calibration if variant.needs_calibration else None,
                                         "benchmark-random-calibration" if variant.needs_calibration else None)
            rows.append({"variant": variant.name, "seconds": time.perf_counter() - started,
                         "size_bytes": artifact.size_bytes, "artifact": artifact})
        except DevicelabError as exc:
            rows.append({"variant": variant.name, "seconds": time.perf_counter() - started, "error": exc.message})
    return rows


# --- the bare loops ------------------------------------------------------------------------------------


def bare_tflite(model_path: Path, feeds: list[list[np.ndarray]], names: list[str], runs: int,
                warmup: int) -> list[float]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(model_path), num_threads=1,
                              experimental_op_resolver_type=OpResolverType.AUTO)
    details = interpreter.get_input_details()
    for detail, x in zip(details, feeds[0], strict=True):
        if list(detail["shape"]) != list(x.shape):
            interpreter.resize_tensor_input(detail["index"], list(x.shape))
    interpreter.allocate_tensors()
    index = [d["index"] for d in details]
    out = [d["index"] for d in interpreter.get_output_details()]
    set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor

    def once(feed: list[np.ndarray]) -> None:
        for i, x in zip(index, feed, strict=True):
            set_tensor(i, x)
        invoke()
        for o in out:
            get_tensor(o)

    return _loop(once, feeds, runs, warmup)


def bare_onnxruntime(model_path: Path, feeds: list[list[np.ndarray]], names: list[str], runs: int,
                     warmup: int) -> list[float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    dicts = [dict(zip(names, feed, strict=True)) for feed in feeds]
    return _loop(lambda feed: session.run(None, feed), dicts, runs, warmup)


def _loop(once: Callable[[Any], Any], feeds: list[Any], runs: int, warmup: int) -> list[float]:
    clock, n = time.perf_counter_ns, len(feeds)
    for i in range(-1, warmup):  # -1: the first inference devicelab times on its own, then the warmups
        once(feeds[max(i, 0) % n])
    timed = [0] * runs
    for i in range(runs):
        feed = feeds[i % n]
        started = clock()
        once(feed)
        timed[i] = clock() - started
    return [ns / 1e6 for ns in timed]


BARE = {"tflite": bare_tflite, "onnxruntime": bare_onnxruntime}


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    from devicelab.api import MeasureOptions, build_job
    from devicelab.models import load_source
    from devicelab.runner import run_job

    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in MODELS]
    if unknown:
        print(f"error: unknown model {unknown[0]} (models: {', '.join(MODELS)})", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="devicelab-any-model-"))
    doc: dict[str, Any] = {"benchmark": "any_model_overhead", "models": {}}
    outside = False
    try:
        for name in chosen:
            setup = time.perf_counter()
            path, data = MODELS[name](work)
            source = load_source(path, work / "cache")
            names = [i.name for i in source.inputs]
            if len(data) == 1:  # a single input: named as the loaded model names it
                data = {names[0]: next(iter(data.values()))}
            only = None if not args.skip_convert else [v for v, _ in TIMED[name]]
            converted = convert_all(path, data, work / "cache", only)
            print(f"\n{name}: {path.name}, inputs " + ", ".join(f"{k} {v.dtype}{list(v.shape[1:])}"
                                                                 for k, v in data.items()))
            print(f"{'variant':<22} {'convert s':>9} {'size':>10}")
            for row in converted:
                size = f"{row['size_bytes'] / 2**20:.1f} MiB" if "size_bytes" in row else row.get("error", "")[:60]
                print(f"{row['variant']:<22} {row['seconds']:>9.2f} {size:>10}")
            arrays = [np.ascontiguousarray(data[n][:SAMPLES]) for n in names]
            feeds = [[a[i : i + 1] for a in arrays] for i in range(SAMPLES)]
            results = {}
            for variant, runtime in TIMED[name]:
                artifact = next((r["artifact"] for r in converted if r["variant"] == variant and "artifact" in r),
                                None)
                if artifact is None:
                    print(f"{variant}: not converted, not timed")
                    continue
                options = MeasureOptions(accuracy=False, runs=args.runs, warmup_runs=args.warmup, min_seconds=0.0,
                                         max_seconds=600.0, threads=1)
                job_dir = work / f"job-{name}-{variant}"
                build_job(job_dir, artifact.model_path, artifact.variant.format, variant, artifact.sha256, arrays,
                          runtime, options, input_names=names)
                setup_s = time.perf_counter() - setup
                rounds = paired.interleave(
                    args.rounds, args.runs,
                    devicelab=lambda r, j=job_dir: paired.devicelab_timings(run_job(j, work / f"result-{r}")),
                    bare=lambda r, a=artifact, rt=runtime, f=feeds, n=names: (
                        BARE[rt](a.model_path, f, n, args.runs, args.warmup), {}))
                cmp = paired.compare(rounds, TOLERANCE)
                outside = outside or not cmp.within
                print(f"\n{name} {variant} on {runtime} ({rounds.info['devicelab'].get('runtime_used')}), 1 thread:")
                paired.print_report(rounds, cmp, bare_label=f"bare {runtime}", digits=3, setup_s=setup_s,
                                    total_s=time.perf_counter() - started)
                results[variant] = {"runtime": runtime, "ratio_median": cmp.ratio, "ratio_p90": cmp.p90_ratio,
                                    "devicelab_median_ms": cmp.devicelab["median_ms"],
                                    "bare_median_ms": cmp.bare["median_ms"], "within_tolerance": cmp.within}
            doc["models"][name] = {"convert": [{k: v for k, v in r.items() if k != "artifact"} for r in converted],
                                   "timed": results}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nsummary (devicelab/bare median ratio, goal within 2%):")
    for name, found in doc["models"].items():
        for variant, r in found["timed"].items():
            print(f"  {name:<12} {variant:<20} {r['ratio_median']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 1 if args.check and outside else 0


if __name__ == "__main__":
    sys.exit(main())
