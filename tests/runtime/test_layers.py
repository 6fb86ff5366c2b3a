"""Layer rules that import-linter cannot express (it sees imports, not
attribute access): routers reach the engine only through the use cases."""

from __future__ import annotations

import ast
from pathlib import Path

import pasture_runtime

ROUTERS = Path(pasture_runtime.__file__).parent / "routers"


def _engine_accesses(path: Path) -> list[str]:
    """Every `<x>.engine` and `getattr(<x>, "engine")` in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "engine":
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Call) and _names_engine(node):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return sorted(found)


def _names_engine(call: ast.Call) -> bool:
    """getattr/hasattr/setattr(<x>, "engine", ...)."""
    return (
        isinstance(call.func, ast.Name)
        and call.func.id in ("getattr", "hasattr", "setattr")
        and len(call.args) > 1
        and isinstance(call.args[1], ast.Constant)
        and call.args[1].value == "engine"
    )


def test_routers_never_touch_the_engine() -> None:
    modules = sorted(ROUTERS.glob("*.py"))
    assert modules, ROUTERS
    found = [hit for path in modules for hit in _engine_accesses(path)]
    assert not found, (
        "routers/ must reach the engine (and the engine config) through "
        "pasture_runtime.usecases, never directly:\n" + "\n".join(found)
    )


def test_the_rule_sees_attribute_and_getattr_access(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(rt):\n    rt.engine.encode('x')\n    return getattr(rt, 'engine')\n")
    assert _engine_accesses(bad) == ["bad.py:2: rt.engine", "bad.py:3: getattr(rt, 'engine')"]


PACKAGE = ROUTERS.parent
MAX_FUNCTION_LINES = 59  # under 60
MAX_FILE_LINES = 400


def test_runtime_functions_and_files_are_small() -> None:
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        where = path.relative_to(PACKAGE)
        if len(source.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{where}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, (
        f"runtime functions stay under 60 lines and files at most {MAX_FILE_LINES}:\n"
        + "\n".join(too_long)
    )
