"""Results kept in the store (``@stet.once(results=True)``): a return value to cells and back.

A scalar result is one column, ``result``; a dict, dataclass or named tuple is one column
per key or field, ``result.<name>``. No parameter can be named ``result.<name>``, so
result columns never collide with key columns in any format, and no side file is needed
to tell them apart. A result value's cell is ``_values.result_cell_of``'s: the
parameters' text rules, except that a list stays a list (``[1, 2]``) and a tuple a tuple.

Only values that come back equal and of the same type are stored; anything else is a
``TypeError`` with guidance, raised before the run is recorded. A function with outputs
(``outputs=...``) gives its run's directory: a value no cell keeps is written there as a
file (:mod:`stet._resultfiles`) and its cell is ``file:<name>``; a skip reads it back.
"""

from __future__ import annotations

from ._values import FILE_PREFIX, UnkeptResultError, result_cell_of, result_value_of_cell

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any

    from ._values import Cell

__all__ = [
    "RESULT_COLUMN",
    "is_result_column",
    "result_cells",
    "result_type_of",
    "result_value",
]

RESULT_COLUMN = "result"
_PREFIX = "result."


def is_result_column(column: str) -> bool:
    """``result`` or ``result.<name>``."""
    return column == RESULT_COLUMN or column.startswith(_PREFIX)


def result_type_of(func: Callable[..., Any]) -> type | None:
    """The dataclass or named tuple class ``func``'s return annotation names, if any.

    A skip rebuilds such a result from its fields; ``-> Metrics | None`` counts too.
    """
    import types
    import typing

    try:
        hint = typing.get_type_hints(func).get("return")
    except Exception:  # an annotation that does not resolve: no class to rebuild
        return None
    unions = (typing.Union, types.UnionType)
    candidates = typing.get_args(hint) if typing.get_origin(hint) in unions else (hint,)
    found = [c for c in candidates if isinstance(c, type) and _is_record_class(c)]
    return found[0] if len(found) == 1 else None


def _is_record_class(kind: type) -> bool:
    return hasattr(kind, "__dataclass_fields__") or (
        issubclass(kind, tuple) and hasattr(kind, "_fields")
    )


def result_cells(
    value: Any,
    function: str,
    rebuilt_as: type | None,
    files: Path | None = None,
    pickle: bool = False,
    fsync: bool = False,
) -> dict[str, Cell]:
    """The result columns of a return value; ``TypeError`` when stet cannot keep it.

    ``rebuilt_as`` is the class a skip rebuilds a dataclass or named tuple result as
    (from the return annotation). ``files`` is the run's (staging) directory, where a
    value no cell keeps is written as a file (``pickle``: as a pickle, when no other
    kind keeps it; ``fsync``: each file fsynced); None keeps cells only.
    """
    kind = type(value)
    cell = _Cells(function, files, pickle, fsync)
    if isinstance(value, dict):
        if not value:
            raise TypeError(
                f"{function}() returned an empty dict; a skip could not tell it from a run "
                "without a result (None). Return None, or a dict with at least one key. "
                "Nothing was recorded."
            )
        return {_column(function, key): cell(key, item) for key, item in value.items()}
    if _is_record_class(kind):
        if kind is not rebuilt_as:
            raise TypeError(
                f"{function}() returned a {kind.__qualname__} instance; to give it back on a skip, "
                f"stet rebuilds it from its fields and needs its class: annotate the "
                f"function's return type (-> {kind.__qualname__}) with a class defined at "
                "module level, or return a dict. Nothing was recorded."
            )
        fields = _fields(value)
        if not fields:
            raise TypeError(f"{function}() returned a {kind.__qualname__} with no fields")
        return {_PREFIX + name: cell(name, item) for name, item in fields.items()}
    return {RESULT_COLUMN: cell(None, value)}


def _fields(value: Any) -> dict[str, Any]:
    if hasattr(type(value), "__dataclass_fields__"):
        import dataclasses

        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    return dict(zip(value._fields, value, strict=True))


def _column(function: str, key: object) -> str:
    if not isinstance(key, str) or not key or not key.isprintable():
        raise TypeError(
            f"{function}() returned a dict with the key {key!r}; with results=True a dict "
            "result needs non-empty text keys, one column each. Nothing was recorded."
        )
    return _PREFIX + key


class _Cells:
    """The cell of one result value, if it comes back equal and of the same type: a
    cell's text, or (with a run directory) a file's name."""

    def __init__(self, function: str, files: Path | None, pickle: bool, fsync: bool) -> None:
        self.function, self.files, self.pickle, self.fsync = function, files, pickle, fsync

    def __call__(self, name: str | None, value: Any) -> Cell:
        what = f"result {name!r}" if name is not None else "result"
        try:
            return result_cell_of(value)
        except UnkeptResultError as problem:
            if self.files is None:
                raise TypeError(
                    f"{self.function}(): stet cannot store the {what} faithfully: {problem}. "
                    "With results=True a result is a number, string, bool, None or a small "
                    "tuple or list of them (or a dict, dataclass or named tuple of those). "
                    "To keep a large value (an array, a frame, nested data), give the "
                    'function outputs: @stet.once(outputs="data", results=True) keeps it '
                    "as a file in the run's directory; or save other data to a file and "
                    "return its path, or leave results off. Nothing was recorded."
                ) from None
        from ._resultfiles import UnkeptFileError, write_result_file  # numpy, json: when met

        try:
            return write_result_file(value, self.files, name, pickle=self.pickle, fsync=self.fsync)
        except UnkeptFileError as problem:
            raise TypeError(
                f"{self.function}(): stet cannot store the {what} faithfully, in a cell or "
                f"a file: {problem}. Nothing was recorded."
            ) from None


def result_value(
    cells: Mapping[str, Cell],
    rebuild_as: type | None,
    run_dir: Path | None = None,
    pickle: bool = False,
) -> Any:
    """The return value a record's result cells give back (None when it has none).

    A ``file:`` cell is read from the run's directory ``run_dir`` (an array memory-mapped;
    a pickle only with ``pickle``); without one, it is the text it holds.
    """
    if not cells:
        return None

    def value_of(cell: Cell) -> Any:
        if run_dir is not None and type(cell) is str and cell.startswith(FILE_PREFIX):
            from ._resultfiles import read_result_file

            return read_result_file(cell, run_dir, pickle=pickle)
        return result_value_of_cell(cell)

    if RESULT_COLUMN in cells:
        return value_of(cells[RESULT_COLUMN])
    fields = {column[len(_PREFIX) :]: value_of(cell) for column, cell in cells.items()}
    if rebuild_as is None:
        return fields
    try:
        return rebuild_as(**fields)
    except TypeError as error:
        raise TypeError(
            f"a stored result has the fields {', '.join(fields)}, which do not build a "
            f"{rebuild_as.__qualname__} ({error}); reset those runs, or return a dict"
        ) from None
