"""The results store: one SQLite file, one row per measured job, written the moment a result arrives.

Summary columns make tables and exports cheap; the full result document (raw samples) and the outputs
(compressed .npz bytes) ride along so later analysis (the study, compare) never has to measure again.
Each insert is its own transaction, so an interrupted run keeps everything it already measured.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import DevicelabError, StoreError, UsageError

SCHEMA_VERSION = 1
SUMMARY_COLUMNS = [
    "id", "created_at", "run_id", "job_id", "model", "model_sha256", "variant", "format", "artifact_sha256",
    "size_bytes", "target", "runtime", "runtime_used", "dataset", "dataset_sha256", "samples", "status",
    "error_kind", "error_message", "accuracy", "agreement", "max_abs_diff", "mean_abs_diff", "load_ms",
    "first_ms", "median_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "cv", "runs", "memory_mib",
    "memory_method", "simulated", "job_key", "task", "mae", "rmse", "cosine", "cosine_min", "snr_db",
]
_REAL = {"accuracy", "agreement", "max_abs_diff", "mean_abs_diff", "mae", "rmse", "cosine", "cosine_min", "snr_db",
         "load_ms", "first_ms", "median_ms", "p90_ms",
         "p99_ms", "mean_ms", "std_ms", "cv", "memory_mib"}
_INT = {"id", "size_bytes", "samples", "runs", "simulated"}


def _column_type(name: str) -> str:
    if name == "id":
        return "INTEGER PRIMARY KEY"
    return "REAL" if name in _REAL else "INTEGER" if name in _INT else "TEXT"


_COLUMNS_SQL = ",\n  ".join(f"{c} {_column_type(c)}" for c in SUMMARY_COLUMNS)
_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS results (
  {_COLUMNS_SQL},
  device_json TEXT, job_json TEXT, result_json TEXT, metrics_json TEXT, outputs BLOB
);
"""
_DOCUMENT_COLUMNS = [("device_json", "TEXT"), ("job_json", "TEXT"), ("result_json", "TEXT"),
                     ("metrics_json", "TEXT"), ("outputs", "BLOB")]
# After the column migration: an older store may lack indexed columns until then.
_INDEXES = """
CREATE INDEX IF NOT EXISTS results_reference ON results (model_sha256, variant, dataset_sha256, status);
CREATE INDEX IF NOT EXISTS results_job_key ON results (job_key, status);
"""


@dataclass
class Row:
    """One stored result: summary fields plus the documents behind them."""

    fields: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def result(self) -> dict[str, Any]:
        return json.loads(self.fields.get("result_json") or "{}")

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads(self.fields.get("metrics_json") or "{}")

    def outputs(self) -> list[np.ndarray]:
        blob = self.fields.get("outputs")
        if not blob:
            return []
        with np.load(io.BytesIO(blob)) as archive:
            return [archive[f"output_{k}"] for k in range(len(archive.files))]


# SQLite's application_id marks the file as a devicelab store ("DLab"); `file` and friends show it.
APPLICATION_ID = 0x444C6162
_STORE_HINT = "choose another file with --store, or move the broken one aside"


