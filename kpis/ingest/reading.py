"""Reading a file: limits, hashing, the CSV / Parquet / JSON readers, header checks, detection, read errors."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import blake3

from kpis import schema
from kpis.ingest.errors import IngestError, RowError
from kpis.schema import Table

READABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq", ".json", ".jsonl", ".ndjson", ".json.gz",
                     ".jsonl.gz", ".ndjson.gz")


# ---------------------------------------------------------------------------
# Limits, checked before DuckDB reads a file (README, "Ingest rules"): a small
# file must not cost minutes and gigabytes, nor one row break every page.


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class Limits:
    """What one file may hold. ``from_env`` reads KPI_MAX_COLUMNS, KPI_MAX_LINE_BYTES, KPI_MAX_JSON_DEPTH."""

    max_columns: int = 1000
    max_line_bytes: int = 1 << 20
    max_json_depth: int = 64

    @classmethod
    def from_env(cls) -> "Limits":
        d = cls()
        return cls(_env_int("KPI_MAX_COLUMNS", d.max_columns), _env_int("KPI_MAX_LINE_BYTES", d.max_line_bytes),
                   _env_int("KPI_MAX_JSON_DEPTH", d.max_json_depth))


# ---------------------------------------------------------------------------
# Files


def expand(paths: list[str | os.PathLike]) -> list[Path]:
    """The files named, and every readable file in the folders named (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.name.lower().endswith(READABLE_SUFFIXES))
            if not found:
                raise IngestError([RowError(str(p), None, None, "folder holds no .csv or .parquet files")])
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise IngestError([RowError(str(p), None, None, "no such file or folder")])
    return out


# A file's content hash, recorded in ingest_log: BLAKE3, prefixed with its name. SHA-256 was 4% of an
# ingest's CPU (0.75 s per GB, where the bare read of the benchmark's 2 GB takes 28 s); BLAKE3 0.33 s per
# GB. Hashes logged before (SHA-256, no prefix) are still matched: ``legacy_file_hash``.
HASH_PREFIX = "blake3:"


def content_hash(data: bytes) -> str:
    """The content hash of ``data`` (an upload's bytes), as ``file_hash`` gives it for a file."""
    return HASH_PREFIX + blake3.blake3(data).hexdigest()


def file_hash(path: Path) -> str:
    # read into one buffer, not mapped: a mapped file's pages count as the process's memory (the benchmark's
    # peak went from 0.86 to 1.66 GB), and reading costs no more CPU (0.33 s per GB either way)
    h, buf = blake3.blake3(), bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return HASH_PREFIX + h.hexdigest()


def legacy_hash(data: bytes) -> str:
    """The SHA-256 of ``data``, as ingest_log recorded content before BLAKE3."""
    return hashlib.sha256(data).hexdigest()


