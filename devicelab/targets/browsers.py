"""Finding a browser and its WebDriver on this machine, and starting a Selenium session on it.

devicelab never lets Selenium Manager download anything: it finds the browser binary and the driver itself,
checks their major versions match, and says exactly what is missing when they do not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelab.errors import DevicelabError, UsageError, require


class BrowserUnavailableError(DevicelabError):
    kind = "browser_unavailable"


@dataclass(frozen=True)
class BrowserKind:
    name: str
    engine: str  # chromium | firefox | safari
    binaries: tuple[str, ...]
    drivers: tuple[str, ...]
    install_hint: str


KINDS: dict[str, BrowserKind] = {
    "chrome": BrowserKind("chrome", "chromium",
                          ("google-chrome", "google-chrome-stable", "/usr/lib/chromium/chromium", "chromium",
                           "chromium-browser",
                           "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"),
                          ("chromedriver",), "install Chrome and chromedriver (Debian: apt-get install chromium "
                          "chromium-driver)"),
    "chromium": BrowserKind("chromium", "chromium", ("/usr/lib/chromium/chromium", "chromium", "chromium-browser"),
                            ("chromedriver",), "apt-get install chromium chromium-driver"),
    "edge": BrowserKind("edge", "chromium", ("microsoft-edge", "microsoft-edge-stable",
                                             "/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge"),
                        ("msedgedriver",), "install Microsoft Edge and msedgedriver of the same version"),
    "firefox": BrowserKind("firefox", "firefox", ("firefox", "firefox-esr"), ("geckodriver",),
                           "install Firefox and geckodriver"),
    "safari": BrowserKind("safari", "safari", ("/Applications/Safari.app/Contents/MacOS/Safari",),
                          ("safaridriver",), "Safari runs on macOS only; enable it with `safaridriver --enable`"),
}


@dataclass
class LocalBrowser:
    kind: BrowserKind
    binary: str
    driver: str
    versions: dict[str, str] = field(default_factory=dict)


def _which(candidate: str) -> str | None:
    if os.path.isabs(candidate):
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which(candidate)


def _version(executable: str) -> str:
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    found = re.search(r"\d+(\.\d+)+", out)
    return found.group(0) if found else ""


def kind(name: str) -> BrowserKind:
    try:
        return KINDS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown browser '{name}'", hint=f"browsers: {', '.join(KINDS)}") from None


def find_local(name: str) -> LocalBrowser:
    """The browser binary and driver on this machine, with matching major versions, or a clear error."""
    spec = kind(name)
    if spec.engine == "safari" and sys.platform != "darwin":
        raise BrowserUnavailableError(f"Safari needs macOS (this is {sys.platform})", hint=spec.install_hint)
    binary = next((found for c in spec.binaries if (found := _which(c))), None)
    driver = next((found for c in spec.drivers if (found := _which(c))), None)
    missing = [what for what, found in (("browser", binary), ("driver " + "/".join(spec.drivers), driver))
               if not found]
    if missing:
        raise BrowserUnavailableError(f"{name}: no {' and no '.join(missing)} found on this machine",
                                      hint=spec.install_hint + ", or use --remote URL for a Selenium Grid")
    assert binary and driver
    browser_version, driver_version = _version(binary), _version(driver)
    if spec.engine == "chromium" and browser_version and driver_version \
            and browser_version.split(".")[0] != driver_version.split(".")[0]:
        raise BrowserUnavailableError(
            f"{name} {browser_version} and {Path(driver).name} {driver_version} do not match "
            "(major versions differ)", hint="install the driver that matches the browser's major version")
    return LocalBrowser(spec, binary, driver, {"browser": browser_version, "driver": driver_version})


def chromium_arguments(headed: bool) -> list[str]:
    args = [
        "--enable-unsafe-webgpu",  # WebGPU in headless Chromium on Linux
        "--enable-precise-memory-info",  # performance.memory without 100 kB bucketing
        # One renderer per page: the page's renderer is then the only --type=renderer process we have to find.
        "--disable-features=SpareRendererForSitePerProcess",
        # This machine's network is closed: background requests only fail and add noise.
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL without a GPU
    ]
    if not headed:
        args.append("--headless=new")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    return args


def check_remote_url(url: str) -> str:
    """A WebDriver URL must be http(s)://host[:port][/path]: anything else is a usage error before any work."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        raise UsageError(f"--remote '{url}' is not a valid WebDriver URL: {exc}", hint=_REMOTE_HINT) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--remote '{url}' is not a WebDriver URL", hint=_REMOTE_HINT)
    return url


