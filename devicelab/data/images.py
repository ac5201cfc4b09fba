"""Image folders: one subfolder per class (the layout keras' image_dataset_from_directory reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import DataError, MissingDependencyError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm"})
_DAMAGED = "remove or replace the damaged file"
_GRAY_MODES = frozenset({"1", "L", "LA"})
_GRAY16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def _pil() -> Any:
    # Not errors.require: the import name (PIL) differs from the package name (pillow).
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError(
            f"Python package 'pillow' is not installed (needed for reading image folders): {exc}",
            hint="install it with: pip install pillow",
        ) from None
    return Image


def _images_in(folder: Path) -> list[Path]:
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES)


def _read(path: Path, gray: bool) -> np.ndarray:
    """One image as (H, W, C): uint8 for 8-bit images, float32 in [0, 1] for 16-bit grayscale."""
    try:
        with _pil().open(path) as image:
            image.load()
            if image.mode in _GRAY16_MODES and gray:
                return (np.asarray(image, dtype=np.float32) / np.float32(65535))[..., None]
            return np.asarray(image.convert("L" if gray else "RGB")).reshape(image.height, image.width, -1)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow reports bad files as any of these
        raise DataError(f"cannot read image {path}: {exc}", hint=_DAMAGED) from None


def _is_gray(path: Path) -> bool:
    try:
        with _pil().open(path) as image:  # opening reads only the header
            return image.mode in _GRAY_MODES or image.mode in _GRAY16_MODES
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}", hint=_DAMAGED) from None


def load_image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """Return (x, y, num_classes); class index = position of the subfolder in sorted order.

    A folder with images but no subfolders is read as unlabeled data (y is None).
    """
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = _images_in(folder)
    if class_dirs and loose:
        raise DataError(
            f"{folder} has both class subfolders and loose images (e.g. {loose[0].name})",
            hint="put every image in its class subfolder (a folder without subfolders is read unlabeled)",
        )
    if class_dirs:
        files = [(path, index) for index, d in enumerate(class_dirs) for path in _images_in(d)]
    else:
        files = [(path, -1) for path in loose]
    if not files:
        raise DataError(
            f"no images found in {folder}",
            hint=f"expected one subfolder per class holding {', '.join(sorted(IMAGE_SUFFIXES))} files",
        )

    # Grayscale stays 1 channel; if any image is colour, all are read as RGB so the array is uniform.
    gray = all(_is_gray(path) for path, _ in files)
    arrays = []
    for path, _ in files:
        array = _read(path, gray)
        if arrays and array.shape != arrays[0].shape:
            raise DataError(
                f"images differ in size: {files[0][0]} is {arrays[0].shape[:2]}, {path} is {array.shape[:2]}",
                hint="resize all images to the model's input size first",
            )
        arrays.append(array)
    # Mixed 8-/16-bit grayscale: bring everything to float so stacking does not silently mis-scale.
    if len({a.dtype for a in arrays}) > 1:
        arrays = [a.astype(np.float32) / np.float32(255) if a.dtype == np.uint8 else a for a in arrays]
    x = np.stack(arrays)
    if not class_dirs:
        return x, None, None
    return x, np.array([label for _, label in files], dtype=np.int64), len(class_dirs)
