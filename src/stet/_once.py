"""The ``@stet.once`` decorator: bind the call, build its key, skip or run, record.

The signature is read once per function into a :class:`CallPlan`. A call to a function
whose parameters are all plain positional-or-keyword ones binds through the plan alone;
``*args``, ``**kwargs``, keyword-only and positional-only parameters go through the
signature's own ``bind``.
"""

from __future__ import annotations

import contextlib
import functools
import os

from . import _report
from ._claims import DEFAULT_LEASE, Claim, check_lease
from ._columns import RESERVED_PREFIX
from ._files import store_path
from ._index import FunctionIndex, KeySpec
from ._registry import get_store
from ._results import RESULT_COLUMN, result_cells, result_type_of, result_value
from ._store import Store
from ._values import UnsupportedValueError, cell_of, display, key_of, plain_of, text_of
from .formats import is_url, redacted
from .formats.base import StoreNotWritableError

TYPE_CHECKING = False  # typing and inspect load lazily: import stet stays fast
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

    from ._grid import Grid
    from ._provenance import Source
    from ._values import Cell

    # a call that runs: its bound values, key, claim, and key cells (taken before the body)
    Prepared = tuple[tuple[Any, ...], bytes, Claim | None, dict[str, Cell]]

    P = ParamSpec("P")
    R = TypeVar("R")
    R_co = TypeVar("R_co", covariant=True)

    class OnceFunction(Protocol[P, R_co]):
        """A function decorated with ``@stet.once``."""

        store: str  # the store path, as given

        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co | None: ...

        def status(self, grid: Any = None) -> None:
            """Print this function's runs in its store (and a sweep's progress over
            ``grid``)."""

        def reset(
            self,
            key_dict: dict[str, Any] | None = None,
            *,
            failed: bool = False,
            confirm: bool | None = None,
            **values: Any,
        ) -> None:
            """Remove this function's runs: all of them, or those matching the values
            (only its failure records, with ``failed=True``)."""


__all__ = ["DEFAULT_STORE", "CallPlan", "FailedBefore", "error_text", "key_specs", "once"]

DEFAULT_STORE = "_stet_store.csv"
_MISSING: Any = object()
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE
_CO_GENERATORS = 0x20 | 0x200  # inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


