"""The registry of variants: every converter module contributes its own; nothing else lists them."""

from __future__ import annotations

from types import ModuleType

from devicelab.convert import coreml, executorch, onnx, tfjs, tflite
from devicelab.convert.base import Variant
from devicelab.errors import UnknownVariantError, UsageError

CONVERTERS: dict[str, ModuleType] = {m.FORMAT: m for m in (tflite, coreml, tfjs, onnx, executorch)}
VARIANTS: dict[str, Variant] = {v.name: v for m in CONVERTERS.values() for v in m.VARIANTS}
QUANT_LEVELS = ("fp32", "fp16", "dynamic-int8", "int8")
# How the generic --quant levels map to each format's nearest variant (TF.js only stores weights as uint8).
# Paths users ask for that devicelab does not offer, and why (listed by `devicelab variants`).
NOT_OFFERED = {
    "tflite-* from .pt2 (litert-torch)": "litert-torch cannot be installed beside TensorFlow 2.19, onnx and Selenium: "
    "its xdsl dependency pins typing_extensions < 4.13, while onnx 1.22 and selenium need >= 4.15. "
    "A .pt2 source gives onnx-*, coreml-* and executorch-* variants.",
}
_QUANT_ALIASES = {("tfjs", "int8"): "uint8", ("tfjs", "dynamic-int8"): "uint8", ("coreml", "dynamic-int8"): "int8"}


def converter(variant: Variant) -> ModuleType:
    own = getattr(variant, "converter", None)  # selectively quantized variants (explain --fix) bring their own
    return own if own is not None else CONVERTERS[variant.format]


def get(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        from devicelab.explain.selective import parse  # what `explain --fix` made: tflite-int8-float-LAYER

        derived = parse(name)
        if derived is not None:
            return derived
        import difflib

        close = difflib.get_close_matches(name, VARIANTS, n=3)
        suggestion = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownVariantError(f"unknown variant '{name}'",
                                  hint=f"{suggestion}see `devicelab variants` for the list") from None


def select(formats: list[str] | None = None, quants: list[str] | None = None,
           names: list[str] | None = None) -> list[Variant]:
    """Variants named outright, or the product of formats x quantization levels that exist."""
    if names:
        return [get(n) for n in names]
    formats = formats or list(CONVERTERS)
    quants = quants or [*list(QUANT_LEVELS), "uint8"]
    for fmt in formats:
        if fmt not in CONVERTERS:
            raise UsageError(f"unknown format '{fmt}'", hint=f"formats: {', '.join(CONVERTERS)}")
    for level in quants:
        if level not in (*QUANT_LEVELS, "uint8"):
            raise UsageError(f"unknown quantization '{level}'", hint=f"levels: {', '.join(QUANT_LEVELS)}, uint8")
    chosen: list[Variant] = []
    for fmt in formats:
        for level in quants:
            wanted = _QUANT_ALIASES.get((fmt, level), level)
            for variant in CONVERTERS[fmt].VARIANTS:
                if variant.quant == wanted and variant not in chosen:
                    chosen.append(variant)
    if not chosen:
        raise UsageError("no variant matches those formats and quantization levels",
                         hint="see `devicelab variants`")
    return chosen
