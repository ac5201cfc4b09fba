"""Adversarial examples made on the PC reference model with ART, and the attack success rate.

The study crafts the examples once on the original model (white-box, untargeted, from the true labels)
and feeds the same batch to every converted variant on every target: transfer from the reference is
what a deployed model faces when the attacker only has the published original.

    spec = parse_attack("pgd:eps=0.1,steps=20")
    x_adv = generate(keras_model, x, y, spec)
    success_rate(clean_pred, adv_pred, y)   # {rate, successes, n, low, high}
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import DataError, ModelLoadError, UsageError, require
from devicelab.hashing import sha256_json
from devicelab.metrics.accuracy import top1, wilson_interval

ATTACKS = ("fgsm", "pgd")
NORMS = ("inf", "1", "2")
DEFAULT_EPS = 0.1  # L-inf on [0, 1] pixels: visible but mild on MNIST, where 0.3 is the usual "strong" budget
PGD_STEPS = 20
PGD_STEP_FRACTION = 0.25  # eps_step = eps / 4: 20 steps can cross the ball twice (Madry et al. use 2.5 * eps / steps)
BATCH_SIZE = 128
CACHE_SCHEMA = 1
_HINT = f"attacks: {', '.join(ATTACKS)}; e.g. 'fgsm', 'fgsm:eps=0.3', 'pgd:eps=0.1,eps_step=0.01,steps=40,seed=1'"
_ALIASES = {"eps": "eps", "eps_step": "eps_step", "step": "eps_step", "steps": "max_iter", "max_iter": "max_iter",
            "iters": "max_iter", "norm": "norm", "seed": "seed"}


@dataclass(frozen=True)
class AttackSpec:
    """One attack configuration; eps_step / max_iter left as None get the defaults for the attack.

    FGSM is a single step of size eps, so for it eps_step == eps and max_iter == 1 always.
    For an eps sweep use with_eps(): dataclasses.replace would keep PGD's old absolute step size.
    """

    name: str
    eps: float = DEFAULT_EPS
    eps_step: float | None = None
    max_iter: int | None = None
    norm: str = "inf"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.name not in ATTACKS:
            raise UsageError(f"unknown attack '{self.name}'", hint=_HINT)
        norm = str(self.norm).lower()
        if norm not in NORMS:
            raise UsageError(f"{self.name}: unknown norm '{self.norm}'", hint=f"norm is one of: {', '.join(NORMS)}")
        if not (isinstance(self.eps, int | float) and math.isfinite(self.eps) and self.eps >= 0):
            raise UsageError(f"{self.name}: eps must be a number >= 0, got {self.eps!r}", hint=_HINT)
        if self.name == "fgsm":
            # Whatever was given: one step of the whole budget is what FGSM is (parse_attack refuses the keys).
            eps_step, max_iter = float(self.eps), 1
        else:
            eps_step = self.eps * PGD_STEP_FRACTION if self.eps_step is None else self.eps_step
            max_iter = PGD_STEPS if self.max_iter is None else self.max_iter
            # eps_step == 0 only follows from eps == 0, which generate() answers without stepping.
            if not (isinstance(eps_step, int | float) and math.isfinite(eps_step) and eps_step > 0) and self.eps > 0:
                raise UsageError(f"pgd: eps_step must be a number > 0, got {eps_step!r}", hint=_HINT)
            if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
                raise UsageError(f"pgd: steps must be a whole number >= 1, got {max_iter!r}", hint=_HINT)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"{self.name}: seed must be a whole number >= 0, got {self.seed!r}", hint=_HINT)
        # frozen: the resolved values are written once here, so equal configurations compare and hash equal.
        object.__setattr__(self, "eps", float(self.eps))
        object.__setattr__(self, "eps_step", float(eps_step))
        object.__setattr__(self, "max_iter", int(max_iter))
        object.__setattr__(self, "norm", norm)

    def with_eps(self, eps: float) -> AttackSpec:
        """The same attack at another budget, PGD's step staying the same fraction of eps."""
        fraction = self.eps_step / self.eps if self.eps > 0 and self.eps_step else PGD_STEP_FRACTION
        step = None if self.name == "fgsm" else eps * fraction
        return AttackSpec(self.name, eps, step, self.max_iter, self.norm, self.seed)

    @property
    def label(self) -> str:
        """Short name for tables and plots, e.g. "fgsm eps=0.1"; non-default settings are spelled out."""
        parts = [self.name, f"eps={self.eps:g}"]
        if self.name == "pgd":
            if not math.isclose(self.eps_step or 0.0, self.eps * PGD_STEP_FRACTION):
                parts.append(f"step={self.eps_step:g}")
            if self.max_iter != PGD_STEPS:
                parts.append(f"steps={self.max_iter}")
        if self.norm != "inf":
            parts.append(f"L{self.norm}")
        return " ".join(parts)

    @property
    def text(self) -> str:
        """The full configuration in the form parse_attack reads back."""
        tail = f"norm={self.norm},seed={self.seed}"  # repr: the floats read back bit for bit
        if self.name == "fgsm":
            return f"fgsm:eps={self.eps!r},{tail}"
        return f"pgd:eps={self.eps!r},eps_step={self.eps_step!r},steps={self.max_iter},{tail}"


