"""The format-independent core of `explain`: match captured tensors to source layers, score them, find the
first divergent layer.

A *capture* is what one model gave on the same samples: for the reference (the source model) one tensor per
source layer, in graph order; for the variant every intermediate tensor the runtime exposes, in execution
order, each with the names it carries (TFLite and tf2onnx keep the Keras layer path in tensor and node names).

First divergent layer (the documented rule): walking the matched layers in graph order, a layer diverges when
its SQNR is below ``floor_db`` (the variant's tensor has lost most of its information whatever came before),
or when it is more than ``drop_db`` below the best SQNR of the layers before it, that best capped at
``ceiling_db`` (float variants reach 120+ dB, where a drop to 80 dB is rounding noise, not a defect).
Defaults: floor 10 dB, drop 15 dB, ceiling 60 dB. A healthy int8 layer sits at 20-45 dB; a layer whose
range or weights int8 cannot hold, or a float layer computed wrongly, falls below both lines.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FLOOR_DB = 10.0
DROP_DB = 15.0
CEILING_DB = 60.0
_DQ_SUFFIX = "_DequantizeLinear_Output"  # what onnxruntime's QDQ quantizer appends to a dequantized tensor


@dataclass
class Threshold:
    floor_db: float = FLOOR_DB
    drop_db: float = DROP_DB
    ceiling_db: float = CEILING_DB

    def __post_init__(self) -> None:
        from devicelab.errors import UsageError

        if not 0 <= self.floor_db <= self.ceiling_db:
            raise UsageError(f"--threshold-floor must be between 0 and {self.ceiling_db:g} dB (got {self.floor_db:g})",
                             hint=f"the default is {FLOOR_DB:g} dB: a layer below it has lost most of its signal")
        if not 0 < self.drop_db <= self.ceiling_db:
            raise UsageError(f"--threshold-drop must be above 0 and at most {self.ceiling_db:g} dB "
                             f"(got {self.drop_db:g})", hint=f"the default is {DROP_DB:g} dB")


@dataclass
class VariantTensor:
    """One intermediate tensor of the variant: its name(s), its values on every sample, its int8 scale."""

    name: str
    values: np.ndarray  # float32, samples stacked on axis 0 (dequantized when the tensor is int8)
    scale: float | None = None
    origin: str = ""  # the op or node that wrote it, when its name says more than the tensor's (ONNX)


@dataclass
class LayerStat:
    layer: str
    tensor: str | None  # the variant tensor matched to it; None when the layer has no tensor there
    sqnr_db: float | None = None  # None: the tensors are identical (infinite SQNR)
    cosine: float | None = None
    max_abs: float | None = None
    scale: float | None = None
    layout: str | None = None  # how the variant tensor was laid out to compare (e.g. NCHW->NHWC)

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "tensor": self.tensor, "sqnr_db": _round(self.sqnr_db),
                "cosine": _round(self.cosine, 6), "max_abs": _round(self.max_abs, 6), "scale": self.scale}


@dataclass
class Comparison:
    layers: list[LayerStat]
    unmatched: list[str]
    first_divergent: str | None
    threshold: Threshold = field(default_factory=Threshold)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


# --- metrics -----------------------------------------------------------------------------------------


def sqnr_db(reference: np.ndarray, value: np.ndarray) -> float | None:
    """Signal-to-quantization-noise ratio in dB; None when the two are identical."""
    ref = reference.astype(np.float64).ravel()
    err = ref - value.astype(np.float64).ravel()
    noise = float(np.dot(err, err))
    signal = float(np.dot(ref, ref))
    if noise == 0.0:
        return None
    if signal == 0.0:
        return -math.inf if noise > 0 else None
    return 10.0 * math.log10(signal / noise)


def cosine(reference: np.ndarray, value: np.ndarray) -> float:
    a, b = reference.astype(np.float64).ravel(), value.astype(np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def score(layer: str, reference: np.ndarray, tensor: VariantTensor) -> LayerStat | None:
    """The variant tensor laid out like the reference and scored; None when no layout fits."""
    aligned = align(reference, tensor.values)
    if aligned is None:
        return None
    value, layout = aligned
    return LayerStat(layer, tensor.name, sqnr_db(reference, value), cosine(reference, value),
                     float(np.max(np.abs(reference.astype(np.float64) - value))) if value.size else 0.0,
                     tensor.scale, layout)


def align(reference: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, str | None] | None:
    """Lay ``value`` out like ``reference``: same shape as it is; channels-first transposed to channels-last
    (tf2onnx computes convolutions in NCHW); the same elements in another rank reshaped (Flatten)."""
    if value.size != reference.size:
        return None
    if value.ndim == reference.ndim and value.ndim >= 3:
        fits = [(0, *perm) for perm in itertools.permutations(range(1, value.ndim))
                if tuple(value.shape[i] for i in (0, *perm)) == reference.shape]
        if len(fits) == 1 and fits[0] == tuple(range(value.ndim)):
            return value, None
        if fits:
            # Square tensors (C == H == W) fit several layouts, the untouched one included: keep the one that
            # agrees best (a tensor read in the wrong layout does not agree at all).
            best = max(fits, key=lambda o: cosine(reference, np.transpose(value, o)))
            if best == tuple(range(value.ndim)):
                return value, None
            label = "NCHW->NHWC" if best == (0, *range(2, value.ndim), 1) else f"transpose{best}"
            return np.transpose(value, best), label
    if value.shape == reference.shape:
        return value, None
    if value.shape[0] == reference.shape[0]:
        return value.reshape(reference.shape), "reshape"
    return None


# --- matching ----------------------------------------------------------------------------------------


class LayerNames:
    """Finds which source layers a tensor or node name mentions.

    Names are paths ('planted_1/spiky_1/MatMul'), several joined by ';' when TFLite fused ops. Keras 3 traces
    every layer under its name plus a '_N' suffix ('conv2d' as 'conv2d_1', 'conv2d_1' as 'conv2d_1_2'), so
    a component like 'conv2d_1' is ambiguous. ``names`` (every name of the variant) settles it: when more
    components name a layer only once a '_N' is stripped than only as they are, every component is stripped
    once; otherwise a component names the layer it equals, or else the one it names once stripped.
    """

    def __init__(self, layers: Sequence[str], names: Iterable[str] = ()) -> None:
        self.order = {name: k for k, name in enumerate(layers)}
        names = list(names)
        # The model's own scope ('lstm_1/' for a model named 'lstm') heads most paths: it names no layer, even
        # when a layer shares the model's name.
        heads = [path.split("/")[0] for name in names for path in re.split(r"[;,]", name) if "/" in path]
        common = max(set(heads), key=heads.count) if heads else None
        self.scope = common if common is not None and heads.count(common) > len(heads) / 2 else None
        exact_only = strip_only = 0
        for part in {p for name in names for p in self._components(name)}:
            stripped = re.sub(r"_\d+$", "", part)
            exact, unsuffixed = part in self.order, stripped != part and stripped in self.order
            exact_only += exact and not unsuffixed
            strip_only += unsuffixed and not exact
        self.strip = strip_only > exact_only

    def _layer(self, part: str) -> str | None:
        stripped = re.sub(r"_\d+$", "", part)
        if self.strip and stripped != part:
            return stripped if stripped in self.order else None
        if part in self.order:
            return part
        return stripped if stripped != part and stripped in self.order else None

    def _components(self, name: str) -> list[str]:
        parts = []
        for path in re.split(r"[;,]", name):
            pieces = [p for p in re.split(r"[/:]", path) if p]
            if self.scope is not None and len(pieces) > 1 and path.startswith(self.scope + "/"):
                pieces = pieces[1:]
            parts.extend(pieces)
        return parts

    def mentioned(self, name: str) -> list[str]:
        found = {layer for part in self._components(name) if (layer := self._layer(part)) is not None}
        return sorted(found, key=self.order.__getitem__)

    def owner(self, name: str) -> str | None:
        """The layer that produced a tensor: the last one in graph order its name mentions (a fused op's
        output is the output of its last layer)."""
        mentioned = self.mentioned(name)
        return mentioned[-1] if mentioned else None


def compare(reference: dict[str, np.ndarray], tensors: Iterable[VariantTensor],
            output_tensors: dict[str, VariantTensor] | None = None,
            threshold: Threshold | None = None, aliases: dict[str, str | None] | None = None) -> Comparison:
    """Match the variant's tensors to the reference layers and score them in graph order.

    ``reference`` maps every source layer (graph order) to its output on the samples. A layer's tensor is
    the LAST one in execution order that its name assigns to it and whose size fits (what its consumers
    read: after a DequantizeLinear, say). ``output_tensors`` names the tensor of output layers whose
    variant tensor lost the layer's name (TFLite calls the model output 'StatefulPartitionedCall:0').
    ``aliases`` names layers by exact tensor names (a .pt2 source's op names, which torch.onnx keeps; Core ML
    vars, whose sanitized names only the layer list can read), None for a tensor of no layer.
    """
    threshold = threshold or Threshold()
    tensors = list(tensors)
    names = LayerNames(list(reference), [f"{t.name};{t.origin}" for t in tensors])
    candidates: dict[str, list[VariantTensor]] = {}
    for tensor in tensors:
        # ONNX sources: layers are tensor names, met again as they are or after their DequantizeLinear.
        exact = tensor.name.removesuffix(_DQ_SUFFIX)
        if exact in names.order:
            owner: str | None = exact
        elif aliases is not None and exact in aliases:  # None there: the tensor belongs to no layer
            owner = aliases[exact]
        else:
            owner = names.owner(f"{tensor.name};{tensor.origin}" if tensor.origin else tensor.name)
        if owner is not None:
            candidates.setdefault(owner, []).append(tensor)
    for layer, tensor in (output_tensors or {}).items():
        candidates.setdefault(layer, []).append(tensor)
    found: dict[str, tuple[LayerStat, VariantTensor]] = {}
    for layer, ref in reference.items():
        for tensor in reversed(candidates.get(layer, [])):
            stat = score(layer, ref, tensor)
            if stat is not None:
                found[layer] = (stat, tensor)
                break
    _follow_fusions(reference, found)
    stats = [found[layer][0] for layer in reference if layer in found]
    unmatched = [layer for layer in reference if layer not in found]
    return Comparison(stats, unmatched, first_divergent(stats, threshold), threshold)


def _follow_fusions(reference: dict[str, np.ndarray], found: dict[str, tuple[LayerStat, VariantTensor]]) -> None:
    """A fused op's tensor may carry only its first layer's name: TFLite names a Conv2D + BatchNormalization
    output after the Conv2D. When the layers right after a matched one have no tensor of their own, the
    tensor is scored against each of them too, and moves to the one it agrees with by 3 dB more."""
    order = list(reference)
    for k, layer in enumerate(order):
        if layer not in found:
            continue
        stat, tensor = found[layer]
        best = stat
        for follower in order[k + 1:]:
            if follower in found:
                break
            other = score(follower, reference[follower], tensor)
            if other is not None and _db(other) > _db(best) + 3.0:
                best = other
        if best is not stat:
            del found[layer]
            found[best.layer] = (best, tensor)


def _db(stat: LayerStat) -> float:
    return math.inf if stat.sqnr_db is None else stat.sqnr_db


def first_divergent(stats: Sequence[LayerStat], threshold: Threshold) -> str | None:
    best: float | None = None
    for stat in stats:
        value = math.inf if stat.sqnr_db is None else stat.sqnr_db
        if value < threshold.floor_db:
            return stat.layer
        if best is not None and value < min(best, threshold.ceiling_db) - threshold.drop_db:
            return stat.layer
        best = value if best is None else max(best, value)
    return None
