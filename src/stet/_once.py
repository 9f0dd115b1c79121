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
from ._results import RESULT_COLUMN, result_cells, result_type_of, result_value
from ._store import RESERVED_PREFIX, FunctionIndex, KeySpec, Store, get_store
from ._values import UnsupportedValueError, cell_of, display, key_of, plain_of, text_of
from .formats import is_url

TYPE_CHECKING = False  # typing and inspect load lazily: import stet stays fast
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

    from ._grid import Grid
    from ._values import Cell

    Prepared = tuple[tuple[Any, ...], bytes, Claim | None]

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


__all__ = ["DEFAULT_STORE", "CallPlan", "FailedBefore", "error_text", "once"]

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


class Runner:
    """The per-function state behind a wrapper: its plan, store and index."""

    def __init__(self, func: Callable[..., Any], plan: CallPlan, options: _Options) -> None:
        self.function = func  # undecorated
        self.plan = plan
        self.options = options
        self.name = getattr(func, "__name__", "function")
        self.label = getattr(func, "__qualname__", self.name)
        self.store: Store = get_store(options.path)
        self.store.name = options.store
        self._index: FunctionIndex | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}  # another process reads its own index

    @property
    def index(self) -> FunctionIndex:
        index = self._index
        if index is None:
            spec = self.plan.key_spec(self.label, self.options.results)
            index = self._index = self.store.index_for(spec)
        return index

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
        if key in (self._index or self.index).keys:  # the common skip, without a call
            self._skipped(values)
            return key
        decision = self.decide(values, key)
        if isinstance(decision, tuple):
            _report.end_streak()
            return decision
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
        options = self.options
        if options.failures == "skip" and key in index.failed:
            return FailedBefore(index.failed[key])
        claim = None
        if options.claims:
            call = functools.partial(self.plan.describe, self.name, values)  # made if needed
            claim, holder = self.store.claim(index, key, call, options.lease, options.heartbeat)
            if claim is None:
                return holder
        return (values, key, claim)

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
        values, key, claim = prepared
        cells = self.plan.cells(values)
        if self.options.results:
            try:
                cells.update(result_cells(result, self.name, self.result_type))
            except TypeError:
                self.failed(prepared)
                raise
        self.store.record(self.index, key, cells, self.options.fsync, claim)

    def failed(self, prepared: Prepared, error: BaseException | None = None) -> None:
        """A call raised: record its failure (``failures=...``, for an ``Exception``),
        and release its claim, so another worker may try the run."""
        values, key, claim = prepared
        if self.options.failures is not None and isinstance(error, Exception):
            cells = self.plan.cells(values)
            text = error_text(error)
            try:
                self.store.record(self.index, key, cells, self.options.fsync, claim, text)
                return
            except Exception as problem:  # the call's own exception is what propagates
                call = self.plan.describe(self.name, values)
                _report.line(f"Could not record the failure of {call}: {error_text(problem)}")
                if claim is not None:
                    with contextlib.suppress(Exception):
                        self.store.release(claim)
                return
        if claim is not None:
            self.store.release(claim)


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
    ) -> None:
        if isinstance(store, str | os.PathLike) and os.fspath(store):
            self.store = os.fspath(store)
        else:
            raise TypeError(f"@stet.once: store must be a file path or URL, not {store!r}")
        if not isinstance(skip_lines, int) or skip_lines < 0:
            raise ValueError(f"@stet.once: skip_lines must be a whole number >= 0: {skip_lines!r}")
        # fixed now: workers and chdir agree
        self.path = self.store if is_url(self.store) else os.path.abspath(self.store)
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
    )

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(function):
            raise TypeError(f"@stet.once decorates a function, not {function!r}")
        if (_code_flags(function) or 0) & _CO_GENERATORS:
            raise TypeError(
                f"@stet.once cannot decorate the generator function {function.__qualname__}: "
                "it returns before its body runs, so stet would record runs that never "
                "happened. Decorate a function that consumes the generator instead."
            )
        return _wrap(function, options)

    if func is None:
        return decorate
    return decorate(func)


def _wrap(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    plan = CallPlan(func, options.key, options.ignore)
    if options.results and RESULT_COLUMN in plan.key_names:
        raise ValueError(
            f"@stet.once(results=True) on {func.__qualname__}: its parameter "
            f"{RESULT_COLUMN!r} would share its column with the result; rename the "
            "parameter or list it in ignore"
        )
    runner = Runner(func, plan, options)
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