def parse_attack(text: str) -> AttackSpec:
    """Read "fgsm", "fgsm:eps=0.3" or "pgd:eps=0.2,eps_step=0.01,steps=40,norm=inf,seed=1"."""
    name, _, params = str(text).strip().partition(":")
    name = name.strip().lower()
    if name not in ATTACKS:
        raise UsageError(f"unknown attack '{name or text}'", hint=_HINT)
    values: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, sep, raw = item.partition("=")
        field = _ALIASES.get(key.strip().lower())
        if not sep or field is None:
            raise UsageError(f"{name}: bad parameter '{item}'",
                             hint=f"parameters are key=value with key one of: {', '.join(_ALIASES)}")
        if field in values:
            raise UsageError(f"{name}: '{key.strip()}' given twice", hint=_HINT)
        if name == "fgsm" and field in ("eps_step", "max_iter"):
            raise UsageError(f"fgsm takes a single step of size eps: '{key.strip()}' does not apply",
                             hint="use pgd for an iterative attack, e.g. 'pgd:eps=0.1,steps=40'")
        raw = raw.strip()
        whole = field in ("max_iter", "seed")
        try:
            values[field] = raw.lower() if field == "norm" else int(raw) if whole else float(raw)
        except ValueError:
            kind = "a whole number" if whole else "a number"
            raise UsageError(f"{name}: {key.strip()} must be {kind}, got '{raw}'", hint=_HINT) from None
    return AttackSpec(name, **values)


