"""Source models: what the user hands devicelab (Keras file, SavedModel folder, ONNX file, torch.export .pt2 or zoo
name)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from devicelab.errors import ModelLoadError
from devicelab.hashing import sha256_path
from devicelab.quiet import import_tensorflow

FORMATS = ("keras", "savedmodel", "onnx", "pt2")


@dataclass
class IOSpec:
    name: str
    dtype: str
    shape: list[int | None]


@dataclass
class SourceModel:
    """A model as the user gave it; loads lazily, and Keras files only in safe mode."""

    name: str
    format: str
    path: Path
    sha256: str
    zoo: dict[str, Any] | None = None  # training info when it came from the zoo
    _keras: Any = field(default=None, repr=False)
    _program: Any = field(default=None, repr=False)

    @property
    def dataset_hint(self) -> str | None:
        """The dataset the model was trained on, when known (zoo models)."""
        return (self.zoo or {}).get("config", {}).get("dataset") or None

    def keras_model(self) -> Any:
        if self.format != "keras":
            raise ModelLoadError(f"{self.path} is a {self.format} model, not a Keras model")
        if self._keras is None:
            self._keras = _load_keras(self.path)
        return self._keras

    def torch_program(self) -> Any:
        """The torch.export ExportedProgram of a .pt2 source (loaded once)."""
        if self.format != "pt2":
            raise ModelLoadError(f"{self.path} is a {self.format} model, not a torch.export program")
        if self._program is None:
            self._program = _load_pt2(self.path)
        return self._program

    @cached_property
    def inputs(self) -> list[IOSpec]:
        return self._signature()[0]

    @cached_property
    def outputs(self) -> list[IOSpec]:
        return self._signature()[1]

    def _signature(self) -> tuple[list[IOSpec], list[IOSpec]]:
        if self.format == "keras":
            model = self.keras_model()
            ins = [IOSpec(t.name, str(t.dtype), list(t.shape)) for t in model.inputs]
            names = list(getattr(model, "output_names", None) or [t.name for t in model.outputs])
            outs = [IOSpec(n, str(t.dtype), list(t.shape)) for n, t in zip(names, model.outputs, strict=True)]
            return ins, outs
        if self.format == "savedmodel":
            fn = _serving_function(self.path)
            ins = [IOSpec(k, v.dtype.name, list(v.shape)) for k, v in fn.structured_input_signature[1].items()]
            outs = [IOSpec(k, v.dtype.name, list(v.shape)) for k, v in fn.structured_outputs.items()]
            return ins, outs
        if self.format == "pt2":
            return _pt2_signature(self.torch_program())
        import onnx

        try:
            graph = onnx.load(str(self.path), load_external_data=False).graph
        except Exception as exc:  # protobuf's DecodeError and friends for a corrupt file
            raise ModelLoadError(f"cannot load ONNX model {self.path}: {_first_line(str(exc))}",
                                 hint="the file may be corrupt or truncated; export it again") from None
        initializers = {i.name for i in graph.initializer}
        ins = [_onnx_io(v) for v in graph.input if v.name not in initializers]
        if not ins or not graph.output:  # an empty file parses as an empty model
            raise ModelLoadError(f"{self.path} is not a usable ONNX model (no graph inputs or outputs)",
                                 hint="the file may be empty or corrupt; export it again")
        return ins, [_onnx_io(v) for v in graph.output]


def load_source(spec: str | Path, cache: Path | None = None) -> SourceModel:
    """Resolve a zoo name or a path to a SourceModel, checking the file is what it claims to be."""
    from devicelab.models import zoo

    text = str(spec)
    if zoo.is_zoo_name(text) and not Path(text).exists():
        from devicelab.paths import cache_dir

        path, info = zoo.build(zoo.default_config(text), cache or cache_dir())
        return SourceModel(name=text, format="keras", path=path, sha256=sha256_path(path), zoo=info)
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"model '{text}' not found: no such file or folder, and not a zoo model",
            hint=f"give a .keras/.h5 file, a SavedModel folder, an .onnx file, or one of: {', '.join(zoo.ZOO)}",
        )
    fmt = detect_format(path)
    return SourceModel(name=path.stem if path.is_file() else path.name, format=fmt, path=path,
                       sha256=sha256_path(path))


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return "savedmodel"
        raise ModelLoadError(f"{path} is a folder but not a SavedModel (no saved_model.pb)",
                             hint="export a SavedModel with model.export(folder) or give a model file")
    suffix = path.suffix.lower()
    head = path.read_bytes()[:8]
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise ModelLoadError(f"{path} is not a valid .keras file (not a zip archive): it may be corrupt",
                                 hint="re-save the model with model.save('model.keras')")
        return "keras"
    if suffix in (".h5", ".hdf5"):
        if head != b"\x89HDF\r\n\x1a\n":
            raise ModelLoadError(f"{path} is not a valid HDF5 file: it may be corrupt or truncated",
                                 hint="re-save the model with model.save('model.h5')")
        return "keras"
    if suffix == ".onnx":
        return "onnx"
    if suffix == ".pt2":
        if not zipfile.is_zipfile(path):  # torch.export.save writes a zip archive
            raise ModelLoadError(f"{path} is not a valid .pt2 file (not a zip archive): it may be corrupt",
                                 hint="save the program with torch.export.save(torch.export.export(model, args), path)")
        return "pt2"
    if suffix in (".tflite", ".mlpackage", ".mlmodel") or path.name == "model.json":
        raise ModelLoadError(f"{path} is already a converted model ({suffix or path.name}), not a source model",
                             hint="measure it with --variant-file, or give the original Keras/SavedModel/ONNX")
    raise ModelLoadError(f"{path}: unknown model format '{suffix}'",
                         hint="devicelab reads .keras, .h5, SavedModel folders and .onnx files")


def _load_keras(path: Path) -> Any:
    import_tensorflow()
    import keras

    try:
        # safe_mode refuses Lambda layers and other pickled code: a model file must not run code on load.
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelLoadError(
                f"{path} contains code (a Lambda layer or similar) that devicelab will not execute",
                hint="replace the Lambda with a registered custom layer, or re-export the model as a SavedModel",
            ) from None
        custom = any(word in text for word in ("Could not locate", "Unknown layer", "custom_objects"))
        hint = ("register custom layers with keras.saving.register_keras_serializable and use the Python API"
                if custom else "the file may be corrupt or written by an incompatible Keras version")
        raise ModelLoadError(f"cannot load {path}: {_first_line(text)}", hint=hint) from None
    except (OSError, TypeError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"cannot load {path}: {_first_line(str(exc))}",
                             hint="the file may be corrupt or written by an incompatible Keras") from None


def _serving_function(path: Path) -> Any:
    tf = import_tensorflow()

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF raises many types for broken folders
        raise ModelLoadError(f"cannot load SavedModel {path}: {_first_line(str(exc))}") from None
    if "serving_default" not in loaded.signatures:
        raise ModelLoadError(f"SavedModel {path} has no 'serving_default' signature",
                             hint="export it with model.export(folder) so it has a serving signature")
    return loaded.signatures["serving_default"]


def _load_pt2(path: Path) -> Any:
    from devicelab.errors import require

    torch = require("torch", "pytorch", "reading .pt2 programs")
    try:
        return torch.export.load(str(path))
    except Exception as exc:  # zip, pickle and schema-version errors all mean "cannot read this file"
        raise ModelLoadError(f"cannot load torch.export program {path}: {_first_line(str(exc)) or type(exc).__name__}",
                             hint="save it with torch.export.save using torch "
                                  f"{torch.__version__.split('+')[0]} (the .pt2 format is tied to the torch version)",
                             ) from None


def _pt2_signature(program: Any) -> tuple[list[IOSpec], list[IOSpec]]:
    """Inputs and outputs of an ExportedProgram from its graph's fake tensors (dynamic dims become None)."""
    signature = program.graph_signature
    nodes = {n.name: n for n in program.graph.nodes}  # user outputs are named after the nodes that make them

    def spec(name: str, node: Any) -> IOSpec:
        val = node.meta.get("val") if hasattr(node, "meta") else None
        if val is None or not hasattr(val, "dtype"):
            raise ModelLoadError(f"the .pt2 program's {name} is not a tensor; devicelab feeds and reads tensors only")
        dims: list[int | None] = [d if isinstance(d, int) else None for d in val.shape]
        return IOSpec(name, str(val.dtype).removeprefix("torch."), dims)

    ins = [spec(name, nodes.get(name)) for name in signature.user_inputs]
    outs = [spec(name, nodes.get(name)) for name in signature.user_outputs]
    if not ins or not outs:
        raise ModelLoadError("the .pt2 program has no tensor inputs or outputs")
    return ins, outs


def _onnx_io(value: Any) -> IOSpec:
    import onnx

    tensor = value.type.tensor_type
    dims: list[int | None] = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return IOSpec(value.name, onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name, dims)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else "unknown error"
