"""PyTorch sources and ExecuTorch: a small CNN of our own, trained for a few seconds on the bundled MNIST sample and
saved with torch.export.save, converts to every variant a .pt2 can give; the ExecuTorch and ONNX variants run
through the job protocol and agree with eager PyTorch; Core ML converts and says it needs macOS to run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest

from devicelab import api, protocol, runner
from devicelab.data import load_dataset
from devicelab.errors import ModelLoadError, RuntimeUnavailableError
from devicelab.models import IOSpec, load_source
from devicelab.protocol import Job, ModelRef, Performance, RuntimeSpec

torch = pytest.importorskip("torch")
pytest.importorskip("executorch.runtime")
pytestmark = pytest.mark.slow

PT2_VARIANTS = ["coreml-fp32", "coreml-fp16", "coreml-int8", "onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static",
                "executorch-fp32", "executorch-int8"]
# The bound executorch-int8 is held to against eager fp32 PyTorch on the test samples: top-1 agreement >= 97% and
# every logit within 5% of the reference logits' range (measured here: see README "ExecuTorch").
INT8_MIN_AGREEMENT = 0.97
INT8_MAX_DIFF_OF_RANGE = 0.05
TEST_SAMPLES = 200


class SmallCNN(torch.nn.Module):
    """LeNet-like, channels first as PyTorch models are; F.max_pool2d(x, 2) leaves its stride implicit, which
    coremltools' converter could not read (see devicelab.convert.coreml.pt2_program)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 16, 3)
        self.fc = torch.nn.Linear(16 * 5 * 5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


def _nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)  # devicelab's MNIST is NHWC


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """Two epochs on the 4000 training samples (a few seconds): a real classifier, so agreement means something."""
    torch.manual_seed(0)
    train = load_dataset("mnist-sample", split="train")
    x, y = torch.from_numpy(_nchw(train.x)), torch.from_numpy(train.y.astype(np.int64))
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(2):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    path = tmp_path_factory.mktemp("pt2") / "small_cnn.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 28, 28),)), str(path))
    return path, model


@pytest.fixture(scope="module")
def test_data() -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset("mnist-sample", split="test", limit=TEST_SAMPLES)
    return _nchw(data.x), data.y


@pytest.fixture(scope="module")
def converted(cnn: tuple[Path, torch.nn.Module], session_cache: Path) -> api.ConvertReport:
    return api.convert(cnn[0], calibration="mnist-sample", cache=session_cache)


