"""The job / result protocol shared by every target and the three bundled apps.

A job is a folder: ``job.json``, the model file(s) and raw little-endian tensor files. A result is a folder:
``result.json`` and raw output tensors. dtype and shape live in the JSON so Java, Swift and JavaScript read
tensors without libraries. This module is the only place that reads or writes either document; both are
validated against the JSON Schemas in ``devicelab/schemas`` on the host side.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import ProtocolError

JOB_SCHEMA = "devicelab.job/1"
RESULT_SCHEMA = "devicelab.result/1"
JOB_FILE = "job.json"
RESULT_FILE = "result.json"
DONE_MARKER = "DONE"  # written last by a target so a half-written result folder is never read

DTYPES = {"float32", "float16", "int8", "uint8", "int32", "int64", "bool"}


@dataclass
class TensorSpec:
    name: str
    dtype: str
    shape: list[int]
    file: str


@dataclass
class ModelRef:
    format: str
    variant: str
    files: list[str]
    sha256: str


@dataclass
class Performance:
    enabled: bool = True
    warmup_runs: int = 5
    runs: int = 50
    min_seconds: float = 1.0
    max_seconds: float = 30.0


@dataclass
class RuntimeSpec:
    name: str
    threads: int | None = None
    delegate: str | None = None
    backend: str | None = None
    compute_units: str | None = None
    profile: bool = False  # per-operator times, from a short extra run after the timed ones (result.extra)


@dataclass
class Capture:
    """Intermediate tensors a job returns besides the model's outputs (what `explain` compares layer by layer),
    from an untimed pass after every timed phase. ``tensors`` names them as the runtime does (TF.js node names,
    ONNX tensor names); the target keeps as many samples as fit in ``max_bytes`` (an error when not one does)
    and says how many in ``result.extra["capture"]``."""

    tensors: list[str]
    max_bytes: int = 256 << 20


@dataclass
class Job:
    id: str
    model: ModelRef
    inputs: list[TensorSpec]
    runtime: RuntimeSpec
    accuracy: bool = True
    performance: Performance = field(default_factory=Performance)
    timeout_seconds: float = 600.0
    # Only explain's browser jobs: the web runner returns the tensors; the host runner answers with an error;
    # the phone apps are never sent one (explain does not run on phones).
    capture: Capture | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {
            "schema": JOB_SCHEMA,
            "id": self.id,
            "model": asdict(self.model),
            "inputs": [asdict(t) for t in self.inputs],
            "accuracy": {"enabled": self.accuracy},
            "performance": asdict(self.performance),
            "runtime": asdict(self.runtime),
            "timeout_seconds": self.timeout_seconds,
        }
        if self.capture is not None:  # absent otherwise: jobs the phone apps read stay as they were
            doc["capture"] = asdict(self.capture)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Job:
        validate(doc, "job")
        return cls(
            id=doc["id"],
            model=ModelRef(**doc["model"]),
            inputs=[TensorSpec(**t) for t in doc["inputs"]],
            runtime=RuntimeSpec(**doc["runtime"]),
            accuracy=doc["accuracy"]["enabled"],
            performance=Performance(**doc["performance"]),
            timeout_seconds=doc["timeout_seconds"],
            capture=Capture(**doc["capture"]) if doc.get("capture") else None,
        )


@dataclass
class MemorySample:
    metric: str
    value: float
    unit: str
    method: str
    phase: str


@dataclass
class Timings:
    load: float | None = None
    first_inference: float | None = None
    warmup: list[float] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)
    accuracy_total: float | None = None


@dataclass
class Result:
    job_id: str
    status: str
    device: dict[str, Any]
    timings_ms: Timings = field(default_factory=Timings)
    memory: list[MemorySample] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    runtime_used: str | None = None
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False
    intermediates: list[TensorSpec] = field(default_factory=list)  # what job.capture asked for (float32)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        doc = {
            "schema": RESULT_SCHEMA,
            "job_id": self.job_id,
            "status": self.status,
            "error": self.error,
            "device": self.device,
            "runtime_used": self.runtime_used,
            "timings_ms": asdict(self.timings_ms),
            "memory": [asdict(m) for m in self.memory],
            "outputs": [asdict(t) for t in self.outputs],
            "extra": self.extra,
            "simulated": self.simulated,
        }
        if self.intermediates:
            doc["intermediates"] = [asdict(t) for t in self.intermediates]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Result:
        validate(doc, "result")
        return cls(
            job_id=doc["job_id"],
            status=doc["status"],
            error=doc.get("error"),
            device=doc["device"],
            runtime_used=doc.get("runtime_used"),
            timings_ms=Timings(**doc["timings_ms"]),
            memory=[MemorySample(**m) for m in doc["memory"]],
            outputs=[TensorSpec(**t) for t in doc["outputs"]],
            extra=doc.get("extra") or {},
            simulated=doc["simulated"],
            intermediates=[TensorSpec(**t) for t in doc.get("intermediates") or []],
        )


def plain_name(name: str) -> str:
    """Tensor names as converters spell them: 'serving_default_ids:0', 'ids:0' and 'ids' are all 'ids' (a job's
    input names are the source model's; each runtime matches them to its own tensors with this)."""
    name = name.rsplit(":", 1)[0] if ":" in name and name.rsplit(":", 1)[1].isdigit() else name
    return name.removeprefix("serving_default_")


# --- schema validation -------------------------------------------------------------------------------


@cache
def _validators() -> dict[str, Any]:
    import jsonschema
    from referencing import Registry, Resource

    docs = {}
    for kind in ("job", "result"):
        text = resources.files("devicelab.schemas").joinpath(f"{kind}.schema.json").read_text()
        docs[kind] = json.loads(text)
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs.values())
    return {kind: jsonschema.Draft202012Validator(doc, registry=registry) for kind, doc in docs.items()}


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a 'job' or 'result' document, for apps and users."""
    return _validators()[kind].schema


def validate(doc: Any, kind: str) -> None:
    errors = sorted(_validators()[kind].iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ProtocolError(
            f"{kind}.json does not follow the devicelab {kind} schema at {where}: {first.message}",
            hint="the app or target that wrote it may be older or newer than this devicelab; update both",
        )


# --- tensors -----------------------------------------------------------------------------------------


def _safe_path(root: Path, relative: str) -> Path:
    """Resolve a file named inside a job or result folder, refusing anything that escapes the folder."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ProtocolError(f"'{relative}' points outside its folder {root}", hint="tensor files must be relative")
    return path


