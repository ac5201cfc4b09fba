"""The stand-in for the devicelab Android app (``dev.devicelab.app``) on a FakeDevice.

Launched with ``am start -n dev.devicelab.app/.MeasureActivity --es job_id ID`` or
``am instrument -w -e job_id ID dev.devicelab.app/.MeasureInstrumentation``, it does what the real app does
with the shared job protocol: read ``/sdcard/Android/data/dev.devicelab.app/files/jobs/ID/``, run it, write
``.../files/results/ID/`` with ``DONE`` last. The run happens in a background thread with
``devicelab.runner.run_job`` and devicelab's host runtimes (TFLite through ai-edge-litert, ONNX Runtime);
Android-only delegates (gpu, nnapi) fall back to XNNPACK / the CPU provider, and ``runtime_used`` says so.
Every result is rewritten with ``simulated: true`` and an Android ``device`` block before ``DONE`` appears:
run_job writes into a private staging folder, the app publishes from there.

The "process" starts with the first launch, runs jobs one at a time (like a single-thread executor) and exits
when no job is left; ``pidof`` shows its pid meanwhile. ``crash_after`` / ``hang`` / ``model_error`` /
``unplug_after`` on the device change that story (see android_device).
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devicelab.protocol import Job, Result

    from .android_device import FakeDevice

APP_PACKAGE = "dev.devicelab.app"
ACTIVITY = f"{APP_PACKAGE}.MeasureActivity"
INSTRUMENTATION = f"{APP_PACKAGE}.MeasureInstrumentation"
APP_FILES = f"/sdcard/Android/data/{APP_PACKAGE}/files"
_SAFE_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_POLL_S = 0.05

# The delegates the real app accepts per runtime (android_app/app/.../Runtimes.java: TFLITE_DELEGATES,
# ORT_DELEGATES); any other is refused as the app refuses it. Those that exist only on a phone run here on what
# the simulated app has instead.
APP_DELEGATES = {"tflite": ("xnnpack", "cpu", "gpu", "nnapi"), "onnxruntime": ("cpu", "nnapi")}
_ANDROID_ONLY = {"tflite": ({"gpu", "nnapi"}, "xnnpack"), "onnxruntime": ({"nnapi"}, "cpu")}


def job_dir_on_device(job_id: str) -> str:
    return f"{APP_FILES}/jobs/{job_id}"


def result_dir_on_device(job_id: str) -> str:
    return f"{APP_FILES}/results/{job_id}"


def simulated_runtime_factory(job: Job) -> Any:
    """devicelab's host runtime for ``job.runtime.name``, Android-only delegates mapped to what runs here."""
    from devicelab.errors import RuntimeUnavailableError
    from devicelab.runtimes.onnxruntime import OnnxRuntime
    from devicelab.runtimes.tflite import TFLiteRuntime

    classes = {"tflite": TFLiteRuntime, "onnxruntime": OnnxRuntime}
    name = job.runtime.name
    if name not in classes:
        raise RuntimeUnavailableError(f"the devicelab Android app has no '{name}' runtime",
                                      hint="the app runs tflite and onnxruntime jobs")
    android_only, fallback = _ANDROID_ONLY[name]
    requested = job.runtime.delegate
    if requested is not None and requested not in APP_DELEGATES[name]:
        raise RuntimeUnavailableError(f"{name} in the Android app has no delegate '{requested}'",
                                      hint=f"use one of {', '.join(APP_DELEGATES[name])}")
    spec = replace(job.runtime, delegate=fallback) if requested in android_only else job.runtime
    runtime_class = classes[name]
    runtime_class.check_available()
    runtime = runtime_class(spec)
    note = f" (simulated; {requested} requested)" if requested in android_only else " (simulated)"
    inner_used = runtime.used
    runtime.used = lambda: inner_used() + note  # instance attribute: runner reads runtime.used()
    return runtime


