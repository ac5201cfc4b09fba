"""Reproducible PyTorch training of the zoo twins: the Keras zoo's recipe (zoo/train.py), seeded and deterministic."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from devicelab.data import fit_to_shape, load_dataset
from devicelab.errors import DataError
from devicelab.models.torch_zoo.architectures import TWINS, KerasTwin, count_parameters

# One thread: float sums then run in one order on every machine, so a seed gives the same weights everywhere.
THREADS = 1
EVAL_BATCH = 1000


def _tensors(spec: str, split: str, input_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor, Any]:
    data = load_dataset(spec, split=split)
    if data.y is None:
        raise DataError(f"{spec} ({split}) has no labels: zoo models train and evaluate on labelled data",
                        hint="use mnist-sample or a dataset with labels")
    x = np.array(fit_to_shape(data.x, (None, *input_shape)), dtype=np.float32)  # a writable copy for torch
    return torch.from_numpy(x), torch.from_numpy(np.array(data.y, dtype=np.int64)), data


def predict(model: KerasTwin, x: torch.Tensor) -> torch.Tensor:
    """Probabilities in eval mode (BatchNorm on its moving statistics, as Keras' predict)."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])


def _fit(model: KerasTwin, x: torch.Tensor, y: torch.Tensor, config: Any,
         progress: Callable[[int, int], None] | None) -> None:
    # Keras' Adam(1e-3) with its epsilon; Keras adds epsilon before the bias correction, a difference of ~1e-7.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)  # shuffled every epoch, like fit(shuffle=True)
        for start in range(0, len(x), config.batch_size):  # the last, smaller batch is kept, as in Keras
            batch = order[start:start + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            # sparse categorical cross-entropy on the logits: what Keras computes for a softmax output
            F.cross_entropy(model.logits(x[batch]), y[batch]).backward()
            optimizer.step()
        if progress:
            progress(epoch + 1, config.epochs)


def train(config: Any, input_shape: tuple[int, ...],
          progress: Callable[[int, int], None] | None = None) -> tuple[KerasTwin, dict[str, Any]]:
    """Build the twin from config.seed and train it on CPU; the process' torch settings are restored afterwards."""
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(config.seed)
        model = TWINS[config.name](input_shape)
        info: dict[str, Any] = {"framework": "pytorch", "torch": torch.__version__, "config": asdict(config),
                                "parameters": count_parameters(model), "trained": False, "threads": THREADS}
        if not config.dataset or config.epochs == 0:
            return model.eval(), info
        x_train, y_train, train_set = _tensors(config.dataset, "train", input_shape)
        x_test, y_test, test_set = _tensors(config.dataset, "test", input_shape)
        start = time.perf_counter()
        _fit(model, x_train, y_train, config, progress)
        accuracy = float((predict(model, x_test).argmax(dim=1) == y_test).double().mean())
        info.update(trained=True, train_seconds=round(time.perf_counter() - start, 2),
                    train_samples=len(train_set), test_accuracy=accuracy, test_samples=len(test_set),
                    dataset_sha256=test_set.sha256)
        return model.eval(), info
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
