"""The browser target's loopback server: serves the runner and the job, takes results, and nothing else."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from devicelab.targets.webserver import JobServer, resolve_inside


@pytest.fixture
def served(tmp_path: Path):
    runner = tmp_path / "web_runner"
    (runner / "node_modules/@tensorflow/tfjs/dist").mkdir(parents=True)
    (runner / "index.html").write_text("<html>runner</html>")
    (runner / "secret.txt").write_text("not for browsers")
    (runner / "node_modules/@tensorflow/tfjs/dist/tf.min.js").write_text("// tf")
    (runner / "node_modules/@tensorflow/tfjs/package.json").write_text("{}")
    job, result = tmp_path / "job", tmp_path / "result"
    (job / "model").mkdir(parents=True)
    (job / "job.json").write_text("{}")
    (job / "model/model.json").write_text("{}")
    (tmp_path / "outside.txt").write_text("private")
    with JobServer(runner) as server:
        server.add_job("j1", job, result)
        yield server, result


def _request(server: JobServer, method: str, path: str, body: bytes | None = None) -> http.client.HTTPResponse:
    host, port = server.origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, path, body=body)
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    return response


def test_listens_on_loopback_only(served) -> None:
    server, _ = served
    assert server.origin.startswith("http://127.0.0.1:")


def test_serves_runner_and_job_cross_origin_isolated(served) -> None:
    server, _ = served
    for path in ("/runner/index.html", "/runner/node_modules/@tensorflow/tfjs/dist/tf.min.js", "/jobs/j1/job.json",
                 "/jobs/j1/model/model.json"):
        response = _request(server, "GET", path)
        assert response.status == 200, path
        assert response.getheader("Cross-Origin-Opener-Policy") == "same-origin"
        assert response.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    assert _request(server, "GET", "/runner/node_modules/@tensorflow/tfjs/dist/tf.min.js").getheader(
        "Content-Type") == "text/javascript"


@pytest.mark.parametrize("path", [
    "/runner/secret.txt",  # the runner folder holds more than the page needs
    "/runner/node_modules/@tensorflow/tfjs/package.json",  # only dist folders of the runtimes
    "/runner/../outside.txt", "/runner/%2e%2e/outside.txt", "/jobs/j1/../outside.txt", "/jobs/j1/%2e%2e/outside.txt",
    "/runner/node_modules/@tensorflow/tfjs/dist/../package.json",
    "/jobs/j2/job.json",  # an unregistered job
    "/jobs/j1//etc/passwd", "/etc/passwd", "/",
])
def test_nothing_outside_is_served(served, path: str) -> None:
    server, _ = served
    response = _request(server, "GET", path)
    assert response.status == 404 and b"private" not in response.body and b"not for browsers" not in response.body


def test_results_are_write_only_and_limited_to_result_files(served) -> None:
    server, result = served
    assert _request(server, "PUT", "/results/j1/outputs/output_0.bin", b"\x00\x01").status == 204
    assert (result / "outputs/output_0.bin").read_bytes() == b"\x00\x01"
    assert _request(server, "PUT", "/results/j1/result.json", b"{}").status == 204
    for path in ("/results/j1/../escape.json", "/results/j1/evil.sh", "/results/j2/result.json",
                 "/results/j1/outputs/../../x.bin", "/jobs/j1/job.json"):
        assert _request(server, "PUT", path, b"x").status == 404, path
    assert not (result.parent / "escape.json").exists() and (result.parent / "job/job.json").read_text() == "{}"
    assert _request(server, "GET", "/results/j1/result.json").status == 404


def test_removed_job_is_gone(served) -> None:
    server, _ = served
    server.remove_job("j1")
    assert _request(server, "GET", "/jobs/j1/job.json").status == 404


def test_resolve_inside(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to("/etc")
    assert resolve_inside(tmp_path, "a") == (tmp_path / "a").resolve()
    for bad in ("../x", "a/../../x", "link/passwd", "", "a\\b", "/etc/passwd"):
        assert resolve_inside(tmp_path, bad) is None, bad


# --- issue 13: DNS rebinding, upload caps, malformed requests ----------------------------------------------------


def _raw(server: JobServer, request: bytes, *, reset: bool = False) -> bytes:
    """Send bytes as they are (headers http.client would not let through); with ``reset``, hang up with RST."""
    import socket
    import struct

    host, port = server.origin.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize(("host", "origin"), [
    ("evil.example.com", None), ("evil.example.com:PORT", None), ("localhost:PORT", None), ("127.0.0.1:1", None),
    ("127.0.0.1:PORT", "http://evil.example.com"), ("127.0.0.1:PORT", "null"), (None, None),
])
def test_requests_for_another_host_or_origin_are_refused(served, host: str | None, origin: str | None) -> None:
    """DNS rebinding: a page of evil.example.com resolving to 127.0.0.1 sends its own Host and Origin."""
    server, result = served
    port = server.origin.rsplit(":", 1)[1]
    headers = "".join(f"{k}: {v.replace('PORT', port)}\r\n" for k, v in (("Host", host), ("Origin", origin)) if v)
    for method, path, body in (("GET", "/jobs/j1/job.json", b""), ("PUT", "/results/j1/result.json", b"{}")):
        reply = _raw(server, f"{method} {path} HTTP/1.1\r\n{headers}Content-Length: {len(body)}\r\n"
                             "Connection: close\r\n\r\n".encode() + body)
        assert reply.startswith(b"HTTP/1.1 403"), reply[:200]
    assert not (result / "result.json").exists()
    own = _raw(server, f"GET /jobs/j1/job.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {server.origin}\r\n"
                       "Connection: close\r\n\r\n".encode())
    assert own.startswith(b"HTTP/1.1 200")


def test_uploads_are_capped_at_what_the_job_can_produce(served) -> None:
    from devicelab.targets import webserver

    server, result = served
    budget = webserver.upload_budget(result.parent / "job")
    assert budget == webserver.UPLOAD_BASE  # this job has no inputs
    port = server.origin.rsplit(":", 1)[1]
    reply = _raw(server, f"PUT /results/j1/outputs/output_0.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         f"Content-Length: {200 << 20}\r\n\r\n".encode())  # 200 MB announced, none sent
    assert reply.startswith(b"HTTP/1.1 413") and not (result / "outputs").exists()
    assert _request(server, "PUT", "/results/j1/outputs/output_0.bin", b"\x00" * (budget - 10)).status == 204
    assert _request(server, "PUT", "/results/j1/result.json", b"x" * 11).status == 413  # the budget is per job
    assert _request(server, "PUT", "/results/j1/result.json", b"{}").status == 204


@pytest.mark.parametrize("length", ["abc", "-5", "1e3", ""])
def test_bad_content_length_is_400_without_traceback(served, length: str, capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVICELAB_VERBOSE", raising=False)
    server, result = served
    port = server.origin.rsplit(":", 1)[1]
    header = f"Content-Length: {length}\r\n" if length else ""
    reply = _raw(server, f"PUT /results/j1/result.json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}"
                         "Connection: close\r\n\r\n{}".encode())
    assert reply.startswith(b"HTTP/1.1 400") and not (result / "result.json").exists()
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_client_resets_print_nothing_unless_verbose(served, capfd: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    server, result = served
    port = server.origin.rsplit(":", 1)[1]
    upload = (f"PUT /results/j1/outputs/output_0.bin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              "Content-Length: 100000\r\n\r\n").encode() + b"\x00" * 1000  # then a reset mid-body
    for verbose in ("", "1"):
        monkeypatch.setenv("DEVICELAB_VERBOSE", verbose)
        _raw(server, upload, reset=True)
        _raw(server, b"GET /jobs/j1/job.json HTTP/1.1\r\n", reset=True)  # reset mid-headers
        time.sleep(0.5)
        err = capfd.readouterr().err
        assert "Traceback" not in err
        assert (err == "") if not verbose else (0 < len(err.splitlines()) <= 2)
    assert not (result / "outputs/output_0.bin").exists()
    assert _request(server, "GET", "/jobs/j1/job.json").status == 200  # still serving