@dataclass
class Launch:
    """One launch of the app for one job; ``outcome`` is set when ``done`` is.

    outcome: "ok" | "error" (a result was written) | "crashed" | "killed" (force-stop, reinstall) | "no_job".
    """

    job_id: str | None
    via: str
    cold: bool
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None
    result: Result | None = None

    def wait(self, alive: Callable[[], bool]) -> bool:
        """Wait until the launch ends or ``alive()`` turns False (client gone, device unplugged)."""
        while not self.done.wait(_POLL_S):
            if not alive():
                return False
        return True


@dataclass
class _Process:
    pid: int
    dead: threading.Event = field(default_factory=threading.Event)
    death: str = ""
    launches: list[Launch] = field(default_factory=list)


class SimulatedApp:
    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._proc: _Process | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.launches: list[Launch] = []

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and not proc.dead.is_set() else None

    def memory_kb(self) -> int:
        """What dumpsys meminfo reports: ``app_memory_kb``, else VmRSS of this process (the app runs in it)."""
        if self.device.app_memory_kb is not None:
            return int(self.device.app_memory_kb)
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 65536

    def launch(self, job_id: str | None, via: str) -> Launch:
        """Start (or reuse) the app process and queue one job; returns at once."""
        device = self.device
        with self._lock:
            cold = self._proc is None or self._proc.dead.is_set()
            if cold:
                self._proc = _Process(device.new_pid())
            proc = self._proc
            launch = Launch(job_id, via, cold)
            proc.launches.append(launch)
            self.launches.append(launch)
        if cold:
            what = f"top-activity {{{APP_PACKAGE}/{ACTIVITY}}}" if via == "activity" else \
                f"added application {APP_PACKAGE}"
            device.log("I", "ActivityManager", f"Start proc {proc.pid}:{APP_PACKAGE}/u0a234 for {what}",
                       buffer="system")
        if device.unplug_after is not None:
            self._spawn(self._unplug_later, float(device.unplug_after))
        self._spawn(self._run, launch, proc)
        return launch

    def force_stop(self, reason: str = "force-stop") -> bool:
        with self._lock:
            proc = self._proc
            if proc is None or proc.dead.is_set():
                return False
            proc.death = "killed"
            proc.dead.set()
            self._proc = None
        self.device.log("I", "ActivityManager", f"Force stopping {APP_PACKAGE} appid=10234 user=0: {reason}",
                        buffer="system")
        self.device.log("I", "ActivityManager", f"Killing {proc.pid}:{APP_PACKAGE}/u0a234 (adj 0): stop "
                        f"{APP_PACKAGE} due to {reason}", buffer="system")
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        """Kill the process and wait (bounded) for job threads; a runtime mid-inference cannot be interrupted."""
        self._stopping.set()
        self.force_stop(reason="shutdown")
        for thread in list(self._threads):
            thread.join(timeout)
        self._stopping.clear()

    # --- internals --------------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=f"fake-app-{self.device.serial}")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _unplug_later(self, delay: float) -> None:
        if not self._stopping.wait(delay):
            self.device.unplug()

    def _run(self, launch: Launch, proc: _Process) -> None:
        outcome = "killed"
        try:
            while not self._run_lock.acquire(timeout=_POLL_S):  # one job at a time in the process
                if proc.dead.is_set():
                    outcome = proc.death
                    return
            try:
                outcome = self._job(launch, proc)
            finally:
                self._run_lock.release()
        except Exception as exc:  # a bug in the fake itself: crash loudly in logcat, never hang a test
            self._crash(proc, f"java.lang.IllegalStateException: fake app failure: {type(exc).__name__}: {exc}")
            outcome = "crashed"
        finally:
            launch.outcome = outcome
            with self._lock:
                proc.launches.remove(launch)
                if not proc.launches and self._proc is proc and not proc.dead.is_set():
                    proc.death = "exited"  # the app finishes its activity and its process ends
                    proc.dead.set()
                    self._proc = None
            launch.done.set()

    def _job(self, launch: Launch, proc: _Process) -> str:
        device = self.device
        if proc.dead.is_set():
            return proc.death
        if launch.job_id is None:
            device.log("E", "devicelab", "launched without a job_id extra; nothing to do", pid=proc.pid)
            return "no_job"
        if not _SAFE_JOB_ID.fullmatch(launch.job_id):
            device.log("E", "devicelab", f"refusing job id {launch.job_id!r}", pid=proc.pid)
            return "no_job"
        device.log("I", "devicelab", f"job {launch.job_id}: started ({launch.via})", pid=proc.pid)
        if device.hang:
            proc.dead.wait()  # until force-stop / reinstall / shutdown
            return proc.death
        if device.crash_after is not None:
            if not proc.dead.wait(float(device.crash_after)):
                self._crash(proc, "java.lang.RuntimeException: simulated crash (FakeDevice.crash_after)")
            return proc.death
        result = self._execute(launch.job_id)
        if proc.dead.is_set():  # killed while running: a dead process publishes nothing
            return proc.death
        self._publish(launch.job_id, result)
        launch.result = result
        device.log("I", "devicelab", f"job {launch.job_id}: finished status={result.status}", pid=proc.pid)
        return result.status

    def device_info(self) -> dict[str, Any]:
        from devicelab.runner import host_device

        d = self.device
        return {"platform": "android", "model": f"{d.manufacturer} {d.model}",
                "os": f"Android {d.android} (API {d.sdk})", "abi": d.abi, "cpu": d.cpu, "serial": d.serial,
                "simulated_on": host_device()["cpu"]}

    def _staging(self, job_id: str) -> Path:
        return self.device.root / "data/data" / APP_PACKAGE / "cache" / "runs" / job_id

    def _execute(self, job_id: str) -> Result:
        from devicelab import protocol
        from devicelab.errors import DevicelabError
        from devicelab.runner import run_job

        device = self.device
        staging = self._staging(job_id)
        shutil.rmtree(staging, ignore_errors=True)
        info = self.device_info()
        if device.model_error:
            return protocol.error_result(job_id, info, "model_run", device.model_error,
                                         "simulated by FakeDevice.model_error")
        try:
            job_dir = device.host_path(job_dir_on_device(job_id))
            return run_job(job_dir, staging, runtime_factory=device.runtime_factory or simulated_runtime_factory)
        except DevicelabError as exc:  # no or invalid job.json: the app reports it in a result, as designed
            return protocol.error_result(job_id, info, exc.kind, exc.message, exc.hint)

    def _publish(self, job_id: str, result: Result) -> None:
        """Rewrite the result as the phone would report it and write it to the result folder, DONE last."""
        from devicelab import protocol

        runtime = (result.device or {}).get("runtime")
        result.device = {**self.device_info(), **({"runtime": runtime} if runtime else {})}
        result.simulated = True
        for sample in result.memory:
            sample.method = f"simulated: {sample.method} of the host test process"
        result_dir = self.device.host_path(result_dir_on_device(job_id))
        if result_dir.exists():
            shutil.rmtree(result_dir)
        result_dir.mkdir(parents=True)
        staging = self._staging(job_id)
        if (staging / "outputs").is_dir():
            shutil.copytree(staging / "outputs", result_dir / "outputs")
        protocol.write_result(result_dir, result)  # result.json, then DONE
        shutil.rmtree(staging, ignore_errors=True)

    def _crash(self, proc: _Process, exception: str) -> None:
        with self._lock:
            if proc.dead.is_set():
                return
            proc.death = "crashed"
            proc.dead.set()
            if self._proc is proc:
                self._proc = None
        log = self.device.log
        for line in ("FATAL EXCEPTION: main", f"Process: {APP_PACKAGE}, PID: {proc.pid}", exception,
                     f"\tat {ACTIVITY}.runJob(MeasureActivity.kt:87)",
                     "\tat android.app.ActivityThread.main(ActivityThread.java:8177)"):
            log("E", "AndroidRuntime", line, pid=proc.pid, buffer="crash")
        log("I", "ActivityManager", f"Process {APP_PACKAGE} (pid {proc.pid}) has died: fg  TOP ", buffer="system")
