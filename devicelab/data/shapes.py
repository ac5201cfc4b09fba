"""Fitting dataset arrays to a model's input shape, only where the fit cannot change the meaning."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

import numpy as np

from devicelab.data.dataset import IMAGE_CHANNELS
from devicelab.errors import DataError

Dim = int | None
Reshape = Callable[[np.ndarray], np.ndarray]


def _fmt(shape: Sequence[object]) -> str:
    return str(tuple(shape))  # (28, 28, 1), (None, 784)


def _dim(d: object) -> Dim:
    # Dynamic dims arrive as None (Keras), -1 (TFLite signatures) or names (ONNX): all match anything.
    if d is None or isinstance(d, bool | np.bool_):
        return None
    try:
        value = operator.index(d)  # accepts numpy integers too, which are not int subclasses
    except TypeError:
        return None
    return value if value > 0 else None


def _matches(have: tuple[int, ...], want: tuple[Dim, ...]) -> bool:
    return len(have) == len(want) and all(w is None or h == w for h, w in zip(have, want, strict=True))


def _candidates(have: tuple[int, ...], want_rank: int) -> list[tuple[str, Reshape]]:
    """Safe rewrites of one sample's layout, most obvious first.

    Moving or adding an axis of size 1 never reorders values. The HWC <-> CHW transposes are the one
    real layout change: models exported from PyTorch want channels first, devicelab images are last.
    """
    out: list[tuple[str, Reshape]] = [
        ("add channel", lambda x: x.reshape(len(x), *have, 1)),
        ("add leading channel", lambda x: x.reshape(len(x), 1, *have)),
    ]
    if have and have[-1] == 1:
        out += [
            ("drop channel", lambda x: x.reshape(len(x), *have[:-1])),
            ("channel first", lambda x: x.reshape(len(x), 1, *have[:-1])),
        ]
    if have and have[0] == 1:
        out.append(("channel last", lambda x: x.reshape(len(x), *have[1:], 1)))
    # Transpose only image-like data: for other tensors an axis of size 3 says nothing about layout.
    if len(have) == 3 and have[-1] in IMAGE_CHANNELS:
        out.append(("HWC to CHW", lambda x: np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    if len(have) == 3 and have[0] in IMAGE_CHANNELS:
        out.append(("CHW to HWC", lambda x: np.ascontiguousarray(x.transpose(0, 2, 3, 1))))
    if want_rank == 1 and len(have) > 1:
        out.append(("flatten", lambda x: x.reshape(len(x), int(np.prod(have)))))
    return out


def _fits(have: tuple[int, ...], want: tuple[Dim, ...]) -> Reshape | None:
    if _matches(have, want):
        return lambda x: x
    dummy = np.zeros((1, *have), dtype=np.uint8)  # try each rewrite on one blank sample: cheap
    for _, fn in _candidates(have, len(want)):
        if _matches(fn(dummy).shape[1:], want):
            return fn
    return None


def fit_to_shape(x: np.ndarray, shape: Sequence[object]) -> np.ndarray:
    """Return x laid out as a model input of `shape` (leading batch dim included, None = any size).

    Identical shapes pass through unchanged. Size-1 channel axes are added, dropped or moved; HWC
    images are transposed for channels-first models; samples are flattened for (batch, features)
    models. A 1-channel dataset is never stretched to 3 channels: that would fake colour data.
    """
    if len(shape) == 0:
        raise DataError("the model input has no dimensions, so no dataset can be fed to it")
    want = tuple(_dim(d) for d in shape)[1:]
    have = tuple(int(d) for d in x.shape[1:])
    fn = _fits(have, want)
    if fn is not None:
        return fn(x)

    data, model = _fmt(x.shape), _fmt(tuple(_dim(d) for d in shape))
    # Would the data fit if the model took 1 channel where it takes 3? Then say exactly that.
    for axis in (-1, 0):
        if want and want[axis] == 3:
            one_channel = list(want)
            one_channel[axis] = 1
            if _fits(have, tuple(one_channel)) is not None:
                raise DataError(
                    f"the data has 1 channel (shape {data}) but the model expects 3 channels {model}",
                    hint="use an RGB dataset (e.g. keras:cifar10) for this model; devicelab does not copy "
                    "grayscale into 3 channels because the results would not mean anything",
                )
    raise DataError(
        f"the data shape {data} does not fit the model's input shape {model}",
        hint="pick a dataset made for this model, or save an .npz whose x has shape (N, "
        + ", ".join("any" if d is None else str(d) for d in want)
        + ")",
    )
