"""Matching a dataset's arrays to a model's inputs: by name, in the input's dtype, fitted to its shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from devicelab.data.dataset import Dataset
from devicelab.data.shapes import fit_to_shape
from devicelab.errors import DataError
from devicelab.protocol import plain_name

FLOAT_DTYPES = ("float32", "float16", "float64", "bfloat16")
INT_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def _spec(model_input: Any) -> tuple[str, str, tuple[Any, ...]]:
    return model_input.name, str(model_input.dtype), tuple(model_input.shape)


def _fmt_shape(shape: Sequence[Any]) -> str:
    return "(" + ", ".join("any" if d is None or (isinstance(d, int) and d < 0) or isinstance(d, str) else str(d)
                           for d in shape) + ")"


def match_inputs(names: list[str], model_inputs: Sequence[Any]) -> list[str]:
    """For each model input, the name of the dataset array that feeds it."""
    wanted = [_spec(m)[0] for m in model_inputs]
    if len(names) == 1 and len(wanted) == 1:
        return names  # one array, one input: whatever their names
    by_plain = {plain_name(n): n for n in names}
    found, missing = [], []
    for name in wanted:
        hit = by_plain.get(plain_name(name))
        if hit is None:
            missing.append(name)
        found.append(hit)
    if missing:
        example = ", ".join(f"{n}=..." for n in wanted)
        raise DataError(
            f"the model has {len(wanted)} input(s) ({', '.join(wanted)}) but the data has "
            f"{', '.join(names)}: nothing for {', '.join(missing)}",
            hint=f"save one array per model input, named like it: numpy.savez('data.npz', {example}, y=labels)",
        )
    return [f for f in found if f is not None]


def _cast(x: np.ndarray, dtype: str, name: str, shape: Sequence[Any]) -> np.ndarray:
    given = f"{x.dtype}{list(x.shape)}"
    expected = f"{dtype}{_fmt_shape(shape)}"
    if dtype in FLOAT_DTYPES:
        if x.dtype.kind not in "biuf":
            raise DataError(f"input '{name}' expects {expected}; the data gives {given}",
                            hint="store numbers for this input")
        return x.astype(np.float16 if dtype == "float16" else np.float32, copy=False)
    if dtype == "bool":
        if x.dtype == np.bool_:
            return x
        if x.dtype.kind in "biuf" and np.isin(x, (0, 1)).all():
            return x.astype(np.bool_)
        raise DataError(f"input '{name}' expects {expected}; the data gives {given} with values other than 0/1",
                        hint="store a bool (or 0/1) mask for this input")
    if dtype in INT_DTYPES:
        info = np.iinfo(dtype)
        if x.dtype.kind == "f" and not np.array_equal(x, np.round(x)):
            raise DataError(f"input '{name}' expects {expected} (whole numbers, such as token ids); the data gives "
                            f"{given} with fractions",
                            hint="store this input as integers; devicelab never rounds data for you")
        if x.dtype.kind not in "biuf":
            raise DataError(f"input '{name}' expects {expected}; the data gives {given}",
                            hint="store integers for this input")
        if x.size and (x.min() < info.min or x.max() > info.max):
            raise DataError(f"input '{name}' expects {expected}; the data gives {given} with values from "
                            f"{x.min()} to {x.max()}, outside {dtype}'s range",
                            hint=f"store values within {info.min}..{info.max}")
        return x.astype(dtype, copy=False)
    raise DataError(f"input '{name}' has dtype {dtype}, which devicelab cannot feed",
                    hint="the job protocol carries float32/16, int8/uint8, int32/int64 and bool inputs")


def _fit_shape(x: np.ndarray, shape: Sequence[Any], name: str, dtype: str, given: str) -> np.ndarray:
    if dtype in FLOAT_DTYPES:
        try:
            return fit_to_shape(x, shape)
        except DataError as exc:
            raise DataError(f"input '{name}': {exc.message}", hint=exc.hint) from None
    want = [None if d is None or isinstance(d, str) or (isinstance(d, int) and d <= 0) else int(d)
            for d in shape][1:]
    have = list(x.shape[1:])
    if len(have) != len(want) or any(w is not None and w != h for h, w in zip(have, want, strict=False)):
        raise DataError(f"input '{name}' expects {dtype}{_fmt_shape(shape)}; the data gives {given}",
                        hint=f"save this input with shape (N, {', '.join(_fmt_shape(shape)[1:-1].split(', ')[1:])})")
    return x


def fit_inputs(dataset: Dataset, model_inputs: Sequence[Any]) -> list[np.ndarray]:
    """One array per model input, in the model's input order, cast to its dtype and fitted to its shape.

    Names match the model's input names ('x' fits a single input); float inputs get the safe layout rewrites
    of fit_to_shape (channels, flattening); integer and bool inputs must match exactly, values unchanged.
    """
    names = match_inputs(dataset.names, model_inputs)
    arrays = []
    for data_name, model_input in zip(names, model_inputs, strict=True):
        name, dtype, shape = _spec(model_input)
        data = dataset.inputs[data_name]
        x = _cast(data, dtype, name, shape)
        arrays.append(np.ascontiguousarray(_fit_shape(x, shape, name, dtype, f"{data.dtype}{list(data.shape)}")))
    return arrays
