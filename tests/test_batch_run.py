"""Batch runs end to end: retries with backoff, phones that vanish, two adb servers and an STF remote-connect
endpoint in parallel, and a batch killed with SIGKILL that resumes with exactly one result per job.

Phones are fake (tests/fakes: a fake adb server on the real wire protocol, its app runs jobs with the host
runtimes and marks results simulated); the store is real SQLite; the host target is real.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import psutil
import pytest
from fakes import FakeAdbServer, FakeDevice

from devicelab import protocol
from devicelab.batch import Member, load_plan, run_batch
from devicelab.batch.pools import host_pool
from devicelab.runner import host_device, run_job
from devicelab.targets.host import HostTarget

pytestmark = pytest.mark.slow


def _plan(tmp_path: Path, body: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text('models = ["lenet5"]\nsamples = 50\n' + body)
    return path


def _rows(store: Path) -> list[dict]:
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT id, variant, target, runtime, status, error_kind, error_message, "
                                            "job_key, device_json FROM results ORDER BY id")]
    finally:
        db.close()


def _final_rows_per_job(store: Path) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in _rows(store):
        if row["variant"] != "original" and row["status"] in ("ok", "error"):
            counts[row["job_key"]] += 1
    return counts


class Recorder:
    """Keeps every event with its time; intervals() gives (member, start, end) per job."""

    def __init__(self) -> None:
        self.events: list[tuple[float, object]] = []

    def __call__(self, event: object) -> None:
        self.events.append((time.monotonic(), event))

    def kinds(self, kind: str) -> list[object]:
        return [e for _, e in self.events if e.kind == kind]

    def intervals(self) -> list[tuple[str, float, float]]:
        started: dict[str, tuple[str, float]] = {}
        spans = []
        for at, e in self.events:
            if e.kind == "started":
                started[e.job.uid] = (e.member, at)
            elif e.kind == "finished" and e.job.uid in started:
                member, begin = started.pop(e.job.uid)
                spans.append((member, begin, at))
        return spans


# --- retries ------------------------------------------------------------------------------------------------


class FlakyTarget(HostTarget):
    """This PC, run in-process, failing on purpose: `crashes` transient failures per variant before real results;
    variants in `broken` always fail with a permanent error."""

    def __init__(self, crashes: dict[str, int], broken: set[str]) -> None:
        self.crashes, self.broken = crashes, broken
        self.attempts: dict[str, list[float]] = defaultdict(list)

    @property
    def name(self) -> str:
        return "flaky-pc"

    def run(self, job_dir, result_dir, progress=None):
        job = protocol.read_job(job_dir)
        variant = job.model.variant
        self.attempts[variant].append(time.monotonic())
        if variant in self.broken:
            result = protocol.error_result(job.id, host_device(), "model_run", "op FOO version 99 is not supported",
                                           "update the runtime")
        elif len(self.attempts[variant]) <= self.crashes.get(variant, 0):
            result = protocol.error_result(job.id, host_device(), "crash",
                                           f"simulated crash {len(self.attempts[variant])}")
        else:
            return run_job(job_dir, result_dir)
        protocol.write_result(result_dir, result)
        return result


def test_retries_with_backoff_and_failures_that_stay(lenet5, session_cache, tmp_path) -> None:
    path = _plan(tmp_path, 'variants = ["tflite-fp32", "tflite-int8", "onnx-fp32"]\nretries = 2\n'
                           "backoff_seconds = 0.3\nreference = false\n[measure]\nruns = 5\nmin_seconds = 0\n"
                           "[targets]\nhost = true\n")
    plan, store = load_plan(path), tmp_path / "s.sqlite"
    target = FlakyTarget({"tflite-fp32": 1, "tflite-int8": 3}, {"onnx-fp32"})
    pool = host_pool(plan)
    pool.members = [Member("flaky-pc", "flaky PC", lambda: target)]
    events = Recorder()
    report = run_batch(plan, store=store, cache=session_cache, pools=[pool], events=events)
    assert {v: len(t) for v, t in target.attempts.items()} == {"tflite-fp32": 2, "tflite-int8": 3, "onnx-fp32": 1}
    gaps = [b - a for a, b in zip(target.attempts["tflite-int8"], target.attempts["tflite-int8"][1:], strict=False)]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # backoff doubles
    status = {o.job.variant: o.status for o in report.outcomes.values()}
    assert status == {"tflite-fp32": "ok", "tflite-int8": "failed", "onnx-fp32": "failed"}
    assert report.retries == 3 and len(events.kinds("retry")) == 3 and not report.ok
    failed = next(o for o in report.outcomes.values() if o.job.variant == "tflite-int8")
    assert failed.kind == "crash" and "simulated crash 3" in failed.error and failed.attempts == 3
    rows = _rows(store)
    assert [(r["variant"], r["status"]) for r in rows] == [
        ("tflite-fp32", "retried"), ("tflite-int8", "retried"), ("onnx-fp32", "error"), ("tflite-fp32", "ok"),
        ("tflite-int8", "retried"), ("tflite-int8", "error")]
    assert "op FOO version 99" in rows[2]["error_message"]  # the error is kept with the result
    assert all(n == 1 for n in _final_rows_per_job(store).values())

    # Resume: failed jobs count as finished; nothing runs again.
    again = run_batch(plan, store=store, cache=session_cache, pools=[pool], mode="resume")
    assert sum(len(t) for t in target.attempts.values()) == 6 and again.counts["earlier"] == 3
    # --retry-failed: the failures run again; their old rows become 'retried', each job keeps one final row.
    third = run_batch(plan, store=store, cache=session_cache, pools=[pool], mode="resume", retry_failed=True)
    assert len(target.attempts["tflite-int8"]) == 4 and len(target.attempts["onnx-fp32"]) == 2
    assert {o.job.variant: o.status for o in third.outcomes.values()}["tflite-int8"] == "ok"
    assert all(n == 1 for n in _final_rows_per_job(store).values()) and len(_final_rows_per_job(store)) == 3


def test_ctrl_c_finishes_the_running_job_and_a_rerun_does_the_rest(lenet5, session_cache, tmp_path) -> None:
    path = _plan(tmp_path, 'variants = ["tflite-fp32"]\nrepeats = 4\nreference = false\n'
                           "[measure]\nruns = 5\nmin_seconds = 0.5\n[targets]\nhost = true\n")
    plan, store = load_plan(path), tmp_path / "s.sqlite"
    target = FlakyTarget({}, set())
    pool = host_pool(plan)
    pool.members = [Member("flaky-pc", "flaky PC", lambda: target)]
    started: list[str] = []

    def interrupt_at_the_second_job(event) -> None:
        if event.kind == "started":
            started.append(event.job.uid)
            if len(started) == 2:  # as if the user pressed Ctrl-C now (the main thread gets it)
                os.kill(os.getpid(), signal.SIGINT)

    report = run_batch(plan, store=store, cache=session_cache, pools=[pool], events=interrupt_at_the_second_job)
    assert report.interrupted and report.counts == {"ok": 2, "failed": 0, "not_run": 2, "earlier": 0}
    assert report.outcomes[started[1]].status == "ok"  # the job running at Ctrl-C finished and was kept
    again = run_batch(plan, store=store, cache=session_cache, pools=[pool])
    assert again.resumed and again.ok and again.counts["earlier"] == 2 and len(target.attempts["tflite-fp32"]) == 4
    assert len(_final_rows_per_job(store)) == 4


# --- phones -------------------------------------------------------------------------------------------------


def test_a_vanishing_phone_leaves_its_jobs_to_its_twin_or_reports_them(lenet5, session_cache, tmp_path) -> None:
    p1 = FakeDevice("PIX1", model="Pixel 7", root=tmp_path / "p1", app_installed=True, unplug_after=0.5)
    p2 = FakeDevice("PIX2", model="Pixel 7", root=tmp_path / "p2", app_installed=True)
    s1 = FakeDevice("SAM1", model="SM-S911B", manufacturer="samsung", root=tmp_path / "s1", app_installed=True,
                    unplug_after=0.5)
    with FakeAdbServer([p1, p2, s1]) as server:
        path = _plan(tmp_path, 'variants = ["tflite-fp32", "onnx-fp32"]\nreference = false\n'
                               "[measure]\nruns = 10\nmin_seconds = 1.0\n"
                               f'[targets]\nandroid = ["all"]\nadb_servers = ["127.0.0.1:{server.port}"]\n')
        store, events = tmp_path / "s.sqlite", Recorder()
        report = run_batch(path, store=store, cache=session_cache, events=events)
        by_pool = defaultdict(list)
        for outcome in report.outcomes.values():
            by_pool[outcome.job.pool].append(outcome)
        pixel, samsung = by_pool["android:Google Pixel 7"], by_pool["android:samsung SM-S911B"]
        assert len(pixel) == 2 and all(o.status == "ok" and o.target == "android:PIX2" for o in pixel)
        assert len(samsung) == 2 and all(o.status == "not_run" for o in samsung)
        assert "no samsung SM-S911B left" in samsung[0].error and "reconnect" in samsung[0].hint
        assert {e.member.split(" ")[0] for e in events.kinds("vanished")} == {"PIX1", "SAM1"}
        lost = [r for r in _rows(store) if r["error_kind"] == "device_lost"]
        assert {r["target"] for r in lost} == {"android:PIX1", "android:SAM1"}
        assert all(r["status"] == "retried" for r in lost)  # the cut-short attempts are not the jobs' results
        assert not report.ok

        # The Samsung comes back: a plain rerun resumes the unfinished batch and runs only what is missing.
        s1.unplug_after = None
        server.add_device(s1)
        again = run_batch(path, store=store, cache=session_cache)
        assert again.resumed and again.ok and again.counts["earlier"] == 2
        assert {o.target for o in again.outcomes.values() if not o.earlier} == {"android:SAM1"}
        finals = _final_rows_per_job(store)
        assert len(finals) == 4 and all(n == 1 for n in finals.values())


def test_two_adb_servers_and_a_remote_connect_endpoint_in_parallel(lenet5, session_cache, tmp_path) -> None:
    stf = FakeDevice("127.0.0.1:7401", model="Pixel 7", root=tmp_path / "stf", app_installed=True)
    a = FakeAdbServer([FakeDevice("PIXA", model="Pixel 7", root=tmp_path / "a", app_installed=True)],
                      remote_endpoints={"127.0.0.1:7401": stf})
    b = FakeAdbServer([FakeDevice("PIXB", model="Pixel 7", root=tmp_path / "b", app_installed=True)])
    with a, b:
        path = _plan(tmp_path, 'variants = ["tflite-fp32", "onnx-fp32"]\nrepeats = 2\nreference = false\n'
                               '[measure]\nruns = 10\nmin_seconds = 0.8\ndelegates = ["xnnpack", "cpu"]\n'
                               f'[targets]\nandroid = ["pixel"]\nadb_servers = ["127.0.0.1:{a.port}", '
                               f'"127.0.0.1:{b.port}"]\nadb_connect = ["127.0.0.1:7401"]\n')
        events = Recorder()
        report = run_batch(path, store=tmp_path / "s.sqlite", cache=session_cache, events=events)
    assert report.ok and len(report.jobs) == 6  # tflite x (xnnpack, cpu) + onnx (cpu), twice
    assert {o.target for o in report.outcomes.values()} == {"android:PIXA", "android:PIXB",
                                                            "android:127.0.0.1:7401"}
    servers = {r["device_json"].split('"adb_server": "')[1].split('"')[0] for r in _rows(tmp_path / "s.sqlite")}
    assert servers == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
    spans = events.intervals()
    overlapping = [(x, y) for x in spans for y in spans if x[0] != y[0] and x[1] < y[2] and y[1] < x[2]]
    assert overlapping, spans  # jobs on different phones ran at the same time


# --- SIGKILL and resume -------------------------------------------------------------------------------------


def test_sigkill_half_way_then_resume_gives_one_result_per_job(lenet5, session_cache, tmp_path) -> None:
    phone = FakeDevice("PIX1", model="Pixel 7", root=tmp_path / "p", app_installed=True)
    with FakeAdbServer([phone]) as server:
        path = _plan(tmp_path, 'variants = ["tflite-fp32", "onnx-fp32"]\n'
                               '[measure]\nruns = 10\nmin_seconds = 0.6\ndelegates = ["xnnpack", "cpu"]\n'
                               f'[targets]\nhost = true\nandroid = ["all"]\n'
                               f'adb_servers = ["127.0.0.1:{server.port}"]\n')
        store = tmp_path / "s.sqlite"
        command = [sys.executable, "-m", "devicelab", "batch", str(path), "--store", str(store), "--out",
                   str(tmp_path / "report")]
        env = {**os.environ, "DEVICELAB_CACHE": str(session_cache)}
        first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if first.poll() is not None:
                pytest.fail(f"the batch ended before it could be killed: {first.stdout.read()}")
            try:
                done = [r for r in _rows(store) if r["variant"] != "original"]
            except sqlite3.OperationalError:  # the store is not there, or its tables not yet
                done = []
            if len(done) >= 2:
                break
            time.sleep(0.05)
        children = psutil.Process(first.pid).children(recursive=True)
        os.kill(first.pid, signal.SIGKILL)  # no cleanup, no last words
        for child in children:
            child.kill()
        first.wait(timeout=30)
        killed_at = {r["job_key"] for r in _rows(store) if r["variant"] != "original"}
        assert 2 <= len(killed_at) < 6  # half-way: some jobs stored, some not

        rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming batch" in rerun.stdout
    rows = _rows(store)
    finals = _final_rows_per_job(store)
    assert len(finals) == 6 and all(n == 1 for n in finals.values())  # host 3 + phone 3, each exactly once
    assert killed_at <= set(finals)  # what was stored before the kill is kept, not measured again
    assert sum(1 for r in rows if r["variant"] == "original") == 1  # the reference too: measured once
    assert all(r["status"] == "ok" for r in rows)
    assert (tmp_path / "report" / "report.html").exists()


def test_batch_report_rows_compare_with_the_pc_reference_once(lenet5, session_cache, tmp_path) -> None:
    from devicelab.batch.report import build_document

    path = _plan(tmp_path, 'variants = ["original", "tflite-fp32"]\n[measure]\nruns = 5\nmin_seconds = 0\n'
                           "[targets]\nhost = true\n")
    report = run_batch(load_plan(path), store=tmp_path / "s.sqlite", cache=session_cache)
    rows = build_document(report)["rows"]
    assert sorted(r["variant"] for r in rows) == ["original", "tflite-fp32"]  # the reference is listed once
    original, tflite = (next(r for r in rows if r["variant"] == v) for v in ("original", "tflite-fp32"))
    assert tflite["speedup"] == pytest.approx(original["median_ms"] / tflite["median_ms"])
    assert tflite["size_ratio"] == pytest.approx(tflite["size_bytes"] / original["size_bytes"])
    assert tflite["accuracy_delta_pt"] == pytest.approx((tflite["accuracy"] - original["accuracy"]) * 100)
    assert "speedup" not in original and len(tflite["runs_ms"]) >= 5 and tflite["iqr_ms"] is not None


def test_a_model_whose_shape_does_not_fit_the_data_is_not_run_and_the_rest_runs(lenet5, session_cache,
                                                                                 tmp_path) -> None:
    """It used to abort the whole batch before any job, without naming the model."""
    import keras

    inputs = keras.Input((4,))
    tiny = tmp_path / "tiny.keras"
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tiny)
    path = tmp_path / "plan.toml"
    path.write_text(f'models = ["lenet5", "{tiny}"]\nvariants = ["original"]\ndata = "mnist-sample"\nsamples = 20\n'
                    "[measure]\nruns = 3\nmin_seconds = 0\n[targets]\nhost = true\n")
    env = {**os.environ, "DEVICELAB_CACHE": str(session_cache), "DEVICELAB_STORE": str(tmp_path / "s.sqlite")}
    done = subprocess.run([sys.executable, "-m", "devicelab", "batch", str(path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, env=env)
    out = " ".join((done.stdout + done.stderr).replace("│", " ").split())
    assert done.returncode == 1 and "Traceback" not in out, out
    assert "1 ok" in out and "1 not run" in out
    assert f"model {tiny}" in out or "tiny.keras" in out  # the model is named, with the reason
    rows = _rows(tmp_path / "s.sqlite")
    assert rows and all((r["variant"], r["status"]) == ("original", "ok") for r in rows)  # lenet5's, kept
    assert "1 cannot run" in out and "done in an earlier run" not in out  # the bar says what really happened
