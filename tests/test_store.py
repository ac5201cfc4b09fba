"""The SQLite results store: rows survive reopening, exports carry what the table shows."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devicelab.errors import StoreError, UsageError
from devicelab.store import APPLICATION_ID, Store


def _fields(variant: str, **extra: object) -> dict:
    return {"model": "m", "model_sha256": "s" * 64, "variant": variant, "target": "host", "status": "ok",
            "dataset": "d", "dataset_sha256": "d" * 64, "samples": 3, **extra}


def test_rows_survive_reopen_and_outputs_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    outputs = [np.arange(30, dtype=np.float32).reshape(3, 10)]
    with Store(path) as db:
        first = db.add(_fields("original", median_ms=1.5), outputs=outputs, result={"raw": [1, 2]})
        db.add(_fields("tflite-fp32", status="error", error_kind="timeout", error_message="slow"))
    with Store(path) as db:
        rows = db.rows()
        assert [r["variant"] for r in rows] == ["original", "tflite-fp32"]
        np.testing.assert_array_equal(db.get(first).outputs()[0], outputs[0])
        assert db.get(first).result == {"raw": [1, 2]}
        assert db.find_reference("s" * 64, "d" * 64, 3)["id"] == first
        assert db.find_reference("s" * 64, "d" * 64, 4) is None
        assert [r["variant"] for r in db.rows(status="error")] == ["tflite-fp32"]


def test_export_csv_and_json(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as db:
        db.add(_fields("tflite-int8", accuracy=0.95, median_ms=0.02), metrics={"latency": {"n": 5}})
        rows = list(csv.DictReader(io.StringIO(db.export(tmp_path / "out.csv", "csv"))))
        assert rows[0]["variant"] == "tflite-int8" and float(rows[0]["accuracy"]) == 0.95
        assert (tmp_path / "out.csv").exists()
        doc = json.loads(db.export(None, "json"))
        assert doc["results"][0]["metrics"] == {"latency": {"n": 5}}
        with pytest.raises(UsageError, match="unknown export format"):
            db.export(None, "xml")


def test_unknown_columns_are_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as db, pytest.raises(ValueError, match="bogus"):
        db.add({"bogus": 1})


def test_newer_store_is_refused_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer devicelab"):
        Store(path)


def test_garbage_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open results store"):
        Store(path)


def test_older_store_gains_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                     "INSERT INTO meta VALUES ('schema_version', '1');"
                     "CREATE TABLE results (id INTEGER PRIMARY KEY, model TEXT, status TEXT);"
                     "INSERT INTO results (model, status) VALUES ('lenet5', 'ok');")
    db.commit()
    db.close()
    with Store(path) as store:
        assert [r["model"] for r in store.rows()] == ["lenet5"] and store.rows()[0]["job_key"] is None
        store.add({"model": "lenet1", "status": "ok", "job_key": "k1"})
        assert store.find_job("k1")["model"] == "lenet1" and store.find_job("k2") is None
        assert store.find_job("k1", statuses=("error",)) is None


# --- issue 13: only devicelab's own stores are touched; reading never creates one; unwritable = refused early --


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVICELAB_CACHE": str(cache)}
    env.pop("DEVICELAB_VERBOSE", None)
    env.pop("DEVICELAB_STORE", None)
    return subprocess.run([sys.executable, "-m", "devicelab", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_new_stores_carry_the_devicelab_mark(tmp_path: Path) -> None:
    Store(tmp_path / "r.sqlite").close()
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


@pytest.mark.parametrize("command", [["measure", "lenet5", "--samples", "5"], ["results"], ["export"],
                                     ["compare", "STORE", "STORE"], ["prune", "--yes"]])
def test_another_programs_database_is_refused_untouched(command: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir()
    other = folder / "other.sqlite"
    with sqlite3.connect(other) as db:  # an app's own table called results, as the issue found
        db.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO results (name) VALUES ('keep me')")
    before = _snapshot(folder)
    args = [str(other) if a == "STORE" else a for a in command]
    proc = _cli(*args, *([] if "STORE" in command else ["--store", str(other)]), cache=tmp_path / "cache")
    assert proc.returncode == 1, proc.stderr
    assert "is not a devicelab results store" in " ".join(proc.stderr.split()) and "Traceback" not in proc.stderr
    assert _snapshot(folder) == before  # same bytes, and no -wal / -shm files beside it
    assert not (tmp_path / "cache").exists()  # refused before any work


@pytest.mark.parametrize("command", [["results"], ["export", "--format", "json"], ["compare", "run:latest",
                                                                                   "run:previous"]])
def test_reading_commands_do_not_create_a_store(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    proc = _cli(*command, "--store", str(missing), cache=tmp_path / "cache")
    assert proc.returncode == 1 and "no results store at" in " ".join(proc.stderr.split()), proc.stderr
    assert "Hint:" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def _make_unwritable(path: Path) -> None:
    Store(path).close()
    if os.geteuid() == 0:  # root writes through permissions, not through the immutable attribute
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o444)


@pytest.mark.parametrize("kind", ["read-only file", "folder", "under /proc"])
def test_a_store_that_cannot_be_written_stops_measure_before_any_work(kind: str, tmp_path: Path) -> None:
    path = {"read-only file": tmp_path / "ro.sqlite", "folder": tmp_path,
            "under /proc": Path("/proc/devicelab-test/results.sqlite")}[kind]
    if kind == "read-only file":
        _make_unwritable(path)
    try:
        proc = _cli("measure", "lenet5", "--samples", "5", "--store", str(path), cache=tmp_path / "cache")
    finally:
        if kind == "read-only file" and os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "results store" in proc.stderr and "Hint:" in proc.stderr
    assert not (tmp_path / "cache").exists()  # nothing was built or measured, so nothing was lost


def test_a_store_that_fails_mid_run_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Store(path) as db:
        db.add(_fields("original"))
        db._db.close()
        db._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # as if the disk went read-only
        with pytest.raises(StoreError, match="cannot write to results store"):
            db.add(_fields("tflite-fp32"))


# --- issue 13: results a person and a program can use ---------------------------------------------------------


def _measured(variant: str, *, model: str = "lenet5", target: str = "host", run: str = "r1",
              status: str = "ok", median: float = 0.4613) -> dict:
    return _fields(variant, model=model, target=target, run_id=run, status=status, median_ms=median,
                   accuracy=0.9, agreement=0.995, memory_mib=22.4, size_bytes=787_000,
                   runtime_used="keras-cpu (keras, tf.function)", error_kind=None if status == "ok" else "timeout")


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """Two runs, two models, two targets, one failure; raw samples and outputs on each ok row."""
    path = tmp_path / "filled.sqlite"
    with Store(path) as db:
        for run, model, variant, target, status in [
                ("r1", "lenet5", "original", "host", "ok"), ("r1", "lenet5", "tflite-int8", "host", "ok"),
                ("r1", "resnet20", "onnx-int8-static", "chrome", "error"),
                ("r2", "lenet5", "tflite-int8", "chrome", "ok"), ("r2", "resnet20", "tflite-fp16", "host", "ok")]:
            ok = status == "ok"
            db.add(_measured(variant, model=model, target=target, run=run, status=status),
                   result={"timings_ms": {"runs": [0.46] * 500, "warmup": [0.5] * 5}} if ok else None,
                   outputs=[np.full((100, 10), 0.1, dtype=np.float32)] if ok else None)
    return path


def test_results_filters_and_json(filled: Path, tmp_path: Path) -> None:
    def ids(*args: str) -> list[int]:
        proc = _cli("results", "--store", str(filled), "--json", *args, cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr
        return [row["id"] for row in json.loads(proc.stdout)]

    assert ids() == [1, 2, 3, 4, 5]
    assert ids("--model", "lenet5") == [1, 2, 4]
    assert ids("--variant", "tflite-int8", "--target", "chrome") == [4]
    assert ids("--status", "error") == [3]
    assert ids("--run", "latest") == [4, 5] and ids("--run", "previous") == [1, 2, 3]
    assert ids("--run", "r1") == [1, 2, 3]
    assert ids("--model", "lenet5", "--last", "2") == [2, 4]
    row = json.loads(_cli("results", "--store", str(filled), "--json", "--last", "1", cache=tmp_path).stdout)[0]
    assert row["median_ms"] == 0.4613 and "result_json" not in row and "outputs" not in row
    for bad in (["--last", "0"], ["--last", "-3"], ["--status", "fine"], ["--columns", "id,speed"]):
        proc = _cli("results", "--store", str(filled), *bad, cache=tmp_path / "cache")
        assert proc.returncode == 2 and "Hint:" in proc.stderr and "Traceback" not in proc.stderr, (bad, proc.stderr)


def test_results_fit_80_columns_with_numbers_whole(filled: Path, tmp_path: Path) -> None:
    import fcntl
    import pty
    import re
    import struct
    import termios

    # A real terminal of 80 columns: a pseudo-terminal with that window size.
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["DEVICELAB_CACHE"] = str(tmp_path / "cache")
    proc = subprocess.Popen([sys.executable, "-m", "devicelab", "results", "--store", str(filled)], env=env,
                            stdout=follower, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())  # colours off
    lines = [line.rstrip("\r") for line in text.splitlines()]
    assert max(len(line) for line in lines) <= 80, text
    table = "\n".join(lines)
    assert table.count("0.461") == 5 and table.count("22.4") == 5 and table.count("99.5%") == 5
    wide = _cli("results", "--store", str(filled), "--wide", cache=tmp_path / "cache").stdout
    assert "p90 ms" in wide and "keras-cpu (keras, tf.function)" in wide
    picked = _cli("results", "--store", str(filled), "--columns", "id,run,error", cache=tmp_path / "cache").stdout
    assert "run" in picked and "r2" in picked and "median" not in picked


def test_delete_asks_first_and_prune_takes_the_same_filters(filled: Path, tmp_path: Path) -> None:
    refused = _cli("results", "--store", str(filled), "--status", "error", "--delete", cache=tmp_path / "cache")
    assert refused.returncode == 2 and "--yes" in refused.stderr  # no terminal to ask: nothing deleted
    with Store(filled) as db:
        assert len(db.rows()) == 5
    done = _cli("results", "--store", str(filled), "--status", "error", "--delete", "--yes", cache=tmp_path)
    assert done.returncode == 0 and "Deleted 1 result(s)" in done.stdout, done.stderr
    pruned = _cli("prune", "--store", str(filled), "--run", "previous", "--yes", cache=tmp_path / "cache")
    assert pruned.returncode == 0 and "Deleted 2 result(s)" in pruned.stdout, pruned.stderr
    with Store(filled) as db:
        assert [r["id"] for r in db.rows()] == [4, 5]


def test_exports_filter_and_keep_outputs_out_unless_asked(filled: Path, tmp_path: Path) -> None:
    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return _cli("export", "--store", str(filled), *args, cache=tmp_path / "cache")

    csv_rows = list(csv.DictReader(io.StringIO(export("--model", "resnet20").stdout)))
    assert [r["variant"] for r in csv_rows] == ["onnx-int8-static", "tflite-fp16"]
    plain = tmp_path / "plain.json"
    with_outputs = tmp_path / "outputs.json"
    assert export("-f", "json", "--run", "latest", "-o", str(plain)).returncode == 0
    assert export("-f", "json", "--run", "latest", "--outputs", "-o", str(with_outputs)).returncode == 0
    docs = json.loads(plain.read_text())["results"]
    assert [d["id"] for d in docs] == [4, 5] and "outputs" not in docs[0]
    assert len(docs[0]["result"]["timings_ms"]["runs"]) == 500  # raw samples stay: compare needs them
    full = json.loads(with_outputs.read_text())["results"][0]["outputs"][0]
    assert full["shape"] == [100, 10] and len(full["data"]) == 100
    assert with_outputs.stat().st_size > 4 * plain.stat().st_size
    parquet = tmp_path / "r.parquet"
    assert export("-f", "parquet", "--status", "ok", "-o", str(parquet)).returncode == 0
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    assert table.num_rows == 4 and table.column("median_ms").to_pylist() == [0.4613] * 4
    assert len(table.column("runs_ms")[0].as_py()) == 500 and "outputs_npz" not in table.column_names
    no_file = export("-f", "parquet")
    assert no_file.returncode == 2 and "-o" in no_file.stderr
    no_outputs_in_csv = export("--outputs")
    assert no_outputs_in_csv.returncode == 2 and "CSV" in no_outputs_in_csv.stderr


@pytest.mark.parametrize("where", ["missing folder", "a folder", "unwritable", "full disk"])
def test_export_errors_are_one_message(where: str, filled: Path, tmp_path: Path) -> None:
    target = {"missing folder": tmp_path / "nope" / "r.csv", "a folder": tmp_path,
              "unwritable": Path("/proc/devicelab-r.csv"), "full disk": Path("/dev/full")}[where]
    proc = _cli("export", "--store", str(filled), "-o", str(target), cache=tmp_path / "cache")
    assert proc.returncode == 1 and "Error:" in proc.stderr and "Hint:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "Errno" not in proc.stderr
    assert not list(tmp_path.glob(".*.part"))
