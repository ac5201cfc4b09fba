"""Where devicelab keeps its cache and results store (overridable by flags and environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir


def cache_dir() -> Path:
    """Converted artifacts, built zoo models, reference outputs: everything that can be rebuilt."""
    return Path(os.environ.get("DEVICELAB_CACHE") or user_cache_dir("devicelab"))


def default_store() -> Path:
    """The SQLite results store: measurements, which cannot be rebuilt, so it lives in the data dir."""
    env = os.environ.get("DEVICELAB_STORE")
    return Path(env) if env else Path(user_data_dir("devicelab")) / "results.sqlite"
