"""Reading a user's table files (CSV, plain or gzip, and Parquet), with one line naming the file,
the line and the fix for whatever can go wrong.

pandas reads the tables; this module checks what pandas does not say clearly: bytes that are not
text at all, text that is not in the given encoding (with the line it happens on), a quote that
is never closed, and a last line cut short (which pandas would pad with missing values).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pandas as pd

from whyrec.errors import DataError, ParameterError, first_line

_SNIFF = 1 << 16  # bytes looked at to tell text from binary data
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13))  # control bytes no text table holds


def read_table(path: str | os.PathLike, *, sep: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with a clear error when it cannot.

    `sep` is the CSV separator (default ``,``, or a tab for .tsv files); `encoding` the CSV's text
    encoding (``utf-8`` by default; ``latin-1`` for many older exports).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path} is empty")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if suffixes.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")):
            return _read_csv(path, sep or ("\t" if ".tsv" in suffixes else ","), _checked_encoding(encoding))
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise DataError(f"{path} is truncated or corrupt: its gzip stream ends early; download it again") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    except (DataError, ParameterError):
        raise  # already one line naming the file and the fix
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path}: {first_line(exc)}") from None
    raise DataError(f"unsupported file type {path.name!r}: use .csv, .tsv or .parquet")


def _checked_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ParameterError(f"unknown text encoding {encoding!r}; use utf-8, latin-1, cp1252, ...") from None


def _read_csv(path: Path, separator: str, encoding: str) -> pd.DataFrame:
    _refuse_binary(path)
    try:
        frame = pd.read_csv(path, sep=separator, encoding=encoding)
    except UnicodeDecodeError:
        raise _decoding_error(path, encoding) from None
    except pd.errors.ParserError as exc:
        line = _unclosed_quote(path, encoding) if "EOF inside string" in str(exc) else None
        if line is None:
            raise
        raise DataError(
            f"{path.name} line {line}: a quote opened here is never closed; close it, or remove the stray quote"
        ) from None
    _check_separator(frame, path, separator)
    _check_last_line(frame, path, separator, encoding)
    return frame


def _open(path: Path) -> BinaryIO:
    if path.suffix.lower() == ".gz":
        return cast(BinaryIO, gzip.GzipFile(path, "rb"))
    return path.open("rb")


def _refuse_binary(path: Path) -> None:
    """Refuse a file whose first bytes hold NULs or other control bytes no text table has."""
    with _open(path) as handle:
        head = handle.read(_SNIFF)
    control = sum(head.count(bytes([b])) for b in _CONTROL)
    if b"\x00" in head or control > len(head) // 100:
        raise DataError(
            f"{path.name} is not a text table: it holds binary data (control bytes in its first "
            f"{len(head):,}); give a CSV, TSV or Parquet file"
        )


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's lines as bytes, numbered from 1."""
    with _open(path) as handle:
        yield from enumerate(handle, start=1)


def _decoding_error(path: Path, encoding: str) -> DataError:
    """The first line that is not `encoding` text, named with the byte and the option that reads it."""
    decoder = codecs.getincrementaldecoder(encoding)()
    for number, line in _lines(path):
        try:
            decoder.decode(line)
        except UnicodeDecodeError as exc:
            byte = line[exc.start : exc.start + 1].hex()
            other = "latin-1" if encoding != "iso8859-1" else "cp1252"
            return DataError(
                f"{path.name} line {number}: not {encoding} text (byte 0x{byte} at column {exc.start + 1}); "
                f"if the file is {other}, pass --encoding {other} (encoding={other} in the data spec)"
            )
    return DataError(f"{path.name} is not {encoding} text; pass its encoding with --encoding (encoding= in the spec)")


def _unclosed_quote(path: Path, encoding: str) -> int | None:
    """The line where a double quote opens that is never closed, or None."""
    opened, where = False, None
    for number, line in _lines(path):
        for _ in range(line.count(b'"')):  # "" inside a quoted field toggles twice: no change
            opened = not opened
            where = number if opened else None
    return where if opened else None


def _check_last_line(frame: pd.DataFrame, path: Path, separator: str, encoding: str) -> None:
    """Refuse a last line with fewer fields than the header: a file cut short in the middle of a row."""
    last, number = b"", 0
    for at, line in _lines(path):
        if line.strip():
            last, number = line, at
    if not last or frame.empty:
        return
    row = next(csv.reader(io.StringIO(last.decode(encoding)), delimiter=separator), [])
    # pandas pads a short row with missing values; a quoted field spanning lines is whole, not padded
    padded = frame.iloc[-1, len(row) :].isna().all() if len(row) else False
    if 0 < len(row) < len(frame.columns) and padded:
        raise DataError(
            f"{path.name} line {number}: {len(row)} of the header's {len(frame.columns)} fields; the file looks "
            "cut off in the middle of a row: export or download it again"
        )


def _check_separator(frame: pd.DataFrame, path: Path, separator: str) -> None:
    """A table that reads as one column whose name holds another separator was split wrongly."""
    if frame.shape[1] != 1:
        return
    header = str(frame.columns[0])
    for candidate in (",", ";", "\t", "|"):
        if candidate != separator and candidate in header:
            spelled = "tab" if candidate == "\t" else candidate
            raise DataError(
                f"{path.name} reads as one column {header!r} with separator {separator!r}: is its separator "
                f"{spelled!r}? pass --sep '{spelled}' (or sep={spelled} in the data spec)"
            )
