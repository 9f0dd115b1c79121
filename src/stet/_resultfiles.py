"""Result values too large or too rich for a cell, kept as files in a run's directory.

A file-backed result cell is the text ``file:<name>``, ``<name>`` the file's path relative
to the run's directory (POSIX). What goes to which file:

* a NumPy array: ``.npy`` (``np.save``, no pickle), read back memory-mapped, read-only;
* a pandas DataFrame: ``.parquet`` (pyarrow, index kept); a Series: ``.series.parquet``
  (its name and index kept, told from a frame by the file's metadata);
* nested plain data (a dict or list of dicts, lists, text, numbers, bools, None):
  ``.json``, strict JSON (no NaN or infinities);
* anything else, or any of these that would not come back equal and of its type:
  ``.pkl``, only when the user asked for ``pickle=True``; otherwise a ``TypeError``.

Each kind is checked to come back equal before its cell is made: a file that would give
back something else is removed and refused. Names are ``result.<ext>`` for a whole
result and ``result.<field>.<ext>`` for a dict key or dataclass field (a field name
unsafe or too long for a file name is replaced by a short stable hash of it); an existing
file is never overwritten: the next free name ``result.<field>-2.<ext>``, ``-3``, ... is
taken instead. numpy, pandas and pyarrow are imported only when a value of theirs is met.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys

from ._errors import DamagedStoreError
from ._values import FILE_PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any, BinaryIO

__all__ = [
    "FILE_PREFIX",
    "UnkeptFileError",
    "is_file_cell",
    "read_result_file",
    "write_result_file",
]

_SAFE_FIELD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_+=-]{0,63}")
_SERIES_KEY = b"stet.series"  # parquet metadata of a Series file: {"name": its name}
_COLLISIONS = 1000  # names tried before giving up on a crowded directory


class UnkeptFileError(TypeError):
    """A result value no file kind would give back equal and of its type (why: its text)."""


def is_file_cell(cell: object) -> bool:
    """Whether a result cell names a file (``file:result.npy``)."""
    return type(cell) is str and cell.startswith(FILE_PREFIX)


def write_result_file(
    value: Any,
    directory: Path,
    field: str | None = None,
    *,
    pickle: bool = False,
    fsync: bool = False,
) -> str:
    """Write ``value`` as a new file in ``directory``; its cell, ``file:<name>``.

    ``field`` is the dict key or dataclass field the value is (None: the whole result).
    :class:`UnkeptFileError` when no kind keeps it faithfully (and ``pickle`` is off).
    """
    writer, suffix, problem = _writer_of(value)
    if writer is not None:
        try:
            return _write(value, directory, field, writer, suffix, fsync)
        except UnkeptFileError as error:
            problem = str(error)
    if not pickle:
        raise UnkeptFileError(
            f"{problem}; to keep it anyway as a pickle file, pass pickle=True (only "
            "unpickle files you trust: loading one runs code)"
        )
    return _write(value, directory, field, _write_pickle, ".pkl", fsync)


def _write(
    value: Any,
    directory: Path,
    field: str | None,
    writer: Callable[[Any, BinaryIO], None],
    suffix: str,
    fsync: bool,
) -> str:
    name, handle = _new_file(directory, field, suffix)
    path = directory / name
    try:
        with handle:
            writer(value, handle)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if suffix.endswith(".parquet"):
            _check_back(value, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FILE_PREFIX + name


def read_result_file(cell: str, run_dir: Path, *, pickle: bool = False) -> Any:
    """The value a ``file:`` cell names, read from the run's directory ``run_dir``.

    An array comes back memory-mapped (read-only). A ``.pkl`` file is read only with
    ``pickle=True``. A missing file is a :class:`~stet._errors.DamagedStoreError`.
    """
    name = cell[len(FILE_PREFIX) :]
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise DamagedStoreError(
            f"a stored result names the file {name!r}, which is not a path inside its "
            f"run's directory {run_dir}; nothing was changed. Reset the run to run it again."
        )
    path = run_dir.joinpath(*parts)
    if not path.is_file():
        raise DamagedStoreError(
            f"the stored result of a run is the file {path}, which is missing; nothing was "
            "changed. Put the file back, or reset the run to run it again."
        )
    if name.endswith(".npy"):
        return _read_array(path)
    if name.endswith(".parquet"):
        return _read_frame(path)
    if name.endswith(".json"):
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    if name.endswith(".pkl"):
        if not pickle:
            raise TypeError(
                f"the stored result {path} is a pickle file; stet unpickles only with "
                "@stet.once(..., pickle=True), since unpickling a file runs the code of "
                "whoever wrote it"
            )
        import pickle as pickling

        with open(path, "rb") as file:
            return pickling.load(file)  # asked for by name: pickle=True
    raise DamagedStoreError(f"a stored result names the file {path}, of no kind stet writes")


# ------------------------------------------------------------------------------ names


def _new_file(directory: Path, field: str | None, suffix: str) -> tuple[str, BinaryIO]:
    """The first free name for a result file, and the file, created (never overwritten)."""
    if field is None:
        stem = "result"
    elif _SAFE_FIELD.fullmatch(field):
        stem = f"result.{field}"
    else:
        digest = hashlib.sha256(field.encode("utf-8", "surrogatepass")).hexdigest()
        stem = f"result.{digest[:12]}"
    for n in range(1, _COLLISIONS + 1):
        name = f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}"
        try:
            return name, open(directory / name, "xb")
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory} already holds {_COLLISIONS} files named {stem}*{suffix}")


# ------------------------------------------------------------------------------ kinds


def _writer_of(value: Any) -> tuple[Callable[[Any, BinaryIO], None] | None, str, str | None]:
    """How ``value`` is written, its file suffix, and why it cannot be (None: it can)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        if type(value) not in (numpy.ndarray, numpy.memmap):
            kind = type(value).__qualname__
            return None, "", f"a {kind} (a NumPy array subclass) would come back as a plain array"
        if value.dtype.hasobject or value.dtype.kind not in "biufcmMSUV":
            return None, "", f"a NumPy array of dtype {value.dtype} is not kept without pickle"
        return _write_array, ".npy", None
    pandas = sys.modules.get("pandas")
    if pandas is not None and type(value) in (pandas.DataFrame, pandas.Series):
        suffix = ".parquet" if type(value) is pandas.DataFrame else ".series.parquet"
        return _write_frame, suffix, None
    if type(value) in (dict, list):
        problem = _json_problem(value, "")
        return (None if problem else _write_json), ".json", problem
    return None, "", f"stet keeps no {type(value).__qualname__} value in a file but a pickle"


