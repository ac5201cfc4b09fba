"""Batch plans: every problem named with its file and line, and a plan expanding to exactly the right jobs.

Nothing is measured here: plans are parsed, pools are built in code (no devices needed), jobs are listed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devicelab.batch import Member, Pool, expand, parse_plan
from devicelab.batch.plan import PlanError, load_plan
from devicelab.batch.pools import browser_pool, host_pool
from devicelab.batch.tomlpos import key_lines
from devicelab.targets.android import RUNTIMES as ANDROID_RUNTIMES

GOOD = """\
name = "lab"
models = ["lenet5"]
variants = ["original", "tflite-fp32", "tflite-int8", "onnx-fp32", "tfjs-fp32"]
repeats = 2

[measure]
runs = 10
delegates = ["xnnpack", "gpu"]
backends = ["wasm", "webgl"]

[targets]
host = true
android = ["pixel", "serial:R5CT100PIX", "all"]
browsers = [
  {browser = "chrome", slots = 2},
  {browser = "chrome", grid = "http://127.0.0.1:4444", backends = ["cpu"]},
]
adb_servers = ["127.0.0.1:5037", "10.0.0.7:5037"]
adb_connect = ["stf.example.com:7401"]
"""


def _error(text: str) -> str:
    with pytest.raises(PlanError) as info:
        parse_plan(text, Path("plan.toml"))
    assert info.value.hint and "README" in info.value.hint
    return info.value.message


def test_a_good_plan_parses_to_what_it_says() -> None:
    plan = parse_plan(GOOD, Path("/tmp/plan.toml"))
    assert plan.key == "lab" and plan.repeats == 2 and plan.retries == 2
    assert plan.targets.android == ("pixel", "serial:R5CT100PIX", "all")
    assert [(b.slots, b.grid, b.backends) for b in plan.targets.browsers] == [
        (2, None, None), (1, "http://127.0.0.1:4444", ("cpu",))]
    assert plan.targets.adb_connect == ("stf.example.com:7401",)
    assert plan.options().runs == 10 and plan.options().timeout_seconds == 600


def test_problems_name_their_line_and_suggest_the_right_key() -> None:
    message = _error(GOOD.replace("repeats = 2", "repeats = 2\nretires = 3")
                     .replace('"tflite-int8"', '"tflite-int9"').replace('"gpu"', '"gpuu"'))
    assert "plan.toml:3: unknown variant 'tflite-int9' (did you mean 'tflite-int8'?)" in message
    assert "plan.toml:5: unknown key 'retires' in the top level (did you mean 'retries'?)" in message
    assert "plan.toml:9: unknown delegate 'gpuu' (did you mean 'gpu'?)" in message
    assert message.index("plan.toml:3") < message.index("plan.toml:5") < message.index("plan.toml:9")


@pytest.mark.parametrize(("change", "expected"), [
    (("slots = 2}", "slots = 0}"), "plan.toml:15: 'slots' must be at least 1, not 0"),
    (('{browser = "chrome", slots = 2}', '{browser = "chrom", slots = 2}'),
     "plan.toml:15: unknown browser 'chrom' (did you mean 'chrome'?)"),
    (('"serial:R5CT100PIX"', '"serail:R5CT100PIX"'), "plan.toml:13: unknown selector prefix 'serail:' "
                                                     "(did you mean 'serial:'?)"),
    (('"10.0.0.7:5037"', '"10.0.0.7"'), "plan.toml:18: '10.0.0.7' is not host:port"),
    (("runs = 10", 'runs = "ten"'), "plan.toml:7: 'runs' must be a whole number, not the string 'ten'"),
    (("repeats = 2", "repeats = true"), "plan.toml:4: 'repeats' must be a whole number, not true"),
    (('grid = "http://127.0.0.1:4444"', 'grid = "127.0.0.1:4444"'), "plan.toml:16: 'grid' must be an http(s) URL"),
    (("[targets]\nhost = true", "[targets]\nhots = true"), "plan.toml:12: unknown key 'hots' in targets "
                                                         "(did you mean 'host'?)"),
    (('models = ["lenet5"]\n', ""), "plan.toml: 'models' is missing"),
    (("[measure]", "[measure]\n[measure]"), "plan.toml:7: not valid TOML"),
])
def test_each_kind_of_mistake(change: tuple[str, str], expected: str) -> None:
    assert change[0] in GOOD
    assert expected in _error(GOOD.replace(*change))


def test_no_targets_is_an_error() -> None:
    assert "no targets" in _error('models = ["lenet5"]\nvariants = ["tflite-fp32"]\n[targets]\nhost = false\n')


def test_line_numbers_of_nested_values() -> None:
    lines = key_lines(GOOD)
    assert lines[("targets", "browsers", 1, "grid")] == 16
    assert lines[("targets", "android", 2)] == 13
    assert lines[("measure", "delegates", 1)] == 8
    multi = key_lines('a = """x\ny"""\nb = [\n  1,\n  2.5,\n]\n[[t]]\nk = 1\n[[t]]\nk = 2\n')
    assert multi[("b", 1)] == 5 and multi[("t", 1, "k")] == 10 and multi[("b",)] == 3


def test_cli_reports_the_line_without_a_traceback(tmp_path: Path) -> None:
    plan = tmp_path / "bad.toml"
    plan.write_text(GOOD.replace("runs = 10", "runz = 10"))
    done = subprocess.run([sys.executable, "-m", "devicelab", "batch", str(plan), "--dry-run"],
                          capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 2
    assert "bad.toml:7: unknown key 'runz' in measure (did you mean 'runs'?)" in done.stderr
    assert "Hint:" in done.stderr and "Traceback" not in done.stderr
    missing = subprocess.run([sys.executable, "-m", "devicelab", "batch", str(tmp_path / "nope.toml")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "cannot read plan" in missing.stderr and "Traceback" not in missing.stderr


def test_a_plan_expands_to_the_right_jobs(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(GOOD)
    plan = load_plan(path)
    phones = Pool.from_table("android:Google Pixel 7", "android", "Pixel 7", [Member("android:A", "A", object),
                                                                                 Member("android:B", "B", object)],
                             ANDROID_RUNTIMES, sweep=plan.measure.delegates)
    pools = [host_pool(plan), phones, *(browser_pool(spec, plan) for spec in plan.targets.browsers)]
    expansion = expand(plan, pools, formats={"lenet5": "keras"})
    got = sorted((j.variant, j.pool, j.setting, j.repeat) for j in expansion.jobs)
    wanted = []
    for repeat in (0, 1):
        wanted += [("original", "host", None, repeat),
                   ("tflite-fp32", "host", "xnnpack", repeat), ("tflite-int8", "host", "xnnpack", repeat),
                   ("onnx-fp32", "host", None, repeat)]  # gpu and xnnpack are not host ONNX Runtime settings
        for variant in ("tflite-fp32", "tflite-int8"):
            wanted += [(variant, phones.key, d, repeat) for d in ("xnnpack", "gpu")]
        wanted.append(("onnx-fp32", phones.key, None, repeat))  # the app's ORT takes cpu / nnapi only
        for pool, backends in (("browser:chrome", ("wasm", "webgl")), ("browser:chrome@http://127.0.0.1:4444",
                                                                         ("cpu",))):
            wanted += [("tfjs-fp32", pool, b, repeat) for b in backends]
            # LiteRT.js and ort-web take wasm and webgpu, not webgl or cpu: the [cpu] entry runs them on their
            # default backend; LiteRT.js runs int8-I/O models too, so nothing is skipped at plan time
            wasm = "wasm" if "wasm" in backends else None
            wanted += [(v, pool, wasm, repeat) for v in ("tflite-fp32", "tflite-int8", "onnx-fp32")]
    assert got == sorted(wanted)
    assert len({j.uid for j in expansion.jobs}) == len(expansion.jobs)  # every job its own identity
    again = expand(plan, pools, formats={"lenet5": "keras"})
    assert [j.uid for j in again.jobs] == [j.uid for j in expansion.jobs]  # stable: what resume matches on
    assert not any(j.variant == "original" and j.pool != "host" for j in expansion.jobs)
    assert expansion.skipped == []


def test_dry_run_finds_the_phones_and_lists_the_jobs(tmp_path: Path) -> None:
    from fakes import FakeAdbServer, FakeDevice

    phones = [FakeDevice("PIX1", model="Pixel 7", root=tmp_path / "a"), FakeDevice("PIX2", model="Pixel 7",
                                                                                   root=tmp_path / "b"),
              FakeDevice("SAM1", model="SM-S911B", manufacturer="samsung", root=tmp_path / "c"),
              FakeDevice("OFF1", model="Pixel 7", root=tmp_path / "d", state="offline")]
    with FakeAdbServer(phones) as server:
        plan = tmp_path / "plan.toml"
        plan.write_text('models = ["lenet5"]\nvariants = ["tflite-fp32", "tfjs-fp32"]\n[measure]\n'
                        'delegates = ["xnnpack", "gpu"]\n[targets]\n'
                        'android = ["pixel", "serial:SAM1", "serial:OFF1", "nokia"]\n'
                        f'adb_servers = ["127.0.0.1:{server.port}"]\n')
        done = subprocess.run([sys.executable, "-m", "devicelab", "batch", str(plan), "--dry-run"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.replace("│", " ").replace("┃", " ").split())
    assert "4 jobs" in out and "tflite-fp32 4" in out
    assert "Google Pixel 7 (2 phones) (2 workers) 2 gpu, xnnpack" in out and "samsung SM-S911B (1 worker) 2" in out
    assert "no Android device matches 'nokia'" in out and "OFF1 is offline" in out
    assert "1 skipped: lenet5 tfjs-fp32: no target of this plan runs tfjs models" in out
    assert "add --list" in out and "repeat" not in out  # no job-by-job table unless asked


def test_what_no_target_can_run_is_listed_as_skipped(tmp_path: Path) -> None:
    plan = parse_plan('models = ["lenet5"]\nvariants = ["tfjs-fp32", "coreml-fp32", "tflite-fp32"]\n'
                      "[targets]\nhost = true\n")
    expansion = expand(plan, [host_pool(plan)], formats={"lenet5": "keras"})
    assert [(j.variant, j.setting) for j in expansion.jobs] == [("tflite-fp32", None)]
    reasons = {s.variant: s.reason for s in expansion.skipped}
    assert "no target of this plan runs tfjs models" in reasons["tfjs-fp32"]
    if sys.platform != "darwin":
        assert "macOS" in reasons["coreml-fp32"]
    onnx = expand(plan, [host_pool(plan)], formats={"lenet5": "onnx"})
    assert "cannot be made from a onnx model" in str(onnx.skipped[0])


def test_every_plan_problem_is_shown(tmp_path: Path) -> None:
    """A plan with many mistakes used to show four and '(and 3 more)'."""
    bad = GOOD.replace('"tfjs-fp32"]', '"tfjs-fp32", "a1", "a2", "a3", "a4", "a5", "a6", "a7"]')
    message = _error(bad)
    assert "(and" not in message and message.startswith("7 problems in plan.toml:")
    assert all(f"unknown variant 'a{k}'" in message for k in range(1, 8))


def test_dry_run_of_a_big_plan_prints_counts_and_lists_only_when_asked(tmp_path: Path) -> None:
    import time

    plan = tmp_path / "big.toml"
    plan.write_text('models = ["lenet5", "lenet1"]\nvariants = ["original", "tflite-fp32", "tflite-fp16", '
                    '"tflite-dynamic-int8", "tflite-int8", "onnx-fp32", "tfjs-fp32", "tfjs-fp16", "coreml-fp32"]\n'
                    'repeats = 500\n'
                    '[measure]\nbackends = ["wasm", "cpu", "webgl", "webgpu"]\n'
                    '[targets]\nhost = true\nbrowsers = [{browser = "chrome", slots = 2}]\n')
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "devicelab", "batch", str(plan), "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    out = " ".join(done.stdout.replace("│", " ").replace("┃", " ").split())
    # per model and repeat: 6 on the host; on chrome tfjs x 4 backends x 2, the four tflite variants on LiteRT.js
    # (wasm, webgpu) and onnx-fp32 on ort-web (wasm, webgpu): 18; Core ML is skipped on both, with its reason
    assert "24000 jobs" in out and "all 12000 12000" in out
    assert "coreml-fp32 on this PC: Core ML prediction needs macOS" in out
    assert len(done.stdout.splitlines()) < 60 and took < 60
    listed = subprocess.run([sys.executable, "-m", "devicelab", "batch", str(plan), "--dry-run", "--list"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and listed.stdout.count("\tchrome\ttfjs\n") == 8000
