"""Running converted variants directly with their host runtimes, for the converter tests (not the api)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_tflite(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """One inference per sample with ai_edge_litert, resizing free dims; int8 I/O is (de)quantized here."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()
    assert len(details) == len(inputs)
    for detail, array in zip(details, inputs, strict=True):
        if list(detail["shape"]) != [1, *array.shape[1:]]:
            interpreter.resize_tensor_input(detail["index"], [1, *array.shape[1:]])
    interpreter.allocate_tensors()
    outputs: list[list[np.ndarray]] = [[] for _ in interpreter.get_output_details()]
    for i in range(len(inputs[0])):
        for detail, array in zip(details, inputs, strict=True):
            sample = array[i:i + 1]
            scale, zero = detail["quantization"]
            if scale and detail["dtype"] in (np.int8, np.uint8):
                sample = np.clip(np.round(sample / scale + zero), -128, 127)
            interpreter.set_tensor(detail["index"], sample.astype(detail["dtype"]))
        interpreter.invoke()
        for slot, detail in zip(outputs, interpreter.get_output_details(), strict=True):
            value = interpreter.get_tensor(detail["index"])[0].astype(np.float32)
            scale, zero = detail["quantization"]
            slot.append((value - zero) * scale if scale else value)
    return [np.stack(o) for o in outputs]


def run_onnx(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return [np.asarray(o) for o in session.run(None, dict(zip(names, inputs, strict=True)))]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def builtin_only(path: Path) -> set[str]:
    """The op names of every subgraph; asserts none needs the Flex delegate or a custom op."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in ops), ops
    return ops
