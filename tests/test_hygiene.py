"""Sizes a newcomer can read: no app file over 400 lines, no function in freezegui/ over 60 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "freezegui"
MAX_APP_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
MAX_MODULES_PER_FOLDER = 15  # a folder a newcomer reads in one look
# Functions allowed over the limit, by qualified name (none now: add one only with a reason).
EXEMPT_FUNCTIONS: set[str] = set()


def _functions(path: Path) -> list[tuple[str, int]]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    found: list[tuple[str, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert child.end_lineno is not None
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                found.append((f"{prefix}.{child.name}", child.end_lineno - start + 1))
                walk(child, f"{prefix}.{child.name}")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}.{child.name}")

    walk(ast.parse(path.read_text(encoding="utf-8")), module)
    return found


def test_app_files_are_short() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in (PACKAGE / "app").rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_APP_FILE_LINES
    }
    assert not long, long


def test_functions_are_short() -> None:
    long = {
        name: n
        for path in PACKAGE.rglob("*.py")
        for name, n in _functions(path)
        if n > MAX_FUNCTION_LINES and name not in EXEMPT_FUNCTIONS
    }
    assert not long, long


def _stale(exempt: set[str], sizes: dict[str, int]) -> list[str]:
    """Exemptions for functions that are short now, or gone."""
    return sorted(name for name in exempt if sizes.get(name, 0) <= MAX_FUNCTION_LINES)


def test_exemptions_are_still_needed() -> None:
    """An exemption for a function that got short (or went away) must be removed."""
    sizes = dict(item for path in PACKAGE.rglob("*.py") for item in _functions(path))
    assert sizes, "no function found: the walk is broken"
    assert not _stale(EXEMPT_FUNCTIONS, sizes), _stale(EXEMPT_FUNCTIONS, sizes)
    # the check itself can fail: a short function's exemption and a vanished one are both stale
    some = next(iter(sizes))
    assert _stale({some, "freezegui.gone"}, {**sizes, some: 3}) == sorted([some, "freezegui.gone"])
    assert _stale({some}, {some: MAX_FUNCTION_LINES + 1}) == []


def test_no_folder_holds_more_modules_than_a_newcomer_reads_in_one_look() -> None:
    crowded = {
        str(folder.relative_to(PACKAGE.parent)): n
        for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]
        if (n := sum(1 for f in folder.glob("*.py") if f.name != "__init__.py")) > MAX_MODULES_PER_FOLDER
    }
    assert not crowded, crowded
