"""The loopback HTTP server behind the browser target.

It serves exactly three things, from one origin, cross-origin isolated (COOP/COEP, so the page gets 5 us timers
and WASM threads): the web_runner page and its runtimes' dist files (``/runner/``), the files of registered
jobs (``/jobs/<id>/``), and a write-only drop for each job's result (``PUT /results/<id>/<file>``). Every path
is resolved and checked against its root; anything else is a 404. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOOPBACK = "127.0.0.1"
MAX_UPLOAD = 1 << 30  # a result larger than 1 GiB is a bug, not a result
_RESULT_FILES = re.compile(r"^(result\.json|DONE|outputs/output_\d{1,4}\.bin)$")
# The runner page may load its own top-level files, its runtime modules (runtimes/*.js) and the dist (and
# tfjs-tflite's wasm) folders of its runtimes, nothing else.
_RUNNER_FILES = re.compile(r"^((runtimes/)?[\w.-]+\.(html|js|css)"
                           r"|node_modules/(@tensorflow/[\w.-]+|@litertjs/[\w.-]+|onnxruntime-web)/(dist|wasm)/[\w./-]+)$")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
          ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm"}


@dataclass
class _JobFolders:
    job_dir: Path
    result_dir: Path


def resolve_inside(root: Path, relative: str) -> Path | None:
    """root/relative if it stays inside root (after resolving .. and symlinks), else None."""
    if not relative or "\\" in relative or "\0" in relative or ".." in relative.split("/"):
        return None
    base = root.resolve()
    candidate = (base / relative).resolve()
    return candidate if candidate.is_relative_to(base) and candidate != base else None


class JobServer:
    def __init__(self, runner_root: Path) -> None:
        self.runner_root = Path(runner_root)
        self.jobs: dict[str, _JobFolders] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="devicelab-web",
                                        daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> JobServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> JobServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_job(self, job_id: str, job_dir: Path, result_dir: Path) -> str:
        """Register a job's folders; returns the page URL that runs it."""
        result_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self.jobs[job_id] = _JobFolders(Path(job_dir), Path(result_dir))
        return f"{self.origin}/runner/index.html?job=/jobs/{job_id}/&result=/results/{job_id}/"

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            self.jobs.pop(job_id, None)

    def lookup(self, job_id: str) -> _JobFolders | None:
        with self._lock:
            return self.jobs.get(job_id)


def _handler_for(server: JobServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # requests are not news; failures surface as results

        def _isolation_headers(self) -> None:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Cache-Control", "no-store")

        def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
            self.send_response(status)
            self._isolation_headers()
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> tuple[str, str, str]:
            path = unquote(urlsplit(self.path).path)
            parts = path.lstrip("/").split("/", 2)
            if parts[0] == "runner" and len(parts) >= 2:
                return "runner", "", "/".join(parts[1:])
            if parts[0] in ("jobs", "results") and len(parts) == 3:
                return parts[0], parts[1], parts[2]
            return "", "", ""

        def do_GET(self) -> None:
            kind, job_id, relative = self._route()
            file: Path | None = None
            if kind == "runner" and _RUNNER_FILES.match(relative):
                file = resolve_inside(server.runner_root, relative)
            elif kind == "jobs" and (folders := server.lookup(job_id)):
                file = resolve_inside(folders.job_dir, relative)
            if file is None or not file.is_file():
                self._reply(HTTPStatus.NOT_FOUND, b"not found")
                return
            self._reply(HTTPStatus.OK, file.read_bytes(), _TYPES.get(file.suffix, "application/octet-stream"))

        do_HEAD = do_GET

        def do_PUT(self) -> None:
            kind, job_id, relative = self._route()
            folders = server.lookup(job_id) if kind == "results" else None
            target = resolve_inside(folders.result_dir, relative) if folders and _RESULT_FILES.match(relative) \
                else None
            length = int(self.headers.get("Content-Length") or -1)
            if target is None:
                self._reply(HTTPStatus.NOT_FOUND, b"not found")
                return
            if not 0 <= length <= MAX_UPLOAD:
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"bad length")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            body = self.rfile.read(length)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(body)
            tmp.replace(target)
            self._reply(HTTPStatus.NO_CONTENT)

    return Handler
