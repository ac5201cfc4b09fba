"""Zoo models: architectures as code, trained reproducibly on demand and cached by their configuration."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devicelab.errors import UsageError
from devicelab.hashing import sha256_json
from devicelab.models.zoo import architectures


@dataclass(frozen=True)
class ZooEntry:
    name: str
    build: Callable[..., Any]
    dataset: str  # what it trains on by default; "" = no offline data, built untrained
    input_shape: tuple[int, ...]
    epochs: int
    description: str
    learning_rate: float = 1e-3


ZOO: dict[str, ZooEntry] = {
    "lenet1": ZooEntry("lenet1", architectures.lenet1, "mnist-sample", (28, 28, 1), 12,
                       "LeNet-1 (1989), 3k parameters, MNIST"),
    "lenet5": ZooEntry("lenet5", architectures.lenet5, "mnist-sample", (28, 28, 1), 12,
                       "LeNet-5 (1998), 62k parameters, MNIST"),
    "resnet20": ZooEntry("resnet20", architectures.resnet20, "", (32, 32, 3), 10,
                         "ResNet-20 (2016), 0.27M parameters, CIFAR-10 shape; trains with --data keras:cifar10"),
    "lstm": ZooEntry("lstm", architectures.lstm, "synthetic-text", (80,), 3,
                     "Embedding + LSTM(32) text classifier, 0.17M parameters, int32 token ids; offline on the "
                     "synthetic token task, IMDb with --data keras:imdb", learning_rate=3e-3),
    "gru": ZooEntry("gru", architectures.gru, "synthetic-text", (80,), 3,
                    "Embedding + GRU(32) text classifier, 0.17M parameters, int32 token ids; offline on the "
                    "synthetic token task, IMDb with --data keras:imdb", learning_rate=3e-3),
}


@dataclass(frozen=True)
class TrainConfig:
    name: str
    dataset: str
    epochs: int
    seed: int
    batch_size: int = 64


def entry(name: str) -> ZooEntry:
    try:
        return ZOO[name]
    except KeyError:
        raise UsageError(f"'{name}' is not a zoo model", hint=f"zoo models: {', '.join(ZOO)}") from None


def is_zoo_name(value: str) -> bool:
    return value in ZOO


def default_config(name: str, dataset: str | None = None, epochs: int | None = None, seed: int = 0) -> TrainConfig:
    item = entry(name)
    return TrainConfig(name=name, dataset=item.dataset if dataset is None else dataset,
                       epochs=item.epochs if epochs is None else epochs, seed=seed)


def model_path(cache: Path, config: TrainConfig) -> Path:
    return cache / "zoo" / f"{config.name}-{sha256_json(asdict(config))[:16]}.keras"


def build(config: TrainConfig, cache: Path, progress: Callable[[int, int], None] | None = None,
          force: bool = False) -> tuple[Path, dict[str, Any]]:
    """Build (train) a zoo model once; later calls with the same configuration return the cached file."""
    path = model_path(cache, config)
    info_path = path.with_suffix(".json")
    if path.exists() and info_path.exists() and not force:
        return path, json.loads(info_path.read_text())
    from devicelab.models.zoo.train import train

    model, info = train(entry(config.name), config, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    info_path.write_text(json.dumps(info, indent=2))
    return path, info
