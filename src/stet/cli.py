"""The ``stet`` command line: ``status``, ``show``, ``reset``, ``why`` and ``convert``.

A thin layer over the Python API (``stet.status``, ``stet.records``, ``stet.reset``,
``stet.convert``): every command reads or changes the store exactly as those functions
do, so it works while a sweep is writing the same store.

Exit codes: 0 on success; 1 on a user error (no store, an unknown column, a damaged
store, a refused conversion), with one line ``stet: error: ...`` on standard error and
no traceback; 2 on a usage error (argparse's own message); 130 when interrupted
(Ctrl-C); 141 when standard output is closed early (``stet show | head``).

``import stet.cli`` stays light: argparse and json, nothing that pulls in pandas.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from datetime import date, datetime
from pathlib import PurePath

from . import __version__
from ._defaults import DEFAULT_STORE
from ._errors import StetError, facts_of
from ._explain import WHY_DESCRIPTION, WHY_HELP, WHY_WHERE_HELP
from ._explain import why as why_command
from ._reportoutputs import output_last, shown_path
from ._values import result_literal, text_of
from .formats import extensions, redacted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

__all__ = ["build_parser", "main"]

PROG = "stet"
OUTPUT_HEADER = "output"  # how show heads the _stet_output column
DEFAULT_LAST = 20
EXIT_OK, EXIT_USER_ERROR, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141

DESCRIPTION = (
    "Look at and manage a stet store from a terminal: what it holds, its records, "
    "removing runs, converting it to another format. Every command works while a sweep "
    "is writing the same store."
)
EPILOG = (
    "Exit codes: 0 success; 1 a user error (one line 'stet: error: ...' on standard "
    "error); 2 a usage error; 130 interrupted (Ctrl-C); 141 standard output closed early."
)
STORE_HELP = (
    f"the store: a file whose extension picks the format ({', '.join(extensions(urls=False))}) "
    f"or a postgresql:// URL (default: {DEFAULT_STORE} in the working "
    "directory)"
)
WHERE_HELP = (
    "only runs whose column COL shows VALUE; VALUE is the text the store shows "
    "(alpha=0.1, label=abc, flag=True), as key_dict takes it. Repeat for more columns: "
    "a run must match all of them"
)
FUNCTION_HELP = "only the runs of this function (its qualified name, as status lists it)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stet`` command with ``argv`` (default: ``sys.argv[1:]``); its exit code."""
    parser = build_parser()
    given = sys.argv[1:] if argv is None else list(argv)
    usage = io.StringIO()  # argparse's own messages quote what was given: a URL's password
    try:
        with contextlib.redirect_stderr(usage):
            args = parser.parse_args(given)
            if getattr(args, "where", None):
                _check_where(parser, args.where)
    except SystemExit as leaving:  # --help, --version, or a usage error (code 2)
        sys.stderr.write(_without_passwords(usage.getvalue(), given))
        return leaving.code if isinstance(leaving.code, int) else EXIT_USAGE
    sys.stderr.write(usage.getvalue())
    command: Callable[[argparse.Namespace], int] = args.run
    try:
        code = command(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the exit
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (StetError, OSError, ValueError, ImportError) as error:
        # what a user can fix: the errors stet raises for it (a missing or damaged store,
        # an unknown column, a destination that exists, a server that cannot be reached,
        # a location or column stet cannot use), a file the system refuses, a missing
        # optional dependency. A TypeError is a StetError (a value stet cannot compare)
        # or a bug of stet's, shown with its traceback.
        _flush_stdout()
        message = _without_passwords(error_message(error), given)
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


def _without_passwords(text: str, argv: Sequence[str]) -> str:
    """``text`` with each URL of the command line in it as messages show a URL."""
    for argument in argv:
        shown = redacted(argument)
        if shown != argument:
            text = text.replace(argument, shown)
    return text


def build_parser() -> argparse.ArgumentParser:
    """The ``stet`` command's parser (also the source of the CLI reference page)."""
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    status = commands.add_parser(
        "status",
        help="what a store holds: runs completed, running and failed, the last run, columns",
        description=(
            "Print what a store holds, the same lines as stet.status(): how many runs "
            "completed, which are running now (host and pid) and how many failures are "
            "recorded, the last run's time, and the key and result columns."
        ),
    )
    _store_argument(status)
    status.add_argument("--function", metavar="NAME", help=FUNCTION_HELP)
    status.add_argument(
        "--json",
        action="store_true",
        help="print the same facts as one JSON object, for scripts and monitoring",
    )
    status.set_defaults(run=_status)

    show = commands.add_parser(
        "show",
        help="a table of the store's records (the last 20 by default)",
        description=(
            "Print a store's records as an aligned table: one row per completed run (or "
            "per recorded failure, with --failed), in the store's order, cells as the CSV "
            "store shows them. A column a record lacks is blank. Runs with outputs have "
            f"their directory in the last column, {OUTPUT_HEADER} (relative to the working "
            "directory when below it)."
        ),
    )
    _store_argument(show)
    _where_argument(show)
    show.add_argument(
        "--last",
        metavar="N",
        type=_count,
        default=DEFAULT_LAST,
        help=f"show only the last N records (default: {DEFAULT_LAST}); 0 shows them all",
    )
    show.add_argument("--function", metavar="NAME", help=FUNCTION_HELP)
    show.add_argument(
        "--failed",
        action="store_true",
        help="show the recorded failures (with their _stet_error) instead of completed runs",
    )
    show.set_defaults(run=_show)

    reset = commands.add_parser(
        "reset",
        help="remove runs from a store: all of them, or those matching --where",
        description=(
            "Remove records from a store, as stet.reset() does: every run, or the runs "
            "matching every --where. It says how many it will remove and asks first, "
            "unless --yes is given. The output directories of the removed runs are moved "
            "aside to <outputs>/.stet-reset/<time>/, never deleted unless --purge is given."
        ),
    )
    _store_argument(reset)
    _where_argument(reset)
    reset.add_argument("--function", metavar="NAME", help=FUNCTION_HELP)
    reset.add_argument(
        "--failed",
        action="store_true",
        help="remove only recorded failures, never a completed run",
    )
    reset.add_argument(
        "--purge",
        action="store_true",
        help="delete the removed runs' output directories instead of moving them aside",
    )
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(run=_reset)

    why = commands.add_parser("why", help=WHY_HELP, description=WHY_DESCRIPTION)
    _store_argument(why)
    _where_argument(why, many=True)
    why.add_argument("--function", metavar="NAME", help=FUNCTION_HELP)
    why.set_defaults(run=why_command)

    convert = commands.add_parser(
        "convert",
        help="copy a store into a new store of another format",
        description=(
            "Copy every record of the store SRC into a new store DST, as stet.convert() "
            "does; each path's extension picks its format. SRC may also be a CSV of "
            "results made without stet. DST must not exist: stet never writes over a store."
        ),
    )
    convert.add_argument("source", metavar="SRC", help="the store to copy")
    convert.add_argument("destination", metavar="DST", help="the new store to create")
    convert.set_defaults(run=_convert)
    return parser


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", metavar="STORE", nargs="?", default=DEFAULT_STORE, help=STORE_HELP)


def _where_argument(parser: argparse.ArgumentParser, many: bool = False) -> None:
    parser.add_argument(
        "--where",
        metavar="COL=VALUE",
        action="extend" if many else "append",
        nargs="+" if many else None,  # stet why --where alpha=0.1 seed=2
        type=_where,
        default=[],
        required=many,
        help=WHY_WHERE_HELP if many else WHERE_HELP,
    )


def _where(text: str) -> tuple[str, str]:
    column, equals, value = text.partition("=")
    if not equals or not column.strip():
        raise argparse.ArgumentTypeError(f"expected COL=VALUE, such as alpha=0.1; got {text!r}")
    return column.strip(), value


def _check_where(parser: argparse.ArgumentParser, where: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for column, _ in where:
        if column in seen:
            parser.error(
                f"argument --where: {column} is given twice; a run has one value per column"
            )
        seen.add(column)


def _count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more; got {text!r}")
    return number


# -- the commands


def _status(args: argparse.Namespace) -> int:
    if args.json:
        import json

        from ._admin import status_data

        data = status_data(args.store, function=args.function)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        from ._admin import print_status

        print_status(args.store, function=args.function)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from . import records

    where: dict[str, Any] = dict(args.where)
    found = records(args.store, where or None, function=args.function, failed=args.failed)
    if not found:
        sys.stdout.write(_nothing_found(args) + "\n")
        return EXIT_OK
    shown = found[-args.last :] if args.last else found
    lines = table(output_last(shown, OUTPUT_HEADER))
    if len(shown) < len(found):
        lines.append(f"(last {len(shown):,} of {len(found):,} records; --last 0 shows all)")
    for line in lines:  # line by line: a reader that stops early is noticed (exit 141)
        sys.stdout.write(f"{line}\n")
    return EXIT_OK


def _nothing_found(args: argparse.Namespace) -> str:
    what = "failed runs" if args.failed else "completed runs"
    of = f" of {args.function}" if args.function is not None else ""
    name = redacted(os.fspath(args.store))
    if args.where:
        described = ", ".join(f"{column}={value}" for column, value in args.where)
        return f"No {what}{of} in {name} match {described}"
    return f"No {what}{of} recorded in {name}"


def _reset(args: argparse.Namespace) -> int:
    from ._reset import reset

    where: dict[str, Any] = dict(args.where)
    try:
        reset(
            args.store,
            where or None,
            function=args.function,
            failed=args.failed,
            confirm=not args.yes,
            purge=args.purge,
        )
    except EOFError:  # asked, and standard input ended before an answer
        sys.stdout.write("\n")
        raise _UserError(
            "no answer on standard input; nothing changed (pass --yes to reset without asking)"
        ) from None
    return EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    from ._convert import convert

    convert(args.source, args.destination)
    return EXIT_OK


class _UserError(StetError, ValueError):
    """A user error the command line itself finds."""


# -- the table


def table(records: Sequence[dict[str, Any]]) -> list[str]:
    """Records as aligned text lines: a header row, then one row per record.

    The columns are every column of any record, in the order the records have them; a
    number column is aligned right, any other left; a record without a column has a
    blank cell there.
    """
    columns = _columns(records)
    cells = [[_cell(record[c]) if c in record else "" for c in columns] for record in records]
    numeric = [all(_is_number(record[c]) for record in records if c in record) for c in columns]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(row: Sequence[str]) -> str:
        parts = (
            text.rjust(width) if right else text.ljust(width)
            for text, width, right in zip(row, widths, numeric, strict=True)
        )
        return "  ".join(parts).rstrip()

    return [line(columns), *(line(row) for row in cells)]


def _columns(records: Sequence[dict[str, Any]]) -> list[str]:
    """Every column of the records; one a record adds goes after its predecessor there."""
    columns: list[str] = []
    layouts: set[tuple[str, ...]] = set()
    for record in records:
        layout = tuple(record)
        if layout in layouts:  # most records have the columns of one seen before
            continue
        layouts.add(layout)
        previous = -1
        for column in record:
            if column in columns:
                previous = columns.index(column)
            else:
                previous += 1
                columns.insert(previous, column)
    return columns


def _cell(value: Any) -> str:
    """A value as a CSV store shows it: numbers as repr, text as is, times in ISO 8601."""
    if isinstance(value, datetime):
        text = value.isoformat(timespec="microseconds")
    elif isinstance(value, PurePath):  # a run's directory, or a result's file
        text = shown_path(value)
    elif isinstance(value, date):
        text = value.isoformat()
    elif type(value) is list or type(value) is tuple:
        text = result_literal(value)
    else:
        try:
            text = text_of(value)
        except TypeError:  # a value stet would not store; show what it is
            text = repr(value)
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- errors


def error_message(error: BaseException) -> str:
    """One line saying what went wrong, for ``stet: error: <line>``.

    Read from the error's type and attributes (never its text): a :class:`StetError`'s
    text, or the facts of a missing or existing store, without the API function it
    names (``stet.reset: ``), which the command line has no use for.
    """
    facts = facts_of(error)
    if isinstance(error, FileNotFoundError) and facts is not None:
        why = f" ({facts.why})" if facts.why else ""
        text = f"no stet store at {facts.store}{why}"
    elif isinstance(error, FileExistsError) and facts is not None:
        text = facts.detail
    elif isinstance(error, StetError):
        text = error.detail
    elif isinstance(error, OSError) and error.strerror:
        name = error.filename
        name = os.fsdecode(name) if isinstance(name, str | bytes) else ""
        text = _lower_first(error.strerror) + (f": {name}" if name else "")
    else:
        text = str(error) or type(error).__name__
        if isinstance(error, FileNotFoundError):
            text = f"not found: {text}"
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _flush_stdout() -> None:
    """Let what was printed before the error come first."""
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Standard output is gone (a closed pipe): send what is left to nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
