"""Selectively quantized variants (what `explain --fix` makes): a full-integer variant with some layers
kept in float32, named so that the name alone rebuilds it.

    tflite-int8-float-spiky            tflite-int8 with layer 'spiky' in float
    onnx-int8-static-float-conv2.fc1   onnx-int8-static with layers 'conv2' and 'fc1' in float
    tfjs-uint8-float-spiky             tfjs-uint8 with the weights of layer 'spiky' in float32
    coreml-int8-float-spiky            coreml-int8 with the weights of layer 'spiky' in float16 (its compute type)

Layer names are written with every character outside [A-Za-z0-9_] as '_' (job ids allow no more) and joined
by '.'. The variant registry resolves such names through ``parse``, and the artifact cache converts them
through ``SelectiveConverter``, so `measure`, `deploy` and `study` take them like any variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.convert.base import ConversionContext, Variant
from devicelab.errors import UsageError

BASES = ("tflite-int8", "onnx-int8-static", "tfjs-uint8", "coreml-int8")  # the variants a layer can stay float in
MARK = "-float-"
MAX_NAME = 100  # job ids are the variant name plus 13 characters, at most 128


def sanitize(layer: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", layer)


@dataclass(frozen=True)
class SelectiveVariant(Variant):
    base: str = ""
    keep_float: tuple[str, ...] = ()  # sanitized layer names

    @property
    def converter(self) -> SelectiveConverter:
        return SelectiveConverter(self.format)


def name_for(base: str, layers: list[str]) -> str:
    name = f"{base}{MARK}{'.'.join(sanitize(layer) for layer in layers)}"
    if len(name) > MAX_NAME:
        raise UsageError(f"keeping {len(layers)} layers in float makes a variant name longer than {MAX_NAME} "
                         "characters", hint="keep fewer layers in float")
    return name


def make(base: str, layers: list[str]) -> SelectiveVariant:
    variant = parse(name_for(base, layers))
    assert variant is not None
    return variant


def parse(name: str) -> SelectiveVariant | None:
    """The selective variant a name describes, or None when it is not one."""
    from devicelab.convert.variants import VARIANTS

    for base in BASES:
        if not name.startswith(base + MARK):
            continue
        layers = tuple(part for part in name[len(base) + len(MARK):].split(".") if part)
        if not layers or any(sanitize(part) != part for part in layers):
            return None
        full = VARIANTS[base]
        kept = "float16" if full.format == "coreml" else "float32"  # Core ML's int8 variant computes in float16
        return SelectiveVariant(name, full.format, full.quant,
                                f"{full.description}; layer(s) {', '.join(layers)} kept in {kept}",
                                full.runtime, needs_calibration=full.needs_calibration, sources=full.sources,
                                base=base,
                                keep_float=layers)
    return None


def _calibration(ctx: ConversionContext, variant: Variant) -> list[np.ndarray]:
    samples: Any = ctx.require_calibration(variant)
    return list(samples) if isinstance(samples, (list, tuple)) else [samples]


def _real_names(wanted: tuple[str, ...], layers: list[str]) -> list[str]:
    by_token = {sanitize(layer): layer for layer in layers}
    missing = [w for w in wanted if w not in by_token]
    if missing:
        raise UsageError(f"the model has no layer(s) {', '.join(missing)} to keep in float",
                         hint="use layer names as `devicelab explain` lists them")
    return [by_token[w] for w in wanted]


def _keras_layers(ctx: ConversionContext, variant: Variant, what: str) -> list[str]:
    """The Keras source's layers, for the formats whose selective conversion starts from Keras only."""
    from devicelab.explain import keras as keras_side

    if ctx.source.format != "keras":
        raise UsageError(f"{variant.name}: selective {what} quantization is made from Keras models only")
    return keras_side.layer_names(ctx.source.keras_model())


class SelectiveConverter:
    """The converter-module shape (FORMAT, MODEL_FILE, versions, convert, describe) for selective variants:
    conversion is explain's, reading the result back is the base format's."""

    def __init__(self, fmt: str) -> None:
        from devicelab.convert.variants import CONVERTERS

        self.base = CONVERTERS[fmt]
        self.FORMAT = fmt
        self.MODEL_FILE = self.base.MODEL_FILE
        if fmt == "coreml":  # made by the same conversion as coreml-int8, fixed to the data's shapes like it
            self.SHAPE_DEPENDENT = self.base.SHAPE_DEPENDENT
        self.VARIANTS: list[Variant] = []

    def versions(self) -> dict[str, str]:
        return self.base.versions()

    def describe(self, out_dir: Path) -> dict[str, Any]:
        return self.base.describe(out_dir)

    def convert(self, ctx: ConversionContext, variant: Variant, out_dir: Path) -> dict[str, Any] | None:
        assert isinstance(variant, SelectiveVariant)
        calibration = _calibration(ctx, variant) if variant.needs_calibration else []
        if self.FORMAT == "coreml":
            from devicelab.explain import coreml

            layers = _keras_layers(ctx, variant, "Core ML")
            return coreml.convert_selective(ctx, variant, _real_names(variant.keep_float, layers), layers,
                                            out_dir)[1]
        if self.FORMAT == "tflite":
            from devicelab.explain import keras as keras_side
            from devicelab.explain import tflite

            layers = _keras_layers(ctx, variant, "TFLite")
            tflite.convert_selective(ctx, variant, _real_names(variant.keep_float, layers), layers,
                                     keras_side.output_layers(ctx.source), out_dir / self.MODEL_FILE)
            return None
        if self.FORMAT == "tfjs":
            from devicelab.explain import tfjs

            layers = _keras_layers(ctx, variant, "TF.js")
            tfjs.convert_selective(ctx, _real_names(variant.keep_float, layers), layers, out_dir)
            return None
        from devicelab.convert.onnx import _fp32_model
        from devicelab.explain import onnx

        fp32 = _fp32_model(ctx)
        aliases = None
        if ctx.source.format == "keras":
            from devicelab.explain import keras as keras_side

            layers = keras_side.layer_names(ctx.source.keras_model())
        elif ctx.source.format == "pt2":  # layers are modules; their ONNX nodes are named after their ops
            from devicelab.explain import executorch

            layers, aliases = executorch.op_layers(ctx.source)
        else:
            layers = onnx.node_outputs(fp32)
        onnx.convert_selective(fp32, calibration, _real_names(variant.keep_float, layers), layers,
                               out_file=out_dir / self.MODEL_FILE, scratch=ctx.scratch, aliases=aliases)
        return None