def legacy_file_hash(path: Path) -> str:
    """The SHA-256 of a file, as ingest_log recorded it before BLAKE3."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _HashInBackground:
    """The content hash of a file computed in a thread while DuckDB loads it
    (blake3 releases the GIL), for files that cannot be a repeat of a loaded one."""

    def __init__(self, path: Path):
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._digest = file_hash(path)
        except BaseException as err:  # re-raised in result()
            self._error = err

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _read_sql(path: Path, delimiter: str | None, columns: list[str] | None = None,
              limits: Limits | None = None) -> tuple[str, list]:
    """SQL (with bound file path) that reads the file as text with row numbers.

    A CSV is read with the ``columns`` of its header (:func:`_read_header`), so
    DuckDB does not sniff it: a ragged row or an open quote is then reported
    with its line, not as a failed guess at the dialect.
    """
    if _is_parquet(path):
        return ("SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) "
                "FROM read_parquet(?, file_row_number = true)", [str(path)])
    limits = limits or Limits()
    return (f"SELECT row_number() OVER () AS _row, * FROM read_csv(?, {_CSV_DIALECT}, columns = ?)",
            [str(path), _delimiter(path, delimiter), limits.max_line_bytes, {c: "VARCHAR" for c in columns}])


# auto_detect = false: the dialect is given and the columns come from our own
# reading of the header, so DuckDB's sniffer never guesses (nor hides the line of
# an error); max_line_size is the line limit.
_CSV_DIALECT = "header = true, delim = ?, quote = '\"', escape = '\"', auto_detect = false, max_line_size = ?"


_CSV_TYPES = {schema.TIMESTAMP: "TIMESTAMPTZ", schema.DATE: "DATE", schema.NUMBER: "DOUBLE", schema.COUNT: "DOUBLE"}


_REJECTS = "_kpis_rejects"


def _delimiter(path: Path, delimiter: str | None) -> str:
    return delimiter or ("\t" if path.name.lower().endswith(".tsv") else ",")


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _read_header(path: Path, name: str, delimiter: str | None, limits: Limits) -> list[str]:
    """The column names of a CSV, read from its first line by us, before DuckDB
    sees the file: a header of 100,000 columns or a megabyte line is refused in
    milliseconds (DuckDB took minutes and gigabytes). Names are stripped, and
    an empty one is called ``column<i>``, as DuckDB does; a repeated name is
    kept (see :func:`_reader_names`)."""
    try:
        with _open_bytes(path) as f:
            line = f.readline(limits.max_line_bytes + 1)
    except (OSError, EOFError) as err:  # a broken gzip stream
        raise IngestError([RowError(name, None, None, f"cannot read the file: {err}")]) from None
    if len(line) > limits.max_line_bytes and not line.endswith(b"\n"):
        raise IngestError([RowError(name, None, None, f"the header (line 1) is longer than the limit of "
                                    f"{limits.max_line_bytes:,} bytes; set KPI_MAX_LINE_BYTES to raise it")])
    try:
        text = line.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise IngestError([RowError(name, None, None, "the file is not UTF-8 encoded "
                                                      "(save it as UTF-8 and ingest again)")]) from None
    delim = _delimiter(path, delimiter)

    def split(line: str) -> list[str]:
        if len(delim) != 1:  # DuckDB takes a delimiter of several characters; the csv module does not
            return [n.strip('"') for n in line.split(delim)]
        return next(csv.reader([line], delimiter=delim, quotechar='"', doublequote=True), [])

    # A delimiter inside quotes only over-counts, so the cheap count decides when to parse first.
    names = split(text) if text.count(delim) + 1 > limits.max_columns else None
    if names is not None and len(names) > limits.max_columns:
        raise IngestError([RowError(name, None, None, f"the header has {len(names):,} columns, more than the "
                                    f"limit of {limits.max_columns:,}; set KPI_MAX_COLUMNS to raise it")])
    names = names if names is not None else split(text)
    if not names or names == [""]:
        raise IngestError([RowError(name, None, None, "the first line (the header) is empty")])
    return [n.strip() or f"column{i}" for i, n in enumerate(names)]


def _reader_names(names: list[str]) -> list[str]:
    """Unique names for the reader, as DuckDB's sniffer makes them: a repeat
    (ignoring case) gets ``_1``, ``_2`` ... Some exports repeat a column on
    purpose (Jira's Component/s, one per value) and their presets read the first."""
    taken: set[str] = set()
    out = []
    for n in names:
        unique, k = n, 0
        while unique.lower() in taken:
            k += 1
            unique = f"{n}_{k}"
        taken.add(unique.lower())
        out.append(unique)
    return out


def _check_duplicate_columns(names: list[str], file: str) -> None:
    """Two columns whose names are the same once stripped and lower-cased (how
    ingest matches canonical names): which one holds the values? Refuse them."""
    seen: dict[str, list[str]] = {}
    for n in names:
        seen.setdefault(n.strip().lower(), []).append(n)
    repeated = [group for group in seen.values() if len(group) > 1]
    if repeated:
        shown = "; ".join(" and ".join(repr(n) for n in group) for group in repeated)
        raise IngestError([RowError(file, None, None, f"the header repeats a column name (names are matched "
                                                      f"ignoring case and spaces): {shown}; rename or remove "
                                                      f"the copies")])


def _typed_csv_sql(path: Path, delimiter: str | None, table: Table, raw_cols: list[str],
                   limits: Limits | None = None) -> tuple[str, list, dict]:
    """SQL reading a canonical CSV with its timestamps, dates and numbers typed by
    DuckDB's CSV reader, the rest as text; values the reader cannot convert are
    recorded in the temporary table ``_kpis_rejects`` instead of raising.

    There is no row number (a ``row_number()`` window over the reader would make
    the whole pass single-threaded): rows arrive in file order, and the caller
    numbers them afterwards. Returns (sql, params, file column -> type).
    """
    limits = limits or Limits()
    kinds = {c.name: c.kind for c in table.columns}
    types = {c: _CSV_TYPES.get(kinds.get(c.strip().lower()), "VARCHAR") for c in raw_cols}
    sql = (f"SELECT NULL::BIGINT AS _row, * FROM read_csv(?, {_CSV_DIALECT}, columns = ?, store_rejects = true, "
           f"rejects_table = '{_REJECTS}', rejects_scan = '{_REJECTS}_scans', rejects_limit = 1)")
    return sql, [str(path), _delimiter(path, delimiter), limits.max_line_bytes, types], types


def take_rejects(con) -> int:
    """How many values the typed CSV reader of :func:`_typed_csv_sql` rejected; its reject tables are dropped."""
    n = con.execute(f"SELECT count(*) FROM {_REJECTS}").fetchone()[0]
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}")
    con.execute(f"DROP TABLE IF EXISTS {_REJECTS}_scans")
    return n


