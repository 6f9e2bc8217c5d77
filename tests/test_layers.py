"""The package's architecture as a rule: imports run downward only (see gpuefficient/__init__.py).

Every ``gpuefficient`` import in the package, at module level or inside a function, is read with
``ast`` and checked against the layers; a new upward import fails here with the file and line.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gpuefficient"
CORE = {"device", "dtypes", "checks", "papers"}
# who may import whom (besides itself and the core); the CLI sits on top and may import anything
MAY_IMPORT = {
    "core": set(),
    "analysis": set(),
    "arch": {"analysis"},
    "measure": {"arch", "analysis"},
    "design": {"measure", "arch", "analysis"},
    "book": {"analysis"},
}


def layer(module: str) -> str:
    """``gpuefficient.measure.timer`` -> "measure"; core modules -> "core"; the CLI -> "cli"."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in CORE or parts[1] == "__init__":
        return "core"
    return "cli" if parts[1] in ("cli", "__main__") else parts[1]


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gpuefficient"):
            names = [node.module] if node.module != "gpuefficient" else [f"gpuefficient.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("gpuefficient")]
    return found


def test_the_layers_are_the_folders():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(MAY_IMPORT) - {"core"}
    assert {p.stem for p in PACKAGE.glob("*.py")} == CORE | {"__init__", "__main__", "cli"}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downward_only(path):
    module = ".".join(("gpuefficient", *path.relative_to(PACKAGE).with_suffix("").parts))
    own = layer(module)
    if own == "cli":
        return
    allowed = {own, "core"} | MAY_IMPORT[own]
    upward = [f"line {line}: {target} ({layer(target)})" for line, target in imports(path)
              if layer(target) not in allowed]
    assert not upward, f"{module} ({own}) may import {sorted(allowed)}, but imports " + "; ".join(upward)


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself can fail: a core module importing the measure layer is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from gpuefficient.measure.timer import measure\n")
    assert [layer(t) for _, t in imports(bad)] == ["measure"]
    assert layer("gpuefficient.device") == "core" and "measure" not in MAY_IMPORT["arch"]