class CallPlan:
    """How one function's calls are bound and which parameters make the key."""

    def __init__(
        self, func: Callable[..., Any], key: Sequence[str] | None, ignore: Sequence[str] | None
    ) -> None:
        import inspect

        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        self.names = tuple(p.name for p in params)
        self.defaults = tuple(_MISSING if p.default is p.empty else p.default for p in params)
        self.position = {name: i for i, name in enumerate(self.names)}
        self.simple = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        first_is_receiver = bool(params) and params[0].name in ("self", "cls")
        candidates = self.names[1:] if first_is_receiver else self.names
        self.key_names = _choose_key(func, candidates, key, ignore)
        self.key_positions = tuple(self.position[name] for name in self.key_names)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Every parameter's value in declaration order, defaults applied."""
        count = len(self.names)
        if self.simple and not kwargs and len(args) == count:
            return args
        if self.simple and len(args) <= count:
            values = list(args) + [_MISSING] * (count - len(args))
            for name, value in kwargs.items():
                i = self.position.get(name)
                if i is None or values[i] is not _MISSING:
                    return self._bind_slowly(args, kwargs)  # raises the usual TypeError
                values[i] = value
            for i, value in enumerate(values):
                if value is _MISSING:
                    if self.defaults[i] is _MISSING:
                        return self._bind_slowly(args, kwargs)
                    values[i] = self.defaults[i]
            return tuple(values)
        return self._bind_slowly(args, kwargs)

    def _bind_slowly(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments[name] for name in self.names)

    def key(self, values: tuple[Any, ...], function: str) -> bytes:
        """The identity key of a bound call."""
        try:
            return b"".join([key_of(values[i]) for i in self.key_positions])
        except UnsupportedValueError:
            for name, i in zip(self.key_names, self.key_positions, strict=True):
                try:
                    key_of(values[i])
                except UnsupportedValueError as error:
                    raise _unsupported(function, name, error) from None
            raise

    def cells(self, values: tuple[Any, ...]) -> dict[str, Cell]:
        return {
            name: cell_of(values[i])
            for name, i in zip(self.key_names, self.key_positions, strict=True)
        }

    def grid(self, grid: Any, owner: str, function: str) -> Grid:
        """A sweep's grid of calls of this function, checked against its parameters."""
        from ._grid import Grid

        kinds = [p.kind for p in self.signature.parameters.values()]
        takes_any = any(kind.name == "VAR_KEYWORD" for kind in kinds)
        named = [
            name
            for name, kind in zip(self.names, kinds, strict=True)
            if kind.name in ("POSITIONAL_OR_KEYWORD", "KEYWORD_ONLY")
        ]
        required = [
            name
            for name, default in zip(self.names, self.defaults, strict=True)
            if name in named and default is _MISSING
        ]
        spec = self.key_spec(function)
        parameters = None if takes_any else named
        return Grid(grid, owner, parameters, required, spec.columns, spec.default_keys)

    def describe(self, function: str, values: tuple[Any, ...]) -> str:
        """How the call reads in messages: ``calculation(alpha=0.0, beta=1.0)``."""
        arguments = ", ".join(
            f"{name}={display(values[i])}"
            for name, i in zip(self.key_names, self.key_positions, strict=True)
        )
        return f"{function}({arguments})"

    def key_spec(self, function: str, results: bool = False) -> KeySpec:
        default_keys: list[bytes | None] = []
        default_texts: list[str | None] = []
        for i in self.key_positions:
            default = self.defaults[i]
            try:
                if default is _MISSING:
                    raise UnsupportedValueError
                default_keys.append(key_of(default))
                default_texts.append(text_of(plain_of(default)))
            except UnsupportedValueError:
                default_keys.append(None)
                default_texts.append(None)
        return KeySpec(function, self.key_names, tuple(default_keys), tuple(default_texts), results)


class PartialPlan(CallPlan):
    """The plan of a ``functools.partial``: its function's parameters, the ones the
    partial binds included, so ``partial(base, 1)`` and ``partial(base, 2)`` are told
    apart by ``a=1`` and ``a=2`` as ordinary key columns."""

    def __init__(
        self, func: functools.partial[Any], key: Sequence[str] | None, ignore: Sequence[str] | None
    ) -> None:
        super().__init__(func.func, key, ignore)
        self.bound_args = func.args
        self.bound_keywords = func.keywords
        params = list(self.signature.parameters.values())
        named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(func.args) > len(named):
            base = getattr(func.func, "__qualname__", repr(func.func))
            raise TypeError(
                f"@stet.once on a partial of {base}: it binds {len(func.args)} positional "
                f"arguments, more than the {len(named)} named parameters of {base}, so "
                f"stet cannot name them in the key. Decorate {base} itself and take the "
                f"partial of that: functools.partial(stet.once({base}), ...)"
            )
        defaults = list(self.defaults)  # in a sweep's grid, what it binds is a default
        for i, value in enumerate(func.args):
            defaults[i] = value
        for name, value in func.keywords.items():
            if name in self.position:
                defaults[self.position[name]] = value
        self._grid_defaults = tuple(defaults)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        keywords = {**self.bound_keywords, **kwargs} if self.bound_keywords else kwargs
        return super().bind(self.bound_args + args, keywords)

    def grid(self, grid: Any, owner: str, function: str) -> Grid:
        """A sweep's grid, which need not give what the partial binds.

        Only here do the bound values act as defaults: older records that lack a
        bound parameter's column count for no partial (as for the function itself).
        """
        own = self.defaults
        self.defaults = self._grid_defaults
        try:
            return super().grid(grid, owner, function)
        finally:
            self.defaults = own