class Store:
    """A devicelab results store. ``create=False`` opens an existing store only (reading commands must not leave
    an empty file behind). Any other SQLite database, or any other file, is refused before anything is written."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(f"no results store at {self.path}" if not self.path.exists()
                             else f"{self.path} is not a results store file",
                             hint="measure something first (`devicelab measure MODEL`), or give --store FILE")
        existing = self.path.is_file() and self.path.stat().st_size > 0
        try:
            if self.path.is_dir():
                raise StoreError(f"{self.path} is a folder, not a results store file",
                                 hint="give --store a file path, e.g. results.sqlite")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30)
            self._db.row_factory = sqlite3.Row
            if existing:
                self._check_ours()
            else:
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_DDL)
            self._add_missing_columns()
            self._db.executescript(_INDEXES)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise StoreError(f"cannot open results store {self.path}: {exc}", hint=_STORE_HINT) from None
        except OSError as exc:
            raise StoreError(f"cannot create results store {self.path}: {exc.strerror or exc}",
                             hint="give --store a path in a folder you can write") from None
        except StoreError:
            self._close_quietly()
            raise
        if found is None:
            self._write(lambda db: db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                              (str(SCHEMA_VERSION),)))
        elif int(found[0]) > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer devicelab (store schema {found[0]})",
                             hint="upgrade devicelab to read it")

    def _check_ours(self) -> None:
        """Refuse, untouched, any database devicelab did not make. Stores from before the application_id mark
        (a meta table with a schema_version and a results table) are ours: they get the mark."""
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            return
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        legacy = app_id == 0 and {"meta", "results"} <= tables and self._db.execute(
            "SELECT 1 FROM meta WHERE key='schema_version'").fetchone() is not None
        if not legacy:
            raise StoreError(f"{self.path} is not a devicelab results store (another program's database?); "
                             "devicelab left it untouched", hint="give --store a new file or a devicelab store")
        self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _close_quietly(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    def _write(self, work: Any) -> Any:
        """One write transaction; a store that cannot be written any more is one clean error."""
        try:
            with self._db:
                return work(self._db)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write to results store {self.path}: {exc}",
                             hint="check the file and its folder are writable and the disk has room") from None

    @classmethod
    def check_writable(cls, path: Path) -> None:
        """Open (or create) the store and prove a write goes through, before any work is done: a store that only
        fails on the first result would lose every measurement made before it."""
        with cls(path) as db:
            db._write(lambda conn: conn.execute("UPDATE meta SET value = value WHERE key = 'schema_version'"))
            db._write(lambda conn: conn.execute("CREATE TABLE IF NOT EXISTS write_probe (x)"))
            db._write(lambda conn: conn.execute("DROP TABLE write_probe"))

    def _add_missing_columns(self) -> None:
        """Stores written by an older devicelab lack newer summary columns: add them, empty, in place."""
        present = {r[1] for r in self._db.execute("PRAGMA table_info(results)")}
        wanted = [(c, _column_type(c)) for c in SUMMARY_COLUMNS if c != "id"] + _DOCUMENT_COLUMNS
        with self._db:
            for column, kind in wanted:
                if column not in present:
                    self._db.execute(f"ALTER TABLE results ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, fields: dict[str, Any], *, device: dict | None = None, job: dict | None = None,
            result: dict | None = None, metrics: dict | None = None,
            outputs: list[np.ndarray] | None = None) -> int:
        """Insert one result in its own transaction; returns its id."""
        unknown = set(fields) - set(SUMMARY_COLUMNS)
        if unknown:
            raise ValueError(f"unknown store columns: {sorted(unknown)}")
        row = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), **fields,
               "device_json": json.dumps(device or {}), "job_json": json.dumps(job or {}),
               "result_json": json.dumps(result or {}), "metrics_json": json.dumps(metrics or {}, default=json_default),
               "outputs": _pack(outputs) if outputs else None}
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = self._write(lambda db: db.execute(f"INSERT INTO results ({columns}) VALUES ({marks})",
                                                   list(row.values())))
        return int(cursor.lastrowid or 0)

    def rows(self, *, model: str | None = None, variant: str | None = None, target: str | None = None,
             run_id: str | None = None, status: str | None = None, last: int | None = None) -> list[Row]:
        where, args = [], []
        for column, value in (("model", model), ("variant", variant), ("target", target), ("run_id", run_id),
                              ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM results" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id"
        found = [Row(dict(r)) for r in self._db.execute(sql, args)]
        return found[-last:] if last else found

    def get(self, row_id: int) -> Row | None:
        found = self._db.execute("SELECT * FROM results WHERE id = ?", (row_id,)).fetchone()
        return Row(dict(found)) if found else None

    def find_reference(self, model_sha256: str, dataset_sha256: str, samples: int) -> Row | None:
        """The newest successful run of the original model on this PC on exactly these samples."""
        found = self._db.execute(
            "SELECT * FROM results WHERE model_sha256 = ? AND variant = 'original' AND dataset_sha256 = ? "
            "AND samples = ? AND status = 'ok' AND target = 'host' AND outputs IS NOT NULL ORDER BY id DESC LIMIT 1",
            (model_sha256, dataset_sha256, samples)).fetchone()
        return Row(dict(found)) if found else None

    def find_job(self, job_key: str, statuses: tuple[str, ...] = ("ok",)) -> Row | None:
        """The newest result of exactly this job (same artifact, target, settings and samples), if any."""
        marks = ", ".join("?" for _ in statuses)
        found = self._db.execute(
            f"SELECT * FROM results WHERE job_key = ? AND status IN ({marks}) ORDER BY id DESC LIMIT 1",
            (job_key, *statuses)).fetchone()
        return Row(dict(found)) if found else None

    def finished_jobs(self, statuses: tuple[str, ...] = ("ok",)) -> dict[str, tuple[int, str]]:
        """{job_key: (row id, status)} of the newest result of every job in these statuses (no documents read)."""
        marks = ", ".join("?" for _ in statuses)
        found = self._db.execute(f"SELECT job_key, id, status FROM results WHERE job_key IS NOT NULL "
                                 f"AND status IN ({marks}) ORDER BY id", statuses)
        return {key: (int(row_id), status) for key, row_id, status in found}

    def targets(self) -> set[str]:
        """Every target name results were filed under."""
        return {r[0] for r in self._db.execute("SELECT DISTINCT target FROM results WHERE target IS NOT NULL")}

    def set_status(self, row_ids: list[int], status: str) -> None:
        """Re-file results, in one transaction: a failed attempt that a retry replaced becomes 'retried', so it
        stays on record (with its error) but no longer counts as the job's result."""
        self._write(lambda db: db.executemany("UPDATE results SET status = ? WHERE id = ?",
                                              [(status, i) for i in row_ids]))

    def delete(self, row_ids: list[int]) -> int:
        """Remove these results, in one transaction; returns how many went."""
        cursor = self._write(lambda db: db.executemany("DELETE FROM results WHERE id = ?", [(i,) for i in row_ids]))
        return int(cursor.rowcount)

    def run_ids(self) -> list[str]:
        """Every run id, oldest first."""
        return [r[0] for r in self._db.execute("SELECT run_id FROM results WHERE run_id IS NOT NULL GROUP BY run_id "
                                               "ORDER BY MIN(id)")]

    def export(self, destination: Path | None, fmt: str, rows: list[Row] | None = None, *,
               outputs: bool = False) -> str | bytes:
        """Write rows as CSV (summary columns), JSON (summary, documents, raw timing samples) or Parquet (one row
        per result, raw samples as list columns); the model's output tensors only with ``outputs``. Returns what
        was written."""
        if fmt not in EXPORT_FORMATS:
            raise UsageError(f"unknown export format '{fmt}'", hint=f"use {', '.join(EXPORT_FORMATS)}")
        if outputs and fmt == "csv":
            raise UsageError("CSV holds the summary columns only, not output tensors",
                             hint="use --format json or --format parquet with --outputs")
        if destination is not None:
            check_destination(Path(destination))
        rows = self.rows() if rows is None else rows
        data = {"csv": _csv, "json": _json, "parquet": _parquet}[fmt](rows, outputs)
        if destination is not None:
            write_file(Path(destination), data)
        return data


