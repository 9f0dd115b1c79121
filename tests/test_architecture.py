"""stet's modules form a DAG, and none reaches into another's private names.

The import graph is read from the source with ``ast``: every ``import`` and ``from ...
import`` of a stet module, at the top of a module or inside a function (a deferred
import is a dependency all the same). Imports under ``if TYPE_CHECKING:`` count too: a
module that names another's types depends on its concepts. A name is private when it
starts with one underscore (``_status``, not ``__version__``); stet's module names
themselves start with one (``stet._once``), which makes them no less importable.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "stet"


@dataclass
class Module:
    name: str  # stet._once
    path: Path
    is_package: bool
    imports: dict[str, int] = field(default_factory=dict)  # module imported -> first line
    private: list[str] = field(default_factory=list)  # "line N: stet._admin._status"


def module_names() -> dict[str, Module]:
    """Every module of the stet package, by its dotted name."""
    found: dict[str, Module] = {}
    for path in sorted((SOURCE / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        found[name] = Module(name, path, is_package)
    return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(module: Module, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` in ``module``."""
    if level == 0:
        return target or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def graph() -> dict[str, Module]:
    """Every stet module with the stet modules it imports and the private names it takes."""
    modules = module_names()
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        aliases: dict[str, str] = {}  # a local name bound to a stet module -> that module
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        module.imports.setdefault(alias.name, node.lineno)
                        if alias.asname:
                            aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                source = resolve(module, node.level, node.module)
                if source not in modules:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:  # from . import _report: the module itself
                        module.imports.setdefault(submodule, node.lineno)
                        aliases[alias.asname or alias.name] = submodule
                        continue
                    module.imports.setdefault(source, node.lineno)
                    if is_private(alias.name) and source != module.name:
                        module.private.append(f"line {node.lineno}: {source}.{alias.name}")
        for node in ast.walk(tree):  # _report._emit, where _report names a stet module
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and is_private(node.attr)
                and f"{aliases[node.value.id]}.{node.attr}" not in modules
            ):
                module.private.append(f"line {node.lineno}: {aliases[node.value.id]}.{node.attr}")
        module.imports.pop(module.name, None)
    return modules


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The import cycles: each strongly connected group of modules (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for other in modules[name].imports:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in on_stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == name:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return sorted(groups)


def test_the_graph_is_read_from_the_source() -> None:
    modules = graph()
    assert {"stet", "stet._once", "stet._store", "stet.cli", "stet.formats.base"} <= set(modules)
    assert "stet._store" in modules["stet._runner"].imports
    assert "stet._report" in modules["stet._runner"].imports  # from . import _report
    assert "stet._runner" in modules["stet._once"].imports


def test_stet_has_no_import_cycle() -> None:
    found = cycles(graph())
    assert not found, "import cycles among stet's modules:\n" + "\n".join(
        " <-> ".join(group) for group in found
    )


def test_no_module_imports_another_modules_private_names() -> None:
    reaches = [f"{m.name}, {p}" for m in graph().values() for p in m.private]
    assert not reaches, "private names taken from other modules:\n" + "\n".join(reaches)


# The call layer, lowest first: a module may import those before it, never one after.
# Modules on one line are peers and import none of each other.
LAYERS = [
    ["stet._errors"],
    ["stet._values"],
    ["stet._resultfiles"],  # result values kept as files in a run's directory
    ["stet._storedcells"],  # the value rules the formats call
    ["stet._index"],
    ["stet._storeread"],  # the reading half of the Store
    ["stet._store"],
    ["stet._registry"],
    ["stet._outputpaths"],  # where a run's outputs live, and what its record holds
    ["stet._outputs"],  # a run's directory: staging, commit, set aside
    ["stet._matching"],
    ["stet._admin", "stet._reset"],  # a store's status and reset; a function's too
    ["stet._plan"],
    ["stet._runner"],
    ["stet._once"],
    ["stet._batch"],
    ["stet._sweep", "stet._read"],
    ["stet"],
    ["stet.cli"],
]


def test_the_call_layer_stands_in_order() -> None:
    """errors -> values -> store -> ... -> once -> (sweep, read) -> cli: none imports up."""
    modules = graph()
    assert {name for layer in LAYERS for name in layer} <= set(modules)
    wrong = []
    for at, layer in enumerate(LAYERS):
        above = {name for higher in LAYERS[at + 1 :] for name in higher}
        for name in layer:
            peers = set(layer) - {name}
            for other in sorted(reachable(modules, name) & (above | peers)):
                wrong.append(f"{name} depends on {other}")
    assert not wrong, "a module depends on one above it or beside it:\n" + "\n".join(wrong)


def reachable(modules: dict[str, Module], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for other in modules[todo.pop()].imports:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


MAX_LINES = 450  # a module longer than this holds more than one job: split it


def test_every_module_is_short() -> None:
    """No module of stet is longer than ``MAX_LINES`` lines."""
    long = {
        module.name: count
        for module in module_names().values()
        if (count := len(module.path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{name} ({count})" for name, count in sorted(long.items())
    )
