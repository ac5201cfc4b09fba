"""The stand-in for the devicelab Android app (``dev.devicelab.app``) on a FakeDevice.

Launched with ``am start -n dev.devicelab.app/.MeasureActivity --es job_id ID`` or
``am instrument -w -e job_id ID dev.devicelab.app/.MeasureInstrumentation``, it does what the real app does
with the shared job protocol: read ``/sdcard/Android/data/dev.devicelab.app/files/jobs/ID/``, run it, write
``.../files/results/ID/`` with ``DONE`` last. The run happens in a background thread with
``devicelab.runner.run_job`` and devicelab's host runtimes (TFLite through ai-edge-litert, ONNX Runtime);
Android-only delegates (gpu, nnapi) fall back to XNNPACK / the CPU provider, and ``runtime_used`` says so.
Every result is rewritten with ``simulated: true`` and an Android ``device`` block before ``DONE`` appears:
run_job writes into a private staging folder, the app publishes from there.

The "process" starts with the first launch and runs jobs one at a time (like a single-thread executor). As on
Android, a process started for an Activity stays alive (cached) after its job, so ``pidof`` and ``dumpsys
meminfo`` still see it; one started by ``am instrument`` is killed when the instrumentation finishes. Every
launch first makes the app's external files folder (files/jobs, files/results), as the real app does; a folder
that the shell made before the app ever ran is not the app's, and the app can neither read a job from it nor
write a result there (outcome "no_storage", no DONE). ``crash_after`` / ``crash_kind`` / ``hang`` /
``model_error`` / ``unplug_after`` on the device change that story (see android_device).
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
# ORT_DELEGATES, EXECUTORCH_DELEGATES); any other is refused as the app refuses it. Those that exist only on a
# phone run here on what the simulated app has instead.
APP_DELEGATES = {"tflite": ("xnnpack", "cpu", "gpu", "nnapi"), "onnxruntime": ("cpu", "nnapi"),
                 "executorch": ("xnnpack",)}
_ANDROID_ONLY = {"tflite": ({"gpu", "nnapi"}, "xnnpack"), "onnxruntime": ({"nnapi"}, "cpu"),
                 "executorch": (set(), "xnnpack")}


def job_dir_on_device(job_id: str) -> str:
    return f"{APP_FILES}/jobs/{job_id}"


def result_dir_on_device(job_id: str) -> str:
    return f"{APP_FILES}/results/{job_id}"


def _core_constants() -> dict[str, Any]:
    """Profiling's constants as the real app compiles them (android_app/core/.../Profiling.java), so the fake
    answers with the app's run count, file name and reasons, not a copy that could drift."""
    source = (Path(__file__).resolve().parents[2] / "android_app/core/src/main/java/dev/devicelab/core/"
              "Profiling.java").read_text()
    found: dict[str, Any] = {"RUNS": int(re.search(r"int RUNS = (\d+);", source).group(1))}  # type: ignore[union-attr]
    for name, body in re.findall(r"static final String (\w+) = (.*?);\n", source, re.S):
        found[name] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))
    found["ORT_FILE"] = found["DIR"] + found["ORT_FILE"]  # DIR + "/ort_profile.json"
    return found


APP_PROFILING = _core_constants()
# Ops the simulated NNAPI provider leaves to ORT's CPU provider: shape arithmetic on int64 tensors (Shape, Gather,
# Cast, Slice, Concat...), a type NNAPI lacks, which is the fallback a real phone shows for tf2onnx's flatten.
NNAPI_CPU_OPS = frozenset({"Shape", "Gather", "Cast", "Slice", "Concat", "Unsqueeze", "Squeeze", "ConstantOfShape",
                           "Range", "Expand", "NonZero"})


def simulate_nnapi_placement(events: list[dict[str, Any]], model_hash: str) -> list[dict[str, Any]]:
    """A host ORT profile rewritten as ORT with the NNAPI provider writes one: each stretch of nodes NNAPI takes
    becomes one fused node (named as ORT's partitioner names it, provider_type + "_" + metadef name + "_" + id,
    with the metadef name as op type) on NnapiExecutionProvider; the rest stays on CPUExecutionProvider."""
    out: list[dict[str, Any]] = []
    fused: dict[str, Any] | None = None
    index = 0
    for event in events:
        if event.get("cat") != "Node":
            fused = None
            if event.get("cat") == "Session" and event.get("name") == "model_run":
                index = 0  # the same partitions, in the same order, in every inference
            out.append(event)
            continue
        args = event.get("args") or {}
        if args.get("op_name") in NNAPI_CPU_OPS:
            fused = None
            out.append(event)
            continue
        if fused is None:
            meta = f"NNAPI_{model_hash}_{index}"
            fused = {**event, "name": f"NnapiExecutionProvider_{meta}_{index}_kernel_time",
                     "args": {"op_name": meta, "provider": "NnapiExecutionProvider",
                              "node_index": args.get("node_index"),
                              "input_type_shape": args.get("input_type_shape", [])}}
            index += 1
            out.append(fused)
        else:  # one kernel call covers the whole partition
            fused["dur"] = int(event["ts"]) + int(event["dur"]) - int(fused["ts"])
            fused["args"]["output_type_shape"] = args.get("output_type_shape", [])
    return out