EXPORT_FORMATS = ("csv", "json", "parquet")


class ExportError(DevicelabError):
    kind = "export"


def check_destination(path: Path) -> None:
    """Refuse an export destination that cannot work before reading the store."""
    if path.is_dir():
        raise ExportError(f"{path} is a folder", hint="give -o a file name, e.g. -o results.csv")
    if not path.parent.is_dir():
        raise ExportError(f"folder {path.parent} does not exist", hint="create it first, or give -o another path")


def write_file(path: Path, data: str | bytes) -> None:
    """Write whole or not at all: a temporary file beside it, renamed into place (a full disk or a failed write
    leaves no half file). Special files (/dev/stdout, a pipe) are written in place."""
    payload = data.encode() if isinstance(data, str) else data
    in_place = path.exists() and not path.is_file()
    tmp = path if in_place else path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "wb") as out:
            out.write(payload)
        if not in_place:
            tmp.replace(path)
    except OSError as exc:
        if not in_place:
            tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}",
                          hint="check the folder is writable and the disk has room, or give -o another path") from None


def _csv(rows: list[Row], outputs: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.fields)
    return buffer.getvalue()


def _json(rows: list[Row], outputs: bool) -> str:
    docs = []
    for row in rows:
        doc = {c: row.get(c) for c in SUMMARY_COLUMNS}
        for key in ("device", "job", "result", "metrics"):
            doc[key] = json.loads(row.get(f"{key}_json") or "{}")
        if outputs:
            doc["outputs"] = [{"dtype": str(o.dtype), "shape": list(o.shape), "data": o.tolist()}
                              for o in row.outputs()]
        docs.append(doc)
    # One result per line, no indentation: thousands of raw timing samples per result stay readable by jq and
    # cost a third of what one number per indented line did.
    lines = ",\n".join(json.dumps(d, separators=(",", ":"), default=json_default) for d in docs)
    return '{"schema": "devicelab.export/1", "results": [\n' + lines + ("\n" if docs else "") + "]}\n"


