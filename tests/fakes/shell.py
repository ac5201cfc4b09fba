"""A small POSIX-sh subset and toybox-like commands, enough for what adb clients send to ``shell:``.

adbutils joins list arguments with ``shlex.quote`` (``d.shell(["echo", "a b; rm -rf /"])`` sends
``echo 'a b; rm -rf /'``) and its ``shell2`` appends ``; echo X4EXIT:$?`` to learn the exit code over shell v1,
so this shell honours quoting exactly (single quotes, double quotes, backslashes) and understands:

- lists and pipelines: ``;`` ``&&`` ``||`` ``|`` (``&`` runs in the foreground), newlines, ``#`` comments
- redirections: ``> f`` ``>> f`` ``< f`` ``2> f`` ``2>&1`` ``>&2`` (``/dev/null`` included)
- parameters: ``$?``, ``$$``, ``$HOME``-style environment variables (unset ones expand to nothing)
- globs (``*``, ``?``, ``[..]``) in unquoted words, against the device file system
- ``exit N``; command substitution is refused with a syntax error

Commands: echo date cat ls mkdir rm rmdir touch mv cp test/[ true false sleep df grep head id whoami uname exit,
plus the Android ones in ``android_commands`` (getprop pm am dumpsys pidof logcat). Anything else prints
``/system/bin/sh: NAME: not found`` and exits 127, as on a phone.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .android_device import FsError

if TYPE_CHECKING:
    from .android_device import FakeDevice

SH = "/system/bin/sh"
ENVIRONMENT = {"HOME": "/", "EXTERNAL_STORAGE": "/sdcard", "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system",
               "TMPDIR": "/data/local/tmp", "USER": "shell", "SHELL": SH, "HOSTNAME": "localhost",
               "PATH": "/product/bin:/apex/com.android.runtime/bin:/system/bin:/system/xbin:/vendor/bin"}
_REDIRECTS = (">", ">>", "<", "2>", "2>>", "2>&1", ">&2")
_SEPARATORS = (";", "&", "&&", "||")


class ShellSyntaxError(Exception):
    pass


class _Exit(Exception):  # control flow, like sh's exit
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


# --- output sinks ------------------------------------------------------------------------------------


class Sink:
    def write(self, data: bytes) -> None:
        raise NotImplementedError


class NullSink(Sink):
    def write(self, data: bytes) -> None:
        pass


class BufferSink(Sink):
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> None:
        self.buffer.write(data)

    def value(self) -> bytes:
        return self.buffer.getvalue()


class CallbackSink(Sink):
    def __init__(self, callback: Callable[[bytes], None]) -> None:
        self.callback = callback

    def write(self, data: bytes) -> None:
        if data:
            self.callback(data)


@dataclass
class ShellIO:
    """Where a shell session writes, and whether its client is still there (long commands poll ``alive``)."""

    out: Sink
    err: Sink
    alive: Callable[[], bool] = lambda: True
    stdin: bytes = b""


# --- tokenizer and parser ----------------------------------------------------------------------------


@dataclass
class Word:
    """A shell word as parts: ("lit", text) unquoted, ("q", text) quoted, ("var"/"qvar", parameter name)."""

    parts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Op:
    text: str


@dataclass
class Redirect:
    op: str
    target: Word | None = None


@dataclass
class Command:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.words and not self.redirects


Pipeline = list[Command]


def _parameter(text: str, i: int) -> tuple[str | None, int]:
    """Parse a parameter after ``$`` at text[i]; returns (name, next index) or (None, i+1) for a lone $."""
    j = i + 1
    if j >= len(text):
        return None, j
    c = text[j]
    if c in "?$#!":
        return c, j + 1
    if c == "(":
        raise ShellSyntaxError("command substitution is not supported by the fake shell")
    if c == "{":
        end = text.find("}", j)
        if end < 0:
            raise ShellSyntaxError("${ without }")
        return text[j + 1 : end], end + 1
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]", text[j:])
    if m:
        return m.group(0), j + len(m.group(0))
    return None, j


def _double_quoted(text: str, i: int, word: Word) -> int:
    """Read a "..." string starting after the opening quote; returns the index after the closing quote."""
    buf = []
    while i < len(text):
        c = text[i]
        if c == '"':
            if buf:
                word.parts.append(("q", "".join(buf)))
            return i + 1
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                buf.append(text[i + 1])
            i += 2
        elif c == "$":
            name, i = _parameter(text, i)
            if name is None:
                buf.append("$")
            else:
                if buf:
                    word.parts.append(("q", "".join(buf)))
                    buf = []
                word.parts.append(("qvar", name))
        elif c == "`":
            raise ShellSyntaxError("command substitution is not supported by the fake shell")
        else:
            buf.append(c)
            i += 1
    raise ShellSyntaxError("no closing quote")


def tokenize(text: str) -> list[Word | Op]:
    tokens: list[Word | Op] = []
    word: Word | None = None

    def flush() -> None:
        nonlocal word
        if word is not None:
            tokens.append(word)
            word = None

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r":
            flush()
            i += 1
            continue
        if c == "\n":
            flush()
            tokens.append(Op(";"))
            i += 1
            continue
        if c == "#" and word is None:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if word is None and c in "12" and text.startswith(">", i + 1):
            op = next(o for o in ("2>&1", "2>>", "2>", "1>&2", "1>>", "1>") if text.startswith(o, i))
            tokens.append(Op({"1>&2": ">&2", "1>>": ">>", "1>": ">"}.get(op, op)))
            i += len(op)
            continue
        if c in ";|&<>":
            flush()
            op = next(o for o in ("&&", "||", ";;", ">>", ">&2", ";", "|", "&", ">", "<") if text.startswith(o, i))
            if op == ";;":
                raise ShellSyntaxError("syntax error: unexpected ';;'")
            tokens.append(Op(op))
            i += len(op)
            continue
        if word is None:
            word = Word()
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("no closing quote")
            word.parts.append(("q", text[i + 1 : end]))
            i = end + 1
        elif c == '"':
            word.parts.append(("q", ""))  # "" is still a word
            i = _double_quoted(text, i + 1, word)
        elif c == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                word.parts.append(("q", text[i + 1]))
            i += 2
        elif c == "$":
            name, i = _parameter(text, i)
            word.parts.append(("lit", "$") if name is None else ("var", name))
        elif c == "`":
            raise ShellSyntaxError("command substitution is not supported by the fake shell")
        elif c in "()" and len(word.parts) == 0:
            raise ShellSyntaxError(f"syntax error: '{c}' unexpected (subshells are not supported)")
        else:
            word.parts.append(("lit", c))
            i += 1
    flush()
    return tokens


def parse(tokens: list[Word | Op]) -> list[tuple[str, Pipeline]]:
    """Tokens -> [(connector, pipeline)], connector in ";", "&&", "||" (how it joins the previous pipeline)."""
    program: list[tuple[str, Pipeline]] = []
    connector, pipeline, command = ";", [], Command()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if isinstance(token, Word):
            command.words.append(token)
        elif token.text in _REDIRECTS:
            target = None
            if token.text not in ("2>&1", ">&2"):
                if i >= len(tokens) or not isinstance(tokens[i], Word):
                    raise ShellSyntaxError(f"syntax error: '{token.text}' unexpected")
                target = tokens[i]
                i += 1
            command.redirects.append(Redirect(token.text, target))  # type: ignore[arg-type]
        elif token.text == "|":
            if command.empty:
                raise ShellSyntaxError("syntax error: '|' unexpected")
            pipeline.append(command)
            command = Command()
        else:  # ; & && ||
            if command.empty:  # a stray ";" is tolerated; "a && ;" or "| ;" are not
                if pipeline or token.text in ("&&", "||") or connector != ";":
                    raise ShellSyntaxError(f"syntax error: '{token.text}' unexpected")
                continue
            program.append((connector, [*pipeline, command]))
            connector = token.text if token.text in ("&&", "||") else ";"
            pipeline, command = [], Command()
    if command.empty:
        if pipeline or connector != ";":
            raise ShellSyntaxError("syntax error: unexpected end of file")
    else:
        program.append((connector, [*pipeline, command]))
    return program


# --- commands ----------------------------------------------------------------------------------------


@dataclass
class Proc:
    """One simple command being run: its argv, stdin and output sinks."""

    shell: Shell
    argv: list[str]
    stdin: bytes
    out: Sink
    err: Sink

    @property
    def device(self) -> FakeDevice:
        return self.shell.device

    @property
    def name(self) -> str:
        return self.argv[0]

    def print(self, text: str = "", end: str = "\n") -> None:
        self.out.write((text + end).encode())

    def error(self, text: str) -> None:
        self.err.write((text + "\n").encode())

    def alive(self) -> bool:
        return self.shell.io.alive()

    def sleep(self, seconds: float) -> bool:
        """Sleep while the client is there; False if it went away."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if not self.alive():
                return False
            time.sleep(min(0.05, left))
        return True