def _eager(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _run(tmp: Path, model_path: Path, fmt: str, runtime: str, x: np.ndarray, profile: bool = False,
         delegate: str | None = None) -> tuple[protocol.Result, np.ndarray | None]:
    """A job folder laid out by hand with the protocol module, run in this process by the measurement core."""
    job_dir, result_dir = tmp / f"job-{runtime}", tmp / f"result-{runtime}"
    (job_dir / "model").mkdir(parents=True)
    target = job_dir / "model" / model_path.name
    if model_path.is_dir():
        import shutil

        shutil.copytree(model_path, target)
    else:
        target.write_bytes(model_path.read_bytes())
    job = Job(id=f"t-{uuid.uuid4().hex[:8]}", model=ModelRef(fmt, fmt, [f"model/{model_path.name}"], "0" * 64),
              inputs=[protocol.write_tensor(job_dir, "inputs/input_0.bin", "x", x)],
              runtime=RuntimeSpec(runtime, threads=1, delegate=delegate, profile=profile),
              performance=Performance(warmup_runs=2, runs=20, min_seconds=0.0, max_seconds=5.0))
    protocol.write_job(job_dir, job)
    result = runner.run_job(job_dir, result_dir)
    out = protocol.read_tensor(result_dir, result.outputs[0]) if result.ok else None
    return result, out


def _artifact(report: api.ConvertReport, name: str) -> Path:
    return next(c.artifact for c in report.conversions if c.variant == name).model_path


# --- the .pt2 source ---------------------------------------------------------------------------------


def test_pt2_source_reads_its_signature(cnn: tuple[Path, torch.nn.Module]) -> None:
    source = load_source(cnn[0])
    assert source.format == "pt2"
    assert source.inputs == [IOSpec("x", "float32", [1, 1, 28, 28])]
    assert source.outputs == [IOSpec("linear", "float32", [1, 10])]


def test_pt2_input_dtypes_are_the_programs_own(tmp_path: Path) -> None:
    class Tokens(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(50, 4)

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.embed(ids).sum(1) * mask.float()

    path = tmp_path / "tokens.pt2"
    ids, mask = torch.zeros(2, 7, dtype=torch.int64), torch.ones(2, 1, dtype=torch.bool)
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(Tokens(), (ids, mask), dynamic_shapes=({0: batch}, {0: batch})), str(path))
    source = load_source(path)
    assert source.inputs == [IOSpec("ids", "int64", [None, 7]), IOSpec("mask", "bool", [None, 1])]
    assert source.outputs[0].dtype == "float32" and source.outputs[0].shape == [None, 4]


def test_broken_pt2_files_are_one_readable_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match=r"not a valid \.pt2 file"):
        load_source(garbage)
    other_zip = tmp_path / "other.pt2"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("hello.txt", "not a program")
    with pytest.raises(ModelLoadError, match=r"cannot load torch\.export program") as info:
        load_source(other_zip).inputs  # noqa: B018
    assert "torch.export.save" in (info.value.hint or "")


# --- conversion --------------------------------------------------------------------------------------


def test_every_pt2_variant_converts(converted: api.ConvertReport) -> None:
    assert not converted.failed, [str(c.error) for c in converted.failed]
    assert [c.variant for c in converted.conversions] == PT2_VARIANTS
    assert {name.split("-")[0] for name in converted.skipped} == {"tflite", "tfjs"}
    by_name = {c.variant: c.artifact for c in converted.conversions}
    for name in ("executorch-fp32", "executorch-int8"):
        manifest = by_name[name].manifest
        assert manifest["delegates"] == ["XnnpackBackend"], name
        assert manifest["inputs"] == [{"name": "input_0", "dtype": "float32", "shape": [1, 1, 28, 28]}]
        assert set(manifest["versions"]) == {"executorch", "torch", "torchao"}
    assert by_name["executorch-int8"].manifest["calibration"]["sha256"]
    # 5k parameters: int8 saves 3 bytes each (15 KB of 25 KB); the program's own tables stay.
    assert by_name["executorch-int8"].size_bytes < 0.6 * by_name["executorch-fp32"].size_bytes
    assert by_name["onnx-fp32"].manifest["inputs"][0]["name"] == "x"


def test_coreml_conversion_leaves_the_source_program_alone(cnn: tuple[Path, torch.nn.Module]) -> None:
    from devicelab.convert.coreml import pt2_program

    program = torch.export.load(str(cnn[0]))
    before = [tuple(n.args) for n in program.graph.nodes if n.op == "call_function"]
    pools = [n for n in pt2_program(program).graph.nodes if "max_pool2d" in str(n.target)]
    assert pools and all(len(n.args) == 6 for n in pools)  # kernel, stride, padding, dilation, ceil_mode
    assert [tuple(n.args) for n in program.graph.nodes if n.op == "call_function"] == before


def test_executorch_variants_need_a_pt2_source(converted: api.ConvertReport, session_cache: Path) -> None:
    onnx_source = _artifact(converted, "onnx-fp32")
    report = api.convert(onnx_source, variants=["executorch-fp32"], cache=session_cache)
    error = report.conversions[0].error
    assert error is not None and "cannot be made from onnx models" in error.message and "pt2" in error.hint


# --- running -----------------------------------------------------------------------------------------


