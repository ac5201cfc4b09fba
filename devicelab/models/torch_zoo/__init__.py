"""The zoo's PyTorch twins: the Keras zoo models rebuilt in PyTorch, trained with the same recipe, shipped as ONNX.

For the across-frameworks comparison: the same architecture, initialisation, data, seed and training recipe,
so differences in accuracy or on-device behaviour are the framework's. torch is imported only when needed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from devicelab.errors import require
from devicelab.hashing import sha256_json
from devicelab.models import zoo
from devicelab.models.zoo import TrainConfig

FRAMEWORK = "pytorch"
NAMES = ("lenet1", "lenet5", "resnet20")


def _torch() -> Any:
    torch = require("torch", FRAMEWORK, "the PyTorch twins of the zoo models")
    require("onnxscript", FRAMEWORK, "ONNX export of PyTorch models")
    return torch


def model_path(cache: Path, config: TrainConfig) -> Path:
    return cache / "zoo" / f"{config.name}-{FRAMEWORK}-{sha256_json(asdict(config))[:16]}.onnx"


def create(name: str) -> Any:
    """The untrained twin of zoo model `name` (a torch.nn.Module), initialised from torch's current seed."""
    zoo.entry(name)  # unknown names fail with the zoo's own message
    _torch()
    from devicelab.models.torch_zoo.architectures import TWINS

    return TWINS[name](zoo.entry(name).input_shape)


def load_keras_weights(torch_model: Any, keras_model: Any) -> Any:
    """Copy the Keras model's weights into its torch twin (see architectures.load_keras_weights)."""
    _torch()
    from devicelab.models.torch_zoo.architectures import load_keras_weights as load

    return load(torch_model, keras_model)


def build(config: TrainConfig, cache: Path, progress: Callable[[int, int], None] | None = None,
          force: bool = False) -> tuple[Path, dict[str, Any]]:
    """Train a zoo model's twin once and export it to ONNX; later calls with the same configuration hit the cache.

    Next to the .onnx go the training info (.json) and the trained weights (.pt, a state dict).
    """
    path = model_path(cache, config)
    info_path, weights_path = path.with_suffix(".json"), path.with_suffix(".pt")
    if path.exists() and info_path.exists() and weights_path.exists() and not force:
        return path, json.loads(info_path.read_text())
    torch = _torch()
    from devicelab.models.torch_zoo.export import OPSET, export_onnx
    from devicelab.models.torch_zoo.train import train

    model, info = train(config, zoo.entry(config.name).input_shape, progress)
    info["onnx_opset"] = OPSET
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = {final: final.with_name(f"{path.stem}.tmp{final.suffix}") for final in (weights_path, path, info_path)}
    torch.save(model.state_dict(), tmp[weights_path])
    export_onnx(model, zoo.entry(config.name).input_shape, tmp[path])
    tmp[info_path].write_text(json.dumps(info, indent=2))
    for final, written in tmp.items():  # the info goes last: a cache entry counts only when all three are there
        written.replace(final)
    return path, info


def load_trained(path: Path) -> Any:
    """The trained twin behind a build()'s ONNX file, as a torch module in eval mode (for gradient attacks)."""
    torch = _torch()
    info = json.loads(path.with_suffix(".json").read_text())
    model = create(info["config"]["name"])
    model.load_state_dict(torch.load(path.with_suffix(".pt"), weights_only=True))
    return model.eval()