CommandFn = Callable[[Proc], int]
COMMANDS: dict[str, CommandFn] = {}


def command(*names: str) -> Callable[[CommandFn], CommandFn]:
    def register(fn: CommandFn) -> CommandFn:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return register


class UsageError(Exception):
    pass


def options(args: list[str], flags: str, with_value: str = "") -> tuple[set[str], dict[str, str], list[str]]:
    """toybox-style short options: combined flags (-rf), values (-n 5 / -n5), ``--`` ends options."""
    found: set[str] = set()
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-" or arg[1:].isdigit():
            break
        j = 1
        while j < len(arg):
            ch = arg[j]
            if ch in with_value:
                value = arg[j + 1 :] or (args[i + 1] if i + 1 < len(args) else None)
                if value is None:
                    raise UsageError(f"Needs 1 argument for -{ch}")
                if not arg[j + 1 :]:
                    i += 1
                values[ch] = value
                break
            if ch not in flags:
                raise UsageError(f"Unknown option '{ch}'")
            found.add(ch)
            j += 1
        i += 1
    return found, values, args[i:]


class Shell:
    """Runs one command line for one shell session on a device."""

    def __init__(self, device: FakeDevice, shell_io: ShellIO) -> None:
        self.device, self.io = device, shell_io
        self.status = 0
        self.pid = device.new_pid()

    def run(self, text: str) -> int:
        try:
            program = parse(tokenize(text))
        except ShellSyntaxError as exc:
            self.io.err.write(f"{SH}: {exc}\n".encode())
            return 2
        try:
            for connector, pipeline in program:
                if (connector == "&&" and self.status != 0) or (connector == "||" and self.status == 0):
                    continue
                self.status = self._pipeline(pipeline)
        except _Exit as exc:
            self.status = exc.code
        except ShellSyntaxError as exc:
            self.io.err.write(f"{SH}: {exc}\n".encode())
            self.status = 2
        return self.status & 0xFF

    def _pipeline(self, pipeline: Pipeline) -> int:
        stdin, status = self.io.stdin, 0
        for k, cmd in enumerate(pipeline):
            last = k == len(pipeline) - 1
            out: Sink = self.io.out if last else BufferSink()
            status = self._simple(cmd, stdin, out)
            if not last:
                stdin = out.value()  # type: ignore[attr-defined]
        return status

    def _param(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name in ("$", "!"):
            return str(self.pid)
        if name == "#":
            return "0"
        if name == "0":
            return SH
        return ENVIRONMENT.get(name, "")

    def expand(self, word: Word) -> list[str]:
        """Quote removal, parameter expansion and globbing of one word."""
        text, pattern, globbing = [], [], False
        for kind, value in word.parts:
            if kind in ("var", "qvar"):
                value = self._param(value)
            text.append(value)
            if kind == "lit":
                pattern.append(value)
                globbing = globbing or any(ch in value for ch in "*?[")
            else:
                pattern.append(re.sub(r"([*?\[])", r"[\1]", value))
        joined = "".join(text)
        if word.parts and all(kind == "var" for kind, _ in word.parts) and not joined:
            return []  # an unquoted empty expansion is no word at all
        if globbing:
            return self.device.glob("".join(pattern)) or [joined]
        return [joined]

    def _open_redirects(self, cmd: Command, out: Sink) -> tuple[Sink, Sink, bytes | None, list[_FileSink]]:
        err: Sink = self.io.err
        stdin: bytes | None = None
        files: list[_FileSink] = []
        for redirect in cmd.redirects:
            if redirect.op == "2>&1":
                err = out
                continue
            if redirect.op == ">&2":
                out = err
                continue
            targets = self.expand(redirect.target) if redirect.target else []
            if len(targets) != 1:
                raise ShellSyntaxError(f"{''.join(v for _, v in redirect.target.parts)}: ambiguous redirect")
            target = targets[0]
            if redirect.op == "<":
                stdin = b"" if target == "/dev/null" else self.device.host_path(target).read_bytes()
                continue
            try:
                sink: Sink = NullSink() if target == "/dev/null" else _FileSink(self.device, target,
                                                                                redirect.op.endswith(">>"))
            except FsError as exc:
                raise FsError(f"{target}: {exc.strerror}") from None
            if isinstance(sink, _FileSink):
                files.append(sink)
            if redirect.op.startswith("2"):
                err = sink
            else:
                out = sink
        return out, err, stdin, files

    def _simple(self, cmd: Command, stdin: bytes, out: Sink) -> int:
        argv = [arg for word in cmd.words for arg in self.expand(word)]
        try:
            out, err, redirected_in, files = self._open_redirects(cmd, out)
        except FsError as exc:
            self.io.err.write(f"{SH}: can't create {exc.strerror}\n".encode())
            return 1
        except OSError as exc:
            self.io.err.write(f"{SH}: can't open: {exc.strerror}\n".encode())
            return 1
        if redirected_in is not None:
            stdin = redirected_in
        if not argv:
            return 0
        self.device.executed.append(argv)
        name = argv[0]
        if name.startswith(("/system/bin/", "/system/xbin/", "/bin/")):
            name = posixpath.basename(name)
        fn = COMMANDS.get(name)
        if fn is None:
            err.write(f"{SH}: {argv[0]}: not found\n".encode())
            status = 127
        else:
            proc = Proc(self, [name, *argv[1:]], stdin, out, err)
            try:
                status = fn(proc)
            except UsageError as exc:
                proc.error(f"{name}: {exc}")
                status = 1
        for sink in files:
            if not sink.close():
                self.io.err.write(f"{SH}: write error: No space left on device\n".encode())
                status = 1
        return status


class _FileSink(BufferSink):
    """``> file``: collected, then written to the device (charging its storage) when the command ends."""

    def __init__(self, device: FakeDevice, path: str, append: bool) -> None:
        super().__init__()
        self.device, self.append = device, append
        self.host = device.host_path(path, write=True)
        if not self.host.parent.is_dir():
            raise FsError("No such file or directory")
        if self.host.is_dir():
            raise FsError("Is a directory")
        if not append:  # the shell truncates before the command runs
            if self.host.exists():
                device.release_storage(self.host.stat().st_size)
            self.host.write_bytes(b"")

    def close(self) -> bool:
        data = self.value()
        if not self.device.use_storage(len(data)):
            return False
        with self.host.open("ab") as f:
            f.write(data)
        return True


# --- coreutils ---------------------------------------------------------------------------------------


def _mode_string(mode: int) -> str:
    kind = "d" if stat.S_ISDIR(mode) else "l" if stat.S_ISLNK(mode) else "-"
    bits = "".join(ch if mode & (1 << (8 - k)) else "-" for k, ch in enumerate("rwxrwxrwx"))
    return kind + bits


def _ls_long(p: Proc, host: os.PathLike[str], name: str) -> str:
    st = os.lstat(host)
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))
    group = "media_rw" if name.startswith("/sdcard") else "shell"
    return f"{_mode_string(st.st_mode)} 1 shell {group} {st.st_size:>8} {stamp} {name}"


