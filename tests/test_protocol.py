"""The job / result protocol: documents round-trip, schemas reject what apps must never see, tensors are raw LE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from devicelab import protocol
from devicelab.errors import ProtocolError
from devicelab.protocol import Job, MemorySample, ModelRef, Result, RuntimeSpec, Timings


def _job(files: list[str] | None = None) -> Job:
    return Job(id="job-1", model=ModelRef("tflite", "tflite-fp32", files or ["model/model.tflite"], "a" * 64),
               inputs=[protocol.TensorSpec("input", "float32", [2, 3], "inputs/input_0.bin")],
               runtime=RuntimeSpec("tflite", threads=2, delegate="xnnpack"))


def test_job_round_trip(tmp_path: Path) -> None:
    job = _job()
    protocol.write_job(tmp_path, job)
    doc = json.loads((tmp_path / "job.json").read_text())
    assert doc["schema"] == "devicelab.job/1"
    assert doc["performance"] == {"enabled": True, "warmup_runs": 5, "runs": 50, "min_seconds": 1.0,
                                  "max_seconds": 30.0}
    assert protocol.read_job(tmp_path) == job


def test_result_round_trip(tmp_path: Path) -> None:
    result = Result(job_id="job-1", status="ok", device={"platform": "linux"},
                    timings_ms=Timings(load=3.5, first_inference=1.0, warmup=[0.5], runs=[0.25, 0.3]),
                    memory=[MemorySample("peak_rss", 12.0, "MiB", "VmHWM", "run")], runtime_used="tflite-xnnpack")
    protocol.write_result(tmp_path, result)
    assert (tmp_path / protocol.DONE_MARKER).read_text().strip() == "ok"
    assert protocol.read_result(tmp_path) == result


@pytest.mark.parametrize("bad", ["../escape.tflite", "/etc/passwd", "model/../../x", "a\\b"])
def test_job_paths_cannot_escape_the_folder(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ProtocolError, match="model/files/0"):
        protocol.write_job(tmp_path, _job([bad]))


def test_schema_errors_name_the_field() -> None:
    doc = _job().to_json()
    doc["performance"]["runs"] = 0
    with pytest.raises(ProtocolError, match="performance/runs"):
        protocol.validate(doc, "job")
    del doc["performance"]
    with pytest.raises(ProtocolError, match="'performance' is a required property"):
        protocol.validate(doc, "job")


def test_result_schema_requires_named_memory_method() -> None:
    doc = Result(job_id="j", status="ok", device={"platform": "linux"}).to_json()
    doc["memory"] = [{"metric": "peak", "value": 1.0, "unit": "MiB", "method": "", "phase": "run"}]
    with pytest.raises(ProtocolError, match="memory/0/method"):
        protocol.validate(doc, "result")


def test_tensors_are_raw_little_endian(tmp_path: Path) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    spec = protocol.write_tensor(tmp_path, "inputs/x.bin", "x", x)
    raw = (tmp_path / "inputs/x.bin").read_bytes()
    assert raw == x.astype("<f4").tobytes() and len(raw) == 24
    assert spec.shape == [2, 3] and spec.dtype == "float32"
    np.testing.assert_array_equal(protocol.read_tensor(tmp_path, spec), x)
    q = np.array([-128, 0, 127], dtype=np.int8)
    np.testing.assert_array_equal(protocol.read_tensor(tmp_path, protocol.write_tensor(tmp_path, "q.bin", "q", q)), q)


def test_truncated_tensor_is_reported(tmp_path: Path) -> None:
    spec = protocol.write_tensor(tmp_path, "x.bin", "x", np.zeros((4, 4), np.float32))
    (tmp_path / "x.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ProtocolError, match="holds 10 bytes"):
        protocol.read_tensor(tmp_path, spec)


def test_missing_result_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"no result\.json"):
        protocol.read_result(tmp_path)


def test_schemas_ship_with_the_package() -> None:
    assert protocol.schema("job")["properties"]["schema"]["const"] == "devicelab.job/1"
    assert protocol.schema("result")["properties"]["schema"]["const"] == "devicelab.result/1"


def test_capture_round_trips_and_the_host_runner_refuses_it(tmp_path: Path) -> None:
    from devicelab.runner import run_job

    spec = protocol.write_tensor(tmp_path / "job", "inputs/input_0.bin", "x", np.zeros((2, 3), np.float32))
    job = Job("j1", ModelRef("onnx", "onnx-fp32", ["model/m.onnx"], "0" * 64), [spec], RuntimeSpec("onnxruntime"),
              capture=protocol.Capture(["relu_out"], 1024))
    protocol.write_job(tmp_path / "job", job)
    assert protocol.read_job(tmp_path / "job").capture == protocol.Capture(["relu_out"], 1024)
    plain = Job("j2", job.model, job.inputs, job.runtime)
    assert "capture" not in plain.to_json()  # jobs the phone apps read are unchanged
    result = run_job(tmp_path / "job", tmp_path / "result", runtime_factory=lambda _: pytest.fail("ran"))
    assert result.status == "error" and "intermediate tensors" in result.error["message"]
    with pytest.raises(ProtocolError):
        protocol.validate({**job.to_json(), "capture": {"tensors": [], "max_bytes": 1}}, "job")
