"""The runner routes the page's modules need (runtimes/*.js, LiteRT.js's dist and wasm folders), and no more."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from devicelab.targets.webserver import JobServer

SERVED = ("runtimes/litert-js.js", "node_modules/@litertjs/core/dist/index.js",
          "node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm",
          "node_modules/@litertjs/wasm-utils/dist/index.js")
REFUSED = ("runtimes/sub/x.js", "runtimes/notes.txt", "node_modules/@litertjs/core/package.json",
           "node_modules/@litertjs/core/src/index.ts", "node_modules/@litertjs/core/wasm/../package.json",
           "runtimes/../secret.js")


@pytest.fixture
def server(tmp_path: Path):
    runner = tmp_path / "web_runner"
    for relative in (*SERVED, *REFUSED, "secret.js"):
        if ".." in relative:
            continue
        (runner / relative).parent.mkdir(parents=True, exist_ok=True)
        (runner / relative).write_bytes(b"\0asm" if relative.endswith(".wasm") else b"// file")
    with JobServer(runner) as served:
        yield served


def _get(server: JobServer, path: str) -> http.client.HTTPResponse:
    host, port = server.origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response


def test_the_page_gets_its_runtime_modules_and_litert_files(server) -> None:
    for relative in SERVED:
        response = _get(server, f"/runner/{relative}")
        assert response.status == 200, relative
        wanted = "application/wasm" if relative.endswith(".wasm") else "text/javascript"
        assert response.getheader("Content-Type") == wanted, relative  # modules and wasm need their MIME types
        assert response.getheader("Cross-Origin-Embedder-Policy") == "require-corp"


@pytest.mark.parametrize("relative", REFUSED)
def test_nothing_else_under_the_runner(server, relative: str) -> None:
    assert _get(server, f"/runner/{relative}").status == 404