@command("echo")
def _echo(p: Proc) -> int:
    args, newline, escapes = p.argv[1:], True, False
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        newline = newline and "n" not in args[0]
        escapes = "e" in args[0].lstrip("-")
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = text.replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
    p.print(text, end="\n" if newline else "")
    return 0


@command("true")
def _true(p: Proc) -> int:
    return 0


@command("false")
def _false(p: Proc) -> int:
    return 1


@command("exit")
def _exit(p: Proc) -> int:
    code = p.argv[1] if len(p.argv) > 1 else str(p.shell.status)
    raise _Exit(int(code) if code.lstrip("-").isdigit() else 2)


@command("sleep")
def _sleep(p: Proc) -> int:
    try:
        seconds = float(p.argv[1].rstrip("s"))
    except (IndexError, ValueError):
        p.error("sleep: Needs 1 argument")
        return 1
    return 0 if p.sleep(seconds) else 130


@command("id")
def _id(p: Proc) -> int:
    p.print("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),1015(sdcard_rw),"
            "1028(sdcard_r),1078(ext_data_rw),1079(ext_obb_rw),3003(inet),3009(readproc) context=u:r:shell:s0")
    return 0


@command("whoami")
def _whoami(p: Proc) -> int:
    p.print("shell")
    return 0


