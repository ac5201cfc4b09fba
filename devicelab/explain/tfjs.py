"""TF.js: selectively quantized variants (explain --fix). The intermediates come from the page
(devicelab.explain.browser): TF.js graph models run only there.

tfjs-uint8 quantizes every weight to uint8 with one affine range per tensor, so a layer whose weights hold an
outlier loses all its other weights to a few levels. The converter takes a list of weight names
(``quantization_dtype_map={"uint8": [...]}``): every weight except those of the kept layers is listed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from devicelab.errors import ModelRunError, require
from devicelab.explain.core import LayerNames

FORMAT = "tfjs"


def weight_names(model_json: Path) -> list[str]:
    manifest = json.loads(Path(model_json).read_text()).get("weightsManifest", [])
    return [w["name"] for group in manifest for w in group.get("weights", [])]


def convert_selective(ctx: Any, keep_float: list[str], layers: list[str], out_dir: Path) -> list[str]:
    """tfjs-uint8 except the weights of ``keep_float`` layers, which stay float32. Returns the weights kept."""
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")  # as devicelab.convert.tfjs
    from devicelab.quiet import captured_output

    saved_model = ctx.saved_model()
    with captured_output():
        converter = require("tensorflowjs.converters.tf_saved_model_conversion_v2", "tfjs", "TF.js conversion")
        plain = ctx.scratch / "explain-tfjs-fp32"
        shutil.rmtree(plain, ignore_errors=True)
        converter.convert_tf_saved_model(str(saved_model), str(plain))
    names = weight_names(plain / "model.json")
    shutil.rmtree(plain, ignore_errors=True)
    owners = LayerNames(layers, names)
    kept = [n for n in names if owners.owner(n) in keep_float]
    if not kept:
        raise ModelRunError(f"none of the TF.js weights belongs to layer(s) {', '.join(keep_float)}",
                            hint="name layers as `devicelab explain` lists them")
    quantized = [n for n in names if n not in kept]
    with captured_output():
        converter.convert_tf_saved_model(str(saved_model), str(out_dir),
                                         quantization_dtype_map={"uint8": quantized} if quantized else None)
    return kept
