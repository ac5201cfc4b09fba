"""The study on small real runs: numbers the report shows must be the ones planted or implied."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from devicelab import api, protocol
from devicelab.errors import DevicelabError, UsageError
from devicelab.store import Store
from devicelab.study.run import StudyConfig, run_study
from devicelab.study.targets import TargetSpec, parse_targets
from devicelab.targets.host import HostTarget

PLANTED = [3, 17, 42, 150]  # inputs on which the "buggy runtime" below flips tflite-fp32's answer
FAST = api.MeasureOptions(runs=5, warmup_runs=1, min_seconds=0, max_seconds=5)


class BuggyHost(HostTarget):
    """The real host target, with a planted runtime bug: tflite-fp32 answers another class on known inputs."""

    @property
    def name(self) -> str:
        return "buggy-host"

    def run(self, job_dir: Path, result_dir: Path, progress=None) -> protocol.Result:  # type: ignore[override]
        result = super().run(job_dir, result_dir, progress)
        if protocol.read_job(job_dir).model.variant == "tflite-fp32" and result.ok:
            spec = result.outputs[0]
            probs = protocol.read_tensor(result_dir, spec).copy()
            for i in (i for i in PLANTED if i < len(probs)):  # attack jobs see the first 100 only
                wrong = (int(probs[i].argmax()) + 1) % probs.shape[1]
                probs[i] = 0
                probs[i, wrong] = 1
            protocol.write_tensor(result_dir, spec.file, spec.name, probs)
        return result


class UnpluggedAfter(HostTarget):
    """A target that works for `jobs` jobs, then fails like a device pulled out mid-study."""

    def __init__(self, jobs: int) -> None:
        super().__init__()
        self.left = jobs

    @property
    def name(self) -> str:
        return "flaky"

    def run(self, job_dir: Path, result_dir: Path, progress=None) -> protocol.Result:  # type: ignore[override]
        if self.left <= 0:
            raise DevicelabError("device flaky disappeared (unplugged?)", "plug it back in and rerun the study")
        self.left -= 1
        return super().run(job_dir, result_dir, progress)


def _config(tmp_path: Path, cache: Path, targets: list[TargetSpec], **changes) -> StudyConfig:
    base = StudyConfig(model="lenet5", targets=targets, variants=["tflite-fp32", "onnx-fp32"], samples=200,
                       attack_samples=100, options=FAST, out=tmp_path / "study", store=tmp_path / "results.sqlite",
                       cache=cache)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def planted(lenet5: Path, session_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("planted")
    config = _config(tmp, session_cache, [TargetSpec("buggy-host", BuggyHost)], attacks=["fgsm:eps=0", "pgd:eps=0"])
    return run_study(config), config


def test_planted_disagreement_shows_exactly_those_inputs(planted) -> None:
    study, config = planted
    doc = study.document
    examples = {e["variant"]: e for e in doc["examples"]}
    assert set(examples) == {"tflite-fp32"}  # onnx-fp32 agrees everywhere
    assert examples["tflite-fp32"]["indices"] == PLANTED and examples["tflite-fp32"]["count"] == len(PLANTED)
    row = next(r for r in doc["rows"] if r["variant"] == "tflite-fp32")
    assert row["disagreements"] == len(PLANTED) and row["agreement"] == pytest.approx(1 - len(PLANTED) / 200)
    saved = np.load(config.out / examples["tflite-fp32"]["file"])
    assert saved["indices"].tolist() == PLANTED
    dataset = study.dataset
    np.testing.assert_array_equal(saved["x"], dataset.x[PLANTED])
    np.testing.assert_array_equal(saved["pred"], (saved["reference_pred"] + 1) % 10)
    html = (config.out / "report.html").read_text()
    for i in PLANTED:
        assert f"#{i}:" in html
    assert html.count("data:image/png;base64,") == len(PLANTED)


def test_attack_with_epsilon_zero_has_zero_success(planted) -> None:
    study, _ = planted
    rows = [r for r in study.document["rows"] if r["status"] == "ok"]
    assert {r["variant"] for r in rows} == {"original", "tflite-fp32", "onnx-fp32"}
    for row in rows:
        assert set(row["robustness"]) == {"fgsm eps=0", "pgd eps=0"}
        for found in row["robustness"].values():
            assert found["successes"] == 0 and found["rate"] == 0.0 and found["n"] > 80


def test_real_attack_succeeds_and_report_has_every_section(lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, session_cache, parse_targets("host"), attacks=["fgsm:eps=0.3"], variants=["tflite-int8"])
    study = run_study(config)
    rates = {r["variant"]: r["robustness"]["fgsm eps=0.3"]["rate"] for r in study.document["rows"]}
    assert rates["original"] > 0.5 and rates["tflite-int8"] > 0.5
    html = (config.out / "report.html").read_text()
    for title in ("Summary", "Accuracy against model size", "Latency distributions", "Peak memory",
                  "Robustness", "Environments", "How long it took"):
        assert title in html
    doc = json.loads((config.out / "study.json").read_text())
    int8, original = (next(r for r in doc["rows"] if r["variant"] == v) for v in ("tflite-int8", "original"))
    assert int8["size_ratio"] == pytest.approx(int8["size_bytes"] / original["size_bytes"])
    assert int8["size_ratio"] < 0.5
    assert int8["speedup"] == pytest.approx(original["median_ms"] / int8["median_ms"])


def test_a_failing_target_is_reported_and_the_rest_goes_on(lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    targets = [TargetSpec("flaky", lambda: UnpluggedAfter(1)), TargetSpec("pixel", _no_such_device),
               *parse_targets("host")]
    study = run_study(_config(tmp_path, session_cache, targets))
    doc = study.document
    failures = {f["target"]: f for f in doc["failures"]}
    assert set(failures) == {"flaky", "pixel"}
    assert "disappeared" in failures["flaky"]["error"] and failures["flaky"]["failed_jobs"] == 1
    assert failures["pixel"]["jobs"] == 0 and "no adb" in failures["pixel"]["error"]
    host = [r for r in doc["rows"] if r["target"] == "host"]
    assert [r["status"] for r in host] == ["ok", "ok", "ok"]
    flaky = {r["variant"]: r["status"] for r in doc["rows"] if r["target"] == "flaky"}
    assert flaky == {"tflite-fp32": "ok", "onnx-fp32": "error"}  # the reference ran on the real host
    with Store(tmp_path / "results.sqlite") as db:  # what the flaky target measured before it failed is kept
        assert any(r["target"] == "flaky" and r["status"] == "ok" for r in db.rows())
    html = (tmp_path / "study" / "report.html").read_text()
    assert "Failed targets" in html and "disappeared" in html and "plug it back in" in html


def _no_such_device():
    from devicelab.targets.android import AndroidTarget

    return AndroidTarget("pixel", server="127.0.0.1:1")


def test_rerun_reuses_finished_unchanged_jobs(lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, session_cache, parse_targets("host"))
    first = run_study(config)
    again = run_study(config)
    assert not any(r["reused"] for r in first.document["rows"])
    assert all(r["reused"] for r in again.document["rows"])
    assert [r["row_id"] for r in again.document["rows"]] == [r["row_id"] for r in first.document["rows"]]
    with Store(config.store) as db:
        assert len(db.rows()) == 3  # nothing was measured twice
    changed = run_study(replace(config, options=replace(FAST, runs=6)))  # other settings: measured anew
    assert not any(r["reused"] for r in changed.document["rows"])


def test_cli_study_reports_a_missing_device_without_traceback(lenet5: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "devicelab", "study", "lenet5", "--targets", "host,pixel", "--variants",
         "tflite-fp32", "--samples", "100", "--runs", "3", "--adb-server", "127.0.0.1:1", "-o",
         str(tmp_path / "out"), "--store", str(tmp_path / "s.sqlite")],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "target pixel" in done.stdout and "Report:" in done.stdout
    assert (tmp_path / "out" / "report.html").exists() and (tmp_path / "out" / "study.json").exists()


def test_unknown_framework_and_pytorch_for_a_file_are_usage_errors(lenet5: Path, session_cache: Path,
                                                                   tmp_path: Path) -> None:
    from devicelab.errors import UsageError

    with pytest.raises(UsageError, match="unknown framework"):
        run_study(_config(tmp_path, session_cache, parse_targets("host"), frameworks=["jax"]))
    with pytest.raises(UsageError, match="zoo model"):
        run_study(_config(tmp_path, session_cache, parse_targets("host"), model=lenet5, data="mnist-sample",
                          frameworks=["keras", "pytorch"]))


def test_report_renders_offline_in_a_real_browser(planted) -> None:
    """Chromium with its network switched off draws every plot and example from the file alone."""
    from devicelab.targets.browsers import start_session

    _, config = planted
    report = (config.out / "report.html").resolve()
    driver, _ = start_session("chrome")
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                     "downloadThroughput": -1,
                                                                     "uploadThroughput": -1})
        driver.get(report.as_uri())
        state = driver.execute_script(
            "const imgs = [...document.images];"
            "return {title: document.title, svgs: document.querySelectorAll('svg').length,"
            " images: imgs.length, drawn: imgs.filter(i => i.complete && i.naturalWidth > 0).length,"
            " fetched: performance.getEntriesByType('resource').map(e => e.name),"
            " height: document.body.scrollHeight, tables: document.querySelectorAll('table').length};")
        driver.set_window_size(1280, 1600)
        assert driver.save_screenshot(str(config.out / "report.png"))
    finally:
        driver.quit()
    assert state["title"] == "devicelab study: lenet5"
    assert state["svgs"] >= 4 and state["tables"] >= 3 and state["height"] > 2000
    assert state["images"] == len(PLANTED) and state["drawn"] == len(PLANTED)
    assert state["fetched"] == []  # nothing outside the file was asked for


def test_demo_is_the_study_on_host_and_chromium(lenet5: Path, tmp_path: Path) -> None:
    """The README's main job, end to end: Keras + PyTorch, host + headless Chromium, FGSM + PGD, no failures."""
    done = subprocess.run([sys.executable, "-m", "devicelab", "demo", "--runs", "5", "-o", str(tmp_path / "demo"),
                           "--store", str(tmp_path / "demo.sqlite")], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    doc = json.loads((tmp_path / "demo" / "study.json").read_text())
    assert doc["failures"] == [] and all(r["status"] == "ok" for r in doc["rows"])
    cells = {(r["framework"], r["target"]) for r in doc["rows"]}
    assert cells == {("keras", "host"), ("keras", "chrome"), ("pytorch", "host"), ("pytorch", "chrome")}
    assert {r["runtime"] for r in doc["rows"] if r["target"] == "chrome"} == {"tfjs", "litert-js", "ort-web"}
    assert all(set(r["robustness"]) == {"fgsm eps=0.1", "pgd eps=0.1"} for r in doc["rows"])
    assert doc["frameworks"]["agreement"] > 0.9 and doc["frameworks"]["frameworks"]["pytorch"]["accuracy"] > 0.9
    assert {e["target"] for e in doc["environments"]} == {"host", "chrome"}
    assert "Across frameworks" in (tmp_path / "demo" / "report.html").read_text()


def test_study_on_a_phone_through_the_fake_adb_server(lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    """The study drives a phone like any target: its TFLite and ONNX variants run there, Core ML and TF.js do not."""
    from fakes import FakeAdbServer, FakeDevice

    phone = FakeDevice("R5CT100PIX", model="Pixel 7", root=tmp_path / "phone", app_installed=True)
    with FakeAdbServer([phone]) as server:
        targets = parse_targets("host,pixel", adb_server=f"127.0.0.1:{server.port}")
        study = run_study(_config(tmp_path, session_cache, targets, variants=["tflite-fp32", "tfjs-fp32"]))
    doc = study.document
    on_phone = [r for r in doc["rows"] if r["target"] == "android:R5CT100PIX"]
    assert [(r["variant"], r["status"], r["simulated"]) for r in on_phone] == [("tflite-fp32", "ok", True)]
    assert on_phone[0]["agreement"] == 1.0 and doc["failures"] == []
    assert any(s["variant"] == "tfjs-fp32" and s["target"] == "android:R5CT100PIX" for s in doc["skipped"])
    env = next(e for e in doc["environments"] if e["target"] == "android:R5CT100PIX")
    assert "Pixel 7" in json.dumps(env["device"])
    assert "(simulated)" in (tmp_path / "study" / "report.html").read_text()  # a fake's numbers say so


def test_attack_settings_with_commas_stay_together() -> None:
    from devicelab.cli.study import split_attacks

    assert split_attacks("fgsm,pgd:eps=0.1,steps=40") == ["fgsm", "pgd:eps=0.1,steps=40"]
    assert split_attacks("pgd:eps=0.2,steps=10,fgsm:eps=0.3, ") == ["pgd:eps=0.2,steps=10", "fgsm:eps=0.3"]


def test_report_claims_no_agreement_when_nothing_was_compared() -> None:
    from devicelab.report import html

    failed = {"framework": "keras", "variant": "tflite-fp32", "target": "host", "runtime": "tflite",
              "status": "error", "error": "boom <b>[x]</b>"}
    page = html.render({"title": "t", "rows": [failed], "examples": []})
    assert "No variant disagreed" not in page and "boom &lt;b&gt;[x]&lt;/b&gt;" in page


def test_original_on_another_target_runs_there_and_the_reference_stays_on_the_host(
        lenet5: Path, session_cache: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    measured = api.measure(lenet5, data="mnist-sample", variants=["original"], target=UnpluggedAfter(5),
                           options=replace(FAST, samples=50), store=store, cache=session_cache)
    assert [(m.variant, m.target) for m in measured] == [("original", "host"), ("original", "flaky")]
    with Store(store) as db:
        on_flaky = db.get(measured[1].row_id)
        reference = db.find_reference(on_flaky["model_sha256"], on_flaky["dataset_sha256"], 50)
        assert reference is not None and reference["id"] == measured[0].row_id  # never the other target's row


def test_cli_refuses_a_non_positive_attack_sample_count(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "devicelab", "study", "lenet5", "--attacks", "fgsm",
                           "--attack-samples", "0", "-o", str(tmp_path / "out"), "--store", str(tmp_path / "s.sqlite")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert "--attack-samples must be at least 1 (got 0)" in done.stderr and not (tmp_path / "out").exists()


def test_terminal_summary_prints_markup_like_text_literally() -> None:
    """Device names and errors may hold [brackets]: rich must print them, not read them as markup."""
    from rich.console import Console

    from devicelab.report.terminal import study_table

    row = {"framework": "keras", "variant": "tflite-fp32", "target": "android:[/bold]x", "runtime": "tflite[gpu]",
           "status": "ok", "robustness": {}}
    console = Console(record=True, width=200)
    console.print(study_table([row], title="study of [red]model[/red]"))
    text = console.export_text()
    assert "android:[/bold]x" in text and "tflite[gpu]" in text and "[red]model[/red]" in text


def test_pytorch_framework_needs_a_zoo_model_with_a_twin(tmp_path: Path) -> None:
    """The recurrent zoo models have no PyTorch twin: one usage error before anything is trained."""
    with pytest.raises(UsageError, match="lstm has no PyTorch twin"):
        run_study(StudyConfig(model="lstm", frameworks=["keras", "pytorch"], out=tmp_path / "s",
                              store=tmp_path / "r.sqlite", cache=tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()
