"""The loopback HTTP server behind the browser target.

It serves exactly three things, from one origin, cross-origin isolated (COOP/COEP, so the page gets 5 us timers
and WASM threads): the web_runner page and its runtimes' dist files (``/runner/``), the files of registered
jobs (``/jobs/<id>/``), and a write-only drop for each job's result (``PUT /results/<id>/<file>``). Every path
is resolved and checked against its root; anything else is a 404. It listens on 127.0.0.1 only, and answers only
requests addressed to that exact host and port (a page on another site that rebinds its DNS name to 127.0.0.1
sends its own name as Host, and its own Origin): 403 to anything else. Uploads are capped per job.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LOOPBACK = "127.0.0.1"
MAX_UPLOAD = 1 << 30  # a result larger than 1 GiB is a bug, not a result
# What a job may upload in all: its output tensors are per-sample vectors (a classifier's are far smaller than its
# inputs; 16x leaves room for dense outputs) plus result.json with every raw timing sample.
UPLOAD_BASE = 64 << 20
UPLOAD_PER_INPUT_BYTE = 16
_RESULT_FILES = re.compile(r"^(result\.json|DONE|outputs/output_\d{1,4}\.bin|intermediates/tensor_\d{1,5}\.bin)$")
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
    budget: int = MAX_UPLOAD  # bytes this job may still upload


def upload_budget(job_dir: Path) -> int:
    """The most a job's page can legitimately upload: a base for result.json plus a multiple of its inputs,
    plus the intermediate tensors its job asks to capture (explain), at most their byte cap."""
    inputs = sum(p.stat().st_size for p in (job_dir / "inputs").rglob("*") if p.is_file()) \
        if (job_dir / "inputs").is_dir() else 0
    captured = 0
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        capture = json.loads((job_dir / "job.json").read_text()).get("capture") or {}
        captured = max(0, int(capture.get("max_bytes", 0)))
    return min(MAX_UPLOAD, UPLOAD_BASE + UPLOAD_PER_INPUT_BYTE * inputs + captured)


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
        self._httpd = _QuietServer((LOOPBACK, 0), _handler_for(self))
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
            self.jobs[job_id] = _JobFolders(Path(job_dir), Path(result_dir), upload_budget(Path(job_dir)))
        return f"{self.origin}/runner/index.html?job=/jobs/{job_id}/&result=/results/{job_id}/"

    def remove_job(self, job_id: str) -> None:
        with self._lock:
            self.jobs.pop(job_id, None)

    def lookup(self, job_id: str) -> _JobFolders | None:
        with self._lock:
            return self.jobs.get(job_id)

    def take_budget(self, job_id: str, size: int) -> bool:
        """Count an upload against its job's budget; False when it would go over."""
        with self._lock:
            folders = self.jobs.get(job_id)
            if folders is None or size > folders.budget:
                return False
            folders.budget -= size
            return True

    def allowed_host(self, host: str | None, origin: str | None) -> bool:
        """Only requests addressed to the loopback host:port given to the browser, from that origin (if any)."""
        expected = self.origin.removeprefix("http://")
        return host == expected and origin in (None, self.origin)


def _log(text: str) -> None:
    """One line on stderr, only with --verbose: clients that hang up are not news to a user measuring."""
    if os.environ.get("DEVICELAB_VERBOSE"):
        print(f"devicelab web server: {text}", file=sys.stderr)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        error = sys.exc_info()[1]
        _log(f"{type(error).__name__}: {error} ({client_address})")


def _handler_for(server: JobServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # requests are not news; failures surface as results

        def parse_request(self) -> bool:
            """Every method and route: refuse requests not addressed to this server's own loopback origin."""
            if not super().parse_request():
                return False
            if not server.allowed_host(self.headers.get("Host"), self.headers.get("Origin")):
                _log(f"refused {self.command} {self.path[:80]} for Host {self.headers.get('Host')!r}, "
                     f"Origin {self.headers.get('Origin')!r}")
                self.close_connection = True
                self._reply(HTTPStatus.FORBIDDEN, b"forbidden")
                return False
            return True

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, TimeoutError) as exc:  # the page closed or reset the connection
                _log(f"{type(exc).__name__} from {self.client_address[0]}")

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
            if target is None:
                self.close_connection = True  # the body stays unread
                self._reply(HTTPStatus.NOT_FOUND, b"not found")
                return
            length = _content_length(self.headers.get("Content-Length"))
            if length is None:
                self.close_connection = True
                self._reply(HTTPStatus.BAD_REQUEST, b"bad or missing Content-Length")
                return
            if not server.take_budget(job_id, length):
                self.close_connection = True
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"more than this job can produce")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            body = self.rfile.read(length)
            if len(body) != length:  # the client hung up mid-upload: keep nothing of it
                self.close_connection = True
                return
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(body)
            tmp.replace(target)
            self._reply(HTTPStatus.NO_CONTENT)

    return Handler


def _content_length(value: str | None) -> int | None:
    """A Content-Length header as a size, or None when it is missing or not a plain non-negative number."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
