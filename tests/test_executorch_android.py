"""ExecuTorch on Android, as far as it can be checked without a phone or the Android SDK: the app's adapter
compiles with javac -Werror against the org.pytorch.executorch API (signatures transcribed into
android_app/tools/apistubs; tests/test_android_shell.py, `make android-shell`), the app routes .pte jobs to it,
and `deploy --variant executorch-fp32` sends a .pte job the app runs (a fake adb server and the stand-in app,
which runs it with the host's ExecuTorch and marks the result simulated)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeAdbServer, FakeDevice

from devicelab import api
from devicelab.targets import android
from devicelab.targets.android import AndroidTarget

torch = pytest.importorskip("torch")
pytest.importorskip("executorch.runtime")
pytestmark = pytest.mark.slow

ANDROID_APP = Path(__file__).resolve().parent.parent / "android_app"


def test_the_app_registers_executorch_for_pte_jobs() -> None:
    runtimes = (ANDROID_APP / "app/src/main/java/dev/devicelab/app/Runtimes.java").read_text()
    assert 'name.equals("executorch")' in runtimes and 'check(job, "executorch"' in runtimes
    assert "libs.executorch.android" in (ANDROID_APP / "app/build.gradle.kts").read_text()
    assert 'org.pytorch:executorch-android' in (ANDROID_APP / "gradle/libs.versions.toml").read_text()


def _small_cnn(path: Path) -> Path:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 26 * 26, 10)).eval()
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 28, 28),)), str(path))
    return path


def test_deploy_sends_executorch_jobs_to_the_app(tmp_path: Path, session_cache: Path) -> None:
    model = _small_cnn(tmp_path / "cnn.pt2")
    phone = FakeDevice("R5CT100PIX", model="Pixel 7", root=tmp_path / "phone", app_installed=True)
    with FakeAdbServer([phone]) as server:
        target = AndroidTarget("pixel", server=f"127.0.0.1:{server.port}", aliases={})
        assert target.default_runtime("executorch") == "executorch"
        assert target.backends("executorch") == ("xnnpack",)
        options = api.MeasureOptions(samples=20, runs=5, warmup_runs=1, min_seconds=0.0)
        try:
            measured = api.measure(model, variants=["executorch-fp32"], data="mnist-sample", target=target,
                                   options=options, store=tmp_path / "s.sqlite", cache=session_cache)
        finally:
            target.close()
    by_variant = {m.variant: m for m in measured}
    deployed = by_variant["executorch-fp32"]
    assert deployed.ok, deployed.error
    assert deployed.target == "android:R5CT100PIX" and deployed.runtime == "executorch"
    assert deployed.result.simulated and deployed.result.runtime_used.startswith("executorch-xnnpack")
    job_id = deployed.result.job_id
    assert phone.ran("am", "start", "-S", "-n", android.ACTIVITY, "--es", "job_id", job_id)
    assert np.isclose(deployed.summary["accuracy"]["agreement"], 1.0)  # against the program on the host's torch
