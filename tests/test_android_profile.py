"""deploy --profile to an Android phone (issue 15, "where the time goes"): the app's ONNX Runtime ships its raw
session profile in the result folder and the host turns it into the same per-operator table as the PC's ONNX
Runtime (summarize_ort); TFLite and ExecuTorch say why they give none.

No phone exists here: the fake adb server's app profiles with the host's real onnxruntime (a real ORT profile
file) and, when NNAPI is asked, rewrites it as ORT with the NNAPI provider writes one, with the int64 shape ops
left on the CPU: the fallback that ``share_ops_on_requested`` must show. Simulated results are marked so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FakeAdbServer, FakeDevice
from fakes.devicelab_app import APP_PROFILING, simulate_nnapi_placement

from devicelab import api, protocol
from devicelab.store import Store
from devicelab.targets import android
from devicelab.targets.android import AndroidTarget

pytestmark = pytest.mark.slow


@pytest.fixture
def phone(tmp_path: Path):
    device = FakeDevice("R5CT100PIX", model="Pixel 7", root=tmp_path / "phone", app_installed=True)
    with FakeAdbServer([device]) as server:
        yield f"127.0.0.1:{server.port}", device


def _deploy(server: str, store: Path, variants: list[str], delegates: list[str] | None, profile: bool) -> list:
    target = AndroidTarget("pixel", server=server, aliases={})
    options = api.MeasureOptions(samples=20, runs=3, warmup_runs=1, min_seconds=0, profile=profile)
    try:
        return api.measure("lenet5", variants=variants, target=target, options=options, store=store,
                           backends=delegates, reference=False)
    finally:
        target.close()


def test_cli_deploy_profile_on_nnapi_stores_the_table_and_the_fallback(phone, lenet5, tmp_path) -> None:
    server, _ = phone
    env = {**os.environ, "DEVICELAB_STORE": str(tmp_path / "s.sqlite"), "DEVICELAB_ADB_SERVER": server}
    done = subprocess.run([sys.executable, "-m", "devicelab", "deploy", "lenet5", "--device", "pixel", "--profile",
                           "--variant", "onnx-fp32", "--delegate", "nnapi", "--samples", "20", "--runs", "3",
                           "--warmup", "1", "--min-seconds", "0"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "ops profiled" in done.stdout and "NnapiExecutionProvider" in done.stdout, done.stdout
    with Store(tmp_path / "s.sqlite") as db:
        (row,) = [r for r in db.rows() if r["target"] == "android:R5CT100PIX"]
        result = row.result
    assert result["simulated"] is True
    profile = result["extra"]["profile"]
    assert profile["source"] == "onnxruntime session profiling" and profile["file"] == "profile/ort_profile.json"
    assert profile["requested_provider"] == "NnapiExecutionProvider"
    assert profile["runs"] == APP_PROFILING["RUNS"] - 1  # the first inference of the profiled session is left out
    providers = {op["provider"] for op in profile["operators"]}
    assert providers == {"NnapiExecutionProvider", "CPUExecutionProvider"}
    # The fallback shows: tf2onnx's int64 shape ops (Shape, Gather, Cast, Slice, Concat) stayed on the CPU.
    assert 0 < profile["share_ops_on_requested"] < 1
    assert 0 < profile["share_time_on_requested"] <= 1
    cpu = {op["op_type"] for op in profile["operators"] if op["provider"] == "CPUExecutionProvider"}
    assert cpu and cpu <= {"Shape", "Gather", "Cast", "Slice", "Concat"}
    assert all(op["calls"] == profile["runs"] and op["mean_ms"] >= 0 for op in profile["operators"])
    assert "simulated" in profile["method"]


def test_profile_on_cpu_and_off_and_the_raw_file_kept_in_the_result_folder(phone, lenet5, session_cache,
                                                                           tmp_path) -> None:
    server, device = phone
    on = _deploy(server, tmp_path / "s.sqlite", ["onnx-fp32"], ["cpu"], profile=True)
    off = _deploy(server, tmp_path / "s.sqlite", ["onnx-fp32"], ["cpu"], profile=False)
    assert all(m.ok for m in on + off), [str(m.error) for m in on + off]
    profile = on[0].result.extra["profile"]
    assert profile["requested_provider"] == "CPUExecutionProvider" and profile["share_ops_on_requested"] == 1.0
    assert {op["provider"] for op in profile["operators"]} == {"CPUExecutionProvider"}
    # The same table the PC's ONNX Runtime gives: the same keys, from the same function.
    host = _deploy_host(tmp_path)
    assert set(host) == set(profile) - {"file"}
    # Profile off changes nothing: no extra.profile, no profile folder, the same extra keys otherwise.
    assert "profile" not in off[0].result.extra
    assert set(on[0].result.extra) - {"profile"} == set(off[0].result.extra)
    with Store(tmp_path / "s.sqlite") as db:
        stored = [db.get(m.row_id).result["extra"] for m in on + off]
    assert stored[0]["profile"]["operators"] == profile["operators"] and "profile" not in stored[1]
    # Nothing is left on the phone; the app's profile folder went with its result folder.
    app_files = device.root / "sdcard/Android/data/dev.devicelab.app/files"
    assert not list((app_files / "results").glob("*")) and not list((app_files / "jobs").glob("*"))


def _deploy_host(tmp_path: Path) -> dict:
    measured = api.measure("lenet5", variants=["onnx-fp32"], options=api.MeasureOptions(
        samples=20, runs=3, warmup_runs=1, min_seconds=0, profile=True), store=tmp_path / "host.sqlite",
        reference=False)
    return measured[0].result.extra["profile"]


def test_tflite_with_profile_says_the_java_api_gives_no_per_op_times(phone, lenet5, session_cache,
                                                                     tmp_path) -> None:
    server, _ = phone
    (measured,) = _deploy(server, tmp_path / "s.sqlite", ["tflite-fp32"], None, profile=True)
    assert measured.ok and measured.result.timings_ms.runs  # the measurement stands
    profile = measured.result.extra["profile"]
    assert profile["available"] is False and "operators" not in profile
    assert "Java API" in profile["reason"] and "benchmark_model" in profile["reason"]
    assert profile["reason"] == APP_PROFILING["TFLITE_NO_PER_OP"]  # the app's own words (Profiling.java)


def _result_with(tmp_path: Path, profile: dict, files: dict[str, str]) -> tuple[protocol.Result, Path, protocol.Job]:
    folder = tmp_path / "result"
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    result = protocol.Result(job_id="j1", status="ok", device={}, extra={"profile": dict(profile)})
    job = protocol.Job(id="j1", model=protocol.ModelRef(format="onnx", variant="onnx-fp32", files=["m.onnx"],
                                                        sha256="0" * 64),
                       inputs=[], runtime=protocol.RuntimeSpec(name="onnxruntime", delegate="nnapi", profile=True))
    return result, folder, job


def test_a_shipped_profile_that_is_missing_outside_or_broken_is_reported_not_fatal(tmp_path) -> None:
    shipped = {"file": "profile/ort_profile.json", "runs": 11, "method": "m"}
    for files, profile, says in (
            ({}, shipped, "not in its result folder"),
            ({"secret.json": "[]"}, {**shipped, "file": "../secret.json"}, "not in its result folder"),
            ({"profile/ort_profile.json": "[{"}, shipped, "not readable JSON"),
            ({"profile/ort_profile.json": '{"a": 1}'}, shipped, "no event array"),
            ({"profile/ort_profile.json": "[]"}, shipped, "holds no operator event"),
            ({"profile/ort_profile.json": '[{"cat": "Node", "name": "a_kernel_time", "dur": "x"}]'}, shipped,
             "malformed events")):
        result, folder, job = _result_with(tmp_path / says.replace(" ", "_") / str(len(files)), profile, files)
        android.device_profile(result, folder, job)
        assert result.extra["profile"]["available"] is False, says
        assert says in result.extra["profile"]["reason"]
    # An app too old to know job.runtime.profile answers without one: that is said, not left blank.
    result, folder, job = _result_with(tmp_path / "old", {}, {})
    del result.extra["profile"]
    android.device_profile(result, folder, job)
    assert result.extra["profile"]["available"] is False and "android install" in result.extra["profile"]["reason"]
    # What the app says when it has no table is kept as it is.
    result, folder, job = _result_with(tmp_path / "kept", {"available": False, "reason": "r"}, {})
    android.device_profile(result, folder, job)
    assert result.extra["profile"] == {"available": False, "reason": "r"}


def test_the_simulated_nnapi_profile_has_the_shape_of_ort_fused_nodes() -> None:
    def node(name: str, op: str, ts: int, dur: int) -> dict:
        return {"cat": "Node", "pid": 1, "tid": 1, "ph": "X", "ts": ts, "dur": dur, "name": f"{name}_kernel_time",
                "args": {"op_name": op, "provider": "CPUExecutionProvider"}}

    run = [node("c", "Conv", 10, 5), node("r", "Relu", 16, 4), node("s", "Shape", 21, 1), node("g", "Gemm", 23, 2),
           {"cat": "Session", "name": "model_run", "ts": 9, "dur": 17}]
    events = simulate_nnapi_placement(run + json.loads(json.dumps(run)), "77")
    names = [e["name"] for e in events]
    assert names[:4] == ["NnapiExecutionProvider_NNAPI_77_0_0_kernel_time", "s_kernel_time",
                         "NnapiExecutionProvider_NNAPI_77_1_1_kernel_time", "model_run"]
    assert names[4:] == names[:4]  # the same partitions in every inference
    assert events[0]["dur"] == 10 and events[0]["args"]["op_name"] == "NNAPI_77_0"
    assert events[1]["args"]["provider"] == "CPUExecutionProvider"
