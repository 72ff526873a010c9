"""Input files of the ``kmeans-xp`` command: ``.npy`` or CSV, as a float64 matrix.

CSV: ``,`` tab ``;`` or spaces (detected from the first line), ``#`` comment lines and blank
lines skipped, quoted cells read. The first line is a header only when none of its cells is a
number; a first line with some numbers is data, and a cell there that is not a number is an
error naming its line and column, as anywhere else. Every error is a ReadError naming the
file, and the line and column where there is one.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np


class ReadError(Exception):
    """An input that cannot be read: printed as one line, exit status 2."""


# What NumPy's loadtxt reads as a float: decimal notation, nan and inf (no underscores, hex or
# non-ASCII digits, which Python's float() would take).
_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
    re.IGNORECASE,
)


def read_matrix(
    path: str, *, delimiter: str | None = None, header: bool | None = None
) -> tuple[np.ndarray, list[str] | None]:
    """The numbers in ``path`` as a float64 array of shape (n_rows, n_columns), and the CSV
    header (None when there is none).

    Parameters
    ----------
    path : str
        A ``.npy`` file (loaded without pickles) or a CSV file (anything else).
    delimiter : str, optional
        The CSV delimiter; detected from the first line when None (``,`` tab ``;``, else
        spaces).
    header : bool, optional
        Whether the CSV's first line is a header; None: it is when none of its cells is a number.

    Returns
    -------
    data : numpy.ndarray of shape (n_rows, n_columns), float64, every value finite
    names : list of str or None

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "points.csv"
    >>> _ = f.write_text("x,y\\n1,2\\n3,4\\n")
    >>> read_matrix(str(f))
    (array([[1., 2.],
           [3., 4.]]), ['x', 'y'])
    """
    if not os.path.exists(path):
        raise ReadError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ReadError(f"{path}: is a directory, not a file")
    if path.lower().endswith(".npy"):
        return _read_npy(path), None
    return _read_csv(path, delimiter, header)


def is_number(cell: str) -> bool:
    """Whether a CSV cell (quotes and spaces around it allowed) reads as a number."""
    return _NUMBER.fullmatch(_unquote(cell)) is not None


def open_npy(path: str) -> np.ndarray:
    """A .npy file memory-mapped (read-only, nothing loaded), checked to hold a non-empty
    matrix of real numbers; a 1-D array is one feature. Integers are read as float64."""
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ReadError(f"{path}: not a readable .npy file ({exc})") from None
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "biuf":
        raise ReadError(f"{path}: expected an array of real numbers; got dtype {data.dtype}")
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.size == 0:
        raise ReadError(
            f"{path}: expected a non-empty 2-D array (rows x features); got shape {data.shape}"
        )
    return data if data.dtype.kind == "f" else data.astype(np.float64)


def _read_npy(path: str) -> np.ndarray:
    data = open_npy(path)
    data = data.astype(np.float64)
    bad = np.argwhere(~np.isfinite(data))
    if bad.size:
        r, c = bad[0]
        raise ReadError(
            f"{path}: row {r}, column {c} is {data[r, c]}: every value must be a finite number"
        )
    return data


def _read_csv(
    path: str, delimiter: str | None, header: bool | None
) -> tuple[np.ndarray, list[str] | None]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ReadError(f"{path}: not a text (UTF-8) CSV file; use .npy for binary data") from None
    data_lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if _is_data(line)]
    if not data_lines:
        raise ReadError(f"{path}: no data (the file is empty)")
    first_no, first = data_lines[0]
    sep = _detect_delimiter(first) if delimiter is None else delimiter
    first_cells = _split(first, sep)
    has_header = header if header is not None else not any(is_number(c) for c in first_cells)
    names = [_unquote(c) for c in first_cells] if has_header else None
    rows = data_lines[1:] if has_header else data_lines
    if not rows:
        raise ReadError(f"{path}: a header on line {first_no} but no rows of data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = np.loadtxt(
                (line for _, line in rows),
                delimiter=sep,
                ndmin=2,
                dtype=np.float64,
                comments=None,
                quotechar='"',
            )
    except ValueError:
        hint = " (use --header if it is a header)" if header is None and not has_header else ""
        _diagnose(path, rows, sep, None if names is None else len(names), first_no, hint)
        raise ReadError(f"{path}: not a CSV file of numbers") from None
    if names is not None and len(names) != data.shape[1]:
        raise ReadError(
            f"{path}: the header on line {first_no} has {len(names)} names but the rows have "
            f"{data.shape[1]} values"
        )
    bad = np.argwhere(~np.isfinite(data))
    if bad.size:
        r, c = bad[0]
        raise ReadError(
            f"{path}: line {rows[r][0]}, column {c + 1} is {_split(rows[r][1], sep)[c].strip()!r}:"
            " every value must be a finite number"
        )
    return data, names


def _is_data(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _detect_delimiter(line: str) -> str | None:
    for sep in (",", "\t", ";"):
        if sep in line:
            return sep
    return None  # whitespace (or a single column)


def _split(line: str, sep: str | None) -> list[str]:
    return line.split() if sep is None else line.split(sep)


def _unquote(cell: str) -> str:
    return cell.strip().strip('"').strip()


def _diagnose(
    path: str,
    rows: list[tuple[int, str]],
    sep: str | None,
    expected: int | None,
    first_no: int,
    hint: str,
) -> None:
    """Raise ReadError naming the first line and column that is not a row of numbers; ``hint``
    is added when that line is the file's first."""
    for line_no, line in rows:
        cells = _split(line, sep)
        if expected is None:
            expected = len(cells)
        elif len(cells) != expected:
            raise ReadError(
                f"{path}: line {line_no} has {len(cells)} values, expected {expected} "
                "(as on the lines before)"
            )
        for column, cell in enumerate(cells, start=1):
            if not is_number(cell):
                what = "an empty cell" if not cell.strip() else f"{cell.strip()!r}"
                note = hint if line_no == first_no else ""
                raise ReadError(
                    f"{path}: line {line_no}, column {column} is {what}, not a number{note}"
                )
