"""One exception family for everything a user can get wrong.

Every error carries a short message (what went wrong) and a hint (what to do about it). The CLI prints
both and exits non-zero without a traceback; a traceback only ever means a bug in devicelab itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class DevicelabError(Exception):
    """Base class: a problem the user can act on."""

    kind = "error"
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details  # longer text behind the message (a converter's own output), for --verbose

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class UsageError(DevicelabError):
    """Bad arguments: unknown names, options that do not fit together."""

    kind = "usage"
    exit_code = 2


class UnknownVariantError(UsageError):
    kind = "unknown_variant"


class ModelLoadError(DevicelabError):
    """The model file is missing, corrupt, or not a format devicelab reads."""

    kind = "model_load"


class ConversionError(DevicelabError):
    """A converter failed on this model."""

    kind = "conversion"


class UnsupportedOpError(ConversionError):
    """The model uses a layer or op the target format cannot express."""

    kind = "unsupported_op"


class CalibrationError(DevicelabError):
    """Calibration data is missing or does not fit the model."""

    kind = "calibration"


class DataError(DevicelabError):
    """A dataset cannot be found, read, or fed to the model."""

    kind = "data"


class MissingDependencyError(DevicelabError):
    """An optional Python package is not installed."""

    kind = "missing_dependency"


class RuntimeUnavailableError(DevicelabError):
    """The runtime cannot run on this machine (Core ML off macOS, say)."""

    kind = "runtime_unavailable"


class ModelRunError(DevicelabError):
    """The runtime loaded but failed to run the model (op version too new, bad input...)."""

    kind = "model_run"


class JobTimeoutError(DevicelabError):
    kind = "timeout"


class ProtocolError(DevicelabError):
    """A job or result document does not follow the devicelab protocol."""

    kind = "protocol"


class StoreError(DevicelabError):
    kind = "store"


_IMPORTS_TENSORFLOW = {"tensorflow", "tf2onnx", "tensorflowjs", "coremltools", "keras"}


def require(module: str, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import an optional dependency or explain how to install it."""
    try:
        if module.split(".")[0] in _IMPORTS_TENSORFLOW:
            from devicelab.quiet import import_tensorflow

            import_tensorflow()
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0].replace("_", "-")
        what = f" (needed for {purpose})" if purpose else ""
        install = f"pip install 'devicelab[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependencyError(
            f"Python package '{package}' is not installed{what}: {exc}",
            hint=f"install it with: {install}",
        ) from None
