"""The Dataset record every loader produces, and the checks that turn raw arrays into one.

A dataset holds one array per model input (named like the inputs, or ``x`` for a single one), each in its own
dtype: token ids stay int32/int64, masks stay bool or int, only pixel data is scaled to float32 [0, 1]. Labels
are class ids (classification) or float targets (regression), or absent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from devicelab.errors import DataError

IMAGE_CHANNELS = (1, 3, 4)
CLASS_LABELS, VALUE_LABELS = "class", "value"  # what Dataset.label_kind can say


# eq=False: field-wise == on numpy arrays is ambiguous, and identity is what callers want to compare.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Model-ready samples plus what is needed to identify and report on them.

    ``inputs`` maps input names to arrays of N samples each (insertion order = the order found in the data).
    When kind == "image", the first input has shape (N, H, W, C) with C in (1, 3, 4) and values in [0, 1].
    ``y`` holds int64 class ids (label_kind "class") or float64 targets (label_kind "value").
    The arrays are read-only so sha256 keeps describing them.
    """

    name: str
    inputs: dict[str, np.ndarray]
    y: np.ndarray | None
    num_classes: int | None
    kind: str
    sha256: str
    label_kind: str | None = None

    @property
    def x(self) -> np.ndarray:
        """The first (often the only) input: images for image datasets."""
        return next(iter(self.inputs.values()))

    @property
    def names(self) -> list[str]:
        return list(self.inputs)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def replace_inputs(self, inputs: dict[str, np.ndarray], name: str | None = None,
                       y: np.ndarray | None = None) -> Dataset:
        """The same labels and kind with other samples (fitted to a model, or adversarial), hashed anew."""
        labels = self.y if y is None else y
        frozen = {k: _frozen(v) for k, v in inputs.items()}
        return Dataset(name or self.name, frozen, labels, self.num_classes, self.kind,
                       dataset_sha256(frozen, labels), self.label_kind)


def dataset_sha256(inputs: dict[str, np.ndarray] | np.ndarray, y: np.ndarray | None) -> str:
    """Hash samples by value, with a fixed byte order so the hash is the same on every machine.

    A single float input hashes as devicelab always hashed its one ``x``, so stores written before
    multi-input data keep finding their reference results.
    """
    if isinstance(inputs, np.ndarray):
        inputs = {"x": inputs}
    digest = hashlib.sha256()
    arrays = list(inputs.items())
    single_float = len(arrays) == 1 and arrays[0][1].dtype.kind == "f"
    for name, x in arrays:
        if single_float:
            digest.update(np.ascontiguousarray(x, dtype="<f4").reshape(-1).view(np.uint8))
        else:
            digest.update(f"{name}:{x.dtype.str}".encode())
            digest.update(np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<")).reshape(-1).view(np.uint8))
        digest.update(repr(tuple(int(d) for d in x.shape)).encode())
    if y is None:
        digest.update(b"no-labels")
    else:
        digest.update(b"labels")
        if y.dtype.kind == "f":
            digest.update(b"values")
            digest.update(np.ascontiguousarray(y, dtype="<f8").reshape(-1).view(np.uint8))
        else:
            digest.update(np.ascontiguousarray(y, dtype="<i8").reshape(-1).view(np.uint8))
    return digest.hexdigest()


def to_model_ready(x: np.ndarray, source: str, image: bool) -> np.ndarray:
    """Pixels (uint8 images) become float32 in [0, 1]; other floats float32; integers and bools keep their dtype."""
    if x.dtype.kind not in "biuf":
        raise DataError(
            f"{source}: samples have dtype {x.dtype}, expected numbers",
            hint="store inputs as numeric arrays (uint8 pixels, float32 values, int32/int64 ids, bool masks)",
        )
    if image and x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind != "f":
        return x
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


def normalize_labels(y: np.ndarray, n: int, source: str) -> tuple[np.ndarray, int | None, str]:
    """Labels as (labels, num_classes, label_kind).

    Class ids (int64, shaped (N,)) come from (N,), (N, 1) or one-hot (N, C) arrays of whole non-negative
    numbers; anything else numeric (fractions, negatives, several targets per sample) is a regression
    target, kept as float64 with its shape.
    """
    hint = "labels are class ids shaped (N,), one-hot (N, classes), or float targets for regression"
    if y.dtype.kind not in "biuf":
        raise DataError(f"{source}: labels have dtype {y.dtype}, expected numbers", hint=hint)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if len(y) != n:
        raise DataError(f"{source}: {n} samples but {len(y)} labels", hint="give x and y the same length")
    if y.ndim == 0 or y.ndim > 2:
        raise DataError(f"{source}: labels have shape {y.shape}", hint=hint)
    if not np.isfinite(y.astype(np.float64)).all():
        raise DataError(f"{source}: labels contain NaN or infinite values", hint="clean the labels first")
    if y.ndim == 2:
        if np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
            return np.argmax(y, axis=1).astype(np.int64), int(y.shape[1]), CLASS_LABELS
        return np.ascontiguousarray(y, dtype=np.float64), None, VALUE_LABELS
    if _class_ids(y):
        labels = y.astype(np.int64)
        return labels, int(labels.max()) + 1 if len(labels) else 0, CLASS_LABELS
    return np.ascontiguousarray(y, dtype=np.float64), None, VALUE_LABELS


def _class_ids(y: np.ndarray) -> bool:
    """Non-negative whole numbers are class ids; whole-valued floats only when they take few values
    (0., 1., 2. ...), since counts and prices can be whole too."""
    if len(y) == 0 or (y < 0).any():
        return False
    if y.dtype.kind in "biu":
        return True
    return bool(np.array_equal(y, np.round(y))) and _few_distinct(y)


def _few_distinct(y: np.ndarray) -> bool:
    """Whole-valued float labels are class ids when they take few values (0., 1., 2. ...), not counts."""
    return len(np.unique(y)) <= max(2, min(1000, len(y) // 2))


def _frozen(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    if x.flags.writeable:
        x = x.copy() if x.base is not None else x
        x.setflags(write=False)
    return x


def make_dataset(name: str, x: np.ndarray | dict[str, np.ndarray], y: np.ndarray | None, classes: int | None,
                 kind: str, label_kind: str | None = None) -> Dataset:
    """Cast, freeze and hash already-validated arrays (labels from normalize_labels)."""
    inputs = {"x": x} if isinstance(x, np.ndarray) else dict(x)
    if not inputs:
        raise DataError(f"{name}: the dataset has no inputs", hint="save one array per model input")
    lengths = {k: len(v) for k, v in inputs.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{name}: inputs have different numbers of samples: "
                        + ", ".join(f"{k} {n}" for k, n in lengths.items()),
                        hint="every input array needs one row per sample")
    if next(iter(lengths.values())) == 0:
        raise DataError(f"{name}: the dataset has no samples", hint="check the file, split and limit")
    ready = {k: _frozen(to_model_ready(v, f"{name} '{k}'", image=kind == "image" and i == 0))
             for i, (k, v) in enumerate(inputs.items())}
    if y is not None:
        if label_kind is None:
            label_kind = VALUE_LABELS if y.dtype.kind == "f" else CLASS_LABELS
        y = np.ascontiguousarray(y, dtype=np.float64 if label_kind == VALUE_LABELS else np.int64)
        y.setflags(write=False)
    else:
        label_kind = None
    return Dataset(name=name, inputs=ready, y=y, num_classes=classes, kind=kind,
                   sha256=dataset_sha256(ready, y), label_kind=label_kind)
