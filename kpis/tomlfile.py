"""A TOML file read for validation: its values (tomllib) and the line of every key (the parser's own positions).

tomllib gives values but no positions. tomlkit parses the same text into a tree whose
parser knows where each key, value and table header starts; :class:`_PositionParser`
records those offsets as the parser meets them, and :func:`read` turns them into one
line per key path, ``("columns", "severity", "values")`` or ``("rules", 2, "when")``
(array elements by index). A validator names the line of the deepest path it has
(:meth:`TomlFile.line`), so an error inside an inline table points at the line of that
key, and an error about a missing key at the table that lacks it.

The values come from tomllib (the standard library's reading is the one the rest of the
project relies on); tomlkit is used only for positions, and a text tomlkit cannot place
still validates, with fewer lines named.
"""

from __future__ import annotations

import bisect
import functools
import tomllib
from dataclasses import dataclass

import tomlkit.items as tk_items
from tomlkit.container import Container
from tomlkit.parser import Parser


class TomlSyntaxError(ValueError):
    """The text is not TOML; ``line`` and ``column`` (1-based) where the reader stopped, when known."""

    def __init__(self, message: str, line: int | None, column: int | None):
        super().__init__(message)
        self.line, self.column = line, column


class _PositionParser(Parser):
    """tomlkit's parser, noting where each key, value and table starts (offsets by object id)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text
        self.starts: dict[int, int] = {}
        self.headers: dict[tuple, list[int]] = {}  # table path -> offsets of its [header] / [[header]]s

    def _parse_key(self):
        start = self._idx
        key = super()._parse_key()
        self.starts.setdefault(id(key), start)
        return key

    def _parse_value(self):
        start = self._idx
        item = super()._parse_value()
        self.starts.setdefault(id(item), start)
        return item

    def _parse_table(self, parent_name=None, parent=None):
        start = self._idx
        header_path = _header_path(self.text, start)
        if header_path and start not in self.headers.get(header_path, []):
            self.headers.setdefault(header_path, []).append(start)
        return super()._parse_table(parent_name, parent)


def _header_path(text: str, start: int) -> tuple:
    """The key path of the table header at ``start``: ``[years.2024.elite]`` -> ("years", "2024", "elite")."""
    end = text.find("\n", start)
    try:
        node = tomllib.loads(text[start:end if end >= 0 else len(text)])
    except tomllib.TOMLDecodeError:
        return ()
    path = []
    while isinstance(node, (dict, list)) and node:
        if isinstance(node, list):
            node = node[-1]
            continue
        (k, node), = node.items()
        path.append(k)
    return tuple(path)


@dataclass
class TomlFile:
    """A parsed TOML file: ``data`` (plain Python values) and ``lines`` (key path -> 1-based line).

    The positions are found the first time a line is asked for (a valid file never needs them),
    once per text in a process.
    """

    path: str
    text: str
    data: dict

    @property
    def lines(self) -> dict[tuple, int]:
        return _lines(self.text)

    def line(self, path: tuple) -> int | None:
        """The line of ``path``, else of its nearest enclosing key that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def read(path: str, text: str) -> TomlFile:
    """Parse ``text`` (the content of ``path``); raise :class:`TomlSyntaxError` when it is not TOML."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends "(at line L, column C)"; Python 3.14 adds attributes for them
        msg = str(e)
        line = getattr(e, "lineno", None)
        col = getattr(e, "colno", None)
        if line is None and "(at line " in msg:
            where = msg.rsplit("(at line ", 1)[1].rstrip(")")
            line_text, _, col_text = where.partition(", column ")
            line, col = int(line_text), int(col_text) if col_text.isdigit() else None
        if "(at line " in msg:
            msg = msg.rsplit(" (at line ", 1)[0]
        elif "(at end of document)" in msg:
            msg = msg.replace(" (at end of document)", " at the end of the file")
        raise TomlSyntaxError(msg, line, col) from None
    return TomlFile(path, text, data)


@functools.lru_cache(maxsize=256)
def _lines(text: str) -> dict[tuple, int]:
    parser = _PositionParser(text)
    try:
        doc = parser.parse()
    except Exception:  # noqa: BLE001 - tomllib accepted the text; without positions errors name no line
        return {}
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def line_at(offset: int) -> int:
        return bisect.bisect_right(newlines, offset - 1) + 1

    out: dict[tuple, int] = {}

    def skip_space(start: int) -> int:
        while start < len(text) and text[start] in " \t\r\n":
            start += 1
        return start

    for header, starts in parser.headers.items():
        out[header] = line_at(skip_space(starts[0]))

    def note(path: tuple, *objs) -> int | None:
        for obj in objs:
            start = parser.starts.get(id(obj))
            if start is not None:
                # a recorded start may sit before an indent or a blank line: skip to the first character
                line = line_at(skip_space(start))
                if path not in out or line < out[path]:
                    out[path] = line
                return line
        return None

    def walk_container(body, path: tuple) -> None:
        for key, item in body:
            if key is None:
                continue
            sub = path + tuple(k.key for k in key) if key.is_dotted() else path + (key.key,)
            walk_item(item, sub, key)

    def walk_item(item, path: tuple, key=None) -> None:
        if isinstance(item, tk_items.AoT):
            note(path, key)
            starts = parser.headers.get(path, [])
            for i, table in enumerate(item.body):
                if i < len(starts):
                    out[path + (i,)] = line_at(skip_space(starts[i]))
                walk_container(table.value.body, path + (i,))
        elif isinstance(item, (tk_items.Table, tk_items.InlineTable)):
            note(path, key, item)
            walk_container(item.value.body, path)
        elif isinstance(item, tk_items.Array):
            note(path, key, item)
            for i, element in enumerate(item):
                walk_item(element, path + (i,))
        else:
            note(path, key, item)
        # a super table ([years.2024.elite] creates years and years.2024) has no position of its own
        if path and path not in out:
            below = [line for p, line in out.items() if p[:len(path)] == path]
            if below:
                out[path] = min(below)

    walk_container(doc.body if isinstance(doc, Container) else doc.value.body, ())
    return out
