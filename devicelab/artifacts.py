"""Content-addressed cache of converted variants.

An artifact's key is the sha256 of what determines its bytes: the source model's hash, the variant, the
calibration data's hash (when the variant uses it), the input shapes it was made for (when the source has free
dimensions and the format may fix them) and the converter library versions. Same key, no work.
Each artifact folder holds the model file(s) and ``manifest.json``; it appears atomically (built aside,
then renamed), so an interrupted conversion never leaves a half artifact behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.convert.base import ConversionContext, Variant, conversion_failure
from devicelab.convert.variants import converter, get
from devicelab.errors import ConversionError, DevicelabError, UsageError
from devicelab.hashing import sha256_file, sha256_json
from devicelab.models import SourceModel

MANIFEST = "manifest.json"
ARTIFACT_SCHEMA = "devicelab.artifact/1"


@dataclass
class Artifact:
    dir: Path
    manifest: dict[str, Any]

    @property
    def variant(self) -> Variant:
        return get(self.manifest["variant"])

    @property
    def files(self) -> list[str]:
        return [f["path"] for f in self.manifest["files"]]

    @property
    def sha256(self) -> str:
        return self.manifest["sha256"]

    @property
    def size_bytes(self) -> int:
        return self.manifest["size_bytes"]

    @property
    def model_path(self) -> Path:
        """The file (or .mlpackage folder) a runtime opens."""
        return self.dir / converter(self.variant).MODEL_FILE


def artifact_key(source: SourceModel, variant: Variant, calibration_sha: str | None,
                 shapes: list[list[int]] | None = None) -> str:
    key: dict[str, Any] = {
        "schema": ARTIFACT_SCHEMA,
        "source": source.sha256,
        "variant": variant.name,
        "calibration": calibration_sha if variant.needs_calibration else None,
        "versions": converter(variant).versions(),
    }
    used = _shapes_used(source, variant, shapes)
    if used is not None:  # only then: adding it always would re-key every existing artifact
        key["shapes"] = used
    return sha256_json(key)


def _shapes_used(source: SourceModel, variant: Variant, shapes: list[list[int]] | None) -> list[list[int]] | None:
    """The shapes that can change this artifact's bytes: given, the source has free dims, the format fixes them."""
    if shapes is None or not getattr(converter(variant), "SHAPE_DEPENDENT", False):
        return None
    if not any(None in spec.shape[1:] for spec in source.inputs):
        return None
    return [[int(d) for d in shape] for shape in shapes]


def get_or_convert(source: SourceModel, variant: Variant, cache: Path,
                   calibration: list[np.ndarray] | np.ndarray | None = None, calibration_sha: str | None = None,
                   shapes: list[list[int]] | None = None) -> tuple[Artifact, bool]:
    """Return the cached artifact for (source, variant, options), converting only on a miss; -> (artifact, hit).

    calibration: one array per source input (see ConversionContext); shapes: per-input shapes with batch 1 from
    the data, for formats that must fix free dimensions.
    """
    if isinstance(calibration, np.ndarray):
        calibration = [calibration]
    if source.format not in variant.sources:
        raise UsageError(f"{variant.name} cannot be made from {source.format} models",
                         hint=f"it is made from: {', '.join(variant.sources)}")
    key = artifact_key(source, variant, calibration_sha, shapes)
    folder = cache / "artifacts" / key[:2] / key
    if (folder / MANIFEST).exists():
        return Artifact(folder, json.loads((folder / MANIFEST).read_text())), True

    scratch = cache / "scratch" / source.sha256[:32]
    scratch.mkdir(parents=True, exist_ok=True)
    module = converter(variant)
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{variant.name}-", dir=folder.parent))
    try:
        started = time.perf_counter()
        try:
            extra = module.convert(ConversionContext(source, calibration, scratch, shapes), variant, building)
        except DevicelabError:
            raise
        except Exception as exc:  # converters raise anything; the user gets one readable message
            raise conversion_failure(variant, exc) from exc
        seconds = time.perf_counter() - started
        files = _list_files(building)
        if not files:
            raise ConversionError(f"{variant.name}: the converter wrote no files")
        try:
            described = module.describe(building)  # reads the output back: unreadable output is a failure too
        except Exception as exc:
            raise conversion_failure(variant, exc) from exc
        manifest = {
            "schema": ARTIFACT_SCHEMA,
            "key": key,
            "variant": variant.name,
            "format": variant.format,
            "quant": variant.quant,
            "source": {"name": source.name, "format": source.format, "sha256": source.sha256},
            "files": files,
            "size_bytes": sum(f["size"] for f in files),
            "sha256": sha256_json([(f["path"], f["sha256"]) for f in files]),
            **described,
            "calibration": {"sha256": calibration_sha, "samples": len(calibration[0])}
            if variant.needs_calibration and calibration else None,
            "fixed_shapes": None,  # {input name: shape} when the variant was made for the data's shapes
            **(extra or {}),
            "versions": module.versions(),
            "convert_seconds": round(seconds, 3),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (building / MANIFEST).write_text(json.dumps(manifest, indent=2))
        building.replace(folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return Artifact(folder, manifest), False


def _list_files(folder: Path) -> list[dict[str, Any]]:
    return [{"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
            for p in sorted(folder.rglob("*")) if p.is_file()]


def load_artifact(folder: Path) -> Artifact:
    return Artifact(folder, json.loads((folder / MANIFEST).read_text()))
