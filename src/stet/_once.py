"""The ``@stet.once`` decorator: bind the call, build its key, skip or run, record.

The decorator checks its options (:mod:`stet._options`), reads the function's signature
once into a plan (:mod:`stet._plan`) and wraps the function around a
:class:`~stet._runner.Runner`, which decides for each call whether it runs.
"""

from __future__ import annotations

import functools
import os

from ._admin import function_status
from ._claims import DEFAULT_LEASE
from ._defaults import DEFAULT_STORE
from ._plan import CallPlan, PartialPlan, code_flags, names_of, target_of
from ._reset import reset
from ._results import RESULT_COLUMN

TYPE_CHECKING = False  # typing and inspect load lazily: import stet stays fast
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

    from ._options import Options
    from ._runner import Runner

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


__all__ = ["DEFAULT_STORE", "once"]

_CO_GENERATORS = 0x20 | 0x200  # inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


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
        outputs: str | os.PathLike[str] | None = ...,
        pickle: bool = ...,
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
    outputs: str | os.PathLike[str] | None = None,
    pickle: bool = False,
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
            and return it when the call is skipped. With ``outputs=``, a NumPy array,
            pandas DataFrame or Series, or nested data is kept as a file in the run's
            directory (``.npy``, Parquet, JSON) and read back on a skip (arrays
            memory-mapped).
        failures: ``"record"`` records a call that raises an ``Exception`` as a failed
            run (its error and time) and runs it again on the next call; ``"skip"``
            records it and skips the run from then on. ``None`` (default) records
            nothing, so the next call runs it again.
        name: the name the function's runs are kept under in the store (default: its
            qualified name, ``calculation`` or ``Model.fit``). Give one to tell apart
            two functions of one name in one store, to keep runs of a renamed function,
            or for a lambda or a callable object, which have no name of their own.
        outputs: a directory (``"data"``) in which every run gets its own directory,
            ``data/<function>/<key>/``, reached in the body by ``stet.output_dir()``.
            What the body writes there is put in place when it returns, just before
            its record: a run is recorded with its whole directory or not at all.
        pickle: with ``results=True`` and ``outputs=``, keep a result no other file kind
            keeps (``.npy``, Parquet, JSON) as a pickle file, and unpickle it on a skip.
            Off by default: unpickling a file runs the code of whoever wrote it.

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
    from ._options import options_of  # dataclasses: loaded when a function is decorated

    options = options_of(
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
        outputs,
        pickle,
    )

    def decorate(function: Callable[..., Any]) -> Any:
        if isinstance(function, functools.partialmethod):  # bound when looked up
            inner = decorate(function.func)
            return functools.partialmethod(inner, *function.args, **function.keywords)
        if not callable(function):
            raise TypeError(f"@stet.once decorates a function, not {function!r}")
        if (code_flags(target_of(function)) or 0) & _CO_GENERATORS:
            raise TypeError(
                f"@stet.once cannot decorate the generator function {names_of(function, None)[1]}: "
                "it returns before its body runs, so stet would record runs that never "
                "happened. Decorate a function that consumes the generator instead."
            )
        return _wrap(function, options)

    if func is None:
        return decorate
    return decorate(func)


def _wrap(func: Callable[..., Any], options: Options) -> Callable[..., Any]:
    if isinstance(func, functools.partial):
        plan: CallPlan = PartialPlan(func, options.key, options.ignore)
    else:
        plan = CallPlan(func, options.key, options.ignore)
    if options.results and RESULT_COLUMN in plan.key_names:
        raise ValueError(
            f"@stet.once(results=True) on {names_of(func, options.name)[1]}: its parameter "
            f"{RESULT_COLUMN!r} would share its column with the result; rename the "
            "parameter or list it in ignore"
        )
    from ._outputs import enter, leave
    from ._runner import Run, Runner

    runner = Runner(func, plan, options)
    if options.name is None:
        _check_nameable(func)  # after the options' and the store's own checks
    keeps = options.results
    wrapper: Callable[..., Any]
    if runner.is_async:

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            step = runner.before(args, kwargs)
            if not isinstance(step, Run):
                return runner.stored_result(step.key) if keeps else None
            token = enter(step.staged)
            try:
                result = await func(*args, **kwargs)
            except BaseException as error:
                leave(token)
                runner.failed(step, error)
                raise
            leave(token)
            runner.after(step, result)
            return result

        wrapper = async_wrapper
    else:

        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            step = runner.before(args, kwargs)
            if not isinstance(step, Run):
                return runner.stored_result(step.key) if keeps else None
            token = enter(step.staged)
            try:
                result = func(*args, **kwargs)
            except BaseException as error:
                leave(token)
                runner.failed(step, error)
                raise
            leave(token)
            runner.after(step, result)
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


def _check_nameable(func: Callable[..., Any]) -> None:
    """Refuse what has no name of its own to keep its runs under (without ``name=``)."""
    import types

    target = target_of(func)
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


def _function_status(runner: Runner, grid: Any = None) -> None:
    owner = f"{runner.label}.status(grid=...)"
    plan = runner.plan
    spec = plan.key_spec(runner.label)
    function_status(
        runner.options.store, spec, None if grid is None else plan.grid(grid, owner, runner.label)
    )


def _function_reset(
    runner: Runner,
    key_dict: dict[str, Any] | None = None,
    *,
    failed: bool = False,
    confirm: bool | None = None,
    **values: Any,
) -> None:
    wanted = {**(key_dict or {}), **values} or None
    reset(runner.options.store, wanted, function=runner.label, failed=failed, confirm=confirm)
