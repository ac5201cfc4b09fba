"""`devicelab compare`: significance of latency / accuracy changes and CI gates, on synthetic stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devicelab import api
from devicelab.errors import UsageError
from devicelab.metrics import compare as cmp
from devicelab.store import Store

KEY = ("lenet5", "tflite-int8", "host", "tflite")


def _add(store: Path, run_id: str, *, slowdown: float = 1.0, accuracy: float = 0.92, seed: int = 1,
         samples: int = 1000, variant: str = "tflite-int8", memory: float = 50.0, size: int = 100_000) -> None:
    runs = (np.random.default_rng(seed).lognormal(np.log(2.0), 0.25, 200) * slowdown).tolist()
    with Store(store) as db:
        db.add({"run_id": run_id, "model": "lenet5", "variant": variant, "target": "host", "runtime": "tflite",
                "status": "ok", "samples": samples, "accuracy": accuracy, "agreement": accuracy + 0.05,
                "median_ms": float(np.median(runs)), "runs": len(runs), "memory_mib": memory, "size_bytes": size},
               result={"timings_ms": {"runs": runs, "warmup": [], "first_inference": None, "load": None}})


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / f"{name}.sqlite" for name in ("base", "slow", "same", "acc3", "acc01")}
    _add(paths["base"], "r1", seed=1)
    _add(paths["slow"], "r2", seed=2, slowdown=1.2)
    _add(paths["same"], "r2", seed=2)
    _add(paths["acc3"], "r2", seed=2, accuracy=0.89)
    _add(paths["acc01"], "r2", seed=2, accuracy=0.919)
    return paths


def _diff(a: Path | str, b: Path | str, metric: str, gates: list[str] | None = None):
    comparison, failures = api.compare(str(a), str(b), gates)
    assert [k.key for k in comparison.keys] == [KEY]
    return comparison.keys[0].get(metric), failures


def test_planted_slowdown_is_significant_and_fails_gate(stores: dict[str, Path]) -> None:
    diff, failures = _diff(stores["base"], stores["slow"], "latency", ["latency>+10%"])
    assert diff.significant and diff.p < 1e-6
    assert 10 < diff.low < 20 < diff.high < 32
    assert [f.gate.text for f in failures] == ["latency>+10%"]
    _, none = _diff(stores["base"], stores["slow"], "latency", ["latency>+40%"])
    assert none == []


def test_no_change_is_not_significant_and_passes(stores: dict[str, Path]) -> None:
    diff, failures = _diff(stores["base"], stores["same"], "latency", ["latency>+10%", "accuracy<-0.5pt"])
    assert not diff.significant and diff.p > 0.05 and diff.low < 0 < diff.high
    assert failures == []


def test_accuracy_drop_of_three_points_fails_gate(stores: dict[str, Path]) -> None:
    diff, failures = _diff(stores["base"], stores["acc3"], "accuracy", ["accuracy<-0.5pt"])
    assert diff.change == pytest.approx(-3.0)
    assert diff.significant and diff.p < 0.05 and diff.high < 0
    assert [f.gate.text for f in failures] == ["accuracy<-0.5pt"]


def test_small_accuracy_drop_passes(stores: dict[str, Path]) -> None:
    diff, failures = _diff(stores["base"], stores["acc01"], "accuracy", ["accuracy<-0.5pt", "agreement<-1pt"])
    assert diff.change == pytest.approx(-0.1)
    assert not diff.significant and diff.p > 0.5
    assert failures == []


def test_memory_and_size_are_plain_ratios(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _add(a, "r1", memory=50.0, size=100_000)
    _add(b, "r2", memory=65.0, size=104_000)
    diff, failures = _diff(a, b, "memory", ["memory>+20%", "size>+5%"])
    assert diff.change == pytest.approx(30.0) and diff.significant is None
    assert [f.gate.text for f in failures] == ["memory>+20%"]


@pytest.mark.parametrize("text", ["latency>10", "latency>+10pt", "accuracy<-1%", "speed>+5%", "latency=+5%", ""])
def test_gate_parse_errors(text: str) -> None:
    with pytest.raises(UsageError) as error:
        cmp.parse_gate(text)
    assert "latency>+10%" in (error.value.hint or "")


def test_gate_parse() -> None:
    assert cmp.parse_gate("accuracy < -0.5pt") == cmp.Gate("accuracy", "<", -0.5, "pt", "accuracy < -0.5pt")
    assert cmp.parse_gate("latency>+10%").threshold == 10.0


def test_json_export_input_and_run_ids(stores: dict[str, Path], tmp_path: Path) -> None:
    exported = tmp_path / "base.json"
    api.export("json", exported, store=stores["base"])
    diff, failures = _diff(exported, stores["slow"], "latency", ["latency>+10%"])
    assert diff.significant and failures
    diff, _ = _diff(f"{stores['base']}:r1", f"{stores['slow']}:latest", "latency")
    assert diff.significant
    with pytest.raises(UsageError):
        api.compare(f"{stores['base']}:nope", str(stores["slow"]))
    with pytest.raises(UsageError):
        api.compare(str(tmp_path / "missing.sqlite"), str(stores["slow"]))


def test_added_and_removed_keys(stores: dict[str, Path]) -> None:
    _add(stores["slow"], "r2", variant="onnx-fp32")
    _add(stores["base"], "r1", variant="coreml-fp32")
    comparison, _ = api.compare(str(stores["base"]), str(stores["slow"]))
    assert [k[1] for k in comparison.added] == ["onnx-fp32"]
    assert [k[1] for k in comparison.removed] == ["coreml-fp32"]
    assert "Only in B" in cmp.markdown(comparison)


def test_run_prefix_uses_default_store(stores: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _add(stores["base"], "r2", seed=2, slowdown=1.2)
    monkeypatch.setenv("DEVICELAB_STORE", str(stores["base"]))
    diff, failures = _diff("run:previous", "run:latest", "latency", ["latency>+10%"])
    assert diff.significant and failures
    diff, _ = _diff("run:r1", "run:r2", "latency")
    assert diff.change > 10


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devicelab", "compare", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_cli_exit_codes(stores: dict[str, Path], tmp_path: Path) -> None:
    failed = _cli(str(stores["base"]), str(stores["slow"]), "--fail-if", "latency>+10%")
    assert failed.returncode == 1, failed.stderr
    assert "gate failed" in failed.stderr and "latency>+10%" in failed.stderr
    assert "| key | metric |" in failed.stdout and "Traceback" not in failed.stderr

    note = tmp_path / "comment.md"
    passed = _cli(str(stores["base"]), str(stores["same"]), "--fail-if", "latency>+10%", "--fail-if",
                  "accuracy<-0.5pt", "--markdown", str(note))
    assert passed.returncode == 0, passed.stderr
    assert "Gates passed" in note.read_text() and "| key |" not in passed.stdout

    bad = _cli(str(stores["base"]), str(stores["same"]), "--fail-if", "latency>10")
    assert bad.returncode == 2 and "Hint" in bad.stderr and "Traceback" not in bad.stderr

    missing = _cli(str(tmp_path / "nope.sqlite"), str(stores["same"]))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_export_json_roundtrip_keeps_runs(stores: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    api.export("json", out, store=stores["slow"])
    assert len(json.loads(out.read_text())["results"][0]["result"]["timings_ms"]["runs"]) == 200


def test_a_gate_with_nothing_compared_fails_and_says_why(tmp_path: Path) -> None:
    """run:latest vs run:previous sharing no key used to print "Gates passed" and exit 0."""
    store = tmp_path / "r.sqlite"
    _add(store, "r1", variant="onnx-fp32")
    _add(store, "r2", variant="tflite-int8")
    gated = _cli(f"{store}:previous", f"{store}:latest", "--fail-if", "latency>+10%")
    assert gated.returncode == 1, gated.stdout + gated.stderr
    assert "gate failed" in gated.stderr and "nothing to compare" in gated.stderr
    assert "1 only in A, 1 only in B" in " ".join(gated.stderr.split())
    assert "Gates passed" not in gated.stdout and "Traceback" not in gated.stderr
    assert _cli(f"{store}:previous", f"{store}:latest").returncode == 0  # no gate: a report, not a failure


def test_a_gate_on_a_metric_neither_side_has_fails(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    for path, run in ((a, "r1"), (b, "r2")):
        with Store(path) as db:
            db.add({"run_id": run, "model": "m", "variant": "tflite-fp32", "target": "host", "runtime": "tflite",
                    "status": "ok", "median_ms": 1.0})
    _, failures = api.compare(str(a), str(b), ["memory>+20%"])
    assert [f.reason for f in failures] == ["nothing to compare: no result pair has a memory figure on both sides"]
    assert "nothing to compare" in cmp.markdown(*api.compare(str(a), str(b), ["memory>+20%"]),
                                                [cmp.parse_gate("memory>+20%")])


def test_regression_models_are_compared_and_gated_on_mae() -> None:
    from devicelab.metrics.compare import compare_records, evaluate_gates, parse_gate

    base = {"model": "m", "variant": "tflite-int8", "target": "host", "runtime": "tflite", "status": "ok",
            "mae": 0.20, "runs": [1.0, 1.0, 1.0]}
    worse = {**base, "mae": 0.25}
    comparison = compare_records([base], [worse])
    diff = comparison.keys[0].get("mae")
    assert diff is not None and round(diff.change, 6) == 25.0 and diff.unit == "%"
    failures = evaluate_gates(comparison, [parse_gate("mae>+10%")])
    assert [f.gate.text for f in failures] == ["mae>+10%"]
    assert not evaluate_gates(comparison, [parse_gate("mae>+30%")])
