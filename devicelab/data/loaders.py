"""load_dataset: turn a dataset spec (builtin name, keras name, file or folder) into a Dataset."""

from __future__ import annotations

import contextlib
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from devicelab.data.dataset import CLASS_LABELS, Dataset, looks_like_images, make_dataset, normalize_labels
from devicelab.data.idx import read_idx
from devicelab.data.images import load_image_folder
from devicelab.data.text import BUILTINS as TEXT_BUILTINS
from devicelab.data.text import load_text
from devicelab.errors import DataError, MissingDependencyError

SPLITS = ("train", "test")
SAMPLE_PATH = Path(__file__).with_name("mnist_sample.npz")

_BUILTINS = {
    "mnist-sample": "bundled MNIST subset: 4000 train / 1000 test handwritten digits, 28x28x1, 10 classes",
    "keras:mnist": "MNIST via keras.datasets (needs network on first use): 60000 / 10000 digits, 28x28x1",
    "keras:fashion_mnist": "Fashion-MNIST via keras.datasets (needs network): 60000 / 10000 clothing images",
    "keras:cifar10": "CIFAR-10 via keras.datasets (needs network): 50000 / 10000 colour images, 32x32x3",
    **TEXT_BUILTINS,
}
_KERAS = {name.removeprefix("keras:") for name in _BUILTINS if name.startswith("keras:") and name not in TEXT_BUILTINS}
_FORMATS = (
    ".npz with x/y, x_train/y_train/x_test/y_test, or one array per model input (named like the inputs) "
    "plus y; a folder of .npy files, one per input (plus y.npy); "
    "IDX images file (*-images.idx3-ubyte[.gz], labels file next to it); "
    "folder of images with one subfolder per class"
)
_IDX_NAME = re.compile(r"idx\d-ubyte(\.gz)?$")
_IDX_IMAGES = re.compile(r"images([.-])idx3")

_LABEL_NAMES = ("y", "labels", "targets")

# (inputs by name, y or None, num_classes or None, kind, label kind or None)
Raw = tuple[dict[str, np.ndarray], np.ndarray | None, int | None, str, str | None]


def builtin_datasets() -> dict[str, str]:
    """Names load_dataset accepts without a path, with a one-line description each."""
    return dict(_BUILTINS)


def _pick_split(arrays: dict[str, np.ndarray], split: str, name: str) -> tuple[dict[str, np.ndarray],
                                                                              np.ndarray | None]:
    """The arrays of one split: names ending in _train/_test belong to that split, others to every split."""
    suffixes = tuple(f"_{s}" for s in SPLITS)
    split_names = [k for k in arrays if k.endswith(suffixes)]
    picked = {k: v for k, v in arrays.items() if not k.endswith(suffixes)}
    if split_names:
        picked.update({k.removesuffix(f"_{split}"): v for k, v in arrays.items() if k.endswith(f"_{split}")})
    labels = next((picked.pop(k) for k in _LABEL_NAMES if k in picked), None)
    for k in _LABEL_NAMES:  # a second label array under another name is not an input either
        picked.pop(k, None)
    if not picked:
        raise DataError(
            f"{name} has no input arrays for the {split} split (it has: {', '.join(sorted(arrays)) or 'nothing'})",
            hint="name the samples x (and labels y), x_train/y_train and x_test/y_test, or one array per model "
            "input named like the input",
        )
    return picked, labels


