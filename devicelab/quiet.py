"""Keeping C++ chatter of ML libraries off the user's terminal (it buries the one line that matters)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType


@contextlib.contextmanager
def captured_output() -> Iterator[Path]:
    """Send fds 1 and 2 to a log file for the duration (C++ and tqdm write there, not to sys.stdout)."""
    with tempfile.NamedTemporaryFile("w+b", suffix=".log", delete=False) as log:
        path = Path(log.name)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    handle = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        yield path
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, handle):
            os.close(fd)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow once with its import-time noise (absl, cuDNN/cuBLAS factory registration) silenced."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with captured_output():
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]
