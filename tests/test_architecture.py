"""The import rule of docs/architecture.md ("Layers"), read from the code's own imports.

Every module of the package sits in one layer; a module imports only from its own layer or
below, never from above (not even lazily inside a function); the imports form no circle;
and no private name (``_x``) is imported from another module. The only way up is the
patch-kind registry, which imports the built-in kinds by name (`importlib`), not by an
import statement.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "risk_widgets"

#: bottom to top, one folder a layer; a module belongs to the layer of its longest matching
#: prefix. The top-level package (`risk_widgets/__init__.py`, the lazy public API) is the top.
LAYERS: list[tuple[str, list[str]]] = [
    ("core", ["risk_widgets.core"]),
    ("engine", ["risk_widgets.engine"]),
    ("patch kinds", ["risk_widgets.adapters", "risk_widgets.risk"]),
    ("graph", ["risk_widgets.graph"]),
    ("editor", ["risk_widgets.editor"]),
    ("ui", ["risk_widgets.ui"]),
    ("demo", ["risk_widgets.demo"]),
    ("public API", ["risk_widgets"]),
]


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, level = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    if level is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and the docs")
    return level


def imports_of(module: str) -> list[tuple[str, int, list[str]]]:
    """``[(imported package module, line, names)]``, every import statement at any depth."""
    path = MODULES[module]
    found = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            if subs and len(subs) == len(names):  # `from pkg import submodule`
                found += [(s, node.lineno, []) for s in subs]
            else:
                names = [n for n in names if f"{target}.{n}" not in MODULES]
                found.append((target, node.lineno, names))
    return [(t, line, names) for t, line, names in found if t in MODULES and t != module]


def import_graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports_of(m)} for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_higher_layer(module):
    mine = layer_of(module)
    upward = [
        f"line {line}: {target} ({LAYERS[layer_of(target)][0]})"
        for target, line, _ in imports_of(module)
        if layer_of(target) > mine
    ]
    assert not upward, (
        f"{module} ({LAYERS[mine][0]}) imports from a higher layer: {upward}. Move the code "
        "down, or register it with risk_widgets.engine.registry."
    )


def test_the_imports_form_no_circle():
    graph = import_graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circle = trail[trail.index(target):] + [target]
                raise AssertionError(f"import circle: {' -> '.join(circle)}")
            if target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_no_private_name_crosses_a_module_boundary():
    crossing = [
        f"{module} line {line}: {name} from {target}"
        for module in MODULES
        for target, line, names in imports_of(module)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not crossing, f"private names imported from other modules: {crossing}"


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    """The checks above can fail: a lazy import of the graph inside the engine is caught."""
    fake = tmp_path / "risk_widgets" / "engine"
    fake.mkdir(parents=True)
    source = fake / "upward.py"
    source.write_text("def f():\n    from risk_widgets.graph.build import to_graph\n")
    monkeypatch.setitem(MODULES, "risk_widgets.engine.upward", source)
    with pytest.raises(AssertionError, match="imports from a higher layer"):
        test_no_module_imports_from_a_higher_layer("risk_widgets.engine.upward")


def test_the_docs_show_the_same_layers():
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    section = doc[doc.index("## Layers"):]
    section = section[: section.index("\n## ", 1)]
    for name, prefixes in LAYERS:
        assert name in section, f"docs/architecture.md's layer diagram does not name {name!r}"
        for prefix in prefixes:
            short = prefix.removeprefix("risk_widgets").removeprefix(".") or "__init__"
            assert short.split(".")[0] in section, (
                f"docs/architecture.md's layer diagram does not show {short!r} ({name})"
            )