_GLOB_CHARS = ("*", "?", "[", "]", "{", "}")


@contextmanager
def _literal_path(path: Path):
    """A path DuckDB reads as exactly this file.

    DuckDB's readers take a file name as a glob pattern, with no escape:
    ``deployments[12].csv`` would read ``deployments1.csv``, ``dep*.csv`` its
    siblings. A name with a pattern character is read through a hard link (or a
    symbolic link, or a copy) with a plain name, in a private temporary folder,
    removed afterwards. Reports and the ingest log keep the real name.
    """
    text = str(path)
    if not any(c in text for c in _GLOB_CHARS) and not text.startswith("~"):
        yield path
        return
    low = path.name.lower()
    suffix = next((s for s in sorted(READABLE_SUFFIXES, key=len, reverse=True) if low.endswith(s)), path.suffix)
    folder = tempfile.mkdtemp(prefix="kpi_read_")
    link = Path(folder) / f"file{suffix.lower()}"
    try:
        if any(c in str(link) for c in _GLOB_CHARS):
            raise IngestError([RowError(path.name, None, None, f"the temporary folder {folder!r} has a glob "
                                        f"character in its name; set TMPDIR to a plain folder")])
        try:
            os.link(path, link)
        except OSError:  # another file system, or no hard links: a symbolic link, else a copy
            try:
                os.symlink(path.resolve(), link)
            except OSError:
                shutil.copyfile(path, link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


def _duckdb_read_error(name: str, err: Exception, limits: Limits | None = None) -> RowError:
    """A reader error in words, with the data row when DuckDB names the line.

    DuckDB's "Line" counts the header as line 1, so line 3 is data row 2.
    """
    limits = limits or Limits()
    text = str(err)
    row = None
    m = _CSV_LINE.search(text)
    if m:
        row = max(int(m.group(1)) - 1, 1)
    first = text.splitlines()[0] if text else type(err).__name__
    reason = first
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    too_long = re.search(r"Maximum line size of (\d+) bytes exceeded\. Actual Size:\s*(\d+)", text)
    if isinstance(err, UnicodeDecodeError) or "Invalid unicode" in text or "not utf-8 encoded" in text.lower():
        reason = "the file is not UTF-8 encoded (save it as UTF-8 and ingest again)"
    elif "unterminated quote" in text:
        reason = ('a value opens a quote (") that is not closed before the end of the file; '
                  'quote characters inside a value must be doubled ("")')
    elif fields:
        want, found = int(fields.group(1)), int(fields.group(2))
        reason = (f"wrong number of fields: the row has {found}, the header has {want} "
                  f"({'an unquoted delimiter in a value?' if found > want else 'a missing value or delimiter?'})")
    elif too_long:
        reason = (f"the line is longer than the limit of {limits.max_line_bytes:,} bytes "
                  f"({int(too_long.group(2)):,} bytes); set KPI_MAX_LINE_BYTES to raise it")
    elif m:
        detail = [ln.strip() for ln in text.splitlines()[2:4] if ln.strip() and not ln.startswith("Possible")]
        reason = "the CSV row cannot be read" + (f": {detail[0]}" if detail else "")
    return RowError(name, row, None, reason)


def detect_kind(columns: list[str], file: str) -> str:
    """The canonical kind whose signature columns the file has."""
    cols = set(columns)
    hits = [t.name for t in schema.TABLES.values() if set(t.signature) <= cols]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        hint = ""
        if len(columns) == 1 and any(d in columns[0] for d in (";", "\t", "|")):
            d = next(d for d in (";", "\t", "|") if d in columns[0])
            hint = (f" The header is one column {columns[0][:60]!r}: the file looks delimited by "
                    f"{d!r}, not commas (pass --delimiter {d!r}).")
        sigs = "; ".join(f"{t.name}: {', '.join(t.signature)}" for t in schema.TABLES.values())
        raise IngestError([RowError(file, None, None,
                                    f"cannot tell what kind of export this is from its columns ({sigs}); "
                                    f"pass --kind, or --preset NAME for a known tool's export "
                                    f"(python -m kpis presets lists them).{hint}")])
    raise IngestError([RowError(file, None, None,
                                f"columns fit several kinds ({', '.join(hits)}); pass --kind")])


def _fits_canonical(norm: dict[str, str], kind: str | None) -> bool:
    """Whether a header is already in canonical columns (then no preset is looked for)."""
    if kind is not None:
        return all(c in norm for c in schema.TABLES[kind].required)
    return sum(set(t.signature) <= set(norm) for t in schema.TABLES.values()) == 1


_JSON_STRING = re.compile(rb'"[^"\n]*"')


_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"\n')


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


_BRACKET_STEP = [0] * 256


for _b in b"[{":
    _BRACKET_STEP[_b] = 1


for _b in b"]}":
    _BRACKET_STEP[_b] = -1


_JSON_CHUNK = 8 << 20


def _unescaped(data: bytes) -> bytes:
    """``data`` without its escaped backslashes and quotes (JSON escapes read left to right)."""
    return data.replace(b"\\\\", b"").replace(b'\\"', b"")


def _open_string_at(data: bytes) -> int:
    """Where a string still open at the end of ``data`` starts; -1 if none."""
    if _unescaped(data).count(b'"') % 2 == 0:
        return -1
    q = len(data)
    while True:  # the last quote not escaped opens it (an open string holds no other)
        q = data.rfind(b'"', 0, q)
        if q < 0:
            return -1
        k = q
        while k > 0 and data[k - 1] == 0x5C:  # backslashes before it
            k -= 1
        if (q - k) % 2 == 0:
            return q


def _json_structure(data: bytes) -> bytes:
    """The brackets of ``data`` outside strings, and its line breaks, at C speed.

    Only quotes, brackets and line breaks are kept once the escapes are gone;
    then every adjacent pair of quotes goes (an empty string, or the gap between
    two strings with no bracket in it: either way no bracket changes side), and
    the few strings left, those holding brackets, are cut out by a regex.
    """
    bare = _unescaped(data).translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    return _JSON_STRING.sub(b"", bare) if b'"' in bare else bare


def _check_json_depth(path: Path, name: str, limits: Limits) -> None:
    """Refuse JSON nested deeper than the limit before DuckDB parses it: DuckDB's
    JSON functions fail on deep nesting (about 1,000 levels) with an internal
    error that invalidates the whole connection.

    One pass in 8 MB blocks of whole lines (a JSON string holds no raw line
    break; a block with none, minified JSON, is cut before a string it ends
    inside): the brackets outside strings are kept (:func:`_json_structure`)
    and their running depth summed by itertools.accumulate, about 110 MB/s.
    """
    depth, line, rest = 0, 1, b""
    with _open_bytes(path) as f:
        while True:
            block = f.read(_JSON_CHUNK)
            data = rest + block
            if not data:
                return
            rest = b""
            if block:
                cut = data.rfind(b"\n") + 1
                if not cut:
                    cut = _open_string_at(data)
                    cut = len(data) if cut < 0 else cut
                if cut == 0 and len(data) < 4 * _JSON_CHUNK:  # all one open string so far: read on
                    rest = data
                    continue
                if cut > 0:
                    data, rest = data[:cut], data[cut:]
            bare = _json_structure(data)
            brackets = bare.translate(None, _NOT_BRACKETS)
            if max(accumulate(map(_BRACKET_STEP.__getitem__, brackets), initial=depth)) > limits.max_json_depth:
                depths = accumulate(map(_BRACKET_STEP.__getitem__, brackets), initial=depth)
                nth = next(i for i, d in enumerate(depths) if d > limits.max_json_depth)  # the nth bracket
                positions = [i for i, ch in enumerate(bare) if ch in b"[]{}"]
                where = line + bare[:positions[nth - 1]].count(b"\n")
                raise IngestError([RowError(name, None, None, f"the JSON is nested deeper than the limit of "
                                            f"{limits.max_json_depth} levels (line {where}); set "
                                            f"KPI_MAX_JSON_DEPTH to raise it")])
            depth += brackets.count(b"[") + brackets.count(b"{") - brackets.count(b"]") - brackets.count(b"}")
            line += data.count(b"\n")


_JSON_DIAGNOSE_BYTES = 64 << 20


def json_read_error(path: Path, name: str, err: Exception) -> RowError:
    """A JSON reader error in words, with the line and column of the first fault.

    DuckDB names the record and a byte offset inside it, not the line; on this
    (error) path the file is parsed once more by Python's json module, which
    does: NDJSON line by line, other JSON (up to 64 MB) document by document.
    """
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    first = re.sub(r"^[A-Za-z ]+Error: ", "", first)
    lines = path.name.lower().removesuffix(".gz").endswith((".ndjson", ".jsonl"))
    try:
        with _open_bytes(path) as f:
            if lines:
                for lineno, raw in enumerate(f, start=1):
                    try:
                        if raw.strip():
                            json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
                    except json.JSONDecodeError as e:
                        return RowError(name, None, None, f"not valid JSON at line {lineno}, column {e.colno}: "
                                                          f"{e.msg.removesuffix(' at')}")
            elif path.stat().st_size <= _JSON_DIAGNOSE_BYTES:
                text = f.read().decode("utf-8-sig")
                decoder, i = json.JSONDecoder(), 0
                while True:
                    while i < len(text) and text[i] in " \t\r\n":
                        i += 1
                    if i >= len(text):
                        break
                    _, i = decoder.raw_decode(text, i)
    except UnicodeDecodeError:
        return RowError(name, None, None, "the file is not UTF-8 encoded (save it as UTF-8 and ingest again)")
    except json.JSONDecodeError as e:
        return RowError(name, None, None, f"not valid JSON at line {e.lineno}, column {e.colno}: "
                                          f"{e.msg.removesuffix(' at')}")
    except (OSError, EOFError, RecursionError, ValueError):
        pass
    return RowError(name, None, None, f"not readable as JSON: {first}")


_PARQUET_OK = {
    schema.TIMESTAMP: ("TIMESTAMP", "DATE", "VARCHAR", "BIGINT", "INTEGER", "DOUBLE"),
    schema.DATE: ("DATE", "TIMESTAMP", "VARCHAR"),
    schema.NUMBER: ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "HUGEINT", "UBIGINT",
                    "UINTEGER", "VARCHAR"),
    schema.COUNT: ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT", "DOUBLE",
                   "DECIMAL", "VARCHAR"),
    schema.BOOL: ("BOOLEAN", "VARCHAR", "BIGINT", "INTEGER", "TINYINT"),
}


_NESTED_TYPE = re.compile(r"^(STRUCT|MAP|UNION)\(|\[\d*\]$")


def _check_parquet_types(table: Table, norm: dict[str, str], types: dict[str, str], name: str) -> None:
    """Refuse a canonical column whose Parquet type cannot hold its kind; a
    STRUCT, LIST, MAP or UNION never can (it would be stored as its text)."""
    errors = []
    for col in table.columns:
        if col.name not in norm:
            continue
        t = types[norm[col.name]]
        if _NESTED_TYPE.search(t):
            errors.append(RowError(name, 1, col.name, f"Parquet type {t} is nested (a STRUCT, LIST or MAP); "
                                                      f"a {col.kind} column needs a plain value (every row)"))
        elif col.kind in _PARQUET_OK and not any(t.startswith(ok) for ok in _PARQUET_OK[col.kind]):
            errors.append(RowError(name, 1, col.name,
                                   f"Parquet type {t} cannot hold a {col.kind} (every row); "
                                   f"expected one of {', '.join(_PARQUET_OK[col.kind][:4])}"))
    if errors:
        raise IngestError(errors)
