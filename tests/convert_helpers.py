"""Running converted variants directly with their host runtimes, for the converter tests (not the api)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run_tflite(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One inference per sample with ai_edge_litert, inputs by signature name (the source model's input names),
    free dims resized from the data, int8 I/O (de)quantized here; outputs in the model's order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    signature = next(iter(interpreter._get_full_signature_list().values()))
    by_index = {d["index"]: d for d in interpreter.get_input_details() + interpreter.get_output_details()}
    in_details = {name: by_index[index] for name, index in signature["inputs"].items()}
    assert set(in_details) == set(inputs), (set(in_details), set(inputs))
    out_details = sorted(((key, by_index[index]) for key, index in signature["outputs"].items()),
                         key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
    for name, array in inputs.items():
        if list(in_details[name]["shape"]) != [1, *array.shape[1:]]:
            interpreter.resize_tensor_input(in_details[name]["index"], [1, *array.shape[1:]])
    interpreter.allocate_tensors()
    by_index = {d["index"]: d for d in interpreter.get_input_details() + interpreter.get_output_details()}
    in_details = {name: by_index[d["index"]] for name, d in in_details.items()}
    outputs: list[list[np.ndarray]] = [[] for _ in out_details]
    for i in range(len(next(iter(inputs.values())))):
        for name, array in inputs.items():
            detail = in_details[name]
            sample = array[i:i + 1]
            scale, zero = detail["quantization"]
            if scale and detail["dtype"] in (np.int8, np.uint8):
                sample = np.clip(np.round(sample / scale + zero), -128, 127)
            interpreter.set_tensor(detail["index"], sample.astype(detail["dtype"]))
        interpreter.invoke()
        for slot, (_, detail) in zip(outputs, out_details, strict=True):
            value = interpreter.get_tensor(detail["index"])[0].astype(np.float32)
            scale, zero = detail["quantization"]
            slot.append((value - zero) * scale if scale else value)
    return [np.stack(o) for o in outputs]


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, inputs)]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def builtin_only(path: Path) -> set[str]:
    """The op names of every subgraph; asserts none needs the Flex delegate or a custom op."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in ops), ops
    return ops