def generate(model: Any, x: np.ndarray, y: np.ndarray, spec: AttackSpec,
             clip_values: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Adversarial version of x, crafted untargeted from the true labels y on a Keras 3 model or a torch nn.Module.

    The model maps a batch shaped like x (NHWC for images) to class probabilities or logits (N, classes).
    """
    x = np.array(x, dtype=np.float32)  # a writable copy: datasets are read-only, and torch warns on those
    labels = _class_ids(y, "labels")
    if len(labels) != len(x):
        raise DataError(f"{len(x)} samples but {len(labels)} labels", hint="give one label per sample")
    if spec.eps == 0:
        # A zero budget allows no perturbation, so the answer is x itself. ART would refuse the matching
        # eps_step of 0, and running the attack could only add float noise from its projection and clipping.
        return x
    if len(x) == 0:
        return x
    with _art_quiet():
        from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

        classifier, classes, restore = _classifier(model, x, clip_values)
        if labels.min() < 0 or labels.max() >= classes:
            raise DataError(f"labels must be class ids in [0, {classes}), got {labels.min()}..{labels.max()}",
                            hint="the labels do not fit this model's output")
        onehot = np.eye(classes, dtype=np.float32)[labels]
        norm: float | str = "inf" if spec.norm == "inf" else int(spec.norm)
        if spec.name == "fgsm":
            attack = FastGradientMethod(classifier, norm=norm, eps=spec.eps, eps_step=spec.eps, targeted=False,
                                        batch_size=BATCH_SIZE)
        else:
            # ART picks its TensorFlow / PyTorch implementation for these estimators (numpy otherwise).
            attack = ProjectedGradientDescent(classifier, norm=norm, eps=spec.eps, eps_step=spec.eps_step,
                                              max_iter=spec.max_iter, targeted=False, num_random_init=1,
                                              batch_size=BATCH_SIZE, verbose=False)
        try:
            with _seeded(spec.seed):  # ART draws the random start from numpy's global generator
                x_adv = attack.generate(x=x, y=onehot)
        finally:
            restore()
    return np.asarray(x_adv, dtype=np.float32).reshape(x.shape)


def cache_key(model_sha256: str, data_sha256: str, n: int, spec: AttackSpec,
              clip_values: tuple[float, float] = (0.0, 1.0)) -> str:
    """What identifies a batch of adversarial examples; ART's version is in it since its attacks change too."""
    return sha256_json({
        "schema": CACHE_SCHEMA,
        "model": model_sha256,
        "data": data_sha256,
        "samples": int(n),
        "attack": asdict(spec),
        "clip": [float(v) for v in clip_values],
        "art": _art_version(),
    })


def generate_cached(model_path: Path, model_sha256: str, x: np.ndarray, y: np.ndarray, data_sha256: str,
                    spec: AttackSpec, cache: Path, clip_values: tuple[float, float] = (0.0, 1.0),
                    load: Callable[[], Any] | None = None) -> tuple[np.ndarray, Path]:
    """generate() on the model at model_path, kept under cache/adversarial/ so a rerun reuses it.

    The model is the Keras file at model_path unless ``load`` gives it (a PyTorch module behind an ONNX export);
    it is loaded only on a cache miss.
    """
    x = np.asarray(x, dtype=np.float32)
    path = Path(cache) / "adversarial" / f"{cache_key(model_sha256, data_sha256, len(x), spec, clip_values)}.npz"
    cached = _load_cached(path, x.shape)
    if cached is not None:
        return cached, path
    x_adv = generate(load() if load else _keras_model(Path(model_path), model_sha256), x, y, spec, clip_values)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem[:16]}-", suffix=".tmp",
                                     delete=False) as handle:
        tmp = Path(handle.name)
        try:
            np.savez(handle, x_adv=x_adv, y=_class_ids(y, "labels"), attack=np.array(spec.text),
                     spec=np.array(json.dumps(asdict(spec), sort_keys=True)), model_sha256=np.array(model_sha256),
                     data_sha256=np.array(data_sha256), art=np.array(_art_version()))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, path)  # readers see the whole file or none: two studies may race on the same key
    return x_adv, path


def _keras_model(model_path: Path, model_sha256: str) -> Any:
    from devicelab.models import load_source

    source = load_source(model_path)
    if source.sha256 != model_sha256:
        # The key promises these examples belong to model_sha256; storing another model's would poison the cache.
        raise ModelLoadError(f"{model_path} has sha256 {source.sha256[:12]}…, not the expected {model_sha256[:12]}…",
                             hint="the model file changed since it was hashed; hash it again")
    return source.keras_model()


def success_rate(clean_pred: np.ndarray, adv_pred: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Among samples classified correctly when clean, the share the adversarial input gets wrong.

    Predictions are class ids (N,) or outputs (N, classes), read by their argmax. Counting only the
    clean-correct samples keeps the rate apart from plain accuracy. With none of them, rate and interval are None.
    """
    clean, adv = _class_ids(clean_pred, "clean_pred"), _class_ids(adv_pred, "adv_pred")
    truth = _class_ids(labels, "labels")
    if not len(clean) == len(adv) == len(truth):
        raise DataError(f"lengths differ: {len(clean)} clean, {len(adv)} adversarial predictions, {len(truth)} labels",
                        hint="give one prediction of each kind per labelled sample")
    correct = clean == truth
    n = int(correct.sum())
    if n == 0:
        return {"rate": None, "successes": 0, "n": 0, "low": None, "high": None}
    successes = int((adv[correct] != truth[correct]).sum())
    low, high = wilson_interval(successes, n)
    return {"rate": successes / n, "successes": successes, "n": n, "low": low, "high": high}


def _class_ids(values: np.ndarray, what: str) -> np.ndarray:
    """Class ids from ids (N,) or from outputs / one-hot (N, classes)."""
    array = np.asarray(values)
    if array.ndim == 1:
        if array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
            raise DataError(f"{what}: 1-D values must be class ids, got fractions",
                            hint="give class ids (N,) or per-class outputs (N, classes)")
        return array.astype(np.int64)
    if array.ndim >= 2:
        return top1(array)
    raise DataError(f"{what}: expected class ids (N,) or outputs (N, classes), got shape {array.shape}")


def _classifier(model: Any, x: np.ndarray, clip_values: tuple[float, float]) -> tuple[Any, int, Any]:
    """The ART estimator for the model's framework -> (classifier, classes, restore the model's state)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return _torch_classifier(model, x, clip_values)
    if "keras" in sys.modules and isinstance(model, sys.modules["keras"].Model):
        return _keras_classifier(model, x, clip_values)
    raise UsageError(f"cannot attack a {type(model).__name__}: generate() takes a Keras model or a torch nn.Module",
                     hint="load Keras files with devicelab.models.load_source(path).keras_model()")


