"""The planted-fault model that the explain tests and the study's explain tests share."""

from __future__ import annotations

from pathlib import Path


def planted_model(path: Path, planted: bool) -> Path:
    """16 -> dense1 -> spiky -> out. Planted: one 'spiky' unit fires (x2000) only on an all-ones calibration
    sample and nothing reads it, so the float function is untouched while int8's range for 'spiky' is ruined."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="dense1")(inp)
    s = keras.layers.Dense(16, activation="relu", name="spiky")(h)
    out = keras.layers.Dense(10, name="out")(s)
    model = keras.Model(inp, out, name="planted")
    if planted:
        w1, b1 = model.get_layer("dense1").get_weights()
        w1[:, 0], b1[0] = 1 / 16, -0.5  # unit 0: relu(mean(x) - 0.5), zero unless every input is near 1
        model.get_layer("dense1").set_weights([w1, b1])
        w2, b2 = model.get_layer("spiky").get_weights()
        w2[:, 0], w2[0, :], b2[:] = 0.0, 0.0, 0.0
        w2[0, 0] = 2000.0  # spiky unit 0 = 2000 x dense1 unit 0: 1000 on the all-ones sample, else 0
        model.get_layer("spiky").set_weights([w2, b2])
        w3, b3 = model.get_layer("out").get_weights()
        w3[0, :] = 0.0  # ... and nothing reads it: the float function does not depend on the spike
        model.get_layer("out").set_weights([w3, b3])
    model.save(path)
    return path


def planted_torch_program(path: Path, planted: bool) -> Path:
    """The same planted fault as a torch.export program (.pt2): modules dense1 -> spiky -> out, ReLUs between."""
    import torch

    class Planted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense1, self.spiky = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
            self.out = torch.nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.relu(self.spiky(torch.relu(self.dense1(x)))))

    torch.manual_seed(0)
    model = Planted().eval()
    with torch.no_grad():  # zero biases, as Keras starts them: the output then depends on what 'spiky' computes
        for layer in (model.dense1, model.spiky, model.out):
            layer.bias.zero_()
    if planted:
        with torch.no_grad():  # torch keeps weights as (out, in): the transpose of Keras' kernels
            model.dense1.weight[0, :], model.dense1.bias[0] = 1 / 16, -0.5
            model.spiky.weight[0, :], model.spiky.weight[:, 0], model.spiky.bias[:] = 0.0, 0.0, 0.0
            model.spiky.weight[0, 0] = 2000.0
            model.out.weight[:, 0] = 0.0
    torch.export.save(torch.export.export(model, (torch.zeros(1, 16),)), path)
    return path


def planted_files(folder: Path) -> dict[str, Path]:
    """The explain tests' files: the planted and the healthy model, 100 evaluation samples in [0, 0.5) and a
    calibration set of 50 such samples plus the all-ones one that sets off the spike."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(folder / "eval.npz", x=rng.uniform(0, 0.5, (100, 16)).astype(np.float32))
    calibration = np.concatenate([rng.uniform(0, 0.5, (50, 16)), np.ones((1, 16))]).astype(np.float32)
    np.savez(folder / "calib.npz", x=calibration)
    return {"planted": planted_model(folder / "planted.keras", True),
            "healthy": planted_model(folder / "healthy.keras", False),
            "eval": folder / "eval.npz", "calib": folder / "calib.npz"}


def small_torch_program(path: Path) -> Path:
    """A small CNN as a torch.export program (.pt2): modules conv1 -> act (ReLU) -> flatten -> fc."""
    import torch

    class Small(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.act, self.fc = torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Linear(4 * 6 * 6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.flatten(self.act(self.conv1(x)), 1))

    torch.manual_seed(0)
    torch.export.save(torch.export.export(Small().eval(), (torch.randn(1, 1, 8, 8),)), path)
    return path