def _parquet(rows: list[Row], outputs: bool) -> bytes:
    from devicelab.errors import require

    pa = require("pyarrow", "parquet", "Parquet exports")
    pq = require("pyarrow.parquet", "parquet", "Parquet exports")
    types = {c: pa.float64() if c in _REAL else pa.int64() if c in _INT else pa.string() for c in SUMMARY_COLUMNS}
    columns: dict[str, list[Any]] = {c: [row.get(c) for row in rows] for c in SUMMARY_COLUMNS}
    warmup, runs, result_docs = [], [], []
    for row in rows:
        result = row.result
        timings = result.get("timings_ms") or {}
        warmup.append(timings.get("warmup"))
        runs.append(timings.get("runs"))
        # The samples live in their list columns; the document keeps everything else.
        result["timings_ms"] = {k: v for k, v in timings.items() if k not in ("warmup", "runs")}
        result_docs.append(json.dumps(result))
    arrays = {c: pa.array(v, type=types[c]) for c, v in columns.items()}
    arrays["warmup_ms"] = pa.array(warmup, type=pa.list_(pa.float64()))
    arrays["runs_ms"] = pa.array(runs, type=pa.list_(pa.float64()))
    for key in ("device", "job", "metrics"):
        arrays[f"{key}_json"] = pa.array([row.get(f"{key}_json") for row in rows], type=pa.string())
    arrays["result_json"] = pa.array(result_docs, type=pa.string())
    if outputs:  # each result's output tensors as the stored .npz bytes (numpy.load reads them)
        arrays["outputs_npz"] = pa.array([row.get("outputs") for row in rows], type=pa.binary())
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    return buffer.getvalue()


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]


@contextmanager
def open_store(path: Path) -> Iterator[Store]:
    store = Store(path)
    try:
        yield store
    finally:
        store.close()


def _pack(outputs: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"output_{k}": np.asarray(o) for k, o in enumerate(outputs)})
    return buffer.getvalue()


def json_default(value: Any) -> Any:
    """json.dumps(default=...) for the numpy values metrics and documents carry."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value)}")
