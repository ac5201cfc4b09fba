"""A fake adb server on loopback that speaks the real adb host wire protocol, for tests without devices.

Real clients (``adbutils.AdbClient(host="127.0.0.1", port=server.port)``, ``adb -P PORT``) connect to it as to
the adb server a phone hangs off. Protocol references (AOSP packages/modules/adb):

- OVERVIEW.TXT / SERVICES.TXT: a request is 4 hex digits (payload length) + payload; the server replies
  ``OKAY`` or ``FAIL`` + 4 hex digits + message. ``host:*`` requests are answered by the server itself;
  ``host:transport:<serial>`` (or ``host:tport:serial:<serial>``, which answers OKAY + an 8-byte little-endian
  transport id) switches the connection to a device, and the next request names a device service:
  ``shell:<cmd>`` (raw stream, closed when the command ends), ``shell,v2:<cmd>`` (packets of id byte +
  uint32 LE length + data: stdout=1, stderr=2, exit=3), ``sync:``.
- SYNC.TXT: sync mode exchanges 8-byte headers (4-char id + uint32 LE length). STAT/LIST/RECV/SEND/QUIT,
  plus STA2/LST2/LIS2 (feature stat_v2, ls_v2). SEND carries "path,mode", then DATA chunks (<= 64 KiB) and
  DONE with the mtime; the device answers OKAY, or FAIL + uint32 LE length + message. RECV answers DATA
  chunks and DONE. LIST answers DENT entries and DONE.

Error texts are the real server's: ``device 'X' not found``, ``device offline``, ``device unauthorized.``...
Every connection is served by its own thread; all loops end when the server stops, the client goes away or
the device is removed. The server binds 127.0.0.1 only.

What adbutils 2.12 sends (see tests/test_fake_adb.py):
``server_version()``: ``host:version``; ``list()/device_list()``: ``host:devices`` (``-l``: ``host:devices-l``);
every device call opens two connections: ``host:version`` (to pick tport, used when >= 41), then
``host:tport:serial:<serial>`` + the service; ``get_state()``/``get_features()``:
``host-serial:<serial>:get-state`` / ``:features``; ``shell(list)``: ``shell:`` + ``shlex.quote``-joined
words; ``shell2(v2=True)``: ``shell,v2:``; ``shell2()`` over v1 appends ``; echo X4EXIT:$?``;
``sync.*``: ``sync:`` then one STAT / LIST / RECV / SEND per connection (no QUIT; the socket is closed).

``host:connect:<host>:<port>`` (``adb connect``, ``AdbClient.connect``) attaches a device listening on adbd over
TCP, such as a DeviceFarmer/STF "remote connect" endpoint: give them as ``remote_endpoints``; the server answers
OKAY and the real server's text ("connected to X", "already connected to X", "failed to connect to 'X': ...").
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from .android_device import FakeDevice, FsError
from .shell import CallbackSink, Shell, ShellIO

ADB_SERVER_VERSION = 41  # 1.0.41: adbutils then uses host:tport:serial
DEVICE_FEATURES = "shell_v2,stat_v2,ls_v2,fixed_push_mkdir"  # only what the fake implements
HOST_FEATURES = "shell_v2,stat_v2,ls_v2,fixed_push_mkdir,push_sync"
SYNC_DATA_MAX = 64 * 1024
SYNC_PATH_MAX = 1024
_POLL_S = 0.1
UNAUTHORIZED = ("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
                "Try 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device.")


class _Closed(Exception):
    """The peer closed the connection (or the server / device dropped it)."""


class _Conn:
    """One client connection: framing helpers over a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.device: FakeDevice | None = None
        self.dropped = False  # set by remove_device / stop: Linux keeps delivering data after SHUT_RD

    def drop(self) -> None:
        self.dropped = True
        _shutdown(self.sock)

    def read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            if self.dropped:
                raise _Closed
            try:
                chunk = self.sock.recv(min(left, 1 << 20))
            except OSError:
                raise _Closed from None
            if not chunk:
                raise _Closed
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read_request(self) -> str:
        header = self.read_exact(4)
        try:
            length = int(header, 16)
        except ValueError:
            raise _Closed from None  # not the adb protocol: drop the connection as adb does
        return self.read_exact(length).decode("utf-8", errors="replace")

    def send(self, data: bytes) -> None:
        if self.dropped:
            raise _Closed
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Closed from None

    @staticmethod
    def block(text: str | bytes) -> bytes:
        data = text.encode() if isinstance(text, str) else text
        return f"{len(data):04x}".encode() + data

    def okay(self, payload: str | None = None) -> None:
        self.send(b"OKAY" + (self.block(payload) if payload is not None else b""))

    def fail(self, message: str) -> None:
        self.send(b"FAIL" + self.block(message))

    def peer_gone(self) -> bool:
        """True when the client closed its side (readable with no data); never blocks, never consumes."""
        try:
            if hasattr(socket, "MSG_DONTWAIT"):
                return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True


