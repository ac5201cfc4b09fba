"""Datasets for calibration and evaluation: builtin samples, keras downloads, and local files.

ds = load_dataset("mnist-sample", split="test", limit=100)
x = fit_to_shape(ds.x, (None, 28, 28, 1))
arrays = fit_inputs(ds, source.inputs)      # one array per model input, in its dtype and shape
"""

from __future__ import annotations

from devicelab.data.dataset import Dataset
from devicelab.data.fit import fit_inputs
from devicelab.data.loaders import builtin_datasets, load_dataset
from devicelab.data.shapes import fit_to_shape

__all__ = ["Dataset", "builtin_datasets", "fit_inputs", "fit_to_shape", "load_dataset"]
