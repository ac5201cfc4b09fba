"""Line numbers for the keys and values of a TOML document (tomllib parses, but keeps no positions).

    lines = key_lines(text)
    lines[("targets", "browsers", 0, "slots")]   # -> 14

A small tokenizer and a lenient recursive descent that only records where each key, table header and array
element starts. It runs after ``tomllib`` accepted the text, so it never has to report syntax errors itself.
Paths are tuples of keys (str) and array indexes (int); arrays of tables (``[[browsers]]``) count like arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Path = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_+\-:]+")
_PUNCT = "[]{}=,."


@dataclass
class _Token:
    kind: str  # "str", "bare", "nl", or one of _PUNCT
    text: str
    line: int
    col: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    line, i, start_of_line = 1, 0, 0
    while i < len(text):
        ch = text[i]
        col = i - start_of_line
        if ch == "\n":
            tokens.append(_Token("nl", "\n", line, col))
            line, i, start_of_line = line + 1, i + 1, i + 1
        elif ch in " \t\r":
            i += 1
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            end = i + len(quote)
            while end < len(text) and not text.startswith(quote, end):
                end += 2 if ch == '"' and text[end] == "\\" else 1
            body = text[i + len(quote): end]
            tokens.append(_Token("str", body, line, col))
            newlines = body.count("\n")
            if newlines:
                line += newlines
                start_of_line = i + len(quote) + body.rindex("\n") + 1
            i = end + len(quote)
        elif ch in _PUNCT:
            tokens.append(_Token(ch, ch, line, col))
            i += 1
        else:
            found = _BARE.match(text, i)
            if not found:  # something tomllib accepted that we do not model: skip it
                i += 1
                continue
            tokens.append(_Token("bare", found.group(0), line, col))
            i = found.end()
    return tokens


class _Locator:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens, self.pos = tokens, 0
        self.lines: dict[Path, int] = {}
        self.table_counts: dict[Path, int] = {}

    def peek(self, offset: int = 0) -> _Token | None:
        at = self.pos + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def skip_newlines(self) -> None:
        while (token := self.peek()) is not None and token.kind == "nl":
            self.pos += 1

    def record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    def key(self) -> list[str]:
        """A dotted key: bare or quoted parts separated by dots."""
        parts = [self.take().text]
        while (token := self.peek()) is not None and token.kind == ".":
            self.pos += 1
            parts.append(self.take().text)
        return parts

    def document(self) -> dict[Path, int]:
        table: Path = ()
        while True:
            self.skip_newlines()
            token = self.peek()
            if token is None:
                return self.lines
            if token.kind == "[":
                table = self.header()
            else:
                self.key_value(table)

    def header(self) -> Path:
        first = self.take()
        second = self.peek()
        is_array = second is not None and second.kind == "[" and second.line == first.line \
            and second.col == first.col + 1
        if is_array:
            self.pos += 1
        path: Path = tuple(self.key())
        while (token := self.peek()) is not None and token.kind == "]":
            self.pos += 1
        if is_array:
            index = self.table_counts.get(path, 0)
            self.table_counts[path] = index + 1
            self.record(path, first.line)
            path = (*path, index)
        self.record(path, first.line)
        return path

    def key_value(self, table: Path) -> None:
        start = self.peek()
        assert start is not None
        parts = self.key()
        path = (*table, *parts)
        for depth in range(len(table) + 1, len(path) + 1):
            self.record(path[:depth], start.line)
        if (token := self.peek()) is not None and token.kind == "=":
            self.pos += 1
        self.value(path)

    def value(self, path: Path) -> None:
        token = self.peek()
        if token is None:
            return
        if token.kind == "[":
            self.pos += 1
            self.array(path)
        elif token.kind == "{":
            self.pos += 1
            self.inline_table(path)
        else:  # a scalar: a string, or a run of bare words and dots (numbers, dates, booleans)
            self.pos += 1
            while (nxt := self.peek()) is not None and nxt.kind in ("bare", ".") and nxt.line == token.line:
                self.pos += 1

    def array(self, path: Path) -> None:
        index = 0
        while True:
            self.skip_newlines()
            token = self.peek()
            if token is None:
                return
            if token.kind == "]":
                self.pos += 1
                return
            if token.kind == ",":
                self.pos += 1
                continue
            self.record((*path, index), token.line)
            self.value((*path, index))
            index += 1

    def inline_table(self, path: Path) -> None:
        while True:
            token = self.peek()
            if token is None:
                return
            if token.kind == "}":
                self.pos += 1
                return
            if token.kind in (",", "nl"):
                self.pos += 1
                continue
            self.key_value(path)


def key_lines(text: str) -> dict[Path, int]:
    """Where each key, table and array element of a (valid) TOML document starts: {path: 1-based line}."""
    return _Locator(_tokens(text)).document()


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of ``path``, else of its nearest recorded parent (a missing key is reported at its table)."""
    for depth in range(len(path), 0, -1):
        if path[:depth] in lines:
            return lines[path[:depth]]
    return None