def _choose_key(
    func: Callable[..., Any],
    candidates: tuple[str, ...],
    key: Sequence[str] | None,
    ignore: Sequence[str] | None,
) -> tuple[str, ...]:
    name = getattr(func, "__qualname__", repr(func))
    real = ", ".join(candidates) or "(none)"
    if isinstance(key, str) or isinstance(ignore, str):
        raise TypeError(f"@stet.once on {name}: key and ignore take a list of parameter names")
    if key is not None and ignore is not None:
        raise ValueError(
            f"@stet.once on {name}: give key (the parameters that identify a run) or ignore "
            "(the ones that do not), not both"
        )
    for option, names in (("key", key), ("ignore", ignore)):
        unknown = [n for n in names or () if n not in candidates]
        if unknown:
            raise ValueError(
                f"@stet.once on {name}: {option} names {', '.join(map(repr, unknown))}, which "
                f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of "
                f"{name}; its parameters are: {real}"
            )
    if key is not None:
        chosen = tuple(n for n in candidates if n in key)
    else:
        chosen = tuple(n for n in candidates if n not in (ignore or ()))
    reserved = [n for n in chosen if n.startswith(RESERVED_PREFIX)]
    if reserved:
        raise ValueError(
            f"@stet.once on {name}: parameter names starting with {RESERVED_PREFIX} are "
            f"stet's own columns ({', '.join(reserved)}); rename it or list it in ignore"
        )
    return chosen


def _unsupported(function: str, parameter: str, error: UnsupportedValueError) -> TypeError:
    return TypeError(
        f"{function}(): parameter {parameter!r} cannot be part of a run's key: {error}. "
        f"Leave it out of the key with @stet.once(ignore=[{parameter!r}]), or pass a value "
        "stet compares exactly (numbers, strings, bools, None, tuples, lists, dicts, NumPy "
        "arrays, enums, paths, dates, dataclasses)."
    )


_declared: dict[Store, dict[str, KeySpec]] = {}  # store -> function -> its key, latest


def key_specs(store: Store) -> list[KeySpec]:
    """The keys of the functions decorated in this process that use ``store`` (the
    latest definition of each)."""
    return list(_declared.get(store, {}).values())


