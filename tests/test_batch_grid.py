"""A batch on a real Selenium Grid 4 (the npm package's jar, on loopback) with two Chromium slots: both slots
take jobs at the same time, and every result agrees with Keras."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from devicelab.batch import run_batch

pytestmark = pytest.mark.slow


def test_two_grid_slots_in_parallel(grid: str, lenet5, session_cache, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(f"""models = ["lenet5"]
variants = ["tfjs-fp32", "onnx-fp32"]
samples = 100
timeout_seconds = 180

[measure]
runs = 10
warmup_runs = 2
min_seconds = 0.5

[targets]
grid = "{grid}"
browsers = [{{browser = "chrome", slots = 2, backends = ["wasm"]}}]
""")
    events: list[tuple[float, object]] = []
    report = run_batch(plan, store=tmp_path / "s.sqlite", cache=session_cache,
                       events=lambda e: events.append((time.monotonic(), e)))
    assert report.ok, [(o.job.label, o.error) for o in report.outcomes.values()]
    assert sorted((j.variant, j.setting) for j in report.jobs) == [("onnx-fp32", "wasm"), ("tfjs-fp32", "wasm")]
    db = sqlite3.connect(tmp_path / "s.sqlite")
    rows = db.execute("SELECT variant, runtime_used, agreement, device_json FROM results WHERE variant != 'original'"
                      ).fetchall()
    assert len(rows) == 2 and all(agreement == 1.0 for _, _, agreement, _ in rows)
    assert all(json.loads(device)["remote"] == grid for *_, device in rows)
    assert {used.split(" ")[0] for _, used, _, _ in rows} == {"tfjs-wasm", "ort-web-wasm"}
    started = {e.member for _, e in events if e.kind == "started"}
    assert started == {"chrome slot 1/2 on " + grid, "chrome slot 2/2 on " + grid}  # both slots worked
    begins = {e.job.uid: (e.member, at) for at, e in events if e.kind == "started"}
    ends = {e.job.uid: at for at, e in events if e.kind == "finished"}
    spans = [(member, at, ends[uid]) for uid, (member, at) in begins.items()]
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans), spans
