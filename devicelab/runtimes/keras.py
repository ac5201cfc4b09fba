"""The PC reference: the original Keras model (or SavedModel) on TensorFlow's CPU kernels."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from devicelab.errors import require
from devicelab.runtimes.base import Runtime, order_by_name


class KerasRuntime(Runtime):
    name = "keras"
    formats = ("keras", "savedmodel")
    delegates = ("cpu",)

    @classmethod
    def check_available(cls) -> None:
        require("tensorflow", "tensorflow", "running Keras models")

    def version(self) -> str:
        return f"tensorflow {version('tensorflow')}, keras {version('keras')}"

    def load(self, model_path: Path) -> None:
        import tensorflow as tf

        threads = self.spec.threads or 1
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        if model_path.is_dir():
            from devicelab.models import _serving_function

            signature = _serving_function(model_path)
            specs = signature.structured_input_signature[1]
            self._keys = list(specs)
            if self.job_inputs:  # the job's inputs by name, whatever order the signature lists them in
                order = order_by_name([t.name for t in self.job_inputs], self._keys)
                self._keys = [self._keys[i] for i in order]
            self._dtypes = [specs[k].dtype for k in self._keys]
            self.names = list(signature.structured_outputs)  # the order SourceModel reports
            self._fn = signature
            self._kind = "savedmodel"
        else:
            from devicelab.models import _load_keras

            model = _load_keras(model_path)
            specs = [tf.TensorSpec([1, *t.shape[1:]], t.dtype) for t in model.inputs]
            self._dtypes = [t.dtype for t in specs]
            # A traced graph, as a served model runs, rather than eager per-op dispatch.
            self._fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0], training=False),
                                   input_signature=specs)
            self.names = list(getattr(model, "output_names", None) or [t.name for t in model.outputs])
            self._kind = "keras"

    def used(self) -> str:
        return f"keras-cpu ({self._kind}, tf.function)"

    def prepare(self, sample: list[np.ndarray]) -> Any:
        import tensorflow as tf

        # Each input in the model's own dtype: token ids stay integers, masks stay bools.
        return [tf.constant(x, dtype=dtype) for x, dtype in zip(sample, self._dtypes, strict=True)]

    def run(self, feed: Any) -> Any:
        if self._kind == "savedmodel":
            out = self._fn(**dict(zip(self._keys, feed, strict=True)))
            return [out[name].numpy() for name in self.names]
        out = self._fn(*feed)
        return [o.numpy() for o in (out if isinstance(out, list | tuple) else [out])]

    def output_names(self) -> list[str]:
        return self.names
