"""What a journaled store's part files are to it: a codec's ABCs, and parts read in turn.

A whole-file format (Parquet, Feather, HDF5, a DuckDB file) gives the journaled base
(``stet.formats.journaled``) a :class:`PartCodec`: how to read a part and how to write
one; the base keeps the journal, the compactions and the commit point.
"""

from __future__ import annotations

import abc
import contextlib
import os

from .base import Chunk

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Generator, Iterator, Sequence

    from .._values import Cell

__all__ = [
    "Part",
    "PartCodec",
    "PartReading",
    "close_all",
    "joined",
    "place_part",
    "remove_unlisted",
    "temp_path",
]

_BATCH_ROWS = 1 << 16  # rows of the parts per batch


class Part(abc.ABC):
    """One open part file (its footer read; its rows read on demand)."""

    rows: int  # how many records it holds
    columns: list[str]  # its columns, in order

    @abc.abstractmethod
    def batches(self, size: int) -> Iterator[tuple[dict[str, list[Cell]], int]]:
        """Its records, ``size`` at a time: each batch's cells by column, and its count."""

    @abc.abstractmethod
    def close(self) -> None: ...


class PartCodec(abc.ABC):
    """How part files hold cells: what a whole-file format gives the journaled base."""

    extension: str  # of the store and of its parts: ".parquet"
    reader: str  # how a user reads a store's rows, for messages: "pandas.read_parquet(path)"

    @abc.abstractmethod
    def read_part(self, path: str, name: str) -> Part:
        """Open the part at ``path``; FileNotFoundError when it is missing, and a
        ``DamagedStoreError`` naming the store ``name`` when it is not readable."""

    @abc.abstractmethod
    def write_part(
        self,
        path: str,
        header: Sequence[str],
        columns: Sequence[Sequence[Cell]],
        live: Sequence[Part],
        keep: int,
    ) -> int:
        """Write at ``path`` one part: the records of ``live[keep:]``, then these cells
        (``""``: none), in the columns and types every live part must share.

        Returns how many of the live parts stay as they are: ``keep``, or 0 when these
        cells need a column or type the parts lack (then the part holds every record).
        """


class PartReading:
    """A read from 0 under way: the open parts, read a batch at a time."""

    def __init__(self, names: list[str], parts: list[Part]) -> None:
        self.names = names  # every column of the parts, after the reader's header
        self.cursor = 0  # the cursor this reading continues from
        self.batches = _batches(parts)


def _batches(parts: list[Part]) -> Generator[tuple[dict[str, list[Cell]], int], None, None]:
    """The batches of every part in turn; the parts are closed at the end."""
    try:
        for part in parts:
            yield from part.batches(_BATCH_ROWS)
    finally:
        close_all(parts)


def close_all(parts: Sequence[Part]) -> None:
    for part in parts:
        part.close()


def joined(first: Chunk, second: Chunk) -> Chunk:
    """Two chunks read one after the other as one; ``second`` knows every column."""
    columns = first.columns
    for i, cells in enumerate(second.columns):
        if i < len(columns):
            columns[i] += cells
        else:  # a column the first chunk does not have
            padding: list[Cell] = [""] * first.count
            columns.append(padding + cells)
    count = first.count + second.count
    return Chunk(second.header, columns, count, second.end, second.tail, first.first_line)


def temp_path(path: str, part: str) -> str:
    """Where a part of the store at ``path`` is written before it is renamed into it."""
    parent, base = os.path.split(path)
    return os.path.join(parent, f".{base}.{part}.tmp")


def place_part(temp: str, path: str, write: Callable[[str], int]) -> int:
    """``write(temp)`` (a codec writing a part there), then that file synced and renamed
    to ``path``; returns what ``write`` returned. The temporary file goes if any step fails.
    """
    try:
        kept = write(temp)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise
    return kept


def remove_unlisted(
    path: str, listed: Sequence[str], part: re.Pattern[str], old: re.Pattern[str]
) -> None:
    """Remove the part files (names like ``part``) of the store at ``path`` that are not
    ``listed``, their temporary files beside it, and an older stet's (like ``old``) in it."""
    keep = set(listed)
    with os.scandir(path) as entries:
        for entry in entries:
            name = entry.name
            if (part.fullmatch(name) and name not in keep) or old.fullmatch(name):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(entry.path)
    parent, base = os.path.split(path)
    prefix = f".{base}."
    with os.scandir(parent or ".") as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(prefix) and part.fullmatch(name[len(prefix) : -4]):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(entry.path)