def _app_profile(runtime: Any, job: Job, requested: str | None, result_dir: Path) -> Callable[[list[Any]], Any]:
    """What the app's ModelRuntime.profile does, for runner.py's profile step: ORT runs RUNS inferences in a
    second, profiled session (a real host onnxruntime one) and leaves the raw JSON in the result folder; TFLite
    and ExecuTorch say why they give none (the app's own words)."""
    reasons = {"tflite": APP_PROFILING["TFLITE_NO_PER_OP"], "executorch": APP_PROFILING["EXECUTORCH_NO_PER_OP"]}

    def ort_profile(feeds: list[Any]) -> dict[str, Any]:
        import json
        from importlib.metadata import version

        import onnxruntime as ort

        nnapi = requested == "nnapi"
        folder = result_dir / APP_PROFILING["DIR"]
        folder.mkdir(parents=True, exist_ok=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = job.runtime.threads or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(folder / "ort")
        if nnapi:  # NNAPI takes its partitions after the basic optimizations: the CPU's own fusions come later
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(str(runtime._path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        for r in range(APP_PROFILING["RUNS"]):
            session.run(names, feeds[r % len(feeds)])
        produced = Path(session.end_profiling())
        events = json.loads(produced.read_text())
        produced.unlink()
        if nnapi:
            events = simulate_nnapi_placement(events, str(int(job.model.sha256[:15], 16)))
        (result_dir / APP_PROFILING["ORT_FILE"]).write_text(json.dumps(events))
        providers = "NNAPI execution provider + CPU" if nnapi else "CPU"
        return {"file": APP_PROFILING["ORT_FILE"], "runs": APP_PROFILING["RUNS"],
                "method": f"onnxruntime session profiling (simulated: host onnxruntime {version('onnxruntime')}, "
                          f"{providers} execution provider{' placement simulated' if nnapi else ''})"}

    def profile(feeds: list[Any]) -> dict[str, Any]:
        if job.runtime.name in reasons:
            return {"available": False, "reason": reasons[job.runtime.name]}
        try:
            return ort_profile(feeds)
        except Exception as exc:  # as Profiling.record: recorded, the job stays ok, no file left behind
            shutil.rmtree(result_dir / APP_PROFILING["DIR"], ignore_errors=True)
            return {"available": False, "reason": f"profiling failed: {type(exc).__name__}: {exc}"[:500]}

    return profile


def simulated_runtime_factory(job: Job, result_dir: Path | None = None) -> Any:
    """devicelab's host runtime for ``job.runtime.name``, Android-only delegates mapped to what runs here; with
    ``result_dir`` (the app's result folder) a job that asks for a profile gets the app's profile step."""
    from devicelab.errors import RuntimeUnavailableError
    from devicelab.runtimes.executorch import ExecuTorchRuntime
    from devicelab.runtimes.onnxruntime import OnnxRuntime
    from devicelab.runtimes.tflite import TFLiteRuntime

    classes = {"tflite": TFLiteRuntime, "onnxruntime": OnnxRuntime, "executorch": ExecuTorchRuntime}
    name = job.runtime.name
    if name not in classes:
        raise RuntimeUnavailableError(f"the devicelab Android app has no '{name}' runtime",
                                      hint="the app runs tflite, onnxruntime and executorch jobs")
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
    if result_dir is not None:
        runtime.profile = _app_profile(runtime, job, requested, result_dir)
    return runtime


@dataclass
class Launch:
    """One launch of the app for one job; ``outcome`` is set when ``done`` is.

    outcome: "ok" | "error" (a result was written) | "crashed" | "killed" (force-stop, reinstall) | "no_job" |
    "no_storage" (the external files folder is not the app's: nothing read, nothing written).
    """

    job_id: str | None
    via: str
    cold: bool
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None
    result: Result | None = None
    storage_ok: bool = True  # the app's external files folder was usable at launch

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
        self.meminfo_during_jobs = 0  # `dumpsys meminfo` calls that hit a running job (each forces a GC)
        self._running = 0

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

    def job_running(self) -> bool:
        return self._running > 0 and self.pid is not None

    def activity_open(self) -> bool:
        """True while a MeasureActivity instance exists (its job runs; it finishes itself afterwards)."""
        proc = self._proc
        return proc is not None and not proc.dead.is_set() and any(launch.via == "activity" for launch in proc.launches)

    def app_dir(self) -> Path:
        return self.device.host_path(f"/sdcard/Android/data/{APP_PACKAGE}")

    def ensure_folders(self) -> bool:
        """What getExternalFilesDir(null) + mkdirs do on every launch; False when the folder is not the app's."""
        device = self.device
        if device.app_made_its_folders:
            for sub in ("jobs", "results"):
                (self.app_dir() / "files" / sub).mkdir(parents=True, exist_ok=True)
            return True
        if self.app_dir().exists():  # made by the shell (adb push / mkdir) before the app ever ran
            device.log("W", "ContextImpl", f"Failed to ensure /storage/emulated/0/Android/data/{APP_PACKAGE}/files:"
                       " java.lang.IllegalStateException: Failed to prepare it: Permission denied")
            return False
        for sub in ("jobs", "results"):
            (self.app_dir() / "files" / sub).mkdir(parents=True)
        device.app_made_its_folders = True
        return True

    def launch(self, job_id: str | None, via: str) -> Launch:
        """Start (or reuse) the app process and queue one job; returns at once."""
        device = self.device
        with self._lock:
            cold = self._proc is None or self._proc.dead.is_set()
            if cold:
                self._proc = _Process(device.new_pid())
            proc = self._proc
            launch = Launch(job_id, via, cold, storage_ok=self.ensure_folders())  # the app does it on every launch
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
                self._running += 1
                outcome = self._job(launch, proc)
            finally:
                self._running -= 1
                self._run_lock.release()
        except Exception as exc:  # a bug in the fake itself: crash loudly in logcat, never hang a test
            self._crash(proc, f"java.lang.IllegalStateException: fake app failure: {type(exc).__name__}: {exc}")
            outcome = "crashed"
        finally:
            launch.outcome = outcome
            with self._lock:
                proc.launches.remove(launch)
                # An instrumentation's process is killed when it finishes; an activity's stays cached.
                if launch.via == "instrumentation" and not proc.launches and self._proc is proc \
                        and not proc.dead.is_set():
                    proc.death = "exited"
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
        if not launch.storage_ok:
            device.log("E", "devicelab", "cannot start the job: external storage is not available, so there is no "
                       "jobs/ or results/ folder", pid=proc.pid)
            return "no_storage"
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
            factory = device.runtime_factory or (lambda job: simulated_runtime_factory(job, staging))
            return run_job(job_dir, staging, runtime_factory=factory)
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
        for folder in ("outputs", APP_PROFILING["DIR"]):
            if (staging / folder).is_dir():
                shutil.copytree(staging / folder, result_dir / folder)
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
        kind = self.device.crash_kind if exception.startswith("java.lang.RuntimeException: simulated") else "java"
        if kind == "native":  # crash_dump (its own pid) writes the tombstone summary to the crash buffer
            dumper = self.device.new_pid()
            for line in ("*** *** *** *** *** *** *** *** *** *** *** *** *** *** *** ***",
                         "Build fingerprint: 'google/panther/panther:14/SIM1.34/1:user/release-keys'",
                         f"pid: {proc.pid}, tid: {proc.pid + 17}, name: devicelab-measu  >>> {APP_PACKAGE} <<<",
                         "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0000000000000018",
                         "backtrace:",
                         "      #00 pc 00000000002a3f10  /data/app/~~x/lib/arm64/libtensorflowlite_jni.so"):
                log("F", "DEBUG", line, pid=dumper, buffer="crash")
        elif kind == "lmk":  # lmkd (its own pid) logs the kill; nothing in the crash buffer
            log("I", "lowmemorykiller", f"Kill '{APP_PACKAGE}' ({proc.pid}), uid 10234, oom_score_adj 0 to free "
                "812344kB rss, 120332kB swap; reason: low watermark is breached and swap is low (99%)",
                pid=610, buffer="main")
        else:
            for line in ("FATAL EXCEPTION: devicelab-measure", f"Process: {APP_PACKAGE}, PID: {proc.pid}", exception,
                         "\tat dev.devicelab.app.MeasureActivity.measure(MeasureActivity.java:87)",
                         "\tat java.lang.Thread.run(Thread.java:1012)"):
                log("E", "AndroidRuntime", line, pid=proc.pid, buffer="crash")
        log("I", "ActivityManager", f"Process {APP_PACKAGE} (pid {proc.pid}) has died: fg  TOP ", buffer="system")
