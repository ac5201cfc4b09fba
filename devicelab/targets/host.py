"""The host target: runs a job on this PC in a separate worker process.

A process per job gives each job its own memory peak (VmHWM), a hard timeout, and keeps a crashing runtime
from taking devicelab down with it: the same isolation a phone app has.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from devicelab import protocol, runtimes
from devicelab.errors import UsageError
from devicelab.protocol import Result
from devicelab.runner import host_device
from devicelab.targets.base import Progress, Target

_STDERR_TAIL = 2000


class HostTarget(Target):
    kind = "host"
    sweep_field = "delegate"

    @property
    def name(self) -> str:
        return "host"

    def default_runtime(self, fmt: str) -> str:
        return runtimes.for_format(fmt).name

    def backends(self, runtime: str) -> tuple[str, ...]:
        return runtimes.get(runtime).delegates

    def check(self, runtime: str, fmt: str) -> None:
        runtime_class = runtimes.get(runtime)
        if fmt not in runtime_class.formats:
            raise UsageError(f"the {runtime} runtime does not run {fmt} models",
                             hint=f"{runtime} runs: {', '.join(runtime_class.formats)}")
        runtime_class.check_available()

    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> Result:
        job = protocol.read_job(job_dir)
        result_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1",
               "OMP_NUM_THREADS": str(job.runtime.threads or 1)}
        command = [sys.executable, "-m", "devicelab.targets.host_worker", str(job_dir), str(result_dir)]
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                  start_new_session=True)
        stderr: list[str] = []
        drain = threading.Thread(target=lambda: stderr.extend(worker.stderr), daemon=True)  # type: ignore[arg-type]
        drain.start()
        timer = threading.Timer(job.timeout_seconds, _kill, args=(worker,))
        timer.start()
        try:
            for line in worker.stdout:  # type: ignore[union-attr]
                _forward_progress(line, progress)
            code = worker.wait()
        except BaseException:  # Ctrl-C, SIGTERM (raised as KeyboardInterrupt by the CLI): no orphaned worker
            _kill(worker)
            raise
        finally:
            timer.cancel()
        drain.join(timeout=5)
        if (result_dir / protocol.DONE_MARKER).exists():
            return protocol.read_result(result_dir)
        tail = "".join(stderr)[-_STDERR_TAIL:].strip()
        if code == -signal.SIGKILL:
            kind, message = "timeout", f"job {job.id} did not finish within {job.timeout_seconds:g} s and was stopped"
        else:
            kind = "crash"
            message = f"the host worker for job {job.id} died (exit code {code}) before writing a result"
            if tail:
                message += f": {tail.splitlines()[-1][:300]}"
        if kind == "crash" and tail and os.environ.get("DEVICELAB_VERBOSE"):  # what the hint promises
            print(f"--- the host worker's last output (job {job.id}) ---\n{tail}", file=sys.stderr)
        result = protocol.error_result(job.id, host_device(), kind, message,
                                       "raise --timeout" if kind == "timeout" else
                                       "rerun with --verbose to see the worker's last output")
        protocol.write_result(result_dir, result)
        return result


def _kill(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _forward_progress(line: str, progress: Progress | None) -> None:
    if not progress or not line.startswith("{"):
        return
    try:
        event = json.loads(line)
        progress(event["phase"], event["done"], event["total"])
    except (json.JSONDecodeError, KeyError):
        return
