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
                                     ["compare", "STORE", "STORE"]])
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
    assert "is not a devicelab results store" in proc.stderr and "Traceback" not in proc.stderr
    assert _snapshot(folder) == before  # same bytes, and no -wal / -shm files beside it
    assert not (tmp_path / "cache").exists()  # refused before any work


@pytest.mark.parametrize("command", [["results"], ["export", "--format", "json"], ["compare", "run:latest",
                                                                                   "run:previous"]])
def test_reading_commands_do_not_create_a_store(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    proc = _cli(*command, "--store", str(missing), cache=tmp_path / "cache")
    assert proc.returncode == 1 and "no results store at" in proc.stderr and "Hint:" in proc.stderr, proc.stderr
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