@command("uname")
def _uname(p: Proc) -> int:
    machine = {"arm64-v8a": "aarch64", "armeabi-v7a": "armv8l", "x86_64": "x86_64", "x86": "i686"}.get(
        p.device.abi, "aarch64")
    flags, _, _ = options(p.argv[1:], "amsnr")
    if "a" in flags:
        p.print(f"Linux localhost 5.15.110-android{p.device.android}-sim #1 SMP PREEMPT {machine} Toybox")
    elif "m" in flags:
        p.print(machine)
    elif "r" in flags:
        p.print(f"5.15.110-android{p.device.android}-sim")
    else:
        p.print("Linux")
    return 0


@command("date")
def _date(p: Proc) -> int:
    """toybox date: now, or ``+FORMAT`` (strftime, with ``%s`` seconds since the epoch and ``%N`` nanoseconds)."""
    now = time.time()
    fmt = next((a[1:] for a in p.argv[1:] if a.startswith("+")), "%a %b %e %H:%M:%S %Z %Y")
    fmt = fmt.replace("%s", str(int(now))).replace("%N", f"{int(now % 1 * 1e9):09d}")
    p.print(time.strftime(fmt, time.localtime(now)))
    return 0


@command("cat")
def _cat(p: Proc) -> int:
    _, _, paths = options(p.argv[1:], "uv")
    if not paths:
        p.out.write(p.stdin)
        return 0
    status = 0
    for path in paths:
        try:
            host = p.device.host_path(path)
            if host.is_dir():
                raise FsError("Is a directory")
            if not host.exists():
                raise FsError("No such file or directory")
            p.out.write(host.read_bytes())
        except FsError as exc:
            p.error(f"cat: {path}: {exc.strerror}")
            status = 1
    return status


