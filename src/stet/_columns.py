"""The layout of a store: its reserved column names, and the text of its timestamps.

Layout rules, shared by every function of a store and every format:

* the columns are the key columns and result columns (``result``, ``result.<name>``:
  see ``_results``), then ``_stet_function`` (only once a second function records into
  the store), then ``_stet_output`` (only once a run with an outputs directory is
  recorded: the path of its directory), then ``_stet_error`` (only once a failure is
  recorded), then ``_stet_timestamp``;
* a record with an ``_stet_error`` cell is a failed run, not a completed one;
* an empty cell means "not part of this record's key" (``None`` is written ``None``);
* rows without a ``_stet_function`` cell belong to the store's *owner*, the first
  function that recorded into it, named in the small ``<store>.owner`` file beside it;
* each function's code history (``_provenance``) is kept beside the owner, not in a
  column: one entry per version that recorded, written once per version and process.
"""

from __future__ import annotations

import time
from datetime import datetime
from operator import itemgetter

__all__ = [
    "ERROR_COLUMN",
    "FUNCTION_COLUMN",
    "LOOK_EVERY",
    "OUTPUT_COLUMN",
    "RESERVED_PREFIX",
    "TIMESTAMP_COLUMN",
    "all_stamps",
    "is_time",
    "now_text",
    "widened",
]

# A skip trusts this process's index for at most this long before one cheap look (a stat,
# one small query) at whether another process rewrote, reset or removed the store.
LOOK_EVERY = 0.2  # seconds
FUNCTION_COLUMN = "_stet_function"
ERROR_COLUMN = "_stet_error"
OUTPUT_COLUMN = "_stet_output"
TIMESTAMP_COLUMN = "_stet_timestamp"
RESERVED_PREFIX = "_stet_"


_STAMP_LENGTH = len("2026-03-12T11:48:59.428485+00:00")  # the length of every now_text()

_second = -1
_second_text = ""


def now_text() -> str:
    """The current time as ISO 8601 UTC with microseconds (``...T11:48:59.428485+00:00``).

    The same text as ``datetime.now(UTC).isoformat(timespec="microseconds")``, in a
    fifth of the time: the date and time of day are formatted once a second.
    """
    global _second, _second_text
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    if second != _second:
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_second_text}.{fraction:06d}+00:00"


def widened(header: list[str], added: list[str], label: bool, failure: bool) -> list[str]:
    """A store's columns with ``added`` key, result or output columns, and the function
    column (``label``) and error column (``failure``) once either is needed."""
    keys = [c for c in header if not c.startswith(RESERVED_PREFIX)]
    keys += [c for c in added if not c.startswith(RESERVED_PREFIX)]
    output = OUTPUT_COLUMN in added or OUTPUT_COLUMN in header
    return [
        *keys,
        *([FUNCTION_COLUMN] if label or FUNCTION_COLUMN in header else []),
        *([OUTPUT_COLUMN] if output else []),
        *([ERROR_COLUMN] if failure or ERROR_COLUMN in header else []),
        TIMESTAMP_COLUMN,
    ]


def is_time(text: str) -> bool:
    """Whether ``text`` is a time in ISO 8601 (a timestamp cell, or one written by hand)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def all_stamps(texts: list[str]) -> bool:
    """Whether every text has the shape of a stet timestamp (``now_text``), checked
    without a loop: its length, and the ``T`` between date and time."""
    return set(map(len, texts)) == {_STAMP_LENGTH} and set(map(itemgetter(10), texts)) == {"T"}
