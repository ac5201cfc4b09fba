"""Shared fixtures: one cache and one trained LeNet-5 per test session, isolated from the user's own dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache shared by the whole session (models train and convert once), set for subprocesses too."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["DEVICELAB_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def lenet5(session_cache: Path) -> Path:
    """The zoo LeNet-5, trained on the bundled MNIST sample (about ten seconds, once)."""
    from devicelab import api

    path, info = api.zoo_build("lenet5", cache=session_cache)
    assert info["trained"] and info["test_accuracy"] > 0.9
    return path


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "results.sqlite"
    monkeypatch.setenv("DEVICELAB_STORE", str(path))
    return path
