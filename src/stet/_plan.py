"""How a decorated function's calls are bound and keyed: its :class:`CallPlan`.

The signature is read once per function. A call to a function whose parameters are all
plain positional-or-keyword ones binds through the plan alone; ``*args``, ``**kwargs``,
keyword-only and positional-only parameters go through the signature's own ``bind``.
"""

from __future__ import annotations

import functools

from ._columns import RESERVED_PREFIX
from ._errors import UnsupportedValueError
from ._index import KeySpec
from ._values import cell_of, display, key_of, plain_of, text_of

TYPE_CHECKING = False  # typing and inspect load lazily: import stet stays fast
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ._grid import Grid
    from ._values import Cell

__all__ = [
    "CallPlan",
    "PartialPlan",
    "code_flags",
    "is_coroutine_function",
    "names_of",
    "target_of",
]

_MISSING: Any = object()
_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE


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


def target_of(func: Callable[..., Any]) -> Callable[..., Any]:
    """What a partial calls (the callable itself otherwise)."""
    while isinstance(func, functools.partial):
        func = func.func
    return func


def names_of(func: Callable[..., Any], name: str | None) -> tuple[str, str]:
    """How a function reads in messages, and the label its runs are kept under."""
    if name is not None:
        return name, name
    target = target_of(func)
    short = str(getattr(target, "__name__", None) or type(target).__name__)
    return short, str(getattr(target, "__qualname__", None) or short)


def code_flags(func: Callable[..., Any]) -> int | None:
    """The flags of a function's code object; None for callables without one."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    return None if code is None else int(code.co_flags)


def is_coroutine_function(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` makes a coroutine (an ``async def`` function)."""
    flags = code_flags(func)
    if flags is not None:
        return bool(flags & _CO_COROUTINE)
    import inspect

    return inspect.iscoroutinefunction(func)