def test_executorch_fp32_agrees_with_eager_pytorch(converted: api.ConvertReport, cnn: tuple[Path, torch.nn.Module],
                                                   test_data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, labels = test_data
    result, out = _run(tmp_path, _artifact(converted, "executorch-fp32"), "executorch", "executorch", x)
    assert result.ok, result.error
    assert result.runtime_used == "executorch-xnnpack, 1 thread(s)"
    assert result.device["runtime"]["version"].startswith("executorch 1.")
    assert len(result.timings_ms.runs) >= 20 and result.timings_ms.load > 0
    reference = _eager(cnn[1], x)
    assert out.shape == reference.shape == (TEST_SAMPLES, 10)
    assert (out.argmax(1) == reference.argmax(1)).all()
    # Within 1e-5 as numpy means it (atol and rtol 1e-5): logits reach ~20 here, where float32 steps are 2e-6 and
    # XNNPACK sums in another order than PyTorch's kernels (measured: max |diff| ~1.3e-5, relative < 3e-6).
    np.testing.assert_allclose(out, reference, rtol=1e-5, atol=1e-5)
    print(f"executorch-fp32 vs eager: max |diff| {np.abs(out - reference).max():.2e}")
    assert (reference.argmax(1) == labels).mean() > 0.85  # a trained model, so agreement is not vacuous


def test_executorch_int8_stays_within_its_bound(converted: api.ConvertReport, cnn: tuple[Path, torch.nn.Module],
                                                test_data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, _ = test_data
    result, out = _run(tmp_path, _artifact(converted, "executorch-int8"), "executorch", "executorch", x)
    assert result.ok, result.error
    reference = _eager(cnn[1], x)
    agreement = (out.argmax(1) == reference.argmax(1)).mean()
    diff = np.abs(out - reference).max()
    spread = reference.max() - reference.min()
    print(f"executorch-int8 vs eager: agreement {agreement:.3f}, max |diff| {diff:.3f}, logit range {spread:.1f}")
    assert agreement >= INT8_MIN_AGREEMENT, agreement
    assert diff <= INT8_MAX_DIFF_OF_RANGE * spread, (diff, spread)
    assert diff > 1e-4  # it really is quantized: an fp32 program would match to 1e-6


def test_executorch_profile_gives_xnnpack_operator_times(converted: api.ConvertReport, tmp_path: Path,
                                                         test_data: tuple[np.ndarray, np.ndarray]) -> None:
    from devicelab.runtimes.executorch import PROFILE_RUNS

    result, _ = _run(tmp_path, _artifact(converted, "executorch-fp32"), "executorch", "executorch",
                     test_data[0][:4], profile=True)
    assert result.ok, result.error
    table = result.extra["profile"]
    assert table["method"].startswith("ETDump + Inspector") and table["runs"] == PROFILE_RUNS
    ops = {row["name"]: row for row in table["operators"]}
    convolutions = [row for name, row in ops.items() if name.startswith("Convolution")]
    assert len(convolutions) == 2 and all(r["delegated"] and r["backend"] == "XNNPACK" for r in convolutions)
    assert all(r["runs"] == PROFILE_RUNS for r in convolutions)
    assert ops["Method::execute"]["median_ms"] > 0 and not ops["Method::execute"]["delegated"]
    # The timed runs are the normal ones: the traced run comes after them and is not among them.
    assert len(result.timings_ms.runs) >= 20


def test_profile_on_a_runtime_without_it_keeps_the_measurement(cnn: tuple[Path, torch.nn.Module], tmp_path: Path,
                                                              test_data: tuple[np.ndarray, np.ndarray]) -> None:
    # The eager PyTorch reference has no per-operator table (onnxruntime and executorch do).
    result, out = _run(tmp_path, cnn[0], "pt2", "torch", test_data[0][:4], profile=True)
    assert result.ok and out is not None and result.timings_ms.runs
    assert "gives no per-operator times" in result.extra["profile"]["error"]


def test_onnx_from_pt2_agrees_with_eager_pytorch(converted: api.ConvertReport, cnn: tuple[Path, torch.nn.Module],
                                                test_data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    x, _ = test_data
    result, out = _run(tmp_path, _artifact(converted, "onnx-fp32"), "onnx", "onnxruntime", x)
    assert result.ok, result.error
    assert np.abs(out - _eager(cnn[1], x)).max() <= 1e-5


@pytest.mark.skipif(sys.platform == "darwin", reason="off macOS only: Core ML prediction refuses to run there")
def test_coreml_from_pt2_converts_but_needs_macos_to_run(converted: api.ConvertReport, tmp_path: Path,
                                                         test_data: tuple[np.ndarray, np.ndarray]) -> None:
    from devicelab.convert import coreml

    package = _artifact(converted, "coreml-fp32")
    described = coreml.describe(package.parent)
    assert described["inputs"] == [{"name": "x", "dtype": "float32", "shape": [1, 1, 28, 28]}]
    result, _ = _run(tmp_path, package, "coreml", "coreml", test_data[0][:2])
    assert not result.ok and result.error["kind"] == RuntimeUnavailableError.kind
    assert "needs macOS" in result.error["message"]


def test_bad_pte_and_unknown_delegate_are_errors_in_the_result(tmp_path: Path, converted: api.ConvertReport,
                                                               test_data: tuple[np.ndarray, np.ndarray]) -> None:
    bad = tmp_path / "model.pte"
    bad.write_bytes(b"\0" * 64)
    result, _ = _run(tmp_path / "bad", bad, "executorch", "executorch", test_data[0][:1])
    assert not result.ok and "could not load the program" in result.error["message"]
    result, _ = _run(tmp_path / "gpu", _artifact(converted, "executorch-fp32"), "executorch", "executorch",
                     test_data[0][:1], delegate="vulkan")
    assert not result.ok and "delegate 'vulkan' is not available" in result.error["message"]


def test_measure_a_pt2_against_its_eager_reference(converted: api.ConvertReport, cnn: tuple[Path, torch.nn.Module],
                                                   session_cache: Path, store_path: Path) -> None:
    """The API end to end on the host target (worker processes): the PC reference of a .pt2 is the program
    itself on torch, and the ExecuTorch variant is compared with it."""
    options = api.MeasureOptions(samples=50, runs=10, warmup_runs=1, min_seconds=0.0)
    measured = api.measure(cnn[0], variants=["original", "executorch-fp32"], data="mnist-sample",
                           calibration="mnist-sample", options=options, store=store_path, cache=session_cache)
    by_variant = {m.variant: m for m in measured}
    assert all(m.ok for m in measured), [str(m.error) for m in measured]
    assert by_variant["original"].runtime == "torch"
    accuracy = by_variant["executorch-fp32"].summary["accuracy"]
    assert accuracy["agreement"] == 1.0 and accuracy["max_abs_diff"] <= 1e-5


def test_cli_lists_executorch_and_what_is_not_offered() -> None:
    done = subprocess.run([sys.executable, "-m", "devicelab", "variants"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "executorch-fp32" in done.stdout and "executorch-int8" in done.stdout
    assert "not offered" in done.stdout and "litert-torch" in done.stdout and "typing_extensions" in done.stdout


def test_cli_convert_to_executorch(converted: api.ConvertReport, cnn: tuple[Path, torch.nn.Module],
                                   session_cache: Path) -> None:
    """`convert --to executorch` on the same .pt2 and calibration: both variants, straight from the cache."""
    done = subprocess.run([sys.executable, "-m", "devicelab", "convert", str(cnn[0]), "--to", "executorch",
                           "--calibration", "mnist-sample", "--cache-dir", str(session_cache)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "executorch-" in line and line.startswith("│")]
    assert len(rows) == 2 and all("hit" in row for row in rows), done.stdout


def test_describing_and_opening_a_pte_keeps_the_terminal_clean(converted: api.ConvertReport) -> None:
    """executorch.runtime imports torchao, which prints "Failed to load ... _C_cutlass_90a" lines on machines
    without CUDA; devicelab keeps them off the user's terminal (a fresh process: the import happens once)."""
    folder = _artifact(converted, "executorch-fp32").parent
    code = ("import sys; from devicelab.convert import executorch as e; from devicelab.runtimes.executorch import "
            "ExecuTorchRuntime as R; R.check_available(); print(e.describe(__import__('pathlib').Path(sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "XnnpackBackend" in done.stdout
    assert "Failed to load" not in done.stderr and "cpuinfo" not in done.stderr, done.stderr


def test_a_dynamic_batch_program_gives_a_batch_of_one_pte(tmp_path: Path, session_cache: Path) -> None:
    """Lowered as exported, a dynamic batch becomes a bound ExecuTorch picks itself (15 here) and the .pte reports
    it as its input shape; devicelab exports such programs again with a batch of one, as apps feed them."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 26 * 26, 10)).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    path = tmp_path / "dynamic.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(2, 1, 28, 28),), dynamic_shapes=({0: batch},)),
                      str(path))
    assert load_source(path).inputs[0].shape == [None, 1, 28, 28]
    report = api.convert(path, variants=["executorch-fp32"], cache=session_cache)
    assert not report.failed, [str(c.error) for c in report.failed]
    manifest = report.conversions[0].artifact.manifest
    assert manifest["inputs"][0]["shape"] == [1, 1, 28, 28]
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    result, out = _run(tmp_path, report.conversions[0].artifact.model_path, "executorch", "executorch", x)
    assert result.ok, result.error
    np.testing.assert_allclose(out, _eager(model, x), rtol=1e-5, atol=1e-5)


def test_a_failing_profiler_keeps_the_measurement(tmp_path: Path, converted: api.ConvertReport,
                                                  test_data: tuple[np.ndarray, np.ndarray],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from devicelab.runtimes.executorch import ExecuTorchRuntime

    def broken(self: ExecuTorchRuntime, feeds: list) -> dict:
        raise RuntimeError("Inspector could not parse the dump")

    monkeypatch.setattr(ExecuTorchRuntime, "profile", broken)
    result, out = _run(tmp_path, _artifact(converted, "executorch-fp32"), "executorch", "executorch",
                       test_data[0][:2], profile=True)
    assert result.ok and out is not None and len(result.timings_ms.runs) >= 20
    assert result.extra["profile"]["error"] == "profiling failed: RuntimeError: Inspector could not parse the dump"


def test_int8_calibration_takes_one_array_per_program_input(tmp_path: Path) -> None:
    """The calibration contract: one (N, *sample) array per source input, in input order, in its own dtype."""
    from devicelab.convert import executorch as et
    from devicelab.convert.base import ConversionContext
    from devicelab.errors import CalibrationError

    class TwoInputs(torch.nn.Module):
        def forward(self, ids: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
            return ids.float().sum(1, keepdim=True) * scale

    path = tmp_path / "two.pt2"
    torch.export.save(torch.export.export(TwoInputs(), (torch.zeros(1, 5, dtype=torch.int64), torch.ones(1, 1))),
                      str(path))
    source, variant = load_source(path), et.VARIANTS[1]
    ids, scale = np.arange(15).reshape(3, 5), np.ones((3, 1))
    samples = et.calibration_inputs(ConversionContext(source, [ids, scale], tmp_path), variant)
    assert len(samples) == 3 and [t.dtype for t in samples[0]] == [torch.int64, torch.float32]
    assert [tuple(t.shape) for t in samples[2]] == [(1, 5), (1, 1)] and samples[2][0].tolist() == [[10, 11, 12, 13, 14]]
    with pytest.raises(CalibrationError, match=r"calibration data has 1 array\(s\) but the model has 2 input"):
        et.calibration_inputs(ConversionContext(source, [ids], tmp_path), variant)
    with pytest.raises(CalibrationError, match="needs calibration data"):
        et.calibration_inputs(ConversionContext(source, None, tmp_path), variant)