@command("ls")
def _ls(p: Proc) -> int:
    flags, _, paths = options(p.argv[1:], "alAd1hFRtZ")
    status, blocks = 0, []
    for path in paths or ["/"]:
        try:
            host = p.device.host_path(path)
        except FsError as exc:
            p.error(f"ls: {path}: {exc.strerror}")
            status = 1
            continue
        if not os.path.lexists(host):
            p.error(f"ls: {path}: No such file or directory")
            status = 1
            continue
        if host.is_dir() and "d" not in flags:
            names = sorted(os.listdir(host))
            if "a" not in flags:
                names = [n for n in names if not n.startswith(".") or "A" in flags]
            if "a" in flags:
                names = [".", "..", *names]
            lines = [_ls_long(p, host / n, n) if "l" in flags else n for n in names]
            blocks.append((path, lines))
        else:
            blocks.append((None, [_ls_long(p, host, path) if "l" in flags else path]))
    for k, (header, lines) in enumerate(blocks):
        if header is not None and len(blocks) > 1:
            p.print(("\n" if k else "") + f"{header}:")
        for line in lines:
            p.print(line)
    return status


@command("mkdir")
def _mkdir(p: Proc) -> int:
    flags, _, paths = options(p.argv[1:], "pv", with_value="m")
    if not paths:
        raise UsageError("Needs 1 argument")
    status = 0
    for path in paths:
        try:
            host = p.device.host_path(path, write=True)
            if host.exists():
                if "p" in flags and host.is_dir():
                    continue
                raise FsError("File exists")
            if not host.parent.exists() and "p" not in flags:
                raise FsError("No such file or directory")
            host.mkdir(parents="p" in flags)
        except FsError as exc:
            p.error(f"mkdir: '{path}': {exc.strerror}")
            status = 1
    return status


