"""Keeping C++ chatter of ML libraries off the user's terminal (it buries the one line that matters).

What a library printed is not thrown away: it stays readable on the `Captured` record the context yields and, when
the block raises, on the exception (`captured_text(exc)`), so an error can quote the converter's real cause.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

_KEEP_CHARS = 200_000  # a converter can print megabytes; the cause is near the end
_ATTRIBUTE = "_devicelab_captured_output"


@dataclass
class Captured:
    text: str = ""  # filled in when the block ends


@contextlib.contextmanager
def captured_output() -> Iterator[Captured]:
    """Send fds 1 and 2 to an anonymous temporary file for the duration (C++ and tqdm write there).

    The file has no name (``TemporaryFile`` is unlinked at once), so nothing is left behind in $TMPDIR whatever
    happens; its text is kept on the yielded record and on an exception raised inside the block. Python warnings
    raised meanwhile (TF's "tf.lite.Interpreter is deprecated" from its own calibration) join that text too: a
    progress display that has taken over sys.stderr would otherwise print them between its bars.
    """
    captured = Captured()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with tempfile.TemporaryFile("w+b") as log, warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("default")
        saved = [os.dup(1), os.dup(2)]
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield captured
        except BaseException as exc:
            _restore(saved)
            captured.text = _read(log) + _warnings_text(heard)
            with contextlib.suppress(AttributeError, TypeError):  # a few C exceptions take no attributes
                setattr(exc, _ATTRIBUTE, captured.text)
            raise
        else:
            _restore(saved)
            captured.text = _read(log) + _warnings_text(heard)


def _warnings_text(heard: list[warnings.WarningMessage]) -> str:
    return "".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n" for w in heard)


def captured_text(exc: BaseException) -> str:
    """What the libraries printed while `exc` was being raised inside captured_output ('' when unknown)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # the text may sit on a wrapped cause
        seen.add(id(exc))
        text = getattr(exc, _ATTRIBUTE, None)
        if text:
            return text
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return ""


def _restore(saved: list[int]) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    for fd in saved:
        os.close(fd)


def _read(log: object) -> str:
    log.seek(0)  # type: ignore[attr-defined]
    data = log.read()  # type: ignore[attr-defined]
    return data[-_KEEP_CHARS:].decode("utf-8", errors="replace")


def import_tensorflow() -> ModuleType:
    """Import TensorFlow once with its import-time noise (absl, cuDNN/cuBLAS factory registration) silenced."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with captured_output():
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]