def _write_array(value: Any, handle: BinaryIO) -> None:
    import numpy

    numpy.save(handle, value, allow_pickle=False)


def _read_array(path: Path) -> Any:
    import numpy

    try:
        return numpy.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):  # a file mmap cannot map: read it whole
        return numpy.load(path, allow_pickle=False)


def _write_frame(value: Any, handle: BinaryIO) -> None:
    import pandas

    try:
        import pyarrow  # type: ignore[import-untyped]
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError:
        raise UnkeptFileError(
            "a pandas result is kept as Parquet, which needs pyarrow: pip install 'stet[parquet]'"
        ) from None
    frame = value if type(value) is pandas.DataFrame else value.to_frame("values")
    try:
        table = pyarrow.Table.from_pandas(frame, preserve_index=None)
    except (pyarrow.ArrowException, ValueError, TypeError) as error:
        what = "DataFrame" if frame is value else "Series"
        raise UnkeptFileError(f"pyarrow cannot write this {what} as Parquet: {error}") from None
    if frame is not value:
        if value.name is not None and type(value.name) not in (str, int, bool, float):
            raise UnkeptFileError(f"the Series name {value.name!r} is not kept in its file")
        name = json.dumps({"name": value.name})  # a float name: checked back
        metadata = {**(table.schema.metadata or {}), _SERIES_KEY: name.encode()}
        table = table.replace_schema_metadata(metadata)
    pyarrow.parquet.write_table(table, handle)


def _read_frame(path: Path) -> Any:
    import pyarrow.parquet

    table = pyarrow.parquet.read_table(path)
    frame = table.to_pandas()
    series = (table.schema.metadata or {}).get(_SERIES_KEY)
    if series is None:
        return frame
    column = frame.iloc[:, 0]
    column.name = json.loads(series)["name"]
    return column


def _write_json(value: Any, handle: BinaryIO) -> None:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, so the file stays UTF-8
        data = json.dumps(value, allow_nan=False).encode("ascii")
    handle.write(data)


def _json_problem(value: Any, where: str) -> str | None:
    """Why ``value`` would not come back from JSON equal and of its types (None: it would)."""
    kind = type(value)
    if value is None or kind in (bool, str, int):
        return None
    if kind is float:
        if math.isfinite(value):
            return None
        return f"{_at(where)} is {value!r}, which JSON has no number for"
    if kind is list:
        for at, item in enumerate(value):
            problem = _json_problem(item, f"{where}[{at}]")
            if problem is not None:
                return problem
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f"{_at(where)} has the key {key!r}, which JSON would turn into text"
            problem = _json_problem(item, f"{where}[{key!r}]")
            if problem is not None:
                return problem
        return None
    if kind is tuple:
        return f"{_at(where)} is a tuple, which JSON would give back as a list"
    return f"{_at(where)} is a {kind.__qualname__}, which JSON does not keep"


def _at(where: str) -> str:
    return f"the value at {where}" if where else "it"


def _write_pickle(value: Any, handle: BinaryIO) -> None:
    import pickle as pickling

    try:
        pickling.dump(value, handle, protocol=pickling.HIGHEST_PROTOCOL)
    except Exception as error:  # PicklingError, or a TypeError, AttributeError of a part
        raise UnkeptFileError(f"it cannot be pickled either: {error}") from None


def _check_back(value: Any, path: Path) -> None:
    """Refuse a file that would not give ``value`` back equal and of its type."""
    import pandas.testing

    back = _read_frame(path)  # arrays and JSON are checked before they are written

    try:
        if type(back) is not type(value):
            raise AssertionError(f"it comes back as a {type(back).__qualname__}")
        if type(value) is pandas.Series:
            pandas.testing.assert_series_equal(value, back, check_exact=True, check_freq=False)
        else:
            pandas.testing.assert_frame_equal(value, back, check_exact=True, check_freq=False)
    except AssertionError as difference:
        what = type(value).__qualname__
        lines = " ".join(str(difference).split())
        raise UnkeptFileError(
            f"this {what} would not come back from Parquet as it is ({lines[:200]})"
        ) from None