@command("rm")
def _rm(p: Proc) -> int:
    flags, _, paths = options(p.argv[1:], "rRfvid")
    if not paths and "f" not in flags:
        raise UsageError("Needs 1 argument")
    status = 0
    for path in paths:
        try:
            if not os.path.lexists(p.device.host_path(path)):
                if "f" not in flags:
                    p.error(f"rm: {path}: No such file or directory")
                    status = 1
                continue
            host = p.device.host_path(path, write=True)
        except FsError as exc:
            p.error(f"rm: {path}: {exc.strerror}")
            status = 1
            continue
        if host.is_dir() and not host.is_symlink() and not flags & {"r", "R"}:
            p.error(f"rm: {path}: Is a directory")
            status = 1
            continue
        p.device.remove_tree(host)
    return status


@command("rmdir")
def _rmdir(p: Proc) -> int:
    status = 0
    for path in p.argv[1:]:
        try:
            p.device.host_path(path, write=True).rmdir()
        except FsError as exc:
            p.error(f"rmdir: '{path}': {exc.strerror}")
            status = 1
        except OSError as exc:
            p.error(f"rmdir: '{path}': {exc.strerror}")
            status = 1
    return status


@command("touch")
def _touch(p: Proc) -> int:
    _, _, paths = options(p.argv[1:], "acm")
    status = 0
    for path in paths:
        try:
            host = p.device.host_path(path, write=True)
            if not host.parent.is_dir():
                raise FsError("No such file or directory")
            host.touch()
        except FsError as exc:
            p.error(f"touch: '{path}': {exc.strerror}")
            status = 1
    return status


def _copy_or_move(p: Proc, move: bool) -> int:
    flags, _, paths = options(p.argv[1:], "rRfnpav")
    if len(paths) < 2:
        raise UsageError("Needs 2 arguments")
    *sources, target = paths
    status = 0
    try:
        dst = p.device.host_path(target, write=True)
    except FsError as exc:
        p.error(f"{p.name}: '{target}': {exc.strerror}")
        return 1
    for source in sources:
        try:
            src = p.device.host_path(source, write=move)
            if not os.path.lexists(src):
                raise FsError("No such file or directory")
            final = dst / src.name if dst.is_dir() else dst
            if move:
                shutil.move(src, final)
            elif src.is_dir():
                if not flags & {"r", "R", "a"}:
                    raise FsError("Is a directory")
                size = p.device.disk_usage(src)
                if not p.device.use_storage(size):
                    raise FsError("No space left on device")
                shutil.copytree(src, final)
            else:
                if not p.device.use_storage(src.stat().st_size):
                    raise FsError("No space left on device")
                shutil.copyfile(src, final)
        except FsError as exc:
            p.error(f"{p.name}: '{source}': {exc.strerror}")
            status = 1
    return status


@command("cp")
def _cp(p: Proc) -> int:
    return _copy_or_move(p, move=False)


@command("mv")
def _mv(p: Proc) -> int:
    return _copy_or_move(p, move=True)


@command("test", "[")
def _test(p: Proc) -> int:
    args = p.argv[1:]
    if p.name == "[":
        if not args or args[-1] != "]":
            p.error("[: missing ]")
            return 2
        args = args[:-1]
    negate = False
    if args and args[0] == "!":
        negate, args = True, args[1:]
    try:
        value = _evaluate_test(p, args)
    except UsageError as exc:
        p.error(f"{p.name}: {exc}")
        return 2
    return 0 if value != negate else 1


def _evaluate_test(p: Proc, args: list[str]) -> bool:
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op == "-z":
            return operand == ""
        if op == "-n":
            return operand != ""
        if op in ("-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h"):
            try:
                host = p.device.host_path(operand)
            except FsError:
                return False
            checks = {"-e": host.exists, "-f": host.is_file, "-d": host.is_dir, "-L": host.is_symlink,
                      "-h": host.is_symlink, "-s": lambda: host.is_file() and host.stat().st_size > 0,
                      "-r": host.exists, "-x": host.is_dir}
            if op == "-w":
                try:
                    p.device.host_path(operand, write=True)
                    return host.exists()
                except FsError:
                    return False
            return bool(checks[op]())
        raise UsageError(f"unknown operand {op}")
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        integer_ops = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-gt": int.__gt__,
                       "-le": int.__le__, "-ge": int.__ge__}
        if op in integer_ops:
            try:
                return bool(integer_ops[op](int(left), int(right)))
            except ValueError:
                raise UsageError("bad number") from None
        raise UsageError(f"unknown operand {op}")
    raise UsageError("too many arguments")