class Runner:
    """The per-function state behind a wrapper: its plan, store and index."""

    def __init__(self, func: Callable[..., Any], plan: CallPlan, options: _Options) -> None:
        self.function = func  # undecorated
        self.plan = plan
        self.options = options
        self.name, self.label = _names(func, options.name)
        self.store: Store = get_store(options.path)
        self.store.name = options.store
        self._index: FunctionIndex | None = None
        _declared.setdefault(self.store, {})[self.label] = plan.key_spec(self.label)
        self._unannounced = True  # the note on runs of another file or code: not yet
        self._other_keys: set[bytes] | None = None  # done runs of other versions
        self._other_entries: list[dict[str, str]] = []

    def __getstate__(self) -> dict[str, Any]:
        # another process reads its own index (and says its own notes)
        return {**self.__dict__, "_index": None, "_other_keys": None}

    @property
    def index(self) -> FunctionIndex:
        index = self._index
        if index is None:
            spec = self.plan.key_spec(self.label, self.options.results)
            index = self._index = self.store.index_for(spec)
        return index

    @functools.cached_property
    def source(self) -> Source:
        """This version of the function: its code's fingerprint, file and module."""
        from ._provenance import code_of, source_of

        path = self.store.path  # resolved through symbolic links: one name per store
        store_dir = None if is_url(path) else os.path.dirname(path)
        return source_of(self.function, code_of(self.function), store_dir)

    def announce(self, key: bytes | None) -> None:
        """Before a skip: say once when the run to skip (``key``; None: any done run, for
        a sweep) was recorded by another file or by other code of this function.

        The first skip reads the function's code history; only when other versions
        recorded runs is the store read to find their keys, once. Nothing is said on a
        first run, nor on a skip of a run this version recorded.
        """
        if not self._unannounced:
            return
        other = self._other_keys
        if other is None:
            other = self._other_keys = self._keys_of_other_versions()
            if not other:
                self._unannounced = False
                return
        if key is not None and key not in other:
            return
        self._unannounced = False
        self._other_keys = None
        _announced.add((self.store.path, self.label, self.source.code, self.source.file))
        source, entries = self.source, self._other_entries
        runs = len(other)
        files = [e.get("file") for e in entries if not source.same_file(e)]
        if files:
            code_differs = any(e.get("code") != source.code for e in entries)
            _report.recorded_elsewhere(
                self.name, runs, self.store.name, files, source.file, code_differs
            )
        else:
            _report.code_changed(self.name, runs)

    def _keys_of_other_versions(self) -> set[bytes]:
        """The keys of the done runs other versions of this function recorded."""
        source = self.source
        if (self.store.path, self.label, source.code, source.file) in _announced:
            return set()
        history = self.store.history().get(self.label)
        if not history or all(source.matches(entry) for entry in history):
            return set()
        from ._snapshot import version_keys

        per_version = version_keys(self.store.snapshot(), self.index.spec, history)[1:]
        keys: set[bytes] = set()
        self._other_entries = []
        for entry, found in zip(history, per_version, strict=True):
            if found and not source.matches(entry):
                keys |= found
                self._other_entries.append(entry)
        return keys

    @functools.cached_property
    def result_type(self) -> type | None:
        """The dataclass or named tuple class a stored result is rebuilt as, if any."""
        return result_type_of(self.function)

    def before(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Prepared | bytes:
        """The bound values, key and claim of a call that must run, or the key of a run
        to skip (its stored result is looked up by it)."""
        plan = self.plan
        values = plan.bind(args, kwargs)
        key = plan.key(values, self.name)
        index = self._index or self.index
        self.store.look()  # a rewrite by another process is seen within LOOK_EVERY
        if key in index.keys:  # the common skip
            if self._unannounced:
                self.announce(key)
            self._skipped(values)
            return key
        decision = self.decide(values, key)
        if isinstance(decision, tuple):
            _report.end_streak()
            return decision
        if decision is None and self._unannounced:
            self.announce(key)
        self._skipped(values, decision)
        return key

    def decide(self, values: tuple[Any, ...], key: bytes) -> Prepared | Claim | FailedBefore | None:
        """Whether a bound call runs: its preparation, or why not, silently.

        Returns what :meth:`after` needs when the call must run; ``None`` when the run
        is done; the holder's claim when another worker runs it now; its failure when
        it failed before and ``failures="skip"``.
        """
        index = self._index or self.index
        if key in index.keys:
            return None
        self.store.refresh()  # another process may have completed it meanwhile
        if key in index.keys:
            return None
        self.store.check_columns(index.spec)  # what the record needs, known before the run
        cells = self.plan.cells(values)  # now: the body may change a list or array in place
        options = self.options
        if options.failures == "skip" and key in index.failed:
            return FailedBefore(index.failed[key])
        self.check_writable()
        claim = None
        if options.claims:
            call = functools.partial(self.plan.describe, self.name, values)  # made if needed
            claim, holder = self.store.claim(index, key, call, options.lease, options.heartbeat)
            if claim is None:
                return holder
        return (values, key, claim, cells)

    def check_writable(self) -> None:
        """Refuse a call before it runs when its record could not be written."""
        problem = self.store.write_problem()
        if problem is not None:
            raise StoreNotWritableError(
                f"{self.label}() did not run: stet could not record it in "
                f"{self.options.store}, as {problem}. Give a store this user can write "
                f'(@stet.once(store="...")), or ask for write access; reading this store '
                "(stet.status, stet.records, stet.load) works as it is."
            )

    def _skipped(self, values: tuple[Any, ...], why: Claim | FailedBefore | None = None) -> None:
        if self.options.verbose:
            call = self.plan.describe(self.name, values)
            running = why.where() if isinstance(why, Claim) else None
            failed = why.error if isinstance(why, FailedBefore) else None
            _report.skipped(self.label, self.name, call, self.options.skip_lines, running, failed)

    def stored_result(self, key: bytes) -> Any:
        """The stored result of a skipped run (None: running elsewhere, or none kept)."""
        cells = self.index.result_cells(key)
        return None if cells is None else result_value(cells, self.result_type)

    def after(self, prepared: Prepared, result: Any = None) -> None:
        """Record a call that completed (and release its claim).

        With ``results=True`` its result goes in the record; a result stet cannot keep
        faithfully raises ``TypeError`` and records nothing.
        """
        _, key, claim, cells = prepared
        if self.options.results:
            try:
                cells = {**cells, **result_cells(result, self.name, self.result_type)}
            except TypeError:
                self.failed(prepared)
                raise
        self.store.record(self.index, key, cells, self.options.fsync, claim, source=self.source)

    def failed(self, prepared: Prepared, error: BaseException | None = None) -> None:
        """A call raised: record its failure (``failures=...``, for an ``Exception``),
        and release its claim, so another worker may try the run."""
        values, key, claim, cells = prepared
        if self.options.failures is not None and isinstance(error, Exception):
            text = error_text(error)
            try:
                self.store.record(
                    self.index, key, cells, self.options.fsync, claim, text, source=self.source
                )
                return
            except Exception as problem:  # the call's own exception is what propagates
                call = self.plan.describe(self.name, values)
                _report.line(f"Could not record the failure of {call}: {error_text(problem)}")
                if claim is not None:
                    with contextlib.suppress(Exception):
                        self.store.claims.release(claim)
                return
        if claim is not None:
            self.store.claims.release(claim)


_announced: set[tuple[str, str, str, str | None]] = set()  # (store, function, code, file)


def _target(func: Callable[..., Any]) -> Callable[..., Any]:
    """What a partial calls (the callable itself otherwise)."""
    while isinstance(func, functools.partial):
        func = func.func
    return func


def _names(func: Callable[..., Any], name: str | None) -> tuple[str, str]:
    """How a function reads in messages, and the label its runs are kept under."""
    if name is not None:
        return name, name
    target = _target(func)
    short = str(getattr(target, "__name__", None) or type(target).__name__)
    return short, str(getattr(target, "__qualname__", None) or short)


def _check_nameable(func: Callable[..., Any]) -> None:
    """Refuse what has no name of its own to keep its runs under (without ``name=``)."""
    import types

    target = _target(func)
    shown = "a partial of " if target is not func else ""
    if getattr(target, "__name__", None) == "<lambda>":
        raise TypeError(
            f"@stet.once on {shown}a lambda: every lambda is named <lambda>, so the runs "
            "of two lambdas in one store would be taken for each other's. Give it a name: "
            'stet.once(name="square")(lambda x: x * x), or define it with def.'
        )
    plain = (
        types.FunctionType,
        types.MethodType,
        types.BuiltinFunctionType,
        types.BuiltinMethodType,
        type,
    )
    if not isinstance(target, plain) and not hasattr(target, "__wrapped__"):
        kind = type(target).__qualname__
        example = type(target).__name__.lower()
        raise TypeError(
            f"@stet.once on {shown}a {kind} object: its attributes are not part of a run's "
            f"key, so the runs of two {kind} objects would be taken for each other's. "
            f"Decorate the method instead (@stet.once on {kind}.__call__; self is never "
            "part of the key, so pass what tells runs apart as parameters), or name this "
            f'object\'s runs explicitly: stet.once(name="{example}_a")(obj).'
        )


class FailedBefore:
    """Why a call is skipped with ``failures="skip"``: a recorded failure of its run."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


_ERROR_TEXT_LIMIT = 1000


def error_text(error: BaseException) -> str:
    """``ValueError: bad combo``: an exception as one recorded or printed text."""
    name = type(error).__name__
    try:
        message = str(error)
    except Exception:  # its own text fails: the call's exception must still propagate
        message = f"<{name} object whose text failed>"
    text = f"{name}: {message}" if message else name
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[: _ERROR_TEXT_LIMIT - 3] + "..."
    return text


class _Options:
    def __init__(
        self,
        store: str | os.PathLike[str],
        key: Sequence[str] | None,
        ignore: Sequence[str] | None,
        verbose: bool,
        skip_lines: int,
        fsync: bool,
        claims: bool,
        lease: float,
        heartbeat: float | None,
        results: bool,
        failures: str | None,
        name: str | None = None,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError(f"@stet.once: name must be a non-empty string, not {name!r}")
        self.name = name
        if isinstance(store, str | os.PathLike) and os.fspath(store):
            self.store = os.fspath(store)
        elif isinstance(store, bytes):  # shown as text, and without a URL's password
            shown = redacted(os.fsdecode(store))
            raise TypeError(f"@stet.once: store must be a str, not bytes: {shown!r}; decode it")
        else:
            raise TypeError(f"@stet.once: store must be a file path or URL, not {store!r}")
        if not isinstance(skip_lines, int) or skip_lines < 0:
            raise ValueError(f"@stet.once: skip_lines must be a whole number >= 0: {skip_lines!r}")
        # fixed now: workers and chdir agree
        try:
            self.path = self.store if is_url(self.store) else store_path(self.store)
        except ValueError as error:
            raise ValueError(f"@stet.once: {error}") from None
        self.claims = bool(claims)
        self.lease, self.heartbeat = check_lease(lease, heartbeat)
        self.key = key
        self.ignore = ignore
        self.verbose = verbose
        self.skip_lines = skip_lines
        self.fsync = fsync
        self.results = bool(results)
        if failures not in (None, "record", "skip"):
            raise ValueError(
                f"@stet.once: failures must be None (record nothing), 'record' (record a "
                f"failure and retry it on the next call) or 'skip' (record it and skip the "
                f"run from then on), not {failures!r}"
            )
        self.failures = failures


if TYPE_CHECKING:

    @overload
    def once(func: Callable[P, R], /) -> OnceFunction[P, R]: ...

    @overload
    def once(
        *,
        store: str | os.PathLike[str] = ...,
        key: Iterable[str] | None = ...,
        ignore: Iterable[str] | None = ...,
        verbose: bool = ...,
        skip_lines: int = ...,
        fsync: bool = ...,
        claims: bool = ...,
        lease: float = ...,
        heartbeat: float | None = ...,
        results: bool = ...,
        failures: Literal["record", "skip"] | None = ...,
        name: str | None = ...,
    ) -> Callable[[Callable[P, R]], OnceFunction[P, R]]: ...


def once(
    func: Callable[..., Any] | None = None,
    /,
    *,
    store: str | os.PathLike[str] = DEFAULT_STORE,
    key: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    verbose: bool = True,
    skip_lines: int = 10,
    fsync: bool = False,
    claims: bool = True,
    lease: float = DEFAULT_LEASE,
    heartbeat: float | None = None,
    results: bool = False,
    failures: Literal["record", "skip"] | None = None,
    name: str | None = None,
) -> Any:
    """Run a function once per set of parameters; later calls with equal keys are skipped.

    Args:
        store: the store file, whose extension picks the format (``.csv``), or a
            ``postgresql://user@host:5432/db?table=runs`` URL.
        key: the parameters that identify a run (default: all of them, defaults applied).
        ignore: parameters that do not identify a run (the complement of ``key``).
        verbose: print a ``[stet] Skipping ...`` line for skipped calls.
        skip_lines: skip lines printed per streak before the rest are condensed.
        fsync: also ``fsync`` each record, for durability against power loss.
        claims: claim each run in the store before it runs, so that other workers
            (processes, machines) skip it while it runs instead of running it too.
        lease: seconds a claim lives without renewal: how long the run of a worker that
            died (``kill -9``, a lost node) waits before another worker takes it over.
            A dead worker of the same machine is noticed at once. At most the longest
            wait the platform allows (``threading.TIMEOUT_MAX``: about 292 years on
            Linux); for no claims at all, ``claims=False``.
        heartbeat: seconds between renewals of a running call's claim (default: a
            quarter of ``lease``; at most half of it).
        results: keep each run's return value in its record (a number, string, bool,
            None, small tuple or list, or a flat dict, dataclass or named tuple of them)
            and return it when the call is skipped.
        failures: ``"record"`` records a call that raises an ``Exception`` as a failed
            run (its error and time) and runs it again on the next call; ``"skip"``
            records it and skips the run from then on. ``None`` (default) records
            nothing, so the next call runs it again.
        name: the name the function's runs are kept under in the store (default: its
            qualified name, ``calculation`` or ``Model.fit``). Give one to tell apart
            two functions of one name in one store, to keep runs of a renamed function,
            or for a lambda or a callable object, which have no name of their own.

    A ``functools.partial`` is keyed by its function's parameters, the ones it binds
    included: ``stet.once(partial(base, 1))`` keeps ``base``'s runs with ``a=1``.
    A skipped call returns ``None`` (its stored result, with ``results=True``), whether
    its run completed earlier or is running in another worker now. ``self`` and ``cls``
    are never part of the key.
    Plain and ``async`` functions and methods can be decorated; generator functions are
    refused, since they return before their body runs.
    """
    key_list = key if key is None or isinstance(key, str) else list(key)
    ignore_list = ignore if ignore is None or isinstance(ignore, str) else list(ignore)
    options = _Options(
        store,
        key_list,
        ignore_list,
        verbose,
        skip_lines,
        fsync,
        claims,
        lease,
        heartbeat,
        results,
        failures,
        name,
    )

    def decorate(function: Callable[..., Any]) -> Any:
        if isinstance(function, functools.partialmethod):  # bound when looked up
            inner = decorate(function.func)
            return functools.partialmethod(inner, *function.args, **function.keywords)
        if not callable(function):
            raise TypeError(f"@stet.once decorates a function, not {function!r}")
        if (_code_flags(_target(function)) or 0) & _CO_GENERATORS:
            raise TypeError(
                f"@stet.once cannot decorate the generator function {_names(function, None)[1]}: "
                "it returns before its body runs, so stet would record runs that never "
                "happened. Decorate a function that consumes the generator instead."
            )
        return _wrap(function, options)

    if func is None:
        return decorate
    return decorate(func)


def _wrap(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    if isinstance(func, functools.partial):
        plan: CallPlan = PartialPlan(func, options.key, options.ignore)
    else:
        plan = CallPlan(func, options.key, options.ignore)
    if options.results and RESULT_COLUMN in plan.key_names:
        raise ValueError(
            f"@stet.once(results=True) on {_names(func, options.name)[1]}: its parameter "
            f"{RESULT_COLUMN!r} would share its column with the result; rename the "
            "parameter or list it in ignore"
        )
    runner = Runner(func, plan, options)
    if options.name is None:
        _check_nameable(func)  # after the options' and the store's own checks
    keeps = options.results
    wrapper: Callable[..., Any]
    if _is_coroutine_function(func):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            prepared = runner.before(args, kwargs)
            if isinstance(prepared, bytes):
                return runner.stored_result(prepared) if keeps else None
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                runner.failed(prepared, error)
                raise
            runner.after(prepared, result)
            return result

        wrapper = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            prepared = runner.before(args, kwargs)
            if isinstance(prepared, bytes):
                return runner.stored_result(prepared) if keeps else None
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                runner.failed(prepared, error)
                raise
            runner.after(prepared, result)
            return result

        wrapper = sync_wrapper
    functools.update_wrapper(wrapper, func)
    if isinstance(func, functools.partial):  # which has no name of its own
        wrapper.__name__, wrapper.__qualname__ = runner.name, runner.label
    vars(wrapper).update(
        _stet_runner=runner,  # what stet.sweep reaches a decorated function by
        store=options.store,
        status=functools.partial(_function_status, runner),
        reset=functools.partial(_function_reset, runner),
    )
    return wrapper


def _code_flags(func: Callable[..., Any]) -> int | None:
    """The flags of a function's code object; None for callables without one."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    return None if code is None else int(code.co_flags)


def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    flags = _code_flags(func)
    if flags is not None:
        return bool(flags & _CO_COROUTINE)
    import inspect

    return inspect.iscoroutinefunction(func)


def _function_status(runner: Runner, grid: Any = None) -> None:
    from ._admin import _status

    owner = f"{runner.label}.status(grid=...)"
    spec_grid = None
    if grid is not None:
        plan = runner.plan
        spec_grid = (plan.key_spec(runner.label), plan.grid(grid, owner, runner.label))
    _status(runner.options.store, runner.label, None, spec_grid)


def _function_reset(
    runner: Runner,
    key_dict: dict[str, Any] | None = None,
    *,
    failed: bool = False,
    confirm: bool | None = None,
    **values: Any,
) -> None:
    from ._admin import reset

    wanted = {**(key_dict or {}), **values} or None
    reset(runner.options.store, wanted, function=runner.label, failed=failed, confirm=confirm)
