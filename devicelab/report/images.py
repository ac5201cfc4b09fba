"""Inputs as small inline PNGs, so the report shows what a variant got wrong without any extra files."""

from __future__ import annotations

import base64
import io

import numpy as np


def png_data_uri(sample: np.ndarray) -> str | None:
    """An (H, W, C) or (H, W) image in [0, 1] as a data: URI; None when the sample is not an image."""
    from PIL import Image

    array = np.asarray(sample, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        return None
    pixels = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