def _df_rows(p: Proc) -> list[tuple[str, int, int, str]]:
    """(filesystem, size KiB, free KiB, mount point)."""
    device = p.device
    total = device.storage_total_bytes // 1024
    free = max(0, device.storage_free_bytes) // 1024
    return [("/dev/block/dm-5", 5_242_880, 0, "/"), ("/dev/block/dm-48", total, free, "/data"),
            ("/dev/fuse", total, free, "/storage/emulated")]


def _human(kib: int) -> str:
    value, unit = float(kib), "K"
    for unit in ("K", "M", "G", "T"):  # noqa: B007 - the last unit is used after the loop
        if value < 1024:
            break
        value /= 1024
    return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"


@command("df")
def _df(p: Proc) -> int:
    flags, _, paths = options(p.argv[1:], "hkaPT")
    rows = _df_rows(p)
    if paths:
        chosen = []
        for path in paths:
            normal = p.device.normalize(path)
            if normal.startswith("/sdcard") or normal.startswith("/storage"):
                chosen.append(rows[2])
            elif normal.startswith("/data"):
                chosen.append(rows[1])
            else:
                chosen.append(rows[0])
        rows = chosen
    if "h" in flags:
        p.print(f"{'Filesystem':<17}{'Size':>6}{'Used':>6}{'Avail':>6} Use% Mounted on")
        for fs, size, free, mount in rows:
            used = size - free
            p.print(f"{fs:<17}{_human(size):>6}{_human(used):>6}{_human(free):>6} "
                    f"{round(100 * used / size) if size else 0:>3}% {mount}")
    else:
        p.print(f"{'Filesystem':<17}{'1K-blocks':>10}{'Used':>10}{'Available':>10} Use% Mounted on")
        for fs, size, free, mount in rows:
            used = size - free
            p.print(f"{fs:<17}{size:>10}{used:>10}{free:>10} {round(100 * used / size) if size else 0:>3}% {mount}")
    return 0


@command("grep")
def _grep(p: Proc) -> int:
    flags, values, operands = options(p.argv[1:], "qviFEcwsx", with_value="e")
    if "e" in values:
        pattern, files = values["e"], operands
    elif operands:
        pattern, files = operands[0], operands[1:]
    else:
        raise UsageError("Needs 1 argument")
    regex = re.escape(pattern) if "F" in flags else pattern
    if "w" in flags:
        regex = rf"\b(?:{regex})\b"
    if "x" in flags:
        regex = rf"^(?:{regex})$"
    compiled = re.compile(regex, re.IGNORECASE if "i" in flags else 0)
    sources = [p.stdin.decode(errors="replace")]
    if files:
        sources = []
        for path in files:
            host = p.device.host_path(path)
            if not host.is_file():
                if "s" not in flags:
                    p.error(f"grep: {path}: No such file or directory")
                continue
            sources.append(host.read_text(errors="replace"))
    matches = [line for text in sources for line in text.splitlines()
               if bool(compiled.search(line)) != ("v" in flags)]
    if "c" in flags:
        p.print(str(len(matches)))
    elif "q" not in flags:
        for line in matches:
            p.print(line)
    return 0 if matches else 1


@command("head")
def _head(p: Proc) -> int:
    args = p.argv[1:]
    if args and re.fullmatch(r"-\d+", args[0]):
        args = ["-n", args[0][1:], *args[1:]]
    _, values, files = options(args, "", with_value="nc")
    count = int(values.get("n", "10"))
    data = p.stdin if not files else b"".join(p.device.host_path(f).read_bytes() for f in files)
    lines = data.decode(errors="replace").splitlines(keepends=True)
    p.out.write("".join(lines[:count]).encode())
    return 0