_REMOTE_HINT = "give the Grid's or farm's address, e.g. --remote http://localhost:4444 (Selenium Grid 4)"


def start_session(name: str, *, headed: bool = False, remote: str | None = None) -> tuple[Any, dict[str, Any]]:
    """A Selenium WebDriver on the named browser (local or remote) and what is known about it."""
    require("selenium.webdriver", "browser", "driving browsers")
    import urllib3
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException

    spec = kind(name)
    info: dict[str, Any] = {"browser": name, "remote": remote}
    local = None if remote else find_local(name)
    profile = None
    if spec.engine == "chromium":
        options: Any = webdriver.EdgeOptions() if name == "edge" else webdriver.ChromeOptions()
        for arg in chromium_arguments(headed):
            options.add_argument(arg)
        if local:
            options.binary_location = local.binary
            profile = tempfile.mkdtemp(prefix="devicelab-profile-")
            options.add_argument(f"--user-data-dir={profile}")
    elif spec.engine == "firefox":
        options = webdriver.FirefoxOptions()
        if not headed:
            options.add_argument("-headless")
        if local:
            options.binary_location = local.binary
    else:
        options = webdriver.SafariOptions()
    try:
        if remote:
            driver = webdriver.Remote(command_executor=remote, options=options)
        elif spec.engine == "chromium":
            service_class = webdriver.EdgeService if name == "edge" else webdriver.ChromeService
            service = service_class(executable_path=local.driver)  # type: ignore[union-attr]
            driver = (webdriver.Edge if name == "edge" else webdriver.Chrome)(service=service, options=options)
        elif spec.engine == "firefox":
            driver = webdriver.Firefox(service=webdriver.FirefoxService(executable_path=local.driver),  # type: ignore[union-attr]
                                       options=options)
        else:
            driver = webdriver.Safari(options=options)
    except (WebDriverException, OSError, ValueError, urllib3.exceptions.HTTPError) as exc:
        # An unreachable or wrong endpoint surfaces from urllib3 (MaxRetryError, LocationParseError), not Selenium.
        where = f"the WebDriver endpoint {remote}" if remote else f"{name} through {local.driver}"  # type: ignore[union-attr]
        message = _first_line(exc)
        if profile:  # the session never started: nothing else will remove its profile folder
            shutil.rmtree(profile, ignore_errors=True)
        raise BrowserUnavailableError(f"could not start {where}: {message}",
                                      hint=f"check that the Selenium Grid or WebDriver server at {remote} is running "
                                           f"and reachable from here (its {remote.rstrip('/')}/status page answers)"
                                      if remote else "check the browser and driver versions match "
                                           "(see `devicelab devices`)") from None
    caps = driver.capabilities
    info.update(
        browser_name=caps.get("browserName"), browser_version=caps.get("browserVersion"),
        driver_version=(caps.get("chrome") or caps.get("msedge") or {}).get("chromedriverVersion", "").split(" ")[0]
        or caps.get("moz:geckodriverVersion") or (local.versions.get("driver") if local else None),
        headless=not headed, profile=profile,
    )
    return driver, info


def _first_line(exc: BaseException) -> str:
    """One line of a driver error: urllib3's MaxRetryError names the real cause (refused, unknown host) inside."""
    reason = getattr(exc, "reason", None)
    if reason is not None:
        text = str(reason)
        # "HTTPConnection(host=..., port=1): Failed to establish a new connection: [Errno 111] Connection refused"
        text = text.split(": ", 1)[-1] if "Failed to establish" in text or "Errno" in text else text
    else:
        text = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
