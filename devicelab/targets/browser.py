"""The browser target: a job runs in the web_runner page, driven by Selenium, served from loopback.

One browser session is reused across jobs (starting Chromium costs seconds and does not change what a page
measures); every job gets a fresh tab, and the previous tab is closed first so the job's page has a renderer
process of its own to measure from the outside (psutil USS) next to what the page reports itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from devicelab import protocol
from devicelab.errors import DevicelabError
from devicelab.protocol import MemorySample, Result
from devicelab.targets.base import Progress, RuntimeTable, Target
from devicelab.targets.browsers import check_remote_url, start_session
from devicelab.targets.sampling import PeakSampler
from devicelab.targets.webserver import JobServer

# Which web runtime runs which artifact format, and the backends each accepts (first = default).
# The first runtime listed for a format is its default: LiteRT.js for TFLite (tflite-web is unmaintained).
WEB_RUNTIMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "tfjs": ("tfjs", ("wasm", "cpu", "webgl", "webgpu")),
    "litert-js": ("tflite", ("wasm", "webgpu")),
    "tflite-web": ("tflite", ("wasm",)),
    "ort-web": ("onnx", ("wasm", "webgpu", "webnn")),
}
_POLL_S = 0.2
_PAGE_STATE = "return window.devicelab ? JSON.parse(JSON.stringify(window.devicelab)) : null;"


def runner_root() -> Path:
    """The web_runner folder: $DEVICELAB_WEB_RUNNER, or the one next to the package in a source checkout."""
    env = os.environ.get("DEVICELAB_WEB_RUNNER")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "web_runner"


class BrowserTarget(RuntimeTable, Target):
    runtimes = WEB_RUNTIMES
    where = "browsers"
    kind = "browser"

    def __init__(self, browser: str = "chrome", *, headed: bool = False, remote: str | None = None,
                 profile: bool = False, page_options: dict[str, str] | None = None) -> None:
        """``profile`` adds per-node times (ort-web, tfjs) to each result's ``extra.profile``, from untimed
        runs after the timed ones; ``page_options`` are extra page URL parameters (tests only)."""
        self.browser, self.headed = browser, headed
        self.remote = check_remote_url(remote) if remote else None
        self.page_options = {**(page_options or {}), **({"profile": "1"} if profile else {})}
        self.driver: Any = None
        self.session: dict[str, Any] = {}
        self.server: JobServer | None = None

    @property
    def name(self) -> str:
        return self.browser

    def profiled(self) -> BrowserTarget:
        """A target of its own for the same browser with per-node profiling on (a page option)."""
        return BrowserTarget(self.browser, headed=self.headed, remote=self.remote, profile=True)

    # -- contract ------------------------------------------------------------------------------------

    def check(self, runtime: str, fmt: str) -> None:
        self.check_runtime(runtime, fmt)
        root = runner_root()
        if not (root / "node_modules" / "@tensorflow" / "tfjs" / "dist").is_dir():
            raise DevicelabError(f"the web runner's JavaScript packages are not installed in {root}",
                                 hint="run `make setup` (it runs `npm ci` in web_runner/)")

    def run(self, job_dir: Path, result_dir: Path, progress: Progress | None = None) -> Result:
        job = protocol.read_job(job_dir)
        runtime, backends = job.runtime.name, WEB_RUNTIMES.get(job.runtime.name, ("", ()))[1]
        if job.runtime.backend and job.runtime.backend not in backends:
            return self._fail(job.id, result_dir, "backend_unavailable",
                              f"{runtime} has no '{job.runtime.backend}' backend", f"use one of {', '.join(backends)}")
        self._ensure_session()
        assert self.server is not None
        url = self.server.add_job(job.id, job_dir, result_dir)
        if self.page_options:
            url += "&" + urlencode(self.page_options)
        sampler = _RendererSampler(self.driver) if not self.remote else None
        try:
            self._fresh_tab()
            if sampler:
                sampler.start()
            self.driver.get(url)
            state = self._wait(job, result_dir, progress)
        except _BrowserGone as exc:
            self._drop_session()
            return self._fail(job.id, result_dir, "browser_crash", f"the browser went away during job {job.id}: "
                              f"{exc}", "rerun; if it repeats, try fewer runs or another backend")
        finally:
            if sampler:
                sampler.stop()
            self.server.remove_job(job.id)
        if state is None:
            self._close_page()
            return self._fail(job.id, result_dir, "timeout",
                              f"job {job.id} did not finish in {self.browser} within {job.timeout_seconds:g} s",
                              "raise --timeout, or check the page with --headed")
        if not (result_dir / protocol.DONE_MARKER).exists():
            message = (state or {}).get("error") or "the page stopped without writing a result"
            return self._fail(job.id, result_dir, "page_error", f"{self.browser}: {message}", None)
        result = protocol.read_result(result_dir)
        return self._augment(result, result_dir, sampler)

    # -- pieces --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the browser now (it otherwise starts with the first job): a missing driver fails up front."""
        self._ensure_session()

    def _ensure_session(self) -> None:
        if self.server is None:
            self.server = JobServer(runner_root()).start()
        if self.driver is None:
            self.driver, self.session = start_session(self.browser, headed=self.headed, remote=self.remote)

    def _fresh_tab(self) -> None:
        old = list(self.driver.window_handles)
        self.driver.switch_to.new_window("tab")
        fresh = self.driver.current_window_handle
        for handle in old:
            self.driver.switch_to.window(handle)
            self.driver.close()
        self.driver.switch_to.window(fresh)

    def _close_page(self) -> None:
        """Stop a hung page: navigating away ends its scripts (a new tab comes with the next job)."""
        try:
            self.driver.get("about:blank")
        except Exception:  # the page may have taken the tab with it; the next job opens a new one
            self._drop_session()

    def _wait(self, job: protocol.Job, result_dir: Path, progress: Progress | None) -> dict | None:
        from selenium.common.exceptions import WebDriverException

        deadline = time.monotonic() + job.timeout_seconds
        state: dict | None = None
        while time.monotonic() < deadline:
            try:
                state = self.driver.execute_script(_PAGE_STATE)
            except WebDriverException as exc:
                raise _BrowserGone((exc.msg or str(exc)).splitlines()[0][:200]) from None
            if state and progress and state.get("total"):
                progress(state.get("phase") or state.get("state", ""), int(state.get("done", 0)),
                         int(state["total"]))
            if state and state.get("state") in ("done", "error"):
                # The page PUTs DONE last; give the request a moment to land.
                for _ in range(50):
                    if (result_dir / protocol.DONE_MARKER).exists():
                        break
                    time.sleep(0.05)
                return state
            time.sleep(_POLL_S)
        return None

    def _augment(self, result: Result, result_dir: Path, sampler: _RendererSampler | None) -> Result:
        """Add what only the host sees: browser/driver versions, CDP metrics, the renderer's USS."""
        result.device.update({k: v for k, v in self.session.items() if k not in ("profile",) and v is not None})
        if sampler and sampler.peak:
            result.memory.append(MemorySample("renderer_uss_peak", sampler.peak / 2**20, "MiB",
                                              sampler.METHOD, "run"))
        for metric, value in self._cdp_metrics().items():
            result.memory.append(MemorySample(metric, value / 2**20, "MiB", f"CDP Performance.getMetrics {metric}",
                                              "after_run"))
        protocol.write_result(result_dir, result)
        return result

    def _cdp_metrics(self) -> dict[str, float]:
        if self.remote or not hasattr(self.driver, "execute_cdp_cmd"):
            return {}
        try:
            self.driver.execute_cdp_cmd("Performance.enable", {})
            metrics = self.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        except Exception:  # CDP is a bonus: a browser without it still gives the page's own figures
            return {}
        wanted = {"JSHeapUsedSize", "JSHeapTotalSize"}
        return {m["name"]: float(m["value"]) for m in metrics if m["name"] in wanted}

    def _fail(self, job_id: str, result_dir: Path, kind: str, message: str, hint: str | None) -> Result:
        device = {"platform": "browser", "model": self.browser, **{k: v for k, v in self.session.items()
                                                                    if k != "profile" and v is not None}}
        result = protocol.error_result(job_id, device, kind, message, hint)
        protocol.write_result(result_dir, result)
        return result

    def _drop_session(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            with contextlib.suppress(Exception):  # already dead: nothing left to clean but the profile
                driver.quit()
        profile = self.session.get("profile")
        if profile:
            # Chromium's helper processes can still write into the profile for a moment after quit(): retry
            # briefly so no devicelab-profile-* folder is left in the temporary directory.
            for _ in range(10):
                shutil.rmtree(profile, ignore_errors=True)
                if not os.path.exists(profile):
                    break
                time.sleep(0.1)

    def close(self) -> None:
        self._drop_session()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> BrowserTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _BrowserGone(Exception):
    """WebDriver lost the browser or its tab (crash, killed process)."""


class _RendererSampler(PeakSampler):
    """Peak USS (bytes) of the page's renderer, sampled from outside the browser (what the OS charges the page).

    Sampling reads /proc/<pid>/smaps, which costs CPU on a machine that is also timing the page: the renderer
    is looked up once per second and its USS read four times a second, well under 1% of a core.
    """

    period = 0.25
    METHOD = "psutil USS of the page's renderer process, sampled every 250 ms"

    def __init__(self, driver: Any) -> None:
        super().__init__("renderer-uss")
        self.driver, self._process, self._found_at = driver, None, 0.0

    def _renderer(self) -> Any:
        """The newest renderer process (the old tab's renderer may still be exiting)."""
        import psutil

        try:
            root = psutil.Process(self.driver.service.process.pid)
            found = [c for c in root.children(recursive=True) if _is_page_renderer(c.cmdline())]
            return max(found, key=lambda p: p.create_time()) if found else None
        except (psutil.Error, AttributeError):
            return None

    def sample(self) -> int | None:
        import psutil

        if self._process is None or time.monotonic() - self._found_at > 1.0:
            self._process, self._found_at = self._renderer(), time.monotonic()
        if self._process is None:
            return None
        try:
            return self._process.memory_full_info().uss
        except psutil.Error:
            self._process = None
            return None


def _is_page_renderer(cmdline: list[str]) -> bool:
    return "--type=renderer" in cmdline and not any("--top-chrome-webui" in a or "--extension-process" in a
                                                    for a in cmdline)
