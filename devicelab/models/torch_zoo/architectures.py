"""The zoo's architectures in PyTorch, layer for layer the Keras ones (zoo/architectures.py).

Each twin takes NHWC float32 input and returns softmax probabilities exactly like its Keras model, so one job's
inputs feed both; it permutes to NCHW inside and back to NHWC before Flatten, so the Dense weights see the
features in Keras order. Kernels start glorot-uniform (he-normal where Keras says so) and biases zero, as in Keras.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from devicelab.errors import UsageError


def _glorot(layer: nn.Conv2d | nn.Linear) -> nn.Conv2d | nn.Linear:
    """Keras' default: glorot-uniform kernel (same fan-in/fan-out as torch computes), zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _he_normal(layer: nn.Conv2d) -> nn.Conv2d:
    """Keras' he_normal: truncated at 2 std, the std scaled up so the truncated spread is sqrt(2 / fan_in)."""
    fan_in = layer.weight[0].numel()
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    # Keras' BatchNormalization defaults: epsilon 1e-3, moving averages kept with momentum 0.99
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def _nhwc_flatten(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).flatten(1)


class KerasTwin(nn.Module):
    """NHWC in, probabilities out; logits() is what training uses (Keras' loss also reads the pre-softmax logits)."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=-1)


class LeNet1(KerasTwin):
    """LeNet-1: two tanh conv layers with average pooling."""

    def __init__(self, input_shape: tuple[int, ...] = (28, 28, 1), classes: int = 10) -> None:
        super().__init__()
        height, width, channels = input_shape
        self.conv1 = _glorot(nn.Conv2d(channels, 4, 5, padding=2))  # Keras padding="same", stride 1
        self.conv2 = _glorot(nn.Conv2d(4, 12, 5))
        self.pool = nn.AvgPool2d(2)
        self.probabilities = _glorot(nn.Linear(12 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2), classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        x = self.pool(torch.tanh(self.conv1(x)))
        x = self.pool(torch.tanh(self.conv2(x)))
        return self.probabilities(_nhwc_flatten(x))


class LeNet5(KerasTwin):
    """LeNet-5 with ReLU."""

    def __init__(self, input_shape: tuple[int, ...] = (28, 28, 1), classes: int = 10) -> None:
        super().__init__()
        height, width, channels = input_shape
        self.conv1 = _glorot(nn.Conv2d(channels, 6, 5, padding=2))
        self.conv2 = _glorot(nn.Conv2d(6, 16, 5))
        self.pool = nn.AvgPool2d(2)
        self.dense1 = _glorot(nn.Linear(16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2), 120))
        self.dense2 = _glorot(nn.Linear(120, 84))
        self.probabilities = _glorot(nn.Linear(84, classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.dense1(_nhwc_flatten(x)))
        return self.probabilities(F.relu(self.dense2(x)))


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's padding="same": the odd pixel goes bottom/right, which torch's symmetric padding cannot say."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad lists the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.stride, self.relu = stride, relu
        self.conv = _he_normal(nn.Conv2d(cin, cout, 3, stride, bias=False))
        self.bn = _batch_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(_same_pad(x, 3, self.stride)))
        return F.relu(x) if self.relu else x


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        # registered in the order Keras lists the layers (the shortcut before the second conv): see load_keras_weights
        self.a = _ConvBN(cin, cout, stride)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:  # Keras' 1x1 shortcut: padding "valid", default glorot init, no bias
            self.shortcut = nn.Sequential(_glorot(nn.Conv2d(cin, cout, 1, stride, bias=False)), _batch_norm(cout))
        self.b = _ConvBN(cout, cout, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.shortcut(x) + self.b(self.a(x)))


class ResNet20(KerasTwin):
    """ResNet-20 for CIFAR-10 shapes: 3 stages x 3 basic blocks, 16/32/64 filters."""

    def __init__(self, input_shape: tuple[int, ...] = (32, 32, 3), classes: int = 10) -> None:
        super().__init__()
        blocks: list[nn.Module] = [_ConvBN(input_shape[-1], 16)]
        cin = 16
        for stage, filters in enumerate((16, 32, 64)):
            for block in range(3):
                blocks.append(_Block(cin, filters, 2 if stage > 0 and block == 0 else 1))
                cin = filters
        self.features = nn.Sequential(*blocks)
        self.probabilities = _glorot(nn.Linear(64, classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x.permute(0, 3, 1, 2))
        return self.probabilities(x.mean(dim=(2, 3)))


TWINS: dict[str, type[KerasTwin]] = {"lenet1": LeNet1, "lenet5": LeNet5, "resnet20": ResNet20}


def count_parameters(model: nn.Module) -> int:
    """Parameters counted as Keras' count_params() does: BatchNorm's moving mean and variance included."""
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return sum(p.numel() for p in model.parameters()) + buffers


def _pairs(model: nn.Module, keras_model: Any) -> list[tuple[Any, nn.Module]]:
    """Keras layers with weights and the twin's modules, paired kind by kind in the order each lists them."""
    kinds = {"Conv2D": nn.Conv2d, "Dense": nn.Linear, "BatchNormalization": nn.BatchNorm2d}
    layers = [layer for layer in keras_model.layers if layer.weights]
    pairs = []
    for keras_kind, kind in kinds.items():
        theirs = [layer for layer in layers if type(layer).__name__ == keras_kind]
        ours = [m for m in model.modules() if type(m) is kind]
        if len(theirs) != len(ours):
            break
        pairs += zip(theirs, ours, strict=True)
    if len(pairs) != len(layers) or len(pairs) != sum(type(m) in kinds.values() for m in model.modules()):
        raise UsageError(f"Keras model '{keras_model.name}' does not have the layers of {type(model).__name__}",
                         hint="load weights from the Keras zoo model of the same name")
    return pairs


def load_keras_weights(model: nn.Module, keras_model: Any) -> nn.Module:
    """Copy a Keras twin's weights into the torch model, transposing the layouts (HWIO -> OIHW, (in, out) -> (out, in)).

    Convolutions pair up with convolutions, Dense with Linear, BatchNorm with BatchNorm, in the order Keras lists
    its layers (model.layers) and the twin registers its modules; a shape that does not fit raises. With Keras'
    weights the twin must give Keras' outputs: that is the proof the two are the same model.
    """
    pairs = _pairs(model, keras_model)
    with torch.no_grad():
        for layer, module in pairs:
            weights = [np.asarray(w, dtype=np.float32) for w in layer.get_weights()]
            if isinstance(module, nn.Conv2d):
                weights[0] = weights[0].transpose(3, 2, 0, 1)
                targets = [module.weight, module.bias]
            elif isinstance(module, nn.Linear):
                weights[0] = weights[0].T
                targets = [module.weight, module.bias]
            else:
                targets = [module.weight, module.bias, module.running_mean, module.running_var]
            targets = [t for t in targets if t is not None]
            shapes = [tuple(t.shape) for t in targets]
            if shapes != [w.shape for w in weights]:
                raise UsageError(f"Keras layer '{layer.name}' has weights {[w.shape for w in weights]} where "
                                 f"{type(model).__name__} expects {shapes}",
                                 hint="load weights from the Keras zoo model of the same name")
            for target, value in zip(targets, weights, strict=True):
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model