def _keras_classifier(model: Any, x: np.ndarray, clip_values: tuple[float, float]) -> tuple[Any, int, Any]:
    require("tensorflow", "tensorflow", "adversarial examples on Keras models")
    import keras
    from art.estimators.classification import TensorFlowV2Classifier

    probe = np.asarray(model(x[:8], training=False))
    classes, logits = _output_kind(probe)
    # ART's ClassGradients-style losses take one-hot labels; from_logits must match what the model emits, or the
    # gradient is that of the wrong function (a softmax applied twice flattens it).
    loss = keras.losses.CategoricalCrossentropy(from_logits=logits)
    classifier = TensorFlowV2Classifier(model=model, nb_classes=classes, input_shape=tuple(x.shape[1:]),
                                        loss_object=loss, clip_values=clip_values, channels_first=False)
    return classifier, classes, lambda: None


def _torch_classifier(model: Any, x: np.ndarray, clip_values: tuple[float, float]) -> tuple[Any, int, Any]:
    import torch
    from art.estimators.classification import PyTorchClassifier

    was_training = model.training
    model.eval()
    with torch.no_grad():
        probe = model(torch.from_numpy(x[:8])).detach().cpu().numpy()
    classes, logits = _output_kind(probe)

    class ProbabilityNLLLoss(torch.nn.NLLLoss):
        """Cross-entropy for a model that already applies softmax (NLLLoss so ART passes class-id targets)."""

        def forward(self, probabilities: Any, target: Any) -> Any:
            return super().forward(torch.log(probabilities.clamp_min(1e-12)), target)

    loss = torch.nn.CrossEntropyLoss() if logits else ProbabilityNLLLoss()
    # channels_first=False: the module takes x as laid out (NHWC), and ART must not move the channel axis.
    classifier = PyTorchClassifier(model=model, loss=loss, input_shape=tuple(x.shape[1:]), nb_classes=classes,
                                   clip_values=clip_values, channels_first=False, device_type="cpu")
    return classifier, classes, lambda: model.train(was_training)


def _output_kind(probe: np.ndarray) -> tuple[int, bool]:
    """(classes, True when the outputs are logits rather than probabilities) from a few sample outputs."""
    probe = np.asarray(probe, dtype=np.float64)
    if probe.ndim != 2 or probe.shape[1] < 2:
        raise UsageError(f"the model's output has shape {list(probe.shape)}, not (batch, classes)",
                         hint="attacks need a classifier with one output per class (2 or more)")
    is_probability = bool((probe >= 0).all() and np.allclose(probe.sum(axis=1), 1.0, atol=1e-3))
    return int(probe.shape[1]), not is_probability


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for the duration, then give the caller back its own state."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@contextlib.contextmanager
def _art_quiet() -> Iterator[None]:
    """Keep ART's INFO lines (e.g. its label choice) and TensorFlow's retracing warnings off the terminal.

    Every TensorFlowV2Classifier wraps the model in a new tf.function, so a sweep of attacks on one model
    makes TensorFlow warn about retracing: true, harmless (milliseconds for LeNet-5) and not the user's to fix.
    """
    require("art", "study", "adversarial examples")
    saved = []
    for name, quiet in (("art", logging.WARNING), ("tensorflow", logging.ERROR)):
        log = logging.getLogger(name)
        saved.append((log, log.level))
        if log.level < quiet:
            log.setLevel(quiet)
    try:
        yield
    finally:
        for log, level in saved:
            log.setLevel(level)


def _art_version() -> str:
    try:
        return metadata.version("adversarial-robustness-toolbox")
    except metadata.PackageNotFoundError:
        return "missing"


def _load_cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            x_adv = np.asarray(data["x_adv"], dtype=np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a damaged entry is made again and replaced
    return x_adv if x_adv.shape == tuple(shape) else None