def write_tensor(root: Path, relative: str, name: str, array: np.ndarray) -> TensorSpec:
    array = np.asarray(array)
    dtype = str(array.dtype)
    if dtype not in DTYPES:
        raise ProtocolError(f"tensor '{name}' has dtype {dtype}, which the protocol does not carry")
    path = _safe_path(root, relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Little-endian on disk whatever the host: phones and browsers read it byte for byte.
    path.write_bytes(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    return TensorSpec(name=name, dtype=dtype, shape=list(array.shape), file=relative)


def read_tensor(root: Path, spec: TensorSpec) -> np.ndarray:
    path = _safe_path(root, spec.file)
    if not path.is_file():
        raise ProtocolError(f"tensor file '{spec.file}' for '{spec.name}' is missing in {root}")
    data = path.read_bytes()
    dtype = np.dtype(spec.dtype).newbyteorder("<")
    expected = int(np.prod(spec.shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ProtocolError(
            f"tensor file '{spec.file}' holds {len(data)} bytes; {spec.dtype}{spec.shape} needs {expected}",
            hint="the file was truncated or written with another shape",
        )
    return np.frombuffer(data, dtype=dtype).astype(spec.dtype).reshape(spec.shape)


# --- folders -----------------------------------------------------------------------------------------


def write_job(job_dir: Path, job: Job) -> Path:
    doc = job.to_json()
    validate(doc, "job")
    path = Path(job_dir) / JOB_FILE
    path.write_text(json.dumps(doc, indent=2))
    return path


def read_job(job_dir: Path) -> Job:
    return Job.from_json(_read_json(Path(job_dir) / JOB_FILE, "job"))


def write_result(result_dir: Path, result: Result) -> Path:
    result_dir = Path(result_dir)
    result_dir.mkdir(parents=True, exist_ok=True)
    doc = result.to_json()
    validate(doc, "result")
    path = result_dir / RESULT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    (result_dir / DONE_MARKER).write_text(result.status + "\n")
    return path


def read_result(result_dir: Path) -> Result:
    return Result.from_json(_read_json(Path(result_dir) / RESULT_FILE, "result"))


def _read_json(path: Path, kind: str) -> dict[str, Any]:
    if not path.is_file():
        raise ProtocolError(f"no {path.name} in {path.parent}", hint=f"the target did not write its {kind}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{path} is not valid JSON: {exc}") from None


def error_result(job_id: str, device: dict[str, Any], kind: str, message: str, hint: str | None = None) -> Result:
    return Result(
        job_id=job_id, status="error", device=device, error={"kind": kind, "message": message, "hint": hint}
    )
