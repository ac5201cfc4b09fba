"""An ONNX source from PyTorch with int64 inputs (a small BERT-like encoder: input_ids + attention_mask) quantizes:
dynamic int8, and static int8 calibrated on int64 data, although onnxruntime's pre-processing fails on it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from convert_helpers import run_onnx

from devicelab.artifacts import get_or_convert
from devicelab.convert import variants as registry
from devicelab.convert.base import ConversionContext, private_tmp
from devicelab.models import load_source

pytestmark = pytest.mark.slow
SEQ = 16


def _encoder(path: Path) -> Path:
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = torch.nn.Embedding(100, 32)
            self.positions = torch.nn.Embedding(64, 32)
            layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
            h = self.encoder(self.tokens(input_ids) + self.positions(positions),
                             src_key_padding_mask=attention_mask == 0)
            mask = attention_mask.unsqueeze(-1).float()
            return (h * mask).sum(1) / mask.sum(1)  # mean pooling: a sentence embedding

    torch.manual_seed(0)
    model = Encoder().eval()
    example = (torch.randint(0, 100, (1, SEQ)), torch.ones(1, SEQ, dtype=torch.int64))
    torch.onnx.export(model, example, str(path), input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], dynamo=False,
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}})
    return path


def _batch(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 100, (n, SEQ)).astype(np.int64)
    mask = np.ones((n, SEQ), dtype=np.int64)
    for row, length in enumerate(rng.integers(4, SEQ + 1, n)):
        mask[row, length:] = 0
        ids[row, length:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_int64_encoder_quantizes(tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = load_source(_encoder(tmp_path / "encoder.onnx"))
    assert [(i.name, i.dtype) for i in source.inputs] == [("input_ids", "int64"), ("attention_mask", "int64")]
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    data = _batch(24, 1)
    calibration = list(_batch(16, 2).values())  # int64, one array per input, in the model's input order
    reference = run_onnx(source.path, data)[0]
    figures = {}
    for name in ("onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static"):
        made, _ = get_or_convert(source, registry.get(name), session_cache, calibration, "int64-calib")
        assert [i["dtype"] for i in made.manifest["inputs"]] == ["int64", "int64"]
        out = run_onnx(made.model_path, data)[0]
        figures[name] = (_cosine(out, reference), float(np.abs(out - reference).max()))
    print(figures)
    assert figures["onnx-fp32"][1] == 0.0
    assert figures["onnx-int8-dynamic"][0] >= 0.98, figures
    assert figures["onnx-int8-static"][0] >= 0.9, figures
    assert made.manifest["calibration"]["samples"] == 16
    assert os.listdir(workdir) == []
    assert not any((session_cache / "tmp").iterdir())


def test_private_tmp_keeps_the_working_directory_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a converter writes into the cwd or $TMPDIR (onnxruntime's sym_shape_infer_temp.onnx) is removed."""
    import tempfile

    from devicelab.models import SourceModel

    monkeypatch.chdir(tmp_path)
    scratch = tmp_path / "cache" / "scratch" / "abc"
    scratch.mkdir(parents=True)
    ctx = ConversionContext(SourceModel("m", "onnx", tmp_path / "m.onnx", "0" * 64), None, scratch)
    with private_tmp(ctx) as folder:
        Path("sym_shape_infer_temp.onnx").write_bytes(b"x")
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            assert Path(handle.name).parent == folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
    assert Path.cwd() == tmp_path
