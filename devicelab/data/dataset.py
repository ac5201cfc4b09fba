"""The Dataset record every loader produces, and the checks that turn raw arrays into one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from devicelab.errors import DataError

IMAGE_CHANNELS = (1, 3, 4)


# eq=False: field-wise == on numpy arrays is ambiguous, and identity is what callers want to compare.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Model-ready samples plus what is needed to identify and report on them.

    When kind == "image", x has shape (N, H, W, C) with C in (1, 3, 4) and values in [0, 1].
    The arrays are read-only so sha256 keeps describing them.
    """

    name: str
    x: np.ndarray
    y: np.ndarray | None
    num_classes: int | None
    kind: str
    sha256: str

    def __len__(self) -> int:
        return int(self.x.shape[0])


def dataset_sha256(x: np.ndarray, y: np.ndarray | None) -> str:
    """Hash samples by value, with a fixed byte order so the hash is the same on every machine."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x, dtype="<f4").reshape(-1).view(np.uint8))
    digest.update(repr(tuple(int(d) for d in x.shape)).encode())
    if y is None:
        digest.update(b"no-labels")
    else:
        digest.update(b"labels")
        digest.update(np.ascontiguousarray(y, dtype="<i8").reshape(-1).view(np.uint8))
    return digest.hexdigest()


def to_float(x: np.ndarray, source: str) -> np.ndarray:
    """float32 model input; uint8 is taken to be pixels and scaled to [0, 1]."""
    if x.dtype.kind not in "biuf":
        raise DataError(
            f"{source}: samples have dtype {x.dtype}, expected numbers",
            hint="store x as a numeric array (uint8 pixels or float32)",
        )
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    out = x.astype(np.float32)
    if not np.isfinite(out).all():
        raise DataError(f"{source}: samples contain NaN or infinite values", hint="clean the data first")
    return out


def looks_like_images(x: np.ndarray) -> bool:
    """True for (N, H, W) uint8 or (N, H, W, C) arrays with C in 1/3/4 and pixel-range values."""
    if x.ndim == 3 and x.dtype == np.uint8:
        return True
    if x.ndim != 4 or x.shape[-1] not in IMAGE_CHANNELS:
        return False
    if x.dtype == np.uint8:
        return True
    # Floats only count as images when already in [0, 1]; normalised tensors cannot be drawn as-is.
    return x.dtype.kind == "f" and x.size > 0 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def normalize_labels(y: np.ndarray, n: int, source: str) -> tuple[np.ndarray, int]:
    """Class indices as int64 (N,), from (N,), (N, 1) or one-hot (N, C); returns (labels, num_classes)."""
    hint = "labels must be class indices shaped (N,) or one-hot shaped (N, classes)"
    if y.dtype.kind not in "biuf":
        raise DataError(f"{source}: labels have dtype {y.dtype}, expected numbers", hint=hint)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if len(y) != n:
        raise DataError(f"{source}: {n} samples but {len(y)} labels", hint="give x and y the same length")
    if y.ndim == 2:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise DataError(f"{source}: 2-D labels {y.shape} are not one-hot", hint=hint)
        return np.argmax(y, axis=1).astype(np.int64), int(y.shape[1])
    if y.ndim != 1:
        raise DataError(f"{source}: labels have shape {y.shape}", hint=hint)
    labels = y.astype(np.int64)
    if (labels != y).any() or (labels < 0).any():
        raise DataError(f"{source}: labels must be non-negative whole numbers", hint=hint)
    return labels, int(labels.max()) + 1 if len(labels) else 0


def make_dataset(name: str, x: np.ndarray, y: np.ndarray | None, classes: int | None, kind: str) -> Dataset:
    """Cast, freeze and hash already-validated arrays (labels from normalize_labels)."""
    if len(x) == 0:
        raise DataError(f"{name}: the dataset has no samples", hint="check the file, split and limit")
    x = np.ascontiguousarray(to_float(x, name))
    x.setflags(write=False)
    if y is not None:
        y = np.ascontiguousarray(y, dtype=np.int64)
        y.setflags(write=False)
    return Dataset(name=name, x=x, y=y, num_classes=classes, kind=kind, sha256=dataset_sha256(x, y))
