"""The SQLite results store: rows survive reopening, exports carry what the table shows."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from devicelab.errors import StoreError, UsageError
from devicelab.store import Store


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