class FakeAdbServer:
    """The fake adb server: ``start()`` returns the port; use as a context manager in tests."""

    def __init__(self, devices: list[FakeDevice] | tuple[FakeDevice, ...] = (), host: str = "127.0.0.1",
                 port: int = 0, remote_endpoints: dict[str, FakeDevice] | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the fake adb server binds a loopback address only")
        self.host, self._requested_port = host, port
        self.port = 0
        self.requests: list[str] = []  # every request line received (host and device services), for tests
        self._devices: dict[str, FakeDevice] = {}
        self._ever_attached: list[FakeDevice] = []  # stop() stops their apps, unplugged ones included
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._next_transport = 1
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._connections: dict[socket.socket, _Conn] = {}
        self._stopping = threading.Event()
        self.remote_endpoints = dict(remote_endpoints or {})  # "host:port" -> device reachable by `adb connect`
        for device in devices:
            self.add_device(device)

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> int:
        if self._listener is not None:
            return self.port
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(64)
        listener.settimeout(_POLL_S)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._stopping.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"fake-adb-{self.port}", daemon=True)
        self._accept_thread.start()
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, stop the simulated apps; bounded by ``timeout`` per thread."""
        if self._listener is None:
            return
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        if self._accept_thread is not None and self._accept_thread is not threading.current_thread():
            self._accept_thread.join(timeout)
        self._listener.close()
        self._listener = None
        with self._lock:
            connections = list(self._connections.values())
            devices = list(self._ever_attached)
        for conn in connections:
            conn.drop()
        for device in devices:
            device.shutdown()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout)

    def __enter__(self) -> FakeAdbServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> Any:
        """An ``adbutils.AdbClient`` for this server."""
        import adbutils

        return adbutils.AdbClient(host=self.host, port=self.port)

    # --- devices --------------------------------------------------------------------------------------

    @property
    def devices(self) -> list[FakeDevice]:
        with self._lock:
            return list(self._devices.values())

    def device(self, serial: str) -> FakeDevice:
        with self._lock:
            return self._devices[serial]

    def has_device(self, device: FakeDevice) -> bool:
        with self._lock:
            return self._devices.get(device.serial) is device and not self._stopping.is_set()

    def add_device(self, device: FakeDevice) -> FakeDevice:
        """Plug a device in (again): it gets a new transport id, as after a real replug."""
        with self._changed:
            if device.serial in self._devices:
                raise ValueError(f"a device with serial {device.serial!r} is already attached")
            device.transport_id, self._next_transport = self._next_transport, self._next_transport + 1
            device.server = self
            self._devices[device.serial] = device
            if device not in self._ever_attached:
                self._ever_attached.append(device)
            self._changed.notify_all()
        return device

    def remove_device(self, serial: str) -> FakeDevice:
        """Unplug: the device leaves the list and every connection switched to it is closed."""
        with self._changed:
            device = self._devices.pop(serial)
            doomed = [conn for conn in self._connections.values() if conn.device is device]
            self._changed.notify_all()
        for conn in doomed:
            conn.drop()
        return device

    # --- connection handling ----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        while not self._stopping.is_set() and listener is not None:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.settimeout(None)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True, name="fake-adb-conn")
            with self._lock:
                self._threads = {t for t in self._threads if t.is_alive()} | {thread}
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = _Conn(sock)
        with self._lock:
            self._connections[sock] = conn
        try:
            self._host_request(conn, self._read(conn))
        except _Closed:
            pass
        finally:
            with self._lock:
                self._connections.pop(sock, None)
            _shutdown(sock)
            sock.close()

    def _read(self, conn: _Conn) -> str:
        request = conn.read_request()
        self.requests.append(request)
        return request

    def _alive(self, conn: _Conn) -> Callable[[], bool]:
        def alive() -> bool:
            device = conn.device
            return (not self._stopping.is_set() and not conn.dropped
                    and (device is None or self.has_device(device)) and not conn.peer_gone())
        return alive

    # --- host services (SERVICES.TXT "host:*") ----------------------------------------------------------

    def _host_request(self, conn: _Conn, request: str) -> None:
        if request == "host:version":
            conn.okay(f"{ADB_SERVER_VERSION:04x}")
        elif request == "host:kill":
            conn.okay()
            threading.Thread(target=self.stop, daemon=True).start()
        elif request in ("host:devices", "host:devices-l"):
            conn.okay(self._device_list(long=request.endswith("-l")))
        elif request in ("host:track-devices", "host:track-devices-l"):
            self._track_devices(conn, long=request.endswith("-l"))
        elif request == "host:host-features":
            conn.okay(HOST_FEATURES)
        elif request.startswith("host:connect:"):
            conn.okay(self._connect(request[len("host:connect:"):]))
        elif request.startswith(("host:transport", "host:tport:")):
            self._transport(conn, request)
        elif request.startswith(("host-serial:", "host-transport-id:", "host-usb:", "host-local:", "host:")):
            self._device_host_request(conn, request)
        else:
            conn.fail(f"unknown host service '{request}'")

    def _connect(self, endpoint: str) -> str:
        """What `adb connect` answers (always after OKAY): the device appears under the endpoint as serial."""
        device = self.remote_endpoints.get(endpoint)
        if device is None:
            return f"failed to connect to '{endpoint}': Connection refused"
        with self._lock:
            if self._devices.get(device.serial) is device:
                return f"already connected to {endpoint}"
        self.add_device(device)
        return f"connected to {endpoint}"

    def _device_list(self, long: bool) -> str:
        lines = []
        for device in self.devices:
            if not long:
                lines.append(f"{device.serial}\t{device.state}\n")
                continue
            line = f"{device.serial:<22} {device.state} usb:1-{device.transport_id}"
            if device.state == "device":
                line += (f" product:{device.product} model:{device.model.replace(' ', '_')}"
                         f" device:{device.product}")
            lines.append(f"{line} transport_id:{device.transport_id}\n")
        return "".join(lines)

    def _track_devices(self, conn: _Conn, long: bool) -> None:
        """OKAY, then the device list as a length-prefixed block every time it changes (until disconnect)."""
        conn.okay()
        last = None
        alive = self._alive(conn)
        while alive():
            with self._changed:
                current = self._device_list(long)
                if current == last:
                    self._changed.wait(_POLL_S)
                    current = self._device_list(long)
            if current != last:
                conn.send(conn.block(current))
                last = current

    def _find(self, selector: str, value: str | None = None) -> tuple[FakeDevice | None, str]:
        """Pick a device the way the adb server does; (device, error message)."""
        devices = self.devices
        if selector == "serial":
            found = [d for d in devices if d.serial == value]
            return (found[0], "") if found else (None, f"device '{value}' not found")
        if selector == "id":
            found = [d for d in devices if str(d.transport_id) == value]
            return (found[0], "") if found else (None, f"no device with transport id '{value}'")
        if not devices:
            return None, "no devices/emulators found"
        if len(devices) > 1:
            return None, "more than one device/emulator"
        return devices[0], ""

    def _selector(self, spec: str) -> tuple[str, str | None]:
        if spec.startswith("serial:"):
            return "serial", spec[len("serial:"):]
        if spec.startswith("transport-id:"):
            return "id", spec[len("transport-id:"):]
        return "any", None

    def _transport(self, conn: _Conn, request: str) -> None:
        """host:transport:<serial> | host:transport-id:<n> | host:transport-any|-usb|-local |
        host:tport:serial:<serial> | host:tport:transport-id:<n> | host:tport:any|usb|local."""
        tport = request.startswith("host:tport:")
        if tport:
            selector, value = self._selector(request[len("host:tport:"):])
        elif request.startswith("host:transport:"):
            selector, value = "serial", request[len("host:transport:"):]
        elif request.startswith("host:transport-id:"):
            selector, value = "id", request[len("host:transport-id:"):]
        else:
            selector, value = "any", None
        device, error = self._find(selector, value)
        if device is None:
            conn.fail(error)
            return
        if device.state != "device":
            conn.fail(UNAUTHORIZED if device.state == "unauthorized" else "device offline")
            return
        conn.device = device
        conn.send(b"OKAY" + (struct.pack("<Q", device.transport_id) if tport else b""))
        self._device_service(conn, device, self._read(conn))

    def _device_host_request(self, conn: _Conn, request: str) -> None:
        """host-serial:<serial>:<req>, host-transport-id:<n>:<req>, host-usb:<req>, host-local:<req>,
        host:<req> for get-state, get-serialno, get-devpath, features, wait-for-*."""
        known = ("get-state", "get-serialno", "get-devpath", "features", "list-forward")
        prefix, _, rest = request.partition(":")
        req = next((k for k in known if rest == k or rest.endswith(":" + k)), None)
        if req is None and ":wait-for-" in ":" + rest:
            req = rest[rest.index("wait-for-"):]
        if req is None:
            conn.fail(f"unknown host service '{request}'")
            return
        target = rest[: -len(req) - 1] if rest != req else ""
        if prefix == "host-serial":
            device, error = self._find("serial", target)
        elif prefix == "host-transport-id":
            device, error = self._find("id", target)
        else:
            device, error = self._find("any")
        if req.startswith("wait-for-"):
            self._wait_for(conn, prefix, target, req)
            return
        if device is None:
            conn.fail(error)
        elif req == "get-state":
            conn.okay(device.state)
        elif req == "get-serialno":
            conn.okay(device.serial)
        elif req == "get-devpath":
            conn.okay(f"usb:1-{device.transport_id}")
        elif req == "list-forward":
            conn.okay("")
        elif device.state != "device":
            conn.fail(UNAUTHORIZED if device.state == "unauthorized" else "device offline")
        else:
            conn.okay(DEVICE_FEATURES)

    def _wait_for(self, conn: _Conn, prefix: str, target: str, req: str) -> None:
        """wait-for-<transport>-<state>: OKAY at once, a second OKAY when the device is there in that state."""
        conn.okay()
        state = req.rsplit("-", 1)[-1]
        alive = self._alive(conn)
        while alive():
            with self._changed:
                device, _ = self._find("serial", target) if prefix == "host-serial" else self._find("any")
                present = device is not None and (state == "any" or device.state == state)
                if (state == "disconnect" and device is None) or (state != "disconnect" and present):
                    break
                self._changed.wait(_POLL_S)
        else:
            return
        conn.okay()

    # --- device services --------------------------------------------------------------------------------

    def _device_service(self, conn: _Conn, device: FakeDevice, request: str) -> None:
        if request.startswith("shell") and ":" in request:
            head, command = request.split(":", 1)
            options = head.split(",")[1:]
            self._shell(conn, device, command, v2="v2" in options)
        elif request.startswith("exec:"):
            self._shell(conn, device, request[len("exec:"):], v2=False)
        elif request == "sync:":
            conn.okay()
            _SyncSession(conn, device, self._alive(conn)).run()
        elif request == "root:":
            conn.okay()
            conn.send(b"adbd cannot run as root in production builds\n")
        else:
            conn.fail("closed")  # what the adb server reports when adbd refuses a service

    def _shell(self, conn: _Conn, device: FakeDevice, command: str, v2: bool) -> None:
        """shell: (raw, stdout and stderr merged, closed at exit) or shell,v2: (framed, exit packet)."""
        device.commands.append(command)
        if not command.strip():
            conn.fail("interactive shells are not supported by the fake adb server")
            return
        conn.okay()
        if v2:
            def packet(kind: int) -> Callable[[bytes], None]:
                return lambda data: conn.send(bytes([kind]) + struct.pack("<I", len(data)) + data)

            shell_io = ShellIO(CallbackSink(packet(1)), CallbackSink(packet(2)), self._alive(conn))
        else:
            sink = CallbackSink(conn.send)
            shell_io = ShellIO(sink, sink, self._alive(conn))
        status = Shell(device, shell_io).run(command)
        if v2:
            conn.send(bytes([3]) + struct.pack("<I", 1) + bytes([status & 0xFF]))


class _SyncSession:
    """The sync: service (SYNC.TXT), one request after another until QUIT or the client closes."""

    def __init__(self, conn: _Conn, device: FakeDevice, alive: Callable[[], bool]) -> None:
        self.conn, self.device, self.alive = conn, device, alive

    def run(self) -> None:
        while True:
            header = self.conn.read_exact(8)
            request, length = header[:4].decode("ascii", errors="replace"), struct.unpack("<I", header[4:])[0]
            if request == "QUIT":
                return
            if request not in ("STAT", "LIST", "RECV", "SEND", "STA2", "LST2", "LIS2"):
                self._fail(f"unknown sync request '{request}'")
                return
            if length > SYNC_PATH_MAX:
                self._fail("path too long")
                return
            path = self.conn.read_exact(length).decode("utf-8", errors="replace")
            self.device.sync_log.append((request, path))
            handler = {"STAT": self._stat, "STA2": self._stat_v2, "LST2": self._stat_v2, "LIST": self._list,
                       "LIS2": self._list, "RECV": self._recv, "SEND": self._send}[request]
            if handler(request, path) is False:
                return  # adbd ends the session after a failed RECV / SEND

    def _fail(self, message: str) -> None:
        data = message.encode()
        self.conn.send(b"FAIL" + struct.pack("<I", len(data)) + data)

    def _lstat(self, path: str) -> Any:
        try:
            return self.device.host_path(path).lstat()
        except (FsError, OSError):
            return None

    def _stat(self, request: str, path: str) -> None:
        st = self._lstat(path)  # v1 STAT is an lstat; all zeros when the path does not exist
        fields = (st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)) if st else (0, 0, 0)
        self.conn.send(b"STAT" + struct.pack("<III", *fields))

    @staticmethod
    def _v2_fields(st: Any) -> bytes:
        if st is None:
            return struct.pack("<IQQIIIIQqqq", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)  # error = ENOENT
        return struct.pack("<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, 2000, 1078,
                           st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))

    def _stat_v2(self, request: str, path: str) -> None:
        host_st = self._lstat(path)
        if host_st is not None and request == "STA2":  # STA2 follows symlinks, LST2 does not
            with contextlib.suppress(FsError, OSError):
                host_st = self.device.host_path(path).stat()
        self.conn.send(request.encode() + self._v2_fields(host_st))

    def _list(self, request: str, path: str) -> None:
        try:
            folder = self.device.host_path(path)
            names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        except (FsError, OSError):
            folder, names = None, []
        for name in [".", "..", *names] if names or (folder is not None and folder.is_dir()) else []:
            entry = folder if name in (".", "..") else folder / name  # type: ignore[operator]
            try:
                st = entry.lstat()
            except OSError:
                continue
            encoded = name.encode()
            if request == "LIST":
                self.conn.send(b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF,
                                                     int(st.st_mtime), len(encoded)) + encoded)
            else:
                self.conn.send(b"DNT2" + self._v2_fields(st) + struct.pack("<I", len(encoded)) + encoded)
        size = 16 if request == "LIST" else len(self._v2_fields(None)) + 4
        self.conn.send(b"DONE" + b"\x00" * size)

    def _recv(self, request: str, path: str) -> bool:
        try:
            host = self.device.host_path(path)
            with host.open("rb") as f:
                while chunk := f.read(SYNC_DATA_MAX):
                    if not self.alive():
                        raise _Closed
                    self.conn.send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        except IsADirectoryError:
            self._fail("read failed: Is a directory")
            return False
        except FileNotFoundError:
            self._fail("open failed: No such file or directory")
            return False
        except FsError as exc:
            self._fail(f"open failed: {exc.strerror}")
            return False
        except OSError as exc:
            self._fail(f"read failed: {exc.strerror}")
            return False
        self.conn.send(b"DONE" + b"\x00" * 4)
        return True

    def _send(self, request: str, spec: str) -> bool:
        """SEND "path,mode": DATA chunks then DONE <mtime>. On failure adbd answers FAIL at once and keeps
        reading (and dropping) DATA until DONE, so the client never writes into a closed socket."""
        path, _, mode_text = spec.rpartition(",")
        if not path or not mode_text.isdigit():
            path, mode_text = spec, str(0o100644)
        device = self.device
        written, failed = 0, None
        out = None
        try:
            host = device.host_path(path, write=True)
            if host.is_dir():
                raise FsError("Is a directory")
            host.parent.mkdir(parents=True, exist_ok=True)  # feature fixed_push_mkdir
            if host.exists():
                device.release_storage(host.stat().st_size)
            out = host.open("wb")
        except FsError as exc:
            failed = f"couldn't create file: {exc.strerror}"
        except OSError as exc:
            failed = f"couldn't create file: {exc.strerror}"
        if failed:
            self._fail(failed)
        try:
            while True:
                header = self.conn.read_exact(8)
                kind, size = header[:4], struct.unpack("<I", header[4:])[0]
                if kind == b"DONE":
                    mtime = size
                    break
                if kind != b"DATA" or size > SYNC_DATA_MAX:
                    if not failed:
                        self._fail("invalid data message" if kind != b"DATA" else "data too large")
                    failed = failed or "invalid data message"
                    return False
                data = self.conn.read_exact(size)
                if failed:
                    continue
                if not device.use_storage(len(data)):
                    failed = "write failed: No space left on device"
                    self._fail(failed)
                    continue
                out.write(data)  # type: ignore[union-attr]
                written += len(data)
        except _Closed:
            failed = failed or "connection closed"
            raise
        finally:
            if out is not None:
                out.close()
                if failed:  # adbd unlinks a partial file
                    host.unlink(missing_ok=True)
                    device.release_storage(written)
        if failed:
            return False
        host.chmod((int(mode_text) & 0o777) | 0o600)
        with contextlib.suppress(OSError):
            os.utime(host, (mtime, mtime))
        self.conn.send(b"OKAY" + b"\x00" * 4)
        return True


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
