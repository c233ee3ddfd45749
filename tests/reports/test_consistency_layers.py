"""The consistency report's code reads other apps only through their models and selectors (never their services,
jobs or API), has no project import inside a function body, and its service imports no job module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "reports/selectors/consistency.py",
    "reports/services/consistency.py",
    "reports/admin_consistency.py",
]
PROJECT = ("config", "orders", "logistics", "warehouse", "rules", "reports")


def imports(path: Path) -> list[tuple[str, bool]]:
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module:
                found.append((child.module, in_function))
            elif isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


@pytest.mark.parametrize("name", FILES)
def test_reads_only_models_and_selectors_of_other_apps(name):
    for module, in_function in imports(ROOT / name):
        top = module.split(".")[0]
        assert not (in_function and top in PROJECT), f"{name}: {module} imported inside a function"
        if top in ("orders", "logistics", "warehouse", "rules"):
            assert module.split(".")[1] in ("models", "selectors"), f"{name} imports {module}"
        assert not module.endswith(".jobs"), f"{name} imports the job module {module}"