def _images_or_tensor(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Images get the (N, H, W, C) layout reports expect; everything else is kept as stored."""
    if not looks_like_images(x):
        return x, "tensor"
    return (x[..., None] if x.ndim == 3 else x), "image"


def _labels(inputs: dict[str, np.ndarray], y: np.ndarray | None, source: str) -> Raw:
    first = next(iter(inputs))
    kind = "tensor"
    if len(inputs) == 1:  # a lone input may be images; several inputs are model tensors, kept as stored
        inputs = dict(inputs)
        inputs[first], kind = _images_or_tensor(inputs[first])
    if y is None:
        return inputs, None, None, kind, None
    labels, num_classes, label_kind = normalize_labels(y, len(inputs[first]), source)
    return inputs, labels, num_classes, kind, label_kind


def _load_npz(path: Path, split: str) -> Raw:
    if not path.is_file():
        raise DataError(f"dataset file not found: {path}", hint="check the path")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"cannot read {path} as .npz: {exc}",
            hint="save it with numpy.savez or numpy.savez_compressed (no pickled objects)",
        ) from None
    inputs, y = _pick_split(arrays, split, str(path))
    return _labels(inputs, y, str(path))


def _load_npy_folder(path: Path, split: str) -> Raw:
    """A folder of .npy files, one per input (plus y.npy), or train/ and test/ folders of them."""
    if (path / split).is_dir() and any((path / split).glob("*.npy")):
        path = path / split
    arrays = {}
    for file in sorted(path.glob("*.npy")):
        try:
            arrays[file.stem] = np.load(file, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"cannot read {file} as .npy: {exc}",
                            hint="save it with numpy.save (no pickled objects)") from None
    inputs, y = _pick_split(arrays, split, str(path))
    return _labels(inputs, y, str(path))


def _load_idx(path: Path) -> Raw:
    if not path.is_file():
        raise DataError(f"dataset file not found: {path}", hint="check the path")
    if not _IDX_IMAGES.search(path.name):
        raise DataError(
            f"{path.name} is not an IDX images file",
            hint="pass the images file (e.g. t10k-images.idx3-ubyte.gz); its labels file is found next to it",
        )
    x = read_idx(path)
    labels_path = path.with_name(_IDX_IMAGES.sub(r"labels\1idx1", path.name))
    # Labels are optional: without them the data can still calibrate or time a model.
    y = read_idx(labels_path) if labels_path.is_file() else None
    return _labels({"x": x}, y, str(path))


def _load_keras(name: str, split: str) -> Raw:
    if name not in _KERAS:
        raise DataError(
            f"unknown keras dataset 'keras:{name}'",
            hint=f"choose one of: {', '.join(sorted('keras:' + k for k in _KERAS))}",
        )
    try:
        import keras
    except ImportError as exc:
        raise MissingDependencyError(
            f"Python package 'keras' is not installed (needed for keras:{name}): {exc}",
            hint="install it with: pip install keras, or use mnist-sample or a local file",
        ) from None
    try:
        # Keras prints download progress on stdout, which belongs to devicelab's machine-readable output.
        with contextlib.redirect_stdout(sys.stderr):
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # any failure here is a failed download: URLError, HTTP error, bad cache
        raise DataError(
            f"could not download keras:{name}: it needs network access ({type(exc).__name__}: {exc})",
            hint="use the bundled mnist-sample, or a local .npz / IDX file / image folder",
        ) from None
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    inputs, labels, _, kind, _ = _labels({"x": x}, y.reshape(-1), f"keras:{name}")  # CIFAR labels: (N, 1)
    return inputs, labels, 10, kind, CLASS_LABELS  # all three have 10 classes, whatever a split holds


def _load_mnist_sample(split: str) -> Raw:
    with np.load(SAMPLE_PATH, allow_pickle=False) as npz:
        x, y = npz[f"x_{split}"], npz[f"y_{split}"]
    return {"x": x[..., None]}, y.astype(np.int64), 10, "image", CLASS_LABELS


def _unknown(spec: str) -> DataError:
    return DataError(
        f"unknown dataset '{spec}': not an existing file or folder, nor a builtin ({', '.join(_BUILTINS)})",
        hint=f"use a builtin name, or a path to a {_FORMATS}",
    )


def _load_raw(spec: str, split: str) -> Raw:
    if spec == "mnist-sample":
        return _load_mnist_sample(split)
    if spec in TEXT_BUILTINS:  # token ids for the recurrent zoo models (devicelab/data/text.py)
        x, y, num_classes = load_text(spec, split)
        return {"x": x}, y, num_classes, "text", CLASS_LABELS
    if spec.startswith("keras:"):
        return _load_keras(spec.removeprefix("keras:"), split)
    path = Path(spec).expanduser()
    if path.is_dir():
        if any(path.glob("*.npy")) or any(path.glob("*/*.npy")):
            return _load_npy_folder(path, split)
        x, y, num_classes = load_image_folder(path)
        return {"x": x}, y, num_classes, "image", CLASS_LABELS
    if path.suffix.lower() == ".npz":
        return _load_npz(path, split)
    if _IDX_NAME.search(path.name):
        return _load_idx(path)
    if path.exists():
        raise DataError(f"{path} is not a dataset format devicelab reads", hint=f"accepted: {_FORMATS}")
    raise _unknown(spec)


def load_dataset(spec: str, split: str = "test", limit: int | None = None) -> Dataset:
    """Load a dataset by builtin name, keras:<name>, or path; keep the first `limit` samples."""
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'", hint="use 'train' or 'test'")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1, got {limit}", hint="leave it unset to use every sample")
    inputs, y, num_classes, kind, label_kind = _load_raw(spec, split)
    if limit is not None:
        inputs = {k: v[:limit] for k, v in inputs.items()}
        y = None if y is None else y[:limit]
    return make_dataset(spec, inputs, y, num_classes, kind, label_kind)
