"""TF.js graph-model variants, converted from a SavedModel (Keras 3 layers models do not load in TF.js)."""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

from devicelab.convert.base import ConversionContext, Variant, captured_output, io_spec
from devicelab.errors import require

FORMAT = "tfjs"
VARIANTS = [
    Variant("tfjs-fp32", FORMAT, "fp32", "TF.js graph model, float32 weights", ""),
    Variant("tfjs-fp16", FORMAT, "fp16", "TF.js graph model, float16-stored weights (half the download)", ""),
    Variant("tfjs-uint8", FORMAT, "uint8", "TF.js graph model, uint8-quantized weights (a quarter of the download)",
            ""),
]
MODEL_FILE = "model.json"
_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_INT64": "int64", "DT_UINT8": "uint8", "DT_INT8": "int8"}


def versions() -> dict[str, str]:
    return {"tensorflowjs": version("tensorflowjs"), "tensorflow": version("tensorflow")}


def convert(ctx: ConversionContext, variant: Variant, out_dir: Path) -> None:
    quantization = {"fp16": {"float16": True}, "uint8": {"uint8": True}}.get(variant.quant)
    saved_model = ctx.saved_model()
    # tensorflowjs imports TF Decision Forests, whose welcome banner imports IPython whenever stdout is not a
    # terminal (pytest, pipes, notebooks-less scripts) and fails without it.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")
    with captured_output():
        converter = require("tensorflowjs.converters.tf_saved_model_conversion_v2", "tfjs", "TF.js conversion")
        converter.convert_tf_saved_model(str(saved_model), str(out_dir), quantization_dtype_map=quantization)


def describe(out_dir: Path) -> dict[str, Any]:
    signature = json.loads((out_dir / MODEL_FILE).read_text()).get("signature", {})

    def entries(part: dict[str, Any]) -> list[dict[str, Any]]:
        result = []
        for key, tensor in part.items():
            dims = [int(d.get("size", -1)) for d in tensor.get("tensorShape", {}).get("dim", [])]
            result.append(io_spec(tensor.get("name", key).split(":")[0], _DTYPES.get(tensor.get("dtype")), dims))
        return result

    return {"inputs": entries(signature.get("inputs", {})), "outputs": entries(signature.get("outputs", {}))}
