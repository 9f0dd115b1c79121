"""Where a function's runs came from: its defining file and module, and its code.

A store remembers, per function, a *history*: one entry each time a different version
(code fingerprint and file) starts recording into it, with the time it started. The
runs of each version are the function's records from its ``since`` up to the next
entry's, counted from the records' own ``_stet_timestamp`` cells when they are needed
(a status, or the one note before a first skip): nothing is counted per call, and the
history is written once per version, not per record.

The fingerprint is a SHA-256 over the compiled code, not the source text: instructions
with their names and constants, jump targets and exception ranges as instruction
numbers, nested code objects (inner functions, lambdas, comprehensions) the same way.
Line numbers, ``NOP`` instructions, comments, docstrings and formatting do not count.
It is the same in every process and every run of one Python version (no ``hash()``,
no addresses); a new Python version compiles differently, so its fingerprint differs.
"""

from __future__ import annotations

import bisect
import contextlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import CodeType
    from typing import Any

__all__ = [
    "History",
    "Source",
    "code_of",
    "fingerprint",
    "runs_per_version",
    "source_of",
    "version_finder",
]

History = dict[str, list[dict[str, str]]]  # function -> its versions, oldest first


class Source:
    """One version of a function: its code's fingerprint and where it is defined."""

    __slots__ = ("code", "file", "module")

    def __init__(self, code: str, file: str | None, module: str) -> None:
        self.code = code  # the fingerprint, hex
        self.file = file  # the defining file as stored (None: a notebook, a REPL)
        self.module = module

    def entry(self, since: str) -> dict[str, str]:
        entry = {"since": since, "code": self.code, "module": self.module}
        if self.file is not None:
            entry["file"] = self.file
        return entry

    def matches(self, entry: dict[str, str]) -> bool:
        """Whether a history entry is this version (a missing file matches any file)."""
        file = entry.get("file")
        same_file = self.file is None or file is None or file == self.file
        return entry.get("code") == self.code and same_file

    def same_file(self, entry: dict[str, str]) -> bool:
        file = entry.get("file")
        return self.file is None or file is None or file == self.file


def code_of(func: Callable[..., Any]) -> list[CodeType]:
    """The code objects that make up what a decorated callable runs.

    A ``functools.wraps`` chain gives every layer's code (the decorator's wrapper and
    the function it wraps); a partial, its function's; a method, its function's; a
    callable object, its class's ``__call__``.
    """
    import functools

    codes: list[CodeType] = []
    seen: set[int] = set()
    layer: Any = func
    while layer is not None and id(layer) not in seen:
        seen.add(id(layer))
        while isinstance(layer, functools.partial):
            layer = layer.func
        inner = getattr(layer, "__func__", layer)  # a bound method's function
        code = getattr(inner, "__code__", None)
        if code is None and not isinstance(inner, type) and not hasattr(inner, "__wrapped__"):
            found = [vars(k)["__call__"] for k in type(inner).__mro__ if "__call__" in vars(k)]
            call = found[0] if found else None
            code = getattr(getattr(call, "__func__", call), "__code__", None)
        if code is not None:
            codes.append(code)
        layer = getattr(layer, "__wrapped__", None)
    return codes


def fingerprint(codes: Sequence[CodeType]) -> str:
    """The fingerprint of some code objects: 16 hex digits of a SHA-256."""
    import hashlib

    digest = hashlib.sha256()
    for code in codes:
        digest.update(_code_text(code).encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _code_text(code: CodeType) -> str:
    import dis

    instructions = [i for i in dis.get_instructions(code) if i.opname not in _IGNORED]
    offsets = [i.offset for i in instructions]

    def number(offset: int) -> int:  # an offset as the number of the instruction there
        return bisect.bisect_left(offsets, offset)

    parts = [
        f"args {code.co_argcount} {code.co_posonlyargcount} {code.co_kwonlyargcount}",
        f"flags {code.co_flags}",
        "vars " + ",".join(code.co_varnames),
        "free " + ",".join(code.co_freevars),
        "cell " + ",".join(code.co_cellvars),
    ]
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    for i in instructions:
        if i.opcode in jumps and isinstance(i.argval, int):
            parts.append(f"{i.opname} ->{number(i.argval)}")
        elif i.opcode in dis.hasconst or i.opname == "KW_NAMES":
            parts.append(f"{i.opname} {_constant_text(i.argval)}")
        else:  # names as text, and the argument (CONTAINS_OP: in or not in)
            parts.append(f"{i.opname} {i.arg} {i.argrepr}")
    entries: Iterable[Any] = getattr(dis.Bytecode(code), "exception_entries", ())
    for entry in entries:
        parts.append(
            f"try {number(entry.start)} {number(entry.end)} {number(entry.target)} "
            f"{entry.depth} {entry.lasti}"
        )
    return "\n".join(parts)


_IGNORED = frozenset({"NOP", "RESUME", "EXTENDED_ARG", "CACHE"})


def _constant_text(value: object) -> str:
    """A constant as text that is the same in every process (no addresses, no hashes)."""
    kind = type(value).__name__
    if hasattr(value, "co_code"):
        return "code{" + _code_text(value) + "}"  # type: ignore[arg-type]
    if isinstance(value, tuple):
        return "tuple(" + ",".join(_constant_text(v) for v in value) + ")"
    if isinstance(value, frozenset):
        return "frozenset(" + ",".join(sorted(_constant_text(v) for v in value)) + ")"
    return f"{kind}:{value!r}"


def source_of(func: Callable[..., Any], codes: Sequence[CodeType], store_dir: str | None) -> Source:
    """The version of ``func`` running now; its file relative to the store's directory."""
    module = str(getattr(func, "__module__", None) or "")
    file = _file_of(codes[-1]) if codes else None
    if file is not None and store_dir is not None:
        with contextlib.suppress(ValueError):  # another drive (Windows): keep it absolute
            file = os.path.relpath(file, store_dir)
    return Source(fingerprint(codes), file, module)


def _file_of(code: CodeType) -> str | None:
    """The file a function was defined in; None in a notebook, a REPL or ``exec``."""
    import tempfile

    name = code.co_filename
    if not name or name.startswith("<") or not os.path.isfile(name):
        return None
    path = os.path.abspath(name)
    parent = os.path.dirname(path)
    if os.path.basename(parent).startswith("ipykernel_") and os.path.dirname(
        parent
    ) == os.path.abspath(tempfile.gettempdir()):
        return None  # a notebook cell, which ipykernel keeps in a temporary file
    return path


def version_finder(entries: Sequence[dict[str, str]]) -> Callable[[str], int]:
    """Which version recorded a record with a given timestamp: 0 for a record older
    than every version (from before stet kept a history), else 1 + its entry's place.

    A record belongs to the latest version whose ``since`` is not after its timestamp.
    """
    order = sorted(range(len(entries)), key=lambda i: entries[i].get("since", ""))
    starts = [entries[i].get("since", "") for i in order]  # sorted: clocks of two machines
    places = [0, *(i + 1 for i in order)]

    def find(stamp: str) -> int:
        return places[bisect.bisect_right(starts, stamp)]

    return find


def runs_per_version(entries: Sequence[dict[str, str]], stamps: Iterable[str]) -> list[int]:
    """How many of the records with these timestamps each version recorded: first
    those from before the history, then one count per entry."""
    find = version_finder(entries)
    counts = [0] * (len(entries) + 1)
    for stamp in stamps:
        counts[find(str(stamp))] += 1
    return counts
